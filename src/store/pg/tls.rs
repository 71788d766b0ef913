//! SMTP TLS reports (RFC 8460) on PostgreSQL: the write path of SQLite's
//! `store/tls.rs` (whose doc says what is kept and why), and the
//! transaction every report kind besides aggregate reports is written in.
//! The views that read these rows are shared with SQLite
//! (`views/kinds.rs`).

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::super::tls::{json, TlsStored};
use super::super::write::gzip;
use super::super::DbError;
use super::{lock, Conn, Pg};
use crate::extract::Payload;
use crate::model::tls::TlsReport;

impl Pg {
    /// See [`crate::store::Store::store_tls`].
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
        self.in_own_savepoint(|client| write_tls(client, report, &kept, source))
    }

    /// Runs `write` in a savepoint of the open group of reports (which
    /// holds the write lock), or in a transaction of its own that takes
    /// the write lock first; kept only if it succeeds. For the report
    /// kinds other than aggregate reports, as SQLite's `in_own_savepoint`.
    pub(in crate::store) fn in_own_savepoint<T>(
        &mut self,
        write: impl FnOnce(&mut Conn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let client = self.client.get_mut();
        let (open, keep, undo) = if self.batch.is_some() {
            (
                "SAVEPOINT other",
                "RELEASE other",
                "ROLLBACK TO other; RELEASE other",
            )
        } else {
            ("BEGIN", "COMMIT", "ROLLBACK")
        };
        client.batch_execute(open)?;
        let done = (if self.batch.is_some() {
            Ok(())
        } else {
            lock(client).map_err(DbError::from)
        })
        .and_then(|()| write(client))
        .and_then(|out| Ok(client.batch_execute(keep).map(|()| out)?));
        if done.is_err() {
            let _ = client.batch_execute(undo);
        }
        done
    }
}

/// Stores `report` unless its identity key is stored (checked under the
/// write lock; the UNIQUE key backs it up).
fn write_tls(
    client: &mut Conn,
    report: TlsReport,
    kept: &[u8],
    source: &str,
) -> Result<TlsStored, DbError> {
    let now = chrono::Utc::now().timestamp();
    let policies = report.policies.len() as i64;
    let (success, failure) = (report.sessions_success(), report.sessions_failure());
    let sha = Sha256::digest(kept).to_vec();
    let row = client.query_opt(
        "WITH r AS (
           INSERT INTO tls_report (org_name, report_id, date_begin, date_end, contact_info,
             policy_count, sessions_success, sessions_failure, source, ingested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT DO NOTHING RETURNING id),
         b AS (INSERT INTO tls_report_blob (report, sha256, gzip) SELECT id, $11, $12 FROM r)
         SELECT id FROM r",
        &[
            &report.organization_name,
            &report.report_id,
            &report.date_begin,
            &report.date_end,
            &report.contact_info,
            &policies,
            &success,
            &failure,
            &source,
            &now,
            &sha,
            &kept,
        ],
    )?;
    let Some(row) = row else {
        return Ok(TlsStored::Duplicate {
            report: Box::new(report),
        });
    };
    let id: i64 = row.get(0);
    write_policies(client, id, &report)?;
    Ok(TlsStored::New {
        id,
        report: Box::new(report),
    })
}

pub(super) fn write_policies(
    client: &mut Conn,
    id: i64,
    report: &TlsReport,
) -> Result<(), DbError> {
    for (seq, p) in report.policies.iter().enumerate() {
        let seq = seq as i64;
        client.execute(
            "INSERT INTO tls_policy (report, seq, policy_type, policy_string, policy_domain,
               mx_host, sessions_success, sessions_failure)
             VALUES ($1, $2, $3, $4::text::jsonb, $5, $6::text::jsonb, $7, $8)",
            &[
                &id,
                &seq,
                &p.policy_type.as_str(),
                &json(&p.policy_string),
                &p.policy_domain,
                &json(&p.mx_host),
                &p.sessions_success,
                &p.sessions_failure,
            ],
        )?;
        for (n, d) in p.failure_details.iter().enumerate() {
            client.execute(
                "INSERT INTO tls_failure (report, policy, seq, result_type, sending_mta_ip,
                   receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_session_count,
                   additional_information, failure_reason_code)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &id,
                    &seq,
                    &(n as i64),
                    &d.result_type.as_str(),
                    &d.sending_mta_ip,
                    &d.receiving_mx_hostname,
                    &d.receiving_mx_helo,
                    &d.receiving_ip,
                    &d.failed_session_count,
                    &d.additional_information,
                    &d.failure_reason_code,
                ],
            )?;
        }
    }
    Ok(())
}
