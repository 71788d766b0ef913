//! Rewriting a stored SMTP TLS report (RFC 8460) or DMARC failure report
//! (RFC 6591) from its original bytes, for `reparse`: what `rebuild.rs`
//! does for aggregate reports, for the other two kinds. The store hands
//! out the bytes, the caller parses them, and the store replaces the
//! report's derived rows in one transaction that takes the write lock
//! first, kept only when the rows changed.
//!
//! Same rules as `rebuild.rs`: a fingerprint of the report's rows (every
//! column, so one added by a later migration counts too, except row ids,
//! `source` and `ingested_at`) taken before and after decides whether
//! anything changed; when nothing did the transaction is rolled back, so a
//! database built by the current version is left alone. The report keeps
//! its row id, its source and when it was first stored. An error — among
//! them a constraint error (`DbError::is_constraint`): the bytes now parse
//! to the identity of another stored report — leaves the report as it was.
//!
//! The TLS report's own row and the failure report's row are rewritten by
//! statements written once for both backends (the views' SQL builder);
//! the policies and failure details by each backend's own insert, the one
//! ingest uses (`tls.rs`, `pg/tls.rs`), so the two cannot drift apart.
//! PostgreSQL's transaction and fingerprint: `pg/rebuild_kinds.rs`.
//!
//! A failure report stored redacted has no bytes (the mail is not kept):
//! there is nothing to rebuild it from, and [`Store::failure_report_bytes`]
//! says so with `None`.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::failure::identity;
use super::import_kinds::{Exec, LiteExec};
use super::rebuild::hash_rows;
use super::sqlite::Lite;
use super::tls::{json, write_policies};
use super::views::sql::{Dialect, Sql};
use super::{Backend, DbError, Rebuilt, Store};
use crate::extract::{Payload, PayloadKind};
use crate::model::failure::FailureReport;
use crate::model::tls::TlsReport;

/// One table of what a report holds: its rows are those whose `key`
/// column is the report's id, read in `order`. The first of a list is the
/// report's own row (`key` is its `id`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rows {
    pub table: &'static str,
    pub key: &'static str,
    pub order: &'static str,
}

/// What an SMTP TLS report holds: its row, its policies, their failure
/// details.
pub(super) const TLS_ROWS: &[Rows] = &[
    Rows {
        table: "tls_report",
        key: "id",
        order: "id",
    },
    Rows {
        table: "tls_policy",
        key: "report",
        order: "seq",
    },
    Rows {
        table: "tls_failure",
        key: "report",
        order: "policy, seq",
    },
];

/// What a failure report holds: its one row.
pub(super) const FAILURE_ROWS: &[Rows] = &[Rows {
    table: "failure_report",
    key: "id",
    order: "id",
}];

/// The reparse operations on TLS and failure reports of [`Store`], by
/// backend.
impl Store {
    /// Every stored failure report's id, oldest first.
    pub fn failure_report_ids(&self) -> Result<Vec<i64>, DbError> {
        self.rows(
            "SELECT id FROM failure_report ORDER BY id",
            &self.sql(),
            |r| r.get(0),
        )
    }

    /// Failure report `id`'s source and original mail (gzip-compressed, as
    /// kept); `None` when there is no such report or it was stored
    /// redacted (no mail kept).
    pub fn failure_report_bytes(&self, id: i64) -> Result<Option<Payload>, DbError> {
        self.kept_bytes("failure_report", id, PayloadKind::Failure)
    }

    /// Replaces TLS report `id`'s rows with what `report` (parsed from its
    /// bytes) says, in one transaction committed only when they changed.
    pub fn rebuild_tls(&mut self, id: i64, report: &TlsReport) -> Result<Rebuilt, DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.rebuild_rows(id, TLS_ROWS, |conn| {
                rewrite_tls(&mut LiteExec(conn), Dialect::Sqlite, id, report)?;
                Ok(write_policies(conn, id, report)?)
            }),
            Backend::Postgres(p) => p.rebuild_tls(id, report),
        }
    }

    /// Replaces failure report `id`'s row with what `report` (parsed from
    /// its bytes) says — its identity too —, in one transaction committed
    /// only when it changed.
    pub fn rebuild_failure(&mut self, id: i64, report: &FailureReport) -> Result<Rebuilt, DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.rebuild_rows(id, FAILURE_ROWS, |conn| {
                rewrite_failure(&mut LiteExec(conn), Dialect::Sqlite, id, report)
            }),
            Backend::Postgres(p) => p.rebuild_failure(id, report),
        }
    }
}

impl Lite {
    /// Runs `rewrite` on report `id` (described by `rows`) in one `BEGIN
    /// IMMEDIATE` transaction, committed only when the fingerprint of
    /// `rows` changed.
    fn rebuild_rows(
        &mut self,
        id: i64,
        rows: &[Rows],
        rewrite: impl FnOnce(&Connection) -> Result<(), DbError>,
    ) -> Result<Rebuilt, DbError> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let exists = tx
            .query_row(
                &format!("SELECT 1 FROM {} WHERE id = ?1", rows[0].table),
                params![id],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_none() {
            return Ok(Rebuilt::Gone);
        }
        let before = fingerprint(&tx, id, rows)?;
        rewrite(&tx)?;
        if fingerprint(&tx, id, rows)? == before {
            // Dropping `tx` rolls back: an unchanged report is not rewritten.
            return Ok(Rebuilt::Unchanged);
        }
        tx.commit()?;
        Ok(Rebuilt::Changed)
    }
}

