//! The read side of the store: the questions `query` and `alert` ask, one
//! method per question, each answering with named rows (serde-serialisable
//! structs). The SQL lives here and in the submodules; `query` only turns
//! the rows into the tables people and scripts see.
//!
//! Filtering and grouping happen in SQL (with the indexes in `schema.sql`),
//! so the views stay fast on millions of records: the window narrows
//! reports through `report_date_begin`, records are reached through their
//! key, which starts with the report (see [`sql`] for the join order).
//! Two exceptions, both for speed on SQLite, both giving the same rows:
//! grouping by keys with many values (source IP, auth set) is a [`fold`]
//! (SQLite sorts to group; a hash map as the records stream by does not),
//! and without a filter on the records, `orgs`, `daily` and the report's
//! headline read the reports' stored sums ([`totals`]). Counts come back
//! raw (`messages`, `messages_pass`, ...); what is derived from them (fail
//! counts, percentages) is `query`'s.

mod breakdown;
pub(crate) mod fold;
mod kinds;
mod records;
pub(crate) mod sql;
mod totals;

pub use breakdown::{DkimRow, DomainRow, OrgRow, SpfRow};
pub use records::{FailureRow, ReportRow};
pub use totals::ReportTotals;

use std::ops::Range;

use chrono::NaiveDate;
use ipnet::IpNet;
use rusqlite::types::{FromSql, Value};
use serde::Serialize;

use super::{Backend, DbError, Store};
use crate::config::OurNets;
use sql::{Dialect, Sql, PASS};

/// The reports a view looks at, by `date_begin` (as the Python script
/// counted them): `since <= date_begin < until`. (`daily` looks at the days
/// whose start is in it instead, see `query::apportion::window_days`.)
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

    pub(crate) fn lo(&self) -> i64 {
        self.since.unwrap_or(i64::MIN)
    }

    pub(crate) fn hi(&self) -> i64 {
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

/// One source IP's totals: what [`alert`](crate::alert) judges.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceRow {
    pub source_ip: String,
    pub ours: bool,
    pub messages: i64,
    pub messages_pass: i64,
    /// A new sender by the [`Novelty`] given to [`Store::mark_new`];
    /// false otherwise.
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

/// One report's range and counts (the `daily` view shares them out over
/// the days, see `query::apportion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportSpan {
    pub date_begin: i64,
    pub date_end: i64,
    pub messages: i64,
    pub messages_pass: i64,
}

/// One row of a view's answer, read the same from either backend:
/// integers (PostgreSQL's booleans as 0 and 1), text, bytes, NULL.
pub(crate) struct Cells(pub(crate) Vec<Value>);

impl Cells {
    /// Column `i` as `T` (`bool` from an integer, `Option` for NULL).
    pub fn get<T: FromSql>(&self, i: usize) -> Result<T, DbError> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::column_result(v.into()).map_err(|e| {
            DbError::from(rusqlite::Error::FromSqlConversionFailure(
                i,
                v.data_type(),
                Box::new(e),
            ))
        })
    }
}

