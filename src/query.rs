//! Query: the SQL views behind `dmarcdb query`, each returning a
//! [`Table`](crate::render::Table) of named columns.
//!
//! Filtering and grouping happen in SQL (with the indexes in `schema.sql`),
//! never in Rust loops, so the views stay fast on millions of records: the
//! window narrows reports through `report_date_begin`, records are reached
//! through their key, which starts with the report (see [`sql`] for the
//! join order). Column keys are
//! part of the JSON interface: documented on each view, never renamed.
//!
//! Conventions shared by the views: `messages` is the sum of `<count>`;
//! `messages_pass` counts messages that passed DMARC (policy_evaluated DKIM
//! or SPF = pass, RFC 7489 section 6.6.2), `messages_fail` the rest;
//! `pass_pct` is `100 * messages_pass / messages` rounded to one decimal
//! (`null` when there are no messages). Dates are RFC 3339 UTC, days
//! `YYYY-MM-DD` (UTC).

mod breakdown;
mod daily;
mod readiness;
mod records;
mod senders;
mod sql;

pub use breakdown::{dkim, domains, orgs, spf};
pub use readiness::readiness;
pub use records::{failures, reports, reports_in};
pub use senders::{ip_totals, named_sources, sender_rows};

use chrono::{DateTime, NaiveDate, Utc};
use ipnet::IpNet;
use rusqlite::{params, params_from_iter, OptionalExtension, Row};
use serde_json::{json, Value};

use crate::config::OurNets;
use crate::render::{Column, Table};
use crate::store::Store;
use sql::{Sql, FROM, PASS};

/// The reports a view looks at, by `date_begin` (as the seed counted them):
/// `since <= date_begin < until`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Window {
    /// The last `days` days up to now.
    pub fn last_days(days: u32, now: i64) -> Window {
        Window {
            since: Some(now - i64::from(days) * 86_400),
            until: None,
        }
    }

    /// From the start of `since` to the end of `until` (both inclusive days, UTC).
    pub fn dates(since: Option<NaiveDate>, until: Option<NaiveDate>) -> Window {
        let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
        Window {
            since: since.and_then(day),
            until: until.and_then(|d| d.succ_opt()).and_then(day),
        }
    }

    fn lo(&self) -> i64 {
        self.since.unwrap_or(i64::MIN)
    }

    fn hi(&self) -> i64 {
        self.until.unwrap_or(i64::MAX)
    }
}

/// `--ours` / `--external`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Ours,
    External,
}

/// Which rows a view keeps, besides the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The report's policy domain or the record's header_from (any case).
    pub domain: Option<String>,
    /// The reporter's org_name (any case).
    pub org: Option<String>,
    /// Source IPs in this network (IPv4 also matches its IPv4-mapped form).
    pub ip: Option<IpNet>,
    pub side: Option<Side>,
}

/// Everything a view needs besides the store.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub window: Window,
    pub filter: &'a Filter,
    pub nets: &'a OurNets,
    /// At most this many rows (`None` or 0: all). Views that rank rows
    /// (`sources`, `orgs`, `domains`, `dkim`, `spf`, `failures`) honour it.
    pub limit: Option<u64>,
}

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

/// One source IP's totals: the `sources` view's rows, and what
/// [`alert`](crate::alert) judges.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    pub source_ip: String,
    pub ours: bool,
    pub messages: i64,
    pub messages_pass: i64,
    /// A new sender by the [`Novelty`] given to [`mark_new`]; false otherwise.
    pub new: bool,
    /// Failing messages that were forwarded (see
    /// [`forwarding`](crate::enrich::forwarding)).
    pub messages_forwarded: i64,
    /// The sender's name, AS number and country, when known; `label`
    /// says them in words ("SendGrid (AS11377, US)", or "").
    pub name: Option<String>,
    pub asn: Option<u32>,
    pub country: Option<String>,
    pub label: String,
}

/// What makes a source new, for the "new sender" alert: external, at
/// least `min_messages` messages in the window, and in no report that
/// begins before `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Novelty {
    pub before: i64,
    pub min_messages: i64,
}

