//! The record-level views: `failures` (failing records in detail) and
//! `reports` (one row per report). Same conventions as the parent module.

use serde_json::json;

use super::sql::{Sql, FROM};
use super::{iso, table, Filter, Scope, Window};
use crate::config::OurNets;
use crate::render::{Column, Table};
use crate::store::Store;

/// `query failures`: every record that failed DMARC, in detail, largest
/// count first, then newest.
///
/// JSON keys: `date_begin`, `org_name`, `report_id`, `source_ip`, `ours`
/// (bool), `messages` (the record's count), `header_from`, `envelope_from`
/// (null when not reported), `dkim` and `spf` (policy_evaluated, i.e.
/// aligned results), `dkim_results` (`domain/selector=result, ...` from
/// auth_results; null when none), `spf_results` (`domain=result, ...`),
/// `disposition`.
pub fn failures(store: &Store, q: &Scope<'_>) -> rusqlite::Result<Table> {
    let mut sql = Sql::default();
    let ours = sql.ours(q.nets);
    let cond = sql.where_all(q);
    let limit = sql.limit(q.limit);
    let text = format!(
        "SELECT f.date_begin, f.org_name, f.report_id, f.source_ip, f.ours, f.count,
            f.header_from, f.envelope_from, f.dkim, f.spf,
            (SELECT group_concat(d.domain || coalesce('/' || d.selector, '') || '=' || d.result, ', ')
               FROM dkim_result d WHERE d.auth_set = f.auth),
            (SELECT group_concat(s.domain || '=' || s.result, ', ')
               FROM spf_result s WHERE s.auth_set = f.auth),
            f.disposition
         FROM (SELECT c.report, c.seq, c.auth, r.date_begin, r.org_name, r.report_id, c.source_ip, {ours} AS ours,
                 c.count, c.header_from, c.envelope_from, c.dkim, c.spf, c.disposition
               {FROM} {cond} AND NOT c.dmarc_pass
               ORDER BY c.count DESC, r.date_begin DESC, c.report, c.seq {limit}) f
         ORDER BY f.count DESC, f.date_begin DESC, f.report, f.seq"
    );
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
    table(store, cols, &text, &sql, |r| {
        Ok(vec![
            iso(r.get(0)?),
            json!(r.get::<_, String>(1)?),
            json!(r.get::<_, String>(2)?),
            json!(r.get::<_, String>(3)?),
            json!(r.get::<_, bool>(4)?),
            json!(r.get::<_, i64>(5)?),
            json!(r.get::<_, String>(6)?),
            json!(r.get::<_, Option<String>>(7)?),
            json!(r.get::<_, String>(8)?),
            json!(r.get::<_, String>(9)?),
            json!(r.get::<_, Option<String>>(10)?),
            json!(r.get::<_, Option<String>>(11)?),
            json!(r.get::<_, String>(12)?),
        ])
    })
}

/// `query reports`: one row per stored report.
///
/// JSON keys: `org_name`, `report_id`, `policy_domain`, `date_begin`,
/// `date_end`, `records`, `messages`, `messages_pass`.
pub fn reports(store: &Store, w: &Window) -> rusqlite::Result<Table> {
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
pub fn reports_in(store: &Store, q: &Scope<'_>) -> rusqlite::Result<Table> {
    let mut sql = Sql::default();
    let mut conds = sql.report_conds(q);
    let rec = sql.record_conds(q.filter, q.nets);
    if !rec.is_empty() {
        conds.push(format!(
            "EXISTS (SELECT 1 FROM record c WHERE c.report = r.id AND {})",
            rec.join(" AND ")
        ));
    }
    let limit = sql.limit(q.limit);
    let text = format!(
        "SELECT org_name, report_id, policy_domain, date_begin, date_end, record_count,
                message_count, pass_count
         FROM report r WHERE {}
         ORDER BY date_begin, org_name, report_id {limit}",
        conds.join(" AND ")
    );
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
    table(store, cols, &text, &sql, |r| {
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
    })
}
