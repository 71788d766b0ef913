//! Text: the report as plain text, for the digest mail's text part (and
//! for mail readers that show no HTML). Same figures as the HTML page,
//! fewer rows.

use std::fmt::Write;

use super::sections::{change_text, thousands, value};
use super::{pct, Report, Source};

/// Rows of each list in the text part.
const ROWS: usize = 10;

/// The report as plain text.
pub fn report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", r.title);
    let _ = writeln!(
        out,
        "{} to {} ({} days, UTC)",
        r.period.since, r.period.until, r.period.days
    );
    for (k, v) in &r.filters {
        let _ = writeln!(out, "{k}: {v}");
    }
    out.push('\n');
    for f in &r.headline {
        let _ = write!(out, "{}: {}", f.label, value(f.now));
        if let Some((t, _)) = change_text(f, r.period.days) {
            let _ = write!(out, " ({t})");
        }
        out.push('\n');
    }
    out.push_str("\nProblems\n");
    if r.problems.is_empty() {
        out.push_str("  none found by the alert rules\n");
    }
    for p in &r.problems {
        let _ = writeln!(out, "  {}: {}", p.kind.replace('_', " "), p.text);
    }
    sources(&mut out, "Sources, largest first", &r.sources);
    sources(&mut out, "Failing sources", &r.failing);
    out.push_str("\nReporters\n");
    for rep in r.reporters.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "  {}: {} reports, {} messages, {}",
            rep.org,
            rep.reports,
            thousands(rep.messages),
            rate(rep.pass, rep.messages)
        );
    }
    let _ = writeln!(out, "\nMade by dmarcdb on {}.", r.generated);
    out
}

fn sources(out: &mut String, title: &str, rows: &[Source]) {
    let _ = writeln!(out, "\n{title}");
    if rows.is_empty() {
        out.push_str("  none\n");
    }
    for s in rows.iter().take(ROWS) {
        let side = if s.ours { "ours" } else { "external" };
        let name = s
            .name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}{name} ({side}): {} messages, {} failing, {}",
            s.ip,
            thousands(s.messages),
            thousands(s.messages - s.pass),
            rate(s.pass, s.messages)
        );
    }
    if rows.len() > ROWS {
        let _ = writeln!(out, "  … and {} more", rows.len() - ROWS);
    }
}

fn rate(pass: i64, messages: i64) -> String {
    match pct(pass, messages) {
        Some(p) => format!("{p:.1} % pass"),
        None => "no messages".to_string(),
    }
}