impl SourceRow {
    pub fn messages_fail(&self) -> i64 {
        self.messages - self.messages_pass
    }

    /// The exact pass percentage (0 without messages).
    pub fn pass_pct(&self) -> f64 {
        if self.messages > 0 {
            100.0 * self.messages_pass as f64 / self.messages as f64
        } else {
            0.0
        }
    }
}

/// Runs `sql` and maps each row with `f` into a table with `columns`.
fn table(
    store: &Store,
    columns: Vec<Column>,
    text: &str,
    sql: &Sql,
    f: impl Fn(&Row<'_>) -> rusqlite::Result<Vec<Value>>,
) -> rusqlite::Result<Table> {
    let mut t = Table::new(columns);
    let mut st = store.conn().prepare_cached(text)?;
    let rows = st.query_map(params_from_iter(sql.args.iter()), f)?;
    for row in rows {
        t.rows.push(row?);
    }
    Ok(t)
}

/// The columns `messages`, `messages_pass`, `messages_fail`, `pass_pct`
/// from a row's `messages` at `i` and passing messages at `i + 1`.
fn counts(r: &Row<'_>, i: usize) -> rusqlite::Result<[Value; 4]> {
    let m: i64 = r.get(i)?;
    let p: i64 = r.get(i + 1)?;
    Ok([json!(m), json!(p), json!(m - p), pct(p as f64, m as f64)])
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

/// Marks the new senders among `rows` by `n`.
pub fn mark_new(store: &Store, rows: &mut [SourceRow], n: Novelty) -> rusqlite::Result<()> {
    {
        let candidates: Vec<usize> = (0..rows.len())
            .filter(|&i| !rows[i].ours && rows[i].messages >= n.min_messages)
            .collect();
        let ips: Vec<&str> = candidates
            .iter()
            .map(|&i| rows[i].source_ip.as_str())
            .collect();
        let seen = crate::store::seen_before(store.conn(), n.before, &ips)?;
        for (&i, old) in candidates.iter().zip(seen) {
            rows[i].new = !old;
        }
    }
    Ok(())
}

/// Every source in the scope as a [`SourceRow`] with its name, facts and
/// forwarded mail (the `alert`'s input), largest first.
pub fn named_source_rows(
    store: &Store,
    q: &Scope<'_>,
    cat: &crate::enrich::catalogue::Catalogue,
) -> rusqlite::Result<Vec<SourceRow>> {
    Ok(senders::named_sources(store, q, cat, true)?
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

/// `query sources`: the seed's summary, one row per source IP, largest
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
) -> rusqlite::Result<Table> {
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
    for s in senders::named_sources(store, q, cat, true)? {
        let (m, p) = (s.totals.messages, s.totals.messages_pass);
        t.rows.push(vec![
            json!(s.totals.source_ip),
            json!(s.ours),
            json!(m),
            json!(p),
            json!(m - p),
            pct(p as f64, m as f64),
            json!(s.named.as_ref().map(|n| &n.name)),
            json!(s.net.asn),
            json!(s.net.as_name),
            json!(s.net.country),
            json!(s.ptr),
            json!(s.messages_forwarded),
        ]);
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
) -> rusqlite::Result<Table> {
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

/// `query daily`: one row per UTC day, from the first day with messages to
/// the last (days in between without reports show 0). A report spanning
/// several days is spread over them in proportion to its range, and the
/// shares rounded to whole messages per day.
///
/// JSON keys: `day` (`YYYY-MM-DD`), `messages`, `messages_pass`,
/// `messages_fail`, `pass_pct`. The table form adds a `bar` column (see
/// [`add_bars`]).
pub fn daily(store: &Store, q: &Scope<'_>) -> rusqlite::Result<Table> {
    let (text, sql) = daily_sql(q);
    let mut days = daily::Days::default();
    let mut st = store.conn().prepare_cached(&text)?;
    let mut rows = st.query(params_from_iter(sql.args.iter()))?;
    while let Some(r) = rows.next()? {
        days.add(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    }
    let mut t = Table::new(columns(&[Column::text("day")], &COUNT_COLUMNS));
    t.rows = days.rows();
    Ok(t)
}

/// Per report in the window: its range, messages and passing messages.
fn daily_sql(q: &Scope<'_>) -> (String, Sql) {
    let mut sql = Sql::default();
    let cond = sql.where_all(q);
    // Grouping by (date_begin, id), the order of `report_date_begin`, keeps
    // the planner on that index; by id alone it scans the whole table in
    // rowid order to save a sort.
    let text = format!(
        "SELECT r.date_begin, r.date_end, sum(c.count), sum({PASS}) {FROM} {cond}
         GROUP BY r.date_begin, r.id"
    );
    (text, sql)
}

/// The table form of `daily`: appends a `bar` column drawing each day's
/// messages (scaled to the busiest day), passing part then failing part.
/// Only for people; JSON and CSV carry the numbers.
pub fn add_bars(t: &mut Table, fancy: bool) {
    let col = |key: &str| t.columns.iter().position(|c| c.key == key);
    let (Some(m), Some(f)) = (col("messages"), col("messages_fail")) else {
        return;
    };
    let num = |row: &[Value], i: usize| row.get(i).and_then(Value::as_i64).unwrap_or(0);
    let max = t.rows.iter().map(|r| num(r, m)).max().unwrap_or(0);
    for row in &mut t.rows {
        let b = daily::bar(num(row, m), num(row, f), max, fancy);
        row.push(json!(b));
    }
    t.columns.push(Column::text("bar"));
}

/// The table form of any view with an `ours` column: `ours` / `EXTERNAL`
/// (the seed's words) instead of `true` / `false`.
pub fn tag_ours(t: &mut Table) {
    let Some(i) = t.columns.iter().position(|c| c.key == "ours") else {
        return;
    };
    for row in &mut t.rows {
        if let Some(v) = row.get_mut(i) {
            if let Some(b) = v.as_bool() {
                *v = json!(if b { "ours" } else { "EXTERNAL" });
            }
        }
    }
}

/// The begin date of the oldest stored report.
pub fn oldest_report(store: &Store) -> rusqlite::Result<Option<i64>> {
    store
        .conn()
        .query_row("SELECT min(date_begin) FROM report", [], |r| r.get(0))
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
    pub fn find(store: &Store, w: &Window) -> rusqlite::Result<Empty> {
        let conn = store.conn();
        let in_window = conn
            .query_row(
                "SELECT 1 FROM report WHERE date_begin >= ?1 AND date_begin < ?2 LIMIT 1",
                params![w.lo(), w.hi()],
                |_| Ok(()),
            )
            .optional()?;
        if in_window.is_some() {
            return Ok(Empty::NoMatch);
        }
        let newest: Option<i64> =
            conn.query_row("SELECT max(date_begin) FROM report", [], |r| r.get(0))?;
        Ok(match newest {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_net;

    /// The plan of `text`, one line per step.
    fn plan(store: &Store, text: &str, sql: &Sql) -> String {
        let mut st = store
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {text}"))
            .unwrap();
        let rows = st
            .query_map(params_from_iter(sql.args.iter()), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
    }

    /// The views the benchmark times must narrow reports by date through
    /// the index and reach records through theirs, never scan either.
    #[test]
    fn trend_views_search_by_index() {
        let store = Store::open_in_memory().unwrap();
        let nets = OurNets::new(vec![parse_net("192.0.2.0/24").unwrap()]);
        let filters = [
            Filter::default(),
            Filter {
                domain: Some("example.com".into()),
                side: Some(Side::External),
                ..Filter::default()
            },
        ];
        for filter in &filters {
            let q = Scope {
                window: Window::last_days(7, 1_700_000_000),
                filter,
                nets: &nets,
                limit: Some(25),
            };
            for (text, sql) in [senders::totals_sql(&q), daily_sql(&q)] {
                let p = plan(&store, &text, &sql);
                assert!(p.contains("INDEX report_date_begin"), "{p}");
                assert!(p.contains("PRIMARY KEY"), "{p}");
                assert!(!p.contains("SCAN"), "{p}");
            }
        }
    }
}
