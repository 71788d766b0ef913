//! The record-level views: `failures` (failing records in detail) and
//! `reports` (one row per report). Same conventions as the parent module.

use serde_json::json;

use super::{iso, Filter, Scope, Window};
use crate::config::OurNets;
use crate::render::{Column, Table};
use crate::store::{DbError, Store};

/// `query failures`: every record that failed DMARC, in detail, largest
/// count first, then newest.
///
/// JSON keys: `date_begin`, `org_name`, `report_id`, `source_ip`, `ours`
/// (bool), `messages` (the record's count), `header_from`, `envelope_from`
/// (null when not reported), `dkim` and `spf` (policy_evaluated, i.e.
/// aligned results), `dkim_results` (`domain/selector=result, ...` from
/// auth_results; null when none), `spf_results` (`domain=result, ...`),
/// `disposition`.
pub fn failures(store: &Store, q: &Scope<'_>) -> Result<Table, DbError> {
    let cols = vec![
        Column::text("date_begin"),
        Column::text("org_name"),
        Column::text("report_id"),
        Column::text("source_ip"),
        Column::text("ours"),
        Column::num("messages"),
        Column::text("header_from"),
        Column::text("envelope_from"),
        Column::text("dkim"),
        Column::text("spf"),
        Column::text("dkim_results"),
        Column::text("spf_results"),
        Column::text("disposition"),
    ];
    let mut t = Table::new(cols);
    for r in store.failure_rows(q)? {
        t.rows.push(vec![
            iso(r.date_begin),
            json!(r.org_name),
            json!(r.report_id),
            json!(r.source_ip),
            json!(r.ours),
            json!(r.messages),
            json!(r.header_from),
            json!(r.envelope_from),
            json!(r.dkim),
            json!(r.spf),
            json!(r.dkim_results),
            json!(r.spf_results),
            json!(r.disposition),
        ]);
    }
    Ok(t)
}

/// `query reports`: one row per stored report.
///
/// JSON keys: `org_name`, `report_id`, `policy_domain`, `date_begin`,
/// `date_end`, `records`, `messages`, `messages_pass`.
pub fn reports(store: &Store, w: &Window) -> Result<Table, DbError> {
    let filter = Filter::default();
    let nets = OurNets::default();
    reports_in(
        store,
        &Scope {
            window: *w,
            filter: &filter,
            nets: &nets,
            limit: None,
        },
    )
}

/// [`reports`] with filters: `--org` and the window on the report, the
/// record filters (`--domain`, `--ip`, `--ours` / `--external`) keeping a
/// report when at least one of its records matches. Counts are the whole
/// report's.
pub fn reports_in(store: &Store, q: &Scope<'_>) -> Result<Table, DbError> {
    let cols = vec![
        Column::text("org_name"),
        Column::text("report_id"),
        Column::text("policy_domain"),
        Column::text("date_begin"),
        Column::text("date_end"),
        Column::num("records"),
        Column::num("messages"),
        Column::num("messages_pass"),
    ];
    let mut t = Table::new(cols);
    for r in store.report_rows(q)? {
        t.rows.push(vec![
            json!(r.org_name),
            json!(r.report_id),
            json!(r.policy_domain),
            iso(r.date_begin),
            iso(r.date_end),
            json!(r.records),
            json!(r.messages),
            json!(r.messages_pass),
        ]);
    }
    Ok(t)
}
