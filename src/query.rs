//! Query: the SQL views behind `dmarcdb query`, each returning a
//! [`Table`](crate::render::Table) of named columns.
//!
//! Filtering and grouping happen in SQL (with the indexes in `schema.sql`),
//! never in Rust loops, so the views stay fast on millions of records.
//! Column keys are part of the JSON interface: documented in the README,
//! never renamed.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;
use serde_json::{json, Value};

use crate::render::{Column, Table};
use crate::store::Store;

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

/// An epoch second as RFC 3339 UTC (`2024-01-25T14:12:24Z`).
pub fn iso(t: i64) -> Value {
    match DateTime::<Utc>::from_timestamp(t, 0) {
        Some(d) => Value::String(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => Value::Null,
    }
}

/// `query reports`: one row per stored report.
pub fn reports(store: &Store, w: &Window) -> rusqlite::Result<Table> {
    let mut t = Table::new(vec![
        Column::text("org_name"),
        Column::text("report_id"),
        Column::text("policy_domain"),
        Column::text("date_begin"),
        Column::text("date_end"),
        Column::num("records"),
        Column::num("messages"),
        Column::num("messages_pass"),
    ]);
    let mut st = store.conn().prepare_cached(
        "SELECT org_name, report_id, policy_domain, date_begin, date_end, record_count,
                message_count, pass_count
         FROM report WHERE date_begin >= ?1 AND date_begin < ?2
         ORDER BY date_begin, org_name, report_id",
    )?;
    let rows = st.query_map(params![w.lo(), w.hi()], |r| {
        Ok(vec![
            json!(r.get::<_, String>(0)?),
            json!(r.get::<_, String>(1)?),
            json!(r.get::<_, String>(2)?),
            iso(r.get(3)?),
            iso(r.get(4)?),
            json!(r.get::<_, i64>(5)?),
            json!(r.get::<_, i64>(6)?),
            json!(r.get::<_, i64>(7)?),
        ])
    })?;
    for row in rows {
        t.rows.push(row?);
    }
    Ok(t)
}
