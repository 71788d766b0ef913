//! Sections: the report's body — header, headline figures with their change,
//! the daily chart, the alert's problems and the tables (sources, failing
//! sources, reporters, DKIM, SPF, TLS).
//!
//! Tables are built from [`Cell`]s, so that each kind of value is written
//! one way everywhere: text escaped, numbers right-aligned, pass rates with
//! a meter, "ours"/"external" as words (not colour).

use super::chart;
use super::escape::escape_html;
use super::layout::FilterForm;
use super::{pct, Auth, Figure, Links, Num, Problem, Report, Reporter, Rise, Source, TlsPolicy};

/// One table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text from a report (escaped).
    Text(String),
    /// Monospaced text (IPs, ids), escaped.
    Code(String),
    /// Text linking to `href` (both escaped).
    Link {
        text: String,
        href: String,
    },
    Count(i64),
    /// A percentage with a meter; `None` shows as a dash.
    Pct(Option<f64>),
    /// Our network or not, in words.
    Ours(bool),
}

impl Cell {
    fn html(&self) -> String {
        match self {
            Cell::Text(s) => format!("<td class=\"text\">{}</td>", escape_html(s)),
            Cell::Code(s) => format!("<td class=\"code\">{}</td>", escape_html(s)),
            Cell::Link { text, href } => format!(
                "<td class=\"code\"><a href=\"{}\">{}</a></td>",
                escape_html(href),
                escape_html(text)
            ),
            Cell::Count(n) => format!("<td class=\"num\">{}</td>", thousands(*n)),
            Cell::Pct(Some(p)) => format!("<td class=\"num\">{p:.1} %{}</td>", chart::meter(*p)),
            Cell::Pct(None) => "<td class=\"num\">–</td>".to_string(),
            Cell::Ours(true) => "<td><span class=\"tag\">ours</span></td>".to_string(),
            Cell::Ours(false) => "<td><span class=\"tag ext\">external</span></td>".to_string(),
        }
    }

    fn numeric(&self) -> bool {
        matches!(self, Cell::Count(_) | Cell::Pct(_))
    }
}

