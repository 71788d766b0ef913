//! The views of SMTP TLS reports (RFC 8460) and DMARC failure reports
//! (RFC 6591): `tls-reports`, `tls`, `tls-failures`, `failure-reports`.
//!
//! The store answers with named rows (`store::tls`, `store::failure`); this
//! module lays them out as columns. Column keys are part of the JSON
//! interface: documented on each view, never renamed. Dates are RFC 3339
//! UTC, like the other views.

use serde_json::{json, Value};

use super::{iso, Window};
use crate::render::{Column, Table};
use crate::store::{DbError, Store};

/// How many result types `query tls` names per row.
const TOP_RESULT_TYPES: usize = 3;

/// `query tls-reports`: one row per stored TLS report, oldest first.
///
/// JSON keys: `org_name`, `report_id`, `date_begin`, `date_end`, `policies`
/// (number of policies), `sessions_success`, `sessions_failure` (sums over
/// its policies).
pub fn tls_reports(store: &Store, w: &Window) -> Result<Table, DbError> {
    let mut t = Table::new(vec![
        Column::text("org_name"),
        Column::text("report_id"),
        Column::text("date_begin"),
        Column::text("date_end"),
        Column::num("policies"),
        Column::num("sessions_success"),
        Column::num("sessions_failure"),
    ]);
    for r in store.tls_reports(w)? {
        t.rows.push(vec![
            json!(r.org_name),
            json!(r.report_id),
            iso(r.date_begin),
            iso(r.date_end),
            json!(r.policies),
            json!(r.sessions_success),
            json!(r.sessions_failure),
        ]);
    }
    Ok(t)
}

/// `query tls`: one row per policy domain and policy type, most failed
/// sessions first.
///
/// JSON keys: `policy_domain`, `policy_type`, `sessions` (successful plus
/// failed), `sessions_failure`, `failure_pct` (one decimal, `null` without
/// sessions), `top_result_types` (the three result types with most failed
/// sessions, as `type (sessions)`, comma-separated).
pub fn tls(store: &Store, w: &Window) -> Result<Table, DbError> {
    let mut t = Table::new(vec![
        Column::text("policy_domain"),
        Column::text("policy_type"),
        Column::num("sessions"),
        Column::num("sessions_failure"),
        Column::num("failure_pct"),
        Column::text("top_result_types"),
    ]);
    for r in store.tls_policies(w)? {
        t.rows.push(vec![
            json!(r.policy_domain),
            json!(r.policy_type),
            json!(r.sessions),
            json!(r.sessions_failure),
            r.failure_pct.map_or(Value::Null, |p| json!(p)),
            json!(top_result_types(&r.result_types)),
        ]);
    }
    Ok(t)
}

/// The first three (`TOP_RESULT_TYPES`) of (result type, sessions), as text.
pub fn top_result_types(types: &[(String, i64)]) -> String {
    types
        .iter()
        .take(TOP_RESULT_TYPES)
        .map(|(t, n)| format!("{t} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `query tls-failures`: failed sessions per result type, receiving MX and
/// sending MTA IP, most first.
///
/// JSON keys: `result_type`, `receiving_mx_hostname`, `sending_mta_ip`
/// (`""` when the reporter left it out), `failed_sessions`, `reports` (how
/// many reports name the combination), `policy_domains` (comma-separated).
pub fn tls_failures(store: &Store, w: &Window) -> Result<Table, DbError> {
    let mut t = Table::new(vec![
        Column::text("result_type"),
        Column::text("receiving_mx_hostname"),
        Column::text("sending_mta_ip"),
        Column::num("failed_sessions"),
        Column::num("reports"),
        Column::text("policy_domains"),
    ]);
    for r in store.tls_failures(w)? {
        t.rows.push(vec![
            json!(r.result_type),
            json!(r.receiving_mx_hostname),
            json!(r.sending_mta_ip),
            json!(r.failed_sessions),
            json!(r.reports),
            json!(r.policy_domains.join(", ")),
        ]);
    }
    Ok(t)
}

/// `query failure-reports`: one row per stored failure report, by arrival
/// date.
///
/// JSON keys: `arrival_date`, `feedback_type`, `source_ip`,
/// `reported_domain`, `auth_failure`, `delivery_result`,
/// `original_mail_from`, `original_rcpt_to` (comma-separated), `from` and
/// `subject` (of the reported message), `dkim_domain`,
/// `identity_alignment`, `origin` (`arf`, or `text` for a reporter that
/// sends no ARF part), `redacted`. Absent fields are `null`.
pub fn failure_reports(store: &Store, w: &Window) -> Result<Table, DbError> {
    let mut t = Table::new(vec![
        Column::text("arrival_date"),
        Column::text("feedback_type"),
        Column::text("source_ip"),
        Column::text("reported_domain"),
        Column::text("auth_failure"),
        Column::text("delivery_result"),
        Column::text("original_mail_from"),
        Column::text("original_rcpt_to"),
        Column::text("from"),
        Column::text("subject"),
        Column::text("dkim_domain"),
        Column::text("identity_alignment"),
        Column::text("origin"),
        Column::text("redacted"),
    ]);
    for r in store.failure_reports(w)? {
        t.rows.push(vec![
            r.arrival_date.map_or(Value::Null, iso),
            json!(r.feedback_type),
            json!(r.source_ip),
            json!(r.reported_domain),
            json!(r.auth_failure),
            json!(r.delivery_result),
            json!(r.original_mail_from),
            json!(r.original_rcpt_to.join(", ")),
            json!(r.from),
            json!(r.subject),
            json!(r.dkim_domain),
            json!(r.identity_alignment),
            json!(r.origin),
            json!(r.redacted),
        ]);
    }
    Ok(t)
}
