//! DMARC failure reports (RFC 6591) on PostgreSQL: the write path and the
//! `--redact` key of SQLite's `store/failure.rs`, whose doc says what the
//! identity is, what redaction does and why. The views that read these
//! rows are shared with SQLite (`views/kinds.rs`).

use sha2::{Digest, Sha256};

use super::super::failure::{identity, keyed_hash, FailureStored};
use super::super::tls::json;
use super::super::write::gzip;
use super::super::DbError;
use super::{Conn, Pg};
use crate::extract::Payload;
use crate::model::failure::FailureReport;

impl Pg {
    /// See [`crate::store::Store::store_failure`].
    pub fn store_failure(
        &mut self,
        payload: &Payload,
        source: &str,
        report: FailureReport,
        redact: bool,
    ) -> Result<FailureStored, DbError> {
        let mut report = Box::new(report);
        let identity = identity(&report);
        self.in_own_savepoint(|client| {
            let known = client.query_opt(
                "SELECT 1 FROM failure_report WHERE identity = $1",
                &[&identity.as_slice()],
            )?;
            if known.is_some() {
                return Ok(FailureStored::Duplicate { report });
            }
            if redact {
                let key = redact_key(client)?;
                report.redact(&|local| keyed_hash(&key, local));
            }
            let Some(id) = insert(client, &report, &identity, redact, source)? else {
                return Ok(FailureStored::Duplicate { report });
            };
            if !redact {
                let kept = gzip(&payload.data);
                client.execute(
                    "INSERT INTO failure_report_blob (report, sha256, gzip) VALUES ($1, $2, $3)",
                    &[&id, &Sha256::digest(&kept).as_slice(), &kept],
                )?;
            }
            Ok(FailureStored::New { id, report })
        })
    }
}

/// The database's redaction key, generated the first time: 32 bytes, the
/// SHA-256 of two random UUIDs (`gen_random_uuid`, 244 random bits from
/// the server's cryptographic randomness source; no extension needed).
fn redact_key(client: &mut Conn) -> Result<Vec<u8>, DbError> {
    client.execute(
        "INSERT INTO secret (name, value)
         VALUES ('redact_key',
                 sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')))
         ON CONFLICT (name) DO NOTHING",
        &[],
    )?;
    Ok(client
        .query_one("SELECT value FROM secret WHERE name = 'redact_key'", &[])?
        .get(0))
}

/// Inserts the report row; `None` when the same identity is stored
/// already (a backstop: the caller checked under the write lock).
fn insert(
    client: &mut Conn,
    r: &FailureReport,
    identity: &[u8; 32],
    redacted: bool,
    source: &str,
) -> Result<Option<i64>, DbError> {
    let fields: Vec<[&str; 2]> = r
        .fields
        .iter()
        .map(|(n, v)| [n.as_str(), v.as_str()])
        .collect();
    let now = chrono::Utc::now().timestamp();
    let row = client.query_opt(
        "INSERT INTO failure_report (identity, origin, feedback_type, version, user_agent,
           arrival_date, arrival_date_text, source_ip, reported_domain, reported_domains,
           original_mail_from, original_envelope_id, original_rcpt_to, auth_failure,
           delivery_result, dkim_domain, dkim_identity, dkim_selector, spf_dns,
           identity_alignment, reporting_mta, authentication_results, fields,
           reported_from, reported_to, reported_subject, reported_date, reported_message_id,
           message_id, redacted, source, ingested_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb, $11, $12,
           $13::text::jsonb, $14, $15, $16, $17, $18, $19, $20, $21, $22::text::jsonb,
           $23::text::jsonb, $24, $25, $26, $27, $28, $29, $30, $31, $32)
         ON CONFLICT (identity) DO NOTHING RETURNING id",
        &[
            &identity.as_slice(),
            &r.origin.as_str(),
            &r.feedback_type.as_str(),
            &r.version,
            &r.user_agent,
            &r.arrival_date,
            &r.arrival_date_text,
            &r.source_ip,
            &r.reported_domain(),
            &json(&r.reported_domain),
            &r.original_mail_from,
            &r.original_envelope_id,
            &json(&r.original_rcpt_to),
            &r.auth_failure.as_ref().map(|a| a.as_str()),
            &r.delivery_result.as_ref().map(|d| d.as_str()),
            &r.dkim_domain,
            &r.dkim_identity,
            &r.dkim_selector,
            &r.spf_dns,
            &r.identity_alignment,
            &r.reporting_mta,
            &json(&r.authentication_results),
            &json(&fields),
            &r.reported.from_text(),
            &r.reported.to_text(),
            &r.reported.subject,
            &r.reported.date,
            &r.reported.message_id,
            &r.message_id,
            &redacted,
            &source,
            &now,
        ],
    )?;
    Ok(row.map(|r| r.get(0)))
}
