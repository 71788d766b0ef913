//! Page: the HTML report (`report --html`, the dashboard of `serve`, the
//! digest mail) and its plain-text twin, drawn from plain input structs.
//!
//! This module knows nothing of the store: the caller fills a [`Report`]
//! (headline figures with the previous window's for comparison, the daily
//! series, sources, reporters, DKIM, SPF, the alert's problems, optionally
//! TLS) and gets one self-contained document back: inline CSS and SVG, no
//! script, no font or image from anywhere, print CSS, a text alternative for
//! every chart, colour never the only signal. Every string that came from a
//! report goes through [`escape::escape_html`].
//!
//! - [`layout`]: the document shell, its CSS and Content-Security-Policy;
//! - [`chart`]: the daily pass/fail chart and the small pass-rate meters;
//! - [`sections`]: headline figures and the tables;
//! - [`text`]: the same report as plain text (the digest's text part).

pub mod chart;
pub mod drill;
pub mod escape;
pub mod layout;
pub mod sections;
pub mod text;

pub use escape::{escape_html, escape_query};

/// Everything one report page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The first line, e.g. "DMARC report"; may name a filtered domain.
    pub title: String,
    pub period: Period,
    /// When the page was made (`YYYY-MM-DD HH:MM UTC`).
    pub generated: String,
    /// Filters in effect, as (name, value), shown under the title.
    pub filters: Vec<(String, String)>,
    pub headline: Vec<Figure>,
    pub daily: Vec<Day>,
    /// Largest first.
    pub sources: Vec<Source>,
    /// Sources with failing messages, most failing first.
    pub failing: Vec<Source>,
    pub reporters: Vec<Reporter>,
    pub dkim: Vec<Auth>,
    pub spf: Vec<Auth>,
    pub problems: Vec<Problem>,
    /// SMTP TLS reports' summary, once there are any.
    pub tls: Option<Vec<TlsPolicy>>,
    /// For the live dashboard: where rows link to. `None` in a file.
    pub links: Option<Links>,
}

/// The window shown, as inclusive UTC days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Period {
    pub since: String,
    pub until: String,
    /// Its length in days, for "vs previous 7 days".
    pub days: i64,
}

/// A headline number with the previous window's for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub label: String,
    pub now: Num,
    /// The same figure over the previous window of the same length.
    pub before: Option<Num>,
    /// Whether a rise is good news (pass %), bad news (failing) or neither.
    pub rise: Rise,
}

/// A figure's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Count(i64),
    /// A percentage; `None` when there was nothing to divide.
    Pct(Option<f64>),
}

/// How to read a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rise {
    Good,
    Bad,
    Neutral,
}

/// One UTC day of the daily series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub pass: i64,
    pub fail: i64,
}

/// One sending source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub ip: String,
    /// Who it is (reverse DNS or a known sender's name), once known.
    pub name: Option<String>,
    pub ours: bool,
    pub messages: i64,
    pub pass: i64,
}

/// One reporter (org_name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    pub org: String,
    pub reports: i64,
    pub messages: i64,
    pub pass: i64,
}

/// One DKIM (domain + selector) or SPF (domain) row: raw auth results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// `None`: unsigned / no SPF domain.
    pub domain: Option<String>,
    /// DKIM only.
    pub selector: Option<String>,
    pub messages: i64,
    pub pass: i64,
    pub fail: i64,
    pub other: i64,
}

/// One problem the alert found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The stable kind (`possible_spoofing`, …).
    pub kind: String,
    pub ip: String,
    /// The alert's sentence.
    pub text: String,
}

/// One policy domain's TLS sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicy {
    pub domain: String,
    pub policy: String,
    pub success: i64,
    pub failure: i64,
}

/// Where the dashboard's rows link to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// The window and filters as a query string (already percent-encoded,
    /// without `?`), carried into every link.
    pub query: String,
}

impl Links {
    /// The drill-down page of one source IP.
    pub fn source(&self, ip: &str) -> String {
        self.with(&format!("/source?ip={}", escape_query(ip)))
    }

