//! Store: SMTP TLS reports (RFC 8460) — their write path on SQLite (on
//! PostgreSQL: `pg/tls.rs`) and the rows the TLS views return (the views
//! themselves, written once for both backends, are `views/kinds.rs`).
//!
//! A report comes parsed (ingest parses it, `parse::tls`), and is
//! written in one transaction, or in a savepoint of the open group of
//! aggregate reports (see [`Store::set_batching`]): the identity key
//! (organization-name, report-id, date range; the `UNIQUE` of `tls_report`)
//! is checked under the write lock, so a report stored before costs one
//! lookup and nothing is written. Its JSON is kept gzip-compressed in
//! `tls_report_blob`, as received when it came gzipped.

use std::borrow::Cow;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::sqlite::Lite;
use super::write::gzip;
use super::{Backend, DbError, Store};
use crate::extract::Payload;
use crate::model::tls::TlsReport;

/// The TLS report writes of [`Store`], by backend (the views that read
/// them are `views/kinds.rs`).
impl Store {
    /// See [`Lite::store_tls`].
    pub fn store_tls(
        &mut self,
        payload: &Payload,
        source: &str,
        report: TlsReport,
    ) -> Result<TlsStored, DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.store_tls(payload, source, report),
            Backend::Postgres(p) => p.store_tls(payload, source, report),
        }
    }
}

/// What happened to one TLS report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsStored {
    /// Newly stored, with its row id.
    New { id: i64, report: Box<TlsReport> },
    /// A report with the same identity key is already stored.
    Duplicate { report: Box<TlsReport> },
}

impl Lite {
    /// Stores a parsed SMTP TLS report (`payload` is kept as its original
    /// bytes), unless a report with the same identity is stored already.
    pub fn store_tls(
        &mut self,
        payload: &Payload,
        source: &str,
        report: TlsReport,
    ) -> Result<TlsStored, DbError> {
        let kept = if payload.gzip {
            Cow::Borrowed(payload.data.as_slice())
        } else {
            Cow::Owned(gzip(&payload.data))
        };
        self.in_own_savepoint(|conn| write_tls(conn, report, &kept, source))
    }

    /// Runs `write` in a savepoint of the open group of reports, or in a
    /// transaction of its own (taking the write lock first); kept only if
    /// it succeeds. For the report kinds other than aggregate reports.
    pub(super) fn in_own_savepoint<T>(
        &mut self,
        write: impl FnOnce(&Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        if self.batch.is_some() {
            let sp = self.conn.savepoint()?;
            let out = write(&sp)?;
            sp.commit()?;
            return Ok(out);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = write(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// One row of `query tls-reports`. The field names are the JSON keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsReportRow {
    pub org_name: String,
    pub report_id: String,
    pub date_begin: i64,
    pub date_end: i64,
    /// Number of policies in the report.
    pub policies: i64,
    pub sessions_success: i64,
    pub sessions_failure: i64,
}

/// One row of `query tls`: a policy domain and type over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsPolicyRow {
    pub policy_domain: String,
    pub policy_type: String,
    /// Successful plus failed sessions.
    pub sessions: i64,
    pub sessions_failure: i64,
    /// `100 * sessions_failure / sessions`, one decimal; `None` without sessions.
    pub failure_pct: Option<f64>,
    /// (result type, failed sessions), most first.
    pub result_types: Vec<(String, i64)>,
}

/// One row of `query tls-failures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFailureRow {
    pub result_type: String,
    pub receiving_mx_hostname: String,
    pub sending_mta_ip: String,
    pub failed_sessions: i64,
    /// Number of reports that name this combination.
    pub reports: i64,
    pub policy_domains: Vec<String>,
}

fn write_tls(
    conn: &Connection,
    report: TlsReport,
    kept: &[u8],
    source: &str,
) -> Result<TlsStored, DbError> {
    let (org, id, begin, end) = report.key();
    let known: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM tls_report
             WHERE org_name = ?1 AND report_id = ?2 AND date_begin = ?3 AND date_end = ?4",
        )?
        .query_row(params![org, id, begin, end], |r| r.get(0))
        .optional()?;
    if known.is_some() {
        return Ok(TlsStored::Duplicate {
            report: Box::new(report),
        });
    }
    conn.prepare_cached(
        "INSERT INTO tls_report (org_name, report_id, date_begin, date_end, contact_info,
           policy_count, sessions_success, sessions_failure, source, ingested_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        report.organization_name,
        report.report_id,
        report.date_begin,
        report.date_end,
        report.contact_info,
        report.policies.len() as i64,
        report.sessions_success(),
        report.sessions_failure(),
        source,
        chrono::Utc::now().timestamp(),
    ])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO tls_report_blob (report, sha256, gzip) VALUES (?1, ?2, ?3)")?
        .execute(params![id, Sha256::digest(kept).as_slice(), kept])?;
    write_policies(conn, id, &report)?;
    Ok(TlsStored::New {
        id,
        report: Box::new(report),
    })
}

pub(super) fn write_policies(
    conn: &Connection,
    id: i64,
    report: &TlsReport,
) -> rusqlite::Result<()> {
    let mut policy = conn.prepare_cached(
        "INSERT INTO tls_policy (report, seq, policy_type, policy_string, policy_domain,
           mx_host, sessions_success, sessions_failure)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut failure = conn.prepare_cached(
        "INSERT INTO tls_failure (report, policy, seq, result_type, sending_mta_ip,
           receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_session_count,
           additional_information, failure_reason_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (seq, p) in report.policies.iter().enumerate() {
        policy.execute(params![
            id,
            seq as i64,
            p.policy_type.as_str(),
            json(&p.policy_string),
            p.policy_domain,
            json(&p.mx_host),
            p.sessions_success,
            p.sessions_failure,
        ])?;
        for (n, d) in p.failure_details.iter().enumerate() {
            failure.execute(params![
                id,
                seq as i64,
                n as i64,
                d.result_type.as_str(),
                d.sending_mta_ip,
                d.receiving_mx_hostname,
                d.receiving_mx_helo,
                d.receiving_ip,
                d.failed_session_count,
                d.additional_information,
                d.failure_reason_code,
            ])?;
        }
    }
    Ok(())
}

/// A list of strings as a JSON array.
pub(super) fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
