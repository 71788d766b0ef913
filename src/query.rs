//! Query: the views behind `dmarcdb query`, each returning a
//! [`Table`] of named columns.
//!
//! The store answers each view's question with named rows (its SQL is in
//! `store/views/`, the only place that reads the database); this module
//! derives what the rows imply (fail counts, percentages, the days a
//! report spans, see [`apportion`]) and lays them out as columns. How a
//! table looks (bars, ours/EXTERNAL, CSV, JSON) is
//! [`render`](crate::render)'s. Column keys are part of the JSON interface:
//! documented on each view, never renamed.
//!
//! Conventions shared by the views: `messages` is the sum of `<count>`;
//! `messages_pass` counts messages that passed DMARC (policy_evaluated DKIM
//! or SPF = pass, RFC 7489 section 6.6.2), `messages_fail` the rest;
//! `pass_pct` is `100 * messages_pass / messages` rounded to one decimal
//! (`null` when there are no messages). Dates are RFC 3339 UTC, days
//! `YYYY-MM-DD` (UTC).

pub mod apportion;
mod breakdown;
mod readiness;
mod records;
mod senders;
mod tls;

pub use breakdown::{dkim, domains, orgs, spf};
pub use readiness::readiness;
pub use records::{failures, reports, reports_in};
pub use senders::{named_sources, sender_rows};
pub use tls::{failure_reports, tls, tls_failures, tls_reports, top_result_types};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::render::{Column, Table};
use crate::store::{DbError, Store};
pub use crate::store::{Filter, Novelty, Scope, Side, SourceRow, Window};

