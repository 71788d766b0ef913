//! Store: DMARC failure reports (RFC 6591) — their write path and the
//! `--redact` key on SQLite (on PostgreSQL: `pg/failure.rs`), and the rows
//! the failure views return (the views: `views/kinds.rs`).
//!
//! Identity: the SHA-256 of the parsed report — every field of the
//! feedback-report part, the reported message's headers and the report
//! mail's own Message-ID — not of the mail's bytes, so the same report
//! fetched twice (from IMAP and from an mbox export, with LF or CRLF line
//! ends, with other `Received` lines added on the way) is stored once,
//! while two failures differ in their Arrival-Date, Source-IP or reported
//! Message-ID. The identity is taken before redaction, so a report stored
//! redacted is still recognised when it comes again.
//!
//! Redaction (`--redact`): the local part of every address becomes the
//! HMAC-SHA-256 of it under a key generated once per database and kept in
//! the `secret` table (its first 8 bytes in hex), display names of the
//! reported From/To are dropped, and the raw mail (which holds the reported
//! message) is not kept. Equal addresses still hash equally within one
//! database, so reports can be counted per sender without the addresses.

use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::sqlite::Lite;
use super::tls::json;
use super::write::gzip;
use super::{Backend, DbError, Store};
use crate::extract::Payload;
use crate::model::failure::FailureReport;

/// What happened to one failure report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureStored {
    /// Newly stored, with its row id (redacted when asked to be).
    New { id: i64, report: Box<FailureReport> },
    /// The same report is already stored.
    Duplicate { report: Box<FailureReport> },
}

/// The failure report writes of [`Store`], by backend (the views that
/// read them are `views/kinds.rs`).
impl Store {
    /// See [`Lite::store_failure`].
    pub fn store_failure(
        &mut self,
        payload: &Payload,
        source: &str,
        report: FailureReport,
        redact: bool,
    ) -> Result<FailureStored, DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.store_failure(payload, source, report, redact),
            Backend::Postgres(p) => p.store_failure(payload, source, report, redact),
        }
    }
}

impl Lite {
    /// Stores a parsed failure report (`payload`, the whole mail, is kept
    /// as its original bytes unless redacting), unless the same report is
    /// stored already. `redact`: see the module doc.
    pub fn store_failure(
        &mut self,
        payload: &Payload,
        source: &str,
        report: FailureReport,
        redact: bool,
    ) -> Result<FailureStored, DbError> {
        let mut report = Box::new(report);
        let identity = identity(&report);
        self.in_own_savepoint(|conn| {
            let known: Option<i64> = conn
                .prepare_cached("SELECT id FROM failure_report WHERE identity = ?1")?
                .query_row([identity.as_slice()], |r| r.get(0))
                .optional()?;
            if known.is_some() {
                return Ok(FailureStored::Duplicate { report });
            }
            if redact {
                let key = redact_key(conn)?;
                report.redact(&|local| keyed_hash(&key, local));
            }
            let id = insert(conn, &report, &identity, redact, source)?;
            if !redact {
                let kept = gzip(&payload.data);
                conn.prepare_cached(
                    "INSERT INTO failure_report_blob (report, sha256, gzip) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![id, Sha256::digest(&kept).as_slice(), kept])?;
            }
            Ok(FailureStored::New { id, report })
        })
    }
}

/// One row of `query failure-reports`. The field names are the JSON keys;
/// `arrival_date` is seconds since the epoch here (views render it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureReportRow {
    pub arrival_date: Option<i64>,
    pub feedback_type: String,
    pub source_ip: Option<String>,
    pub reported_domain: String,
    pub auth_failure: Option<String>,
    pub delivery_result: Option<String>,
    pub original_mail_from: Option<String>,
    pub original_rcpt_to: Vec<String>,
    /// The reported message's From.
    pub from: Option<String>,
    /// The reported message's Subject.
    pub subject: Option<String>,
    pub dkim_domain: Option<String>,
    pub identity_alignment: Option<String>,
    /// `arf`, or `text` for a reporter that sent no ARF part.
    pub origin: String,
    pub redacted: bool,
}

/// See the module doc.
pub(super) fn identity(r: &FailureReport) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut put = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    put(r.origin.as_str());
    for (name, value) in &r.fields {
        put(&name.to_ascii_lowercase());
        put(value);
    }
    let m = &r.reported;
    for v in [
        m.from_text(),
        m.to_text(),
        m.subject.clone(),
        m.date.clone(),
        m.message_id.clone(),
        r.message_id.clone(),
    ] {
        put(v.as_deref().unwrap_or("\u{0}"));
    }
    h.finalize().into()
}

/// The database's redaction key, generated (32 bytes from SQLite's
/// randomness source, seeded by the operating system) the first time.
fn redact_key(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    conn.execute(
        "INSERT OR IGNORE INTO secret (name, value) VALUES ('redact_key', randomblob(32))",
        [],
    )?;
    conn.query_row(
        "SELECT value FROM secret WHERE name = 'redact_key'",
        [],
        |r| r.get(0),
    )
}

/// The first 8 bytes of HMAC-SHA-256(key, local part), in hex.
pub(super) fn keyed_hash(key: &[u8], local: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        // HMAC takes keys of any length; this cannot happen.
        return "redacted".into();
    };
    mac.update(local.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn insert(
    conn: &Connection,
    r: &FailureReport,
    identity: &[u8; 32],
    redacted: bool,
    source: &str,
) -> rusqlite::Result<i64> {
    let fields: Vec<[&str; 2]> = r
        .fields
        .iter()
        .map(|(n, v)| [n.as_str(), v.as_str()])
        .collect();
    conn.prepare_cached(
        "INSERT INTO failure_report (identity, origin, feedback_type, version, user_agent,
           arrival_date, arrival_date_text, source_ip, reported_domain, reported_domains,
           original_mail_from, original_envelope_id, original_rcpt_to, auth_failure,
           delivery_result, dkim_domain, dkim_identity, dkim_selector, spf_dns,
           identity_alignment, reporting_mta, authentication_results, fields,
           reported_from, reported_to, reported_subject, reported_date, reported_message_id,
           message_id, redacted, source, ingested_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
           ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)",
    )?
    .execute(params![
        identity.as_slice(),
        r.origin.as_str(),
        r.feedback_type.as_str(),
        r.version,
        r.user_agent,
        r.arrival_date,
        r.arrival_date_text,
        r.source_ip,
        r.reported_domain(),
        json(&r.reported_domain),
        r.original_mail_from,
        r.original_envelope_id,
        json(&r.original_rcpt_to),
        r.auth_failure.as_ref().map(|a| a.as_str()),
        r.delivery_result.as_ref().map(|d| d.as_str()),
        r.dkim_domain,
        r.dkim_identity,
        r.dkim_selector,
        r.spf_dns,
        r.identity_alignment,
        r.reporting_mta,
        json(&r.authentication_results),
        json(&fields),
        r.reported.from_text(),
        r.reported.to_text(),
        r.reported.subject,
        r.reported.date,
        r.reported.message_id,
        r.message_id,
        redacted,
        source,
        chrono::Utc::now().timestamp(),
    ])?;
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
#[path = "failure_tests.rs"]
mod tests;