/// A table with a caption; `empty` is said instead when there are no rows.
pub fn table(caption: &str, heads: &[&str], rows: &[Vec<Cell>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", escape_html(empty));
    }
    let mut out = format!(
        "<div class=\"scroll\"><table><caption>{}</caption><thead><tr>",
        escape_html(caption)
    );
    for (i, h) in heads.iter().enumerate() {
        let num = rows[0].get(i).is_some_and(Cell::numeric);
        let class = if num { " class=\"num\"" } else { "" };
        out.push_str(&format!("<th scope=\"col\"{class}>{}</th>", escape_html(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            out.push_str(&c.html());
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// The body of a report page; with `form`, the dashboard's filter form too.
pub fn report_body(r: &Report, form: Option<&FilterForm>) -> String {
    let mut out = String::from(chart::defs());
    out.push_str(&header(r));
    if let Some(f) = form {
        out.push_str(&f.html());
    }
    out.push_str(&figures(&r.headline, r.period.days));
    out.push_str(&section(
        "daily",
        "Messages per day",
        &chart::daily(&r.daily),
    ));
    out.push_str(&section(
        "problems",
        "Problems",
        &problems(&r.problems, r.links.as_ref()),
    ));
    let links = r.links.as_ref();
    out.push_str(&section(
        "sources",
        "Sources",
        &sources(&r.sources, links, false),
    ));
    out.push_str(&section(
        "failing",
        "Failing sources",
        &sources(&r.failing, links, true),
    ));
    out.push_str(&section("reporters", "Reporters", &reporters(&r.reporters)));
    out.push_str(&section("dkim", "DKIM", &auth(&r.dkim, true)));
    out.push_str(&section("spf", "SPF", &auth(&r.spf, false)));
    if let Some(tls) = &r.tls {
        out.push_str(&section("tls", "SMTP TLS", &tls_table(tls)));
    }
    out.push_str(&format!(
        "<footer>Made by dmarcdb on {} from the reports in its database.</footer>",
        escape_html(&r.generated)
    ));
    out
}

/// `<section>` with an `<h2>`; `body` is markup.
pub fn section(id: &str, title: &str, body: &str) -> String {
    format!(
        "<section id=\"{id}\" aria-labelledby=\"h-{id}\"><h2 id=\"h-{id}\">{}</h2>{body}</section>",
        escape_html(title)
    )
}

fn header(r: &Report) -> String {
    let mut filters = String::new();
    for (k, v) in &r.filters {
        filters.push_str(&format!(" · {}: {}", escape_html(k), escape_html(v)));
    }
    format!(
        "<header><h1>{}</h1><p>{} to {} ({} days, UTC){filters}</p></header>",
        escape_html(&r.title),
        escape_html(&r.period.since),
        escape_html(&r.period.until),
        r.period.days
    )
}

fn figures(figs: &[Figure], days: i64) -> String {
    let mut out = String::from("<ul class=\"figures\">");
    for f in figs {
        out.push_str(&format!(
            "<li class=\"figure\"><span class=\"label\">{}</span><span class=\"value\">{}</span>{}</li>",
            escape_html(&f.label),
            value(f.now),
            change(f, days)
        ));
    }
    out.push_str("</ul>");
    if figs.iter().all(|f| f.before.is_none()) && !figs.is_empty() {
        out.push_str(&format!(
            "<p class=\"empty\">No messages in the previous {days} days to compare with.</p>"
        ));
    }
    out
}

/// A figure's value as text.
pub fn value(n: Num) -> String {
    match n {
        Num::Count(c) => thousands(c),
        Num::Pct(Some(p)) => format!("{p:.1} %"),
        Num::Pct(None) => "–".to_string(),
    }
}

/// The change against the previous window, in words and arrow; colour
/// only repeats what they say.
pub fn change_text(f: &Figure, days: i64) -> Option<(String, &'static str)> {
    let before = f.before?;
    let (diff, text) = match (f.now, before) {
        (Num::Count(a), Num::Count(b)) => {
            let d = a - b;
            let rel = if b != 0 {
                format!(" ({:.0} %)", (100.0 * d as f64 / b as f64).abs())
            } else {
                String::new()
            };
            (d as f64, format!("{}{rel}", thousands(d.abs())))
        }
        (Num::Pct(Some(a)), Num::Pct(Some(b))) => (a - b, format!("{:.1} points", (a - b).abs())),
        _ => return Some((format!("no figure for the previous {days} days"), "")),
    };
    let (arrow, word) = if diff > 0.0 {
        ("▲", "up")
    } else if diff < 0.0 {
        ("▼", "down")
    } else {
        ("=", "unchanged")
    };
    let class = match (f.rise, diff > 0.0, diff < 0.0) {
        (Rise::Good, true, _) | (Rise::Bad, _, true) => "good",
        (Rise::Good, _, true) | (Rise::Bad, true, _) => "bad",
        _ => "",
    };
    let text = if diff == 0.0 {
        format!("{arrow} unchanged vs previous {days} days")
    } else {
        format!("{arrow} {word} {text} vs previous {days} days")
    };
    Some((text, class))
}

fn change(f: &Figure, days: i64) -> String {
    match change_text(f, days) {
        Some((text, class)) => format!(
            "<span class=\"change {class}\">{}</span>",
            escape_html(&text)
        ),
        None => String::new(),
    }
}

fn problems(ps: &[Problem], links: Option<&Links>) -> String {
    if ps.is_empty() {
        return "<p class=\"empty\">No problems found by the alert rules.</p>".to_string();
    }
    let mut out = String::from("<ul class=\"problems\">");
    for p in ps {
        let ip = match links {
            Some(l) => format!(
                " <a href=\"{}\">records of {}</a>",
                escape_html(&l.source(&p.ip)),
                escape_html(&p.ip)
            ),
            None => String::new(),
        };
        out.push_str(&format!(
            "<li><span class=\"kind\">{}:</span> {}{ip}</li>",
            escape_html(&p.kind.replace('_', " ")),
            escape_html(&p.text)
        ));
    }
    out.push_str("</ul>");
    out
}

fn ip_cell(ip: &str, links: Option<&Links>) -> Cell {
    match links {
        Some(l) => Cell::Link {
            text: ip.to_string(),
            href: l.source(ip),
        },
        None => Cell::Code(ip.to_string()),
    }
}

fn sources(rows: &[Source], links: Option<&Links>, failing: bool) -> String {
    let with_names = rows.iter().any(|s| s.name.is_some());
    let mut heads = vec!["Source IP"];
    if with_names {
        heads.push("Sender");
    }
    heads.extend(["Network", "Messages", "Passing", "Failing", "Pass rate"]);
    let body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|s| {
            let mut row = vec![ip_cell(&s.ip, links)];
            if with_names {
                row.push(Cell::Text(s.name.clone().unwrap_or_default()));
            }
            row.extend([
                Cell::Ours(s.ours),
                Cell::Count(s.messages),
                Cell::Count(s.pass),
                Cell::Count(s.messages - s.pass),
                Cell::Pct(pct(s.pass, s.messages)),
            ]);
            row
        })
        .collect();
    let (caption, empty) = if failing {
        (
            "Sources with messages failing DMARC, most failing first",
            "No source failed DMARC.",
        )
    } else {
        (
            "Sending sources, largest first",
            "No sources in this window.",
        )
    };
    table(caption, &heads, &body, empty)
}

fn reporters(rows: &[Reporter]) -> String {
    let body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            vec![
                Cell::Text(r.org.clone()),
                Cell::Count(r.reports),
                Cell::Count(r.messages),
                Cell::Pct(pct(r.pass, r.messages)),
            ]
        })
        .collect();
    table(
        "Who sent the reports",
        &["Reporter", "Reports", "Messages", "Pass rate"],
        &body,
        "No reports in this window.",
    )
}

fn auth(rows: &[Auth], dkim: bool) -> String {
    let body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|a| {
            let none = if dkim { "(unsigned)" } else { "(none)" };
            let mut row = vec![Cell::Text(a.domain.clone().unwrap_or_else(|| none.into()))];
            if dkim {
                row.push(Cell::Code(a.selector.clone().unwrap_or_default()));
            }
            row.extend([
                Cell::Count(a.messages),
                Cell::Count(a.pass),
                Cell::Count(a.fail),
                Cell::Count(a.other),
                Cell::Pct(pct(a.pass, a.messages)),
            ]);
            row
        })
        .collect();
    if dkim {
        table(
            "DKIM results as reported (not alignment)",
            &[
                "Signing domain",
                "Selector",
                "Messages",
                "Pass",
                "Fail",
                "Other",
                "Pass rate",
            ],
            &body,
            "No DKIM results in this window.",
        )
    } else {
        table(
            "SPF results as reported (not alignment)",
            &[
                "SPF domain",
                "Messages",
                "Pass",
                "Fail",
                "Other",
                "Pass rate",
            ],
            &body,
            "No SPF results in this window.",
        )
    }
}

fn tls_table(rows: &[TlsPolicy]) -> String {
    let body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|t| {
            vec![
                Cell::Text(t.domain.clone()),
                Cell::Text(t.policy.clone()),
                Cell::Count(t.success),
                Cell::Count(t.failure),
                Cell::Pct(pct(t.success, t.success + t.failure)),
            ]
        })
        .collect();
    table(
        "TLS sessions reported by sending servers",
        &[
            "Policy domain",
            "Policy",
            "Successful",
            "Failed",
            "Success rate",
        ],
        &body,
        "No TLS reports in this window.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
    }

    #[test]
    fn a_change_is_said_in_words_not_only_colour() {
        let f = Figure {
            label: "Failing".into(),
            now: Num::Count(150),
            before: Some(Num::Count(100)),
            rise: Rise::Bad,
        };
        let (t, class) = change_text(&f, 7).unwrap();
        assert_eq!(t, "▲ up 50 (50 %) vs previous 7 days");
        assert_eq!(class, "bad");
        let p = Figure {
            label: "Pass".into(),
            now: Num::Pct(Some(97.5)),
            before: Some(Num::Pct(Some(99.0))),
            rise: Rise::Good,
        };
        let (t, class) = change_text(&p, 7).unwrap();
        assert_eq!(t, "▼ down 1.5 points vs previous 7 days");
        assert_eq!(class, "bad");
    }

    #[test]
    fn cells_escape_what_reports_wrote() {
        let rows = vec![vec![
            Cell::Text("<img src=x onerror=alert(1)>".into()),
            Cell::Link {
                text: "<b>".into(),
                href: "/source?ip=\"><script>".into(),
            },
        ]];
        let t = table("c", &["a", "b"], &rows, "none");
        assert!(!t.contains("<img"), "{t}");
        assert!(!t.contains("<script"), "{t}");
        assert!(!t.contains("<b>"), "{t}");
        assert!(t.contains("&lt;img src=x onerror=alert(1)&gt;"), "{t}");
    }
}