/// An epoch second as RFC 3339 UTC (`2024-01-25T14:12:24Z`).
pub fn iso(t: i64) -> Value {
    match DateTime::<Utc>::from_timestamp(t, 0) {
        Some(d) => Value::String(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => Value::Null,
    }
}

/// `100 * pass / messages`, one decimal; `null` without messages.
pub(crate) fn pct(pass: f64, messages: f64) -> Value {
    if messages > 0.0 {
        json!((1000.0 * pass / messages).round() / 10.0)
    } else {
        Value::Null
    }
}

/// The columns `messages`, `messages_pass`, `messages_fail`, `pass_pct`.
fn counts(m: i64, p: i64) -> [Value; 4] {
    [json!(m), json!(p), json!(m - p), pct(p as f64, m as f64)]
}

const COUNT_COLUMNS: [Column; 4] = [
    Column::num("messages"),
    Column::num("messages_pass"),
    Column::num("messages_fail"),
    Column::num("pass_pct"),
];

fn columns(first: &[Column], then: &[Column]) -> Vec<Column> {
    first.iter().chain(then).cloned().collect()
}

/// Every source in the scope as a [`SourceRow`] with its name, facts and
/// forwarded mail (the `alert`'s input), largest first.
pub fn named_source_rows(
    store: &Store,
    q: &Scope<'_>,
    cat: &crate::enrich::catalogue::Catalogue,
) -> Result<Vec<SourceRow>, DbError> {
    Ok(named_sources(store, q, cat, true)?
        .into_iter()
        .map(|s| SourceRow {
            label: s.label(),
            source_ip: s.totals.source_ip,
            ours: s.ours,
            messages: s.totals.messages,
            messages_pass: s.totals.messages_pass,
            new: false,
            messages_forwarded: s.messages_forwarded,
            name: s.named.map(|n| n.name),
            asn: s.net.asn,
            country: s.net.country,
        })
        .collect())
}

/// `query sources`: the alert summary's table, one row per source IP, largest
/// volume first, with what is known about each.
///
/// JSON keys: `source_ip` (as the reporter wrote it), `ours` (bool: our
/// networks, or a `[[sender]]` entry with `ours = true`), `messages`,
/// `messages_pass`, `messages_fail` (`messages - messages_pass`, as
/// before), `pass_pct`; then `name` (the sender, see
/// [`catalogue`](crate::enrich::catalogue)), `asn`, `as_name`, `country`,
/// `ptr` (the reverse-DNS name, only when confirmed forward) — each null
/// when unknown — and `messages_forwarded` (part of `messages_fail`: see
/// [`forwarding`](crate::enrich::forwarding)).
pub fn sources(
    store: &Store,
    q: &Scope<'_>,
    cat: &crate::enrich::catalogue::Catalogue,
) -> Result<Table, DbError> {
    let mut t = Table::new(columns(
        &[Column::text("source_ip"), Column::text("ours")],
        &COUNT_COLUMNS,
    ));
    t.columns.extend([
        Column::text("name"),
        Column::num("asn"),
        Column::text("as_name"),
        Column::text("country"),
        Column::text("ptr"),
        Column::num("messages_forwarded"),
    ]);
    for s in named_sources(store, q, cat, true)? {
        let mut row = vec![json!(s.totals.source_ip), json!(s.ours)];
        row.extend(counts(s.totals.messages, s.totals.messages_pass));
        row.extend([
            json!(s.named.as_ref().map(|n| &n.name)),
            json!(s.net.asn),
            json!(s.net.as_name),
            json!(s.net.country),
            json!(s.ptr),
            json!(s.messages_forwarded),
        ]);
        t.rows.push(row);
    }
    Ok(t)
}

/// `query senders`: one row per named sender, largest first (see
/// [`senders`](crate::enrich::senders)).
///
/// JSON keys: `name`, `category` (`ours`, `known service`, `forwarder`,
/// `unknown`), `ips`, `asns`, `countries`, `messages`, `messages_pass`,
/// `messages_fail` (failing and not forwarded), `messages_forwarded`,
/// `pass_pct` (of the mail not forwarded), `dkim_domains` (that passed).
pub fn senders(
    store: &Store,
    q: &Scope<'_>,
    cat: &crate::enrich::catalogue::Catalogue,
) -> Result<Table, DbError> {
    let mut t = Table::new(vec![
        Column::text("name"),
        Column::text("category"),
        Column::num("ips"),
        Column::text("asns"),
        Column::text("countries"),
        Column::num("messages"),
        Column::num("messages_pass"),
        Column::num("messages_fail"),
        Column::num("messages_forwarded"),
        Column::num("pass_pct"),
        Column::text("dkim_domains"),
    ]);
    for r in sender_rows(store, q, cat)? {
        let v = serde_json::to_value(&r).unwrap_or_default();
        t.rows
            .push(t.columns.iter().map(|c| v[c.key].clone()).collect());
    }
    Ok(t)
}

/// `query daily`: one row per UTC day of the window, from the first day
/// with messages to the last (days in between without any show 0). Every
/// report that reaches into the window is shared out over its days in
/// whole messages ([`apportion`]: per report they add up exactly), and only
/// the days inside the window are shown, so a report straddling an edge
/// counts with its in-window days. `pass_pct` is that of the numbers shown.
///
/// JSON keys: `day` (`YYYY-MM-DD`), `messages`, `messages_pass`,
/// `messages_fail`, `pass_pct`. The table form adds a `bar` column (see
/// [`render::add_bars`](crate::render::add_bars)).
pub fn daily(store: &Store, q: &Scope<'_>) -> Result<Table, DbError> {
    let range = apportion::window_days(q.window.since, q.window.until);
    let mut days = apportion::Days::new(range.clone());
    for r in store.report_spans(q, range)? {
        days.add(&apportion::Spread::new(
            r.date_begin,
            r.date_end,
            r.messages,
            r.messages_pass,
        ));
    }
    let mut t = Table::new(columns(&[Column::text("day")], &COUNT_COLUMNS));
    t.rows = days
        .rows()
        .into_iter()
        .map(|d| {
            vec![
                json!(d.date()),
                json!(d.messages),
                json!(d.pass),
                json!(d.messages - d.pass),
                json!(d.pass_pct()),
            ]
        })
        .collect();
    Ok(t)
}

/// The begin date of the oldest stored report.
pub fn oldest_report(store: &Store) -> Result<Option<i64>, DbError> {
    store.oldest_report()
}

/// Why a view came back empty, so the CLI can say something useful
/// instead of printing an empty table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Empty {
    /// The database holds no report at all.
    NoReports,
    /// No report begins in the window; `newest` is the newest report's begin.
    OutsideWindow { newest: i64 },
    /// Reports are in the window but the filters matched none of their rows.
    NoMatch,
}

impl Empty {
    /// Finds out which, for an empty result over `w`.
    pub fn find(store: &Store, w: &Window) -> Result<Empty, DbError> {
        if store.any_report_in(w)? {
            return Ok(Empty::NoMatch);
        }
        Ok(match store.newest_report()? {
            Some(newest) => Empty::OutsideWindow { newest },
            None => Empty::NoReports,
        })
    }

    /// One sentence for a person; `label` names the window ("last 7
    /// days"), `now` is used to suggest a `--days` that reaches back far
    /// enough.
    pub fn message(&self, w: &Window, label: &str, now: i64) -> String {
        match self {
            Empty::NoReports => "No reports stored yet.".to_string(),
            Empty::NoMatch => format!("No rows match the filters in the window ({label})."),
            Empty::OutsideWindow { newest } => {
                let day = DateTime::<Utc>::from_timestamp(*newest, 0)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                let mut s =
                    format!("No reports in the window ({label}); the newest report begins {day}");
                if w.since.is_some_and(|s| *newest < s) && *newest <= now {
                    let days = (now - newest) / 86_400 + 1;
                    s.push_str(&format!(" (--days {days} includes it)"));
                }
                s.push('.');
                s
            }
        }
    }
}
