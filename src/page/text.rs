//! Text: the report as plain text, for the digest mail's text part (and
//! for mail readers that show no HTML). Same figures as the HTML page,
//! fewer rows. Every string that came from a report goes through
//! [`visible`] (the terminal rule): a mail's text part is read in terminals
//! too, and a line break in an org_name must not forge a line.

use std::fmt::Write;

use super::sections::{change_text, thousands, value};
use super::{pct, Report, Source};
use crate::untrusted::visible;

/// Rows of each list in the text part.
const ROWS: usize = 10;

/// The report as plain text.
pub fn report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", visible(&r.title));
    let _ = writeln!(
        out,
        "{} to {} ({} days, UTC)",
        r.period.since, r.period.until, r.period.days
    );
    for (k, v) in &r.filters {
        let _ = writeln!(out, "{}: {}", visible(k), visible(v));
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
        let _ = writeln!(
            out,
            "  {}: {}",
            visible(&p.kind.replace('_', " ")),
            visible(&p.text)
        );
    }
    sources(&mut out, "Sources, largest first", &r.sources);
    sources(&mut out, "Failing sources", &r.failing);
    out.push_str("\nReporters\n");
    for rep in r.reporters.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "  {}: {} reports, {} messages, {}",
            visible(&rep.org),
            rep.reports,
            thousands(rep.messages),
            rate(rep.pass, rep.messages)
        );
    }
    if let Some(tls) = &r.tls {
        out.push_str("\nSMTP TLS, most failures first\n");
        if tls.is_empty() {
            out.push_str("  none\n");
        }
        for t in tls.iter().take(ROWS) {
            let share = t
                .failure_pct
                .map_or_else(|| "–".to_string(), |p| format!("{p:.1} %"));
            let top = if t.top_results.is_empty() {
                String::new()
            } else {
                format!(" ({})", visible(&t.top_results))
            };
            let _ = writeln!(
                out,
                "  {} {}: {} sessions, {} failed, {share}{top}",
                visible(&t.domain),
                visible(&t.policy),
                thousands(t.sessions),
                thousands(t.failure),
            );
        }
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
            .map(|n| format!(" {}", visible(n)))
            .unwrap_or_default();
        let forwarded = if s.forwarded > 0 {
            format!(" ({} forwarded)", thousands(s.forwarded))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {}{name} ({side}): {} messages, {} failing{forwarded}, {}",
            visible(&s.ip),
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
