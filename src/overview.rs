//! Overview: one window's figures gathered from the query layer into a
//! [`page::Report`](crate::page::Report) — for `report --html`, the
//! dashboard of `serve` and the digest mail.
//!
//! It asks the store the questions `query`'s views ask (sources, orgs,
//! domains, DKIM, SPF — as named rows — and the daily series) and runs the
//! alert's check with the same window and filters, plus the totals of the
//! previous window of the same length for the headline's comparison, the
//! forwarded messages (the forwarding rules' count, per source and in
//! total) and the SMTP TLS summary (the rows of `query tls`). The page
//! module draws; this one only gathers.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::alert;
use crate::config::Settings;
use crate::page::{self, Auth, Day, Figure, Num, Period, Reporter, Rise, Source};
use crate::query::{self, Filter, Scope, Window};
use crate::render::Table;
use crate::store::{DbError, DkimRow, SpfRow, Store};

/// Rows shown per table of the page unless asked otherwise.
pub const ROWS: usize = 25;

/// What to gather.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub window: Window,
    pub filter: &'a Filter,
    /// Filters in words for the page's header.
    pub filter_words: Vec<(String, String)>,
    pub settings: &'a Settings,
    pub now: i64,
    /// Rows per table (`--limit`; 0 = all).
    pub rows: usize,
}

/// The report for `req`.
pub fn gather(store: &Store, req: &Request<'_>) -> Result<page::Report, DbError> {
    let scope = Scope {
        window: req.window,
        filter: req.filter,
        nets: &req.settings.our_nets,
        limit: None,
    };
    let period = period(store, req.window, req.now)?;
    let rows = if req.rows == 0 { usize::MAX } else { req.rows };
    let catalogue = crate::enrich::catalogue::Catalogue::new(req.settings.senders.clone());
    let outcome = alert::check(
        store,
        req.window,
        &req.settings.our_nets,
        &catalogue,
        &req.settings.thresholds,
    )?;
    // The alert judged every source of the window: without filters, those
    // are the page's sources too (one pass over the records fewer).
    let sources = if *req.filter == Filter::default() {
        outcome.sources.clone()
    } else {
        query::named_source_rows(store, &scope, &catalogue)?
    };
    let now = Totals::of(store, &scope, Some(&sources))?;
    let before = match previous(req.window, req.now) {
        Some(w) => {
            let prev = Scope { window: w, ..scope };
            // Nothing to compare with: no "up +661" against an empty window.
            Some(Totals::of(store, &prev, None)?).filter(|t| t.messages > 0)
        }
        None => None,
    };
    let mut failing: Vec<Source> = sources
        .iter()
        .filter(|s| s.messages_fail() > 0)
        .map(source)
        .collect();
    failing.sort_by(|a, b| {
        (b.messages - b.pass)
            .cmp(&(a.messages - a.pass))
            .then(a.ip.cmp(&b.ip))
    });
    failing.truncate(rows);
    let top = Scope {
        limit: Some(rows as u64),
        ..scope
    };
    let (dkim_rows, spf_rows) = store.auth_rows(&top)?;
    let title = match &req.filter.domain {
        Some(d) => format!("DMARC report for {d}"),
        None => "DMARC report".to_string(),
    };
    Ok(page::Report {
        title,
        period,
        generated: day_time(req.now),
        filters: req.filter_words.clone(),
        headline: now.figures(before.as_ref()),
        daily: daily(&query::daily(store, &scope)?),
        sources: sources.iter().take(rows).map(source).collect(),
        failing,
        reporters: now.reporters.into_iter().take(rows).collect(),
        dkim: dkim_rows.iter().map(dkim).collect(),
        spf: spf_rows.iter().map(spf).collect(),
        problems: outcome
            .problems
            .iter()
            .map(|p| page::Problem {
                kind: p.kind.as_str().to_string(),
                ip: Some(p.source.source_ip.clone()),
                text: p.text.clone(),
            })
            .chain(outcome.tls.iter().map(|p| page::Problem {
                kind: "tls_failures".to_string(),
                ip: None,
                text: p.text.clone(),
            }))
            .collect(),
        tls: tls(store, req)?,
        links: None,
    })
}

/// The TLS summary: the rows of `query tls` for the window (only the
/// filtered domain's, with `--domain`); `None` when the window holds no
/// SMTP TLS report, so the page leaves the section out.
fn tls(store: &Store, req: &Request<'_>) -> Result<Option<Vec<page::TlsPolicy>>, DbError> {
    let rows: Vec<page::TlsPolicy> = store
        .tls_policies(&req.window)?
        .into_iter()
        .filter(|r| {
            req.filter
                .domain
                .as_ref()
                .is_none_or(|d| r.policy_domain.eq_ignore_ascii_case(d))
        })
        .map(|r| page::TlsPolicy {
            top_results: query::top_result_types(&r.result_types),
            domain: r.policy_domain,
            policy: r.policy_type,
            sessions: r.sessions,
            failure: r.sessions_failure,
            failure_pct: r.failure_pct,
        })
        .collect();
    Ok((!rows.is_empty()).then_some(rows))
}