    /// The dashboard itself with `extra` parameters.
    pub fn with(&self, path: &str) -> String {
        match (self.query.is_empty(), path.contains('?')) {
            (true, _) => path.to_string(),
            (false, true) => format!("{path}&{}", self.query),
            (false, false) => format!("{path}?{}", self.query),
        }
    }
}

/// The whole report as one HTML document.
pub fn report_html(r: &Report) -> String {
    let title = format!("{} · {} to {}", r.title, r.period.since, r.period.until);
    layout::document(&title, &sections::report_body(r, None))
}

/// The report as one HTML document with a form at the top (the dashboard).
pub fn dashboard_html(r: &Report, form: &layout::FilterForm) -> String {
    let title = format!("{} · {} to {}", r.title, r.period.since, r.period.until);
    layout::document(&title, &sections::report_body(r, Some(form)))
}

/// The report as plain text.
pub fn report_text(r: &Report) -> String {
    text::report(r)
}

/// `100 * pass / messages`, one decimal; `None` without messages.
pub fn pct(pass: i64, messages: i64) -> Option<f64> {
    (messages > 0).then(|| (1000.0 * pass as f64 / messages as f64).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = "<script>x()</script><img src=x onerror=y()>\"'&";

    /// A report whose every string came from a hostile reporter.
    fn hostile() -> Report {
        let s = || EVIL.to_string();
        Report {
            title: s(),
            period: Period {
                since: s(),
                until: s(),
                days: 7,
            },
            generated: s(),
            filters: vec![(s(), s())],
            headline: vec![Figure {
                label: s(),
                now: Num::Count(3),
                before: Some(Num::Count(1)),
                rise: Rise::Bad,
            }],
            daily: vec![Day {
                day: s(),
                pass: 1,
                fail: 2,
            }],
            sources: vec![Source {
                ip: s(),
                name: Some(s()),
                ours: false,
                messages: 3,
                pass: 1,
            }],
            failing: vec![],
            reporters: vec![Reporter {
                org: s(),
                reports: 1,
                messages: 3,
                pass: 1,
            }],
            dkim: vec![Auth {
                domain: Some(s()),
                selector: Some(s()),
                messages: 3,
                pass: 1,
                fail: 2,
                other: 0,
            }],
            spf: vec![Auth {
                domain: Some(s()),
                selector: None,
                messages: 3,
                pass: 1,
                fail: 2,
                other: 0,
            }],
            problems: vec![Problem {
                kind: s(),
                ip: s(),
                text: s(),
            }],
            tls: Some(vec![TlsPolicy {
                domain: s(),
                policy: s(),
                success: 1,
                failure: 1,
            }]),
            links: Some(Links {
                query: String::new(),
            }),
        }
    }

    #[test]
    fn no_string_from_a_report_becomes_markup_anywhere_on_the_page() {
        for html in [
            report_html(&hostile()),
            dashboard_html(&hostile(), &layout::FilterForm::default()),
        ] {
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains("\"'&"), "a quote or & left raw: {html}");
            let escaped =
                "&lt;script&gt;x()&lt;/script&gt;&lt;img src=x onerror=y()&gt;&quot;&#39;&amp;";
            // title, period (×2 in the header), filter, figure, day, source,
            // sender name, reporter, DKIM domain and selector, SPF, problem
            // kind and text, TLS domain and policy, ...
            assert!(html.matches(escaped).count() >= 15, "{html}");
        }
    }

    #[test]
    fn a_link_carries_its_value_percent_encoded() {
        let l = Links {
            query: "days=7".into(),
        };
        assert_eq!(l.source("a&b"), "/source?ip=a%26b&days=7");
        assert_eq!(l.with("/"), "/?days=7");
    }

    #[test]
    fn the_text_part_has_the_figures_and_problems() {
        let t = report_text(&hostile());
        assert!(t.contains(": 3 (▲ up 2 (200 %) vs previous 7 days)"), "{t}");
        assert!(t.contains("1 reports, 3 messages, 33.3 % pass"), "{t}");
    }
}