/// A digest of every content column of report `id`'s `rows`.
fn fingerprint(conn: &Connection, id: i64, rows: &[Rows]) -> rusqlite::Result<[u8; 32]> {
    let mut h = Sha256::new();
    for r in rows {
        let sql = format!(
            "SELECT * FROM {} WHERE {} = ?1 ORDER BY {}",
            r.table, r.key, r.order
        );
        hash_rows(conn, &sql, id, &mut h)?;
    }
    Ok(h.finalize().into())
}

/// Runs `text` (bound with `sql`'s parameters) for its effect.
fn run(ex: &mut dyn Exec, text: &str, sql: &Sql) -> Result<(), DbError> {
    ex.rows(text, &sql.args).map(drop)
}

/// Rewrites TLS report `id`'s own row from `r` and deletes its policies
/// and failure details (the caller writes them again with the backend's
/// insert), inside the caller's transaction.
pub(super) fn rewrite_tls(
    ex: &mut dyn Exec,
    dialect: Dialect,
    id: i64,
    r: &TlsReport,
) -> Result<(), DbError> {
    let mut sql = Sql::new(dialect);
    let text = format!(
        "UPDATE tls_report SET org_name = {}, report_id = {}, date_begin = {}, date_end = {},
           contact_info = {}, policy_count = {}, sessions_success = {}, sessions_failure = {}
         WHERE id = {}",
        sql.bind(r.organization_name.clone()),
        sql.bind(r.report_id.clone()),
        sql.bind(r.date_begin),
        sql.bind(r.date_end),
        sql.bind(r.contact_info.clone()),
        sql.bind(r.policies.len() as i64),
        sql.bind(r.sessions_success()),
        sql.bind(r.sessions_failure()),
        sql.bind(id),
    );
    run(ex, &text, &sql)?;
    // Details first: they point at the policies.
    for table in ["tls_failure", "tls_policy"] {
        let mut sql = Sql::new(dialect);
        let text = format!("DELETE FROM {table} WHERE report = {}", sql.bind(id));
        run(ex, &text, &sql)?;
    }
    Ok(())
}

/// Rewrites failure report `id`'s row from `r`, every column ingest
/// writes (`failure.rs`'s insert) except `redacted` (a report with bytes
/// was not), `source` and `ingested_at`, inside the caller's transaction.
pub(super) fn rewrite_failure(
    ex: &mut dyn Exec,
    dialect: Dialect,
    id: i64,
    r: &FailureReport,
) -> Result<(), DbError> {
    let fields: Vec<[&str; 2]> = r
        .fields
        .iter()
        .map(|(n, v)| [n.as_str(), v.as_str()])
        .collect();
    let text = |v: Option<&str>| Value::from(v.map(str::to_string));
    let owned = |v: &Option<String>| Value::from(v.clone());
    let m = &r.reported;
    // (column, value, whether the column holds JSON)
    let columns: [(&str, Value, bool); 29] = [
        ("identity", Value::Blob(identity(r).to_vec()), false),
        ("origin", text(Some(r.origin.as_str())), false),
        ("feedback_type", text(Some(r.feedback_type.as_str())), false),
        ("version", owned(&r.version), false),
        ("user_agent", owned(&r.user_agent), false),
        ("arrival_date", Value::from(r.arrival_date), false),
        ("arrival_date_text", owned(&r.arrival_date_text), false),
        ("source_ip", owned(&r.source_ip), false),
        ("reported_domain", text(Some(r.reported_domain())), false),
        (
            "reported_domains",
            Value::Text(json(&r.reported_domain)),
            true,
        ),
        ("original_mail_from", owned(&r.original_mail_from), false),
        (
            "original_envelope_id",
            owned(&r.original_envelope_id),
            false,
        ),
        (
            "original_rcpt_to",
            Value::Text(json(&r.original_rcpt_to)),
            true,
        ),
        (
            "auth_failure",
            text(r.auth_failure.as_ref().map(|a| a.as_str())),
            false,
        ),
        (
            "delivery_result",
            text(r.delivery_result.as_ref().map(|d| d.as_str())),
            false,
        ),
        ("dkim_domain", owned(&r.dkim_domain), false),
        ("dkim_identity", owned(&r.dkim_identity), false),
        ("dkim_selector", owned(&r.dkim_selector), false),
        ("spf_dns", owned(&r.spf_dns), false),
        ("identity_alignment", owned(&r.identity_alignment), false),
        ("reporting_mta", owned(&r.reporting_mta), false),
        (
            "authentication_results",
            Value::Text(json(&r.authentication_results)),
            true,
        ),
        ("fields", Value::Text(json(&fields)), true),
        ("reported_from", Value::from(m.from_text()), false),
        ("reported_to", Value::from(m.to_text()), false),
        ("reported_subject", owned(&m.subject), false),
        ("reported_date", owned(&m.date), false),
        ("reported_message_id", owned(&m.message_id), false),
        ("message_id", owned(&r.message_id), false),
    ];
    let mut sql = Sql::new(dialect);
    let sets: Vec<String> = columns
        .into_iter()
        .map(|(col, value, is_json)| {
            let mark = sql.bind(value);
            match (is_json, dialect) {
                (true, Dialect::Postgres) => format!("{col} = {mark}::text::jsonb"),
                _ => format!("{col} = {mark}"),
            }
        })
        .collect();
    let text = format!(
        "UPDATE failure_report SET {} WHERE id = {}",
        sets.join(", "),
        sql.bind(id)
    );
    run(ex, &text, &sql)
}