/// The headline's numbers for one window.
struct Totals {
    messages: i64,
    pass: i64,
    /// Failing messages the forwarding rules count as forwarded; `None`
    /// when only the reports' totals were read (the previous window
    /// without filters), so no comparison is drawn.
    forwarded: Option<i64>,
    reporters: Vec<Reporter>,
    domains: i64,
}

impl Totals {
    /// The totals of `scope`: from the reports alone when the filters
    /// allow (see [`Store::report_totals`]), else from `sources` (or the
    /// source rows, asked for only then) and the domain rows.
    fn of(
        store: &Store,
        scope: &Scope<'_>,
        sources: Option<&[query::SourceRow]>,
    ) -> Result<Totals, DbError> {
        let reporters = store
            .org_rows(scope)?
            .into_iter()
            .map(|r| Reporter {
                org: r.org_name,
                reports: r.reports,
                messages: r.messages,
                pass: r.messages_pass,
            })
            .collect();
        let forwarded = |s: &[query::SourceRow]| s.iter().map(|s| s.messages_forwarded).sum();
        if let Some(t) = store.report_totals(scope)? {
            return Ok(Totals {
                messages: t.messages,
                pass: t.messages_pass,
                forwarded: sources.map(forwarded),
                reporters,
                domains: t.policy_domains,
            });
        }
        let asked;
        let sources = match sources {
            Some(s) => s,
            None => {
                asked = query::named_source_rows(store, scope, &Default::default())?;
                &asked
            }
        };
        let mut domains: Vec<String> = store
            .domain_rows(scope)?
            .into_iter()
            .map(|r| r.policy_domain)
            .collect();
        domains.sort();
        domains.dedup();
        Ok(Totals {
            messages: sources.iter().map(|s| s.messages).sum(),
            pass: sources.iter().map(|s| s.messages_pass).sum(),
            forwarded: Some(forwarded(sources)),
            reporters,
            domains: domains.len() as i64,
        })
    }

    fn figures(&self, before: Option<&Totals>) -> Vec<Figure> {
        let fig = |label: &str, f: &dyn Fn(&Totals) -> Num, rise: Rise| Figure {
            label: label.to_string(),
            now: f(self),
            before: before.map(f),
            rise,
        };
        vec![
            fig("Messages", &|t| Num::Count(t.messages), Rise::Neutral),
            fig(
                "DMARC pass",
                &|t| Num::Pct(page::pct(t.pass, t.messages)),
                Rise::Good,
            ),
            fig("Failing", &|t| Num::Count(t.messages - t.pass), Rise::Bad),
            Figure {
                label: "Forwarded".to_string(),
                now: Num::Count(self.forwarded.unwrap_or(0)),
                before: before.and_then(|b| b.forwarded).map(Num::Count),
                rise: Rise::Neutral,
            },
            fig(
                "Reporters",
                &|t| Num::Count(t.reporters.len() as i64),
                Rise::Neutral,
            ),
            fig("Domains", &|t| Num::Count(t.domains), Rise::Neutral),
        ]
    }
}

/// The window before `w`, of the same length; `None` for a window without
/// a start.
pub fn previous(w: Window, now: i64) -> Option<Window> {
    let since = w.since?;
    let until = w.until.unwrap_or(now);
    Some(Window {
        since: Some(since - (until - since)),
        until: Some(since),
    })
}

/// The window as inclusive days; an open start is the oldest report.
fn period(store: &Store, w: Window, now: i64) -> Result<Period, DbError> {
    let since = match w.since {
        Some(s) => s,
        None => query::oldest_report(store)?.unwrap_or(now),
    };
    let until = w.until.unwrap_or(now);
    Ok(Period {
        since: day(since),
        until: day(until - 1),
        days: ((until - since).max(0) + 86_399) / 86_400,
    })
}

fn day(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
}

fn day_time(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn source(s: &query::SourceRow) -> Source {
    Source {
        ip: s.source_ip.clone(),
        name: s.name.clone(),
        ours: s.ours,
        messages: s.messages,
        pass: s.messages_pass,
        forwarded: s.messages_forwarded,
    }
}

fn rows(t: &Table) -> Vec<Value> {
    match t.to_json() {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

fn int(r: &Value, k: &str) -> i64 {
    r[k].as_i64().unwrap_or(0)
}

fn text(r: &Value, k: &str) -> String {
    r[k].as_str().unwrap_or_default().to_string()
}

fn daily(t: &Table) -> Vec<Day> {
    rows(t)
        .iter()
        .map(|r| Day {
            day: text(r, "day"),
            pass: int(r, "messages_pass"),
            fail: int(r, "messages_fail"),
        })
        .collect()
}

fn dkim(r: &DkimRow) -> Auth {
    Auth {
        domain: r.dkim_domain.clone(),
        selector: r.selector.clone(),
        messages: r.messages,
        pass: r.messages_pass,
        fail: r.messages_fail,
        other: r.messages - r.messages_pass - r.messages_fail,
    }
}

fn spf(r: &SpfRow) -> Auth {
    Auth {
        domain: r.spf_domain.clone(),
        selector: None,
        messages: r.messages,
        pass: r.messages_pass,
        fail: r.messages_fail,
        other: r.messages - r.messages_pass - r.messages_fail,
    }
}