impl Store {
    /// A builder for SQL in this store's dialect.
    pub(crate) fn sql(&self) -> Sql {
        Sql::new(match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        })
    }

    /// Runs `text` with `sql`'s parameters and maps each row with `f`.
    pub(crate) fn rows<T>(
        &self,
        text: &str,
        sql: &Sql,
        mut f: impl FnMut(&Cells) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let rows = match &self.backend {
            Backend::Sqlite(lite) => lite.cells(text, &sql.args)?,
            Backend::Postgres(pg) => pg.cells(text, &sql.args)?,
        };
        rows.iter().map(&mut f).collect()
    }

    /// The single value of a one-row, one-column answer (`None` for no row
    /// or NULL).
    pub(crate) fn value(&self, text: &str, sql: &Sql) -> Result<Option<i64>, DbError> {
        let rows = self.rows(text, sql, |r| r.get::<Option<i64>>(0))?;
        Ok(rows.into_iter().next().flatten())
    }

    /// Marks the new senders among `rows` by `n`: those that pass the
    /// cheap tests (external, enough messages) are looked up in the IP
    /// hashes of the reports before the window ([`Store::seen_before`]).
    pub fn mark_new(&self, rows: &mut [SourceRow], n: Novelty) -> Result<(), DbError> {
        let candidates: Vec<usize> = (0..rows.len())
            .filter(|&i| !rows[i].ours && rows[i].messages >= n.min_messages)
            .collect();
        let ips: Vec<&str> = candidates
            .iter()
            .map(|&i| rows[i].source_ip.as_str())
            .collect();
        let seen = self.seen_before(n.before, &ips)?;
        for (&i, old) in candidates.iter().zip(seen) {
            rows[i].new = !old;
        }
        Ok(())
    }

    /// Per report whose range reaches into the UTC days `days` (days since
    /// the epoch, end exclusive; `q`'s window is not used): its range,
    /// messages and passing messages.
    pub fn report_spans(
        &self,
        q: &Scope<'_>,
        days: Range<i64>,
    ) -> Result<Vec<ReportSpan>, DbError> {
        let (text, sql) = daily_sql(self.sql(), q, &days);
        self.rows(&text, &sql, |r| {
            Ok(ReportSpan {
                date_begin: r.get(0)?,
                date_end: r.get(1)?,
                messages: r.get(2)?,
                messages_pass: r.get(3)?,
            })
        })
    }

    /// The begin date of the oldest stored report.
    pub fn oldest_report(&self) -> Result<Option<i64>, DbError> {
        self.value("SELECT min(date_begin) FROM report", &self.sql())
    }

    /// The begin date of the newest stored report.
    pub fn newest_report(&self) -> Result<Option<i64>, DbError> {
        self.value("SELECT max(date_begin) FROM report", &self.sql())
    }

    /// Whether any report begins in `w`.
    pub fn any_report_in(&self, w: &Window) -> Result<bool, DbError> {
        let mut sql = self.sql();
        let (lo, hi) = (sql.bind(w.lo()), sql.bind(w.hi()));
        let text =
            format!("SELECT 1 FROM report WHERE date_begin >= {lo} AND date_begin < {hi} LIMIT 1");
        Ok(self.value(&text, &sql)?.is_some())
    }
}

fn daily_sql(mut sql: Sql, q: &Scope<'_>, days: &Range<i64>) -> (String, Sql) {
    const DAY: i64 = 86_400;
    let from = sql.from();
    let (messages, pass) = (sql.sum("c.count"), sql.sum(PASS));
    let at = |d: i64| d.saturating_mul(DAY);
    let mut conds = vec![sql.overlap_cond(at(days.start), at(days.end))];
    conds.extend(sql.org_cond(q));
    let rec = sql.record_conds(q.filter, q.nets);
    // Without a filter on the records, each report's sums are its own
    // (`totals::whole_reports`).
    let text = if rec.is_empty() {
        format!(
            "SELECT r.date_begin, r.date_end, r.message_count, r.pass_count FROM report r
             WHERE {} AND {}",
            conds.join(" AND "),
            totals::WITH_RECORDS
        )
    } else {
        conds.extend(rec);
        format!(
            "SELECT r.date_begin, r.date_end, {messages}, {pass} {from}
             WHERE {} GROUP BY r.date_begin, r.id",
            conds.join(" AND ")
        )
    };
    (text, sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_net, range};

    /// `config::range` gives the bounds in `ip_bin` form (tested here, on
    /// the store's side, so that config does not import the store).
    #[test]
    fn config_ranges_are_ip_bin_form() {
        let (lo, hi) = range(&parse_net("192.0.2.0/24").unwrap());
        assert_eq!(lo, crate::store::ip_bin("192.0.2.0").unwrap());
        assert_eq!(hi, crate::store::ip_bin("192.0.2.255").unwrap());
        let (lo, hi) = range(&parse_net("2001:db8::1").unwrap());
        assert_eq!(lo, hi);
    }

    /// The plan of `text`, one line per step.
    fn plan(store: &Store, text: &str, sql: &Sql) -> String {
        let mut st = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {text}"))
            .unwrap();
        let rows = st
            .query_map(rusqlite::params_from_iter(sql.args.iter()), |r| {
                r.get::<_, String>(3)
            })
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
            // The days of a 7-day window.
            let days = 19_670..19_677;
            for (text, sql) in [
                crate::store::senders::totals_sql(store.sql(), &q),
                daily_sql(store.sql(), &q, &days),
            ] {
                let p = plan(&store, &text, &sql);
                assert!(p.contains("INDEX report_date_begin"), "{p}");
                assert!(p.contains("PRIMARY KEY"), "{p}");
                assert!(!p.contains("SCAN"), "{p}");
            }
            // daily also finds the reports reaching in from before the
            // window by their end, never by reading the older history.
            let (text, sql) = daily_sql(store.sql(), &q, &days);
            let p = plan(&store, &text, &sql);
            assert!(p.contains("INDEX report_date_end (date_end>?)"), "{p}");
        }
    }
}
