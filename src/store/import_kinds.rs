//! What `dmarcdb copy` reads and writes for the report kinds besides
//! aggregate reports, and for the variants of aggregate reports. SMTP TLS
//! reports are copied from their original bytes through the ordinary
//! write path ([`Store::store_tls`]); failure reports, the `--redact` key
//! and variants row by row, as they are: a failure report stored redacted
//! has no mail left to parse again, and its hashes must stay those of the
//! key it was stored under. Written once for both backends with the
//! views' SQL builder; every write is idempotent (the identity key, the
//! variant's digest, the secret's name).

use rusqlite::types::Value;
use rusqlite::Connection;

use super::views::Cells;
use super::{Backend, DbError, Store};
use crate::extract::{Payload, PayloadKind};

/// The columns of `failure_report` a copy carries (all but the id and
/// what is generated from them), and whether each holds JSON.
const FAILURE_COLUMNS: [(&str, bool); 32] = [
    ("identity", false),
    ("origin", false),
    ("feedback_type", false),
    ("version", false),
    ("user_agent", false),
    ("arrival_date", false),
    ("arrival_date_text", false),
    ("source_ip", false),
    ("reported_domain", false),
    ("reported_domains", true),
    ("original_mail_from", false),
    ("original_envelope_id", false),
    ("original_rcpt_to", true),
    ("auth_failure", false),
    ("delivery_result", false),
    ("dkim_domain", false),
    ("dkim_identity", false),
    ("dkim_selector", false),
    ("spf_dns", false),
    ("identity_alignment", false),
    ("reporting_mta", false),
    ("authentication_results", true),
    ("fields", true),
    ("reported_from", false),
    ("reported_to", false),
    ("reported_subject", false),
    ("reported_date", false),
    ("reported_message_id", false),
    ("message_id", false),
    ("redacted", false),
    ("source", false),
    ("ingested_at", false),
];

/// One stored failure report as a copy carries it: the values of
/// [`FAILURE_COLUMNS`], then the kept mail's digest and gzip bytes (NULL
/// when stored redacted).
pub struct FailureCopy(Vec<Value>);

/// One kept variant of an aggregate report, with its report's identity
/// key (org_name, report_id, policy_domain, date_begin, date_end) to find
/// that report again in the destination.
pub struct VariantCopy(Vec<Value>);

/// Runs statements inside a transaction of either backend.
pub(super) trait Exec {
    /// Runs `text` with `args` bound; the rows it returns.
    fn rows(&mut self, text: &str, args: &[Value]) -> Result<Vec<Cells>, DbError>;
}

pub(super) struct LiteExec<'a>(pub(super) &'a Connection);

impl Exec for LiteExec<'_> {
    fn rows(&mut self, text: &str, args: &[Value]) -> Result<Vec<Cells>, DbError> {
        super::sqlite::cells(self.0, text, args)
    }
}

impl Store {
    /// Runs `f` in a transaction of its own that takes the write lock
    /// first (or in a savepoint of the open group); kept only if it
    /// succeeds.
    fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.in_own_savepoint(|conn| f(&mut LiteExec(conn))),
            Backend::Postgres(p) => p.in_own_savepoint(|client| f(client)),
        }
    }

    /// Every stored TLS report's id, oldest first.
    pub fn tls_report_ids(&self) -> Result<Vec<i64>, DbError> {
        self.rows("SELECT id FROM tls_report ORDER BY id", &self.sql(), |r| {
            r.get(0)
        })
    }

    /// TLS report `id`'s source and original bytes (gzip-compressed, as
    /// kept); `None` when there is no such report.
    pub fn tls_report_bytes(&self, id: i64) -> Result<Option<Payload>, DbError> {
        self.kept_bytes("tls_report", id, PayloadKind::Tls)
    }

    /// Every stored failure report, oldest first.
    pub fn failure_copies(&self) -> Result<Vec<FailureCopy>, DbError> {
        let sql = self.sql();
        let cols: Vec<String> = FAILURE_COLUMNS
            .iter()
            .map(|&(c, j)| match j {
                true => sql.json_text(&format!("f.{c}")),
                false => format!("f.{c}"),
            })
            .collect();
        let text = format!(
            "SELECT {}, b.sha256, b.gzip FROM failure_report f
             LEFT JOIN failure_report_blob b ON b.report = f.id ORDER BY f.id",
            cols.join(", ")
        );
        self.rows(&text, &sql, |r| Ok(FailureCopy(r.0.clone())))
    }

    /// Stores failure report `f` unless its identity is stored already;
    /// returns whether it was added.
    pub fn import_failure(&mut self, f: &FailureCopy) -> Result<bool, DbError> {
        let mut sql = self.sql();
        let marks: Vec<String> = FAILURE_COLUMNS
            .iter()
            .zip(&f.0)
            .map(|(&(_, json), v)| {
                let mark = sql.bind(v.clone());
                match (json, sql.dialect) {
                    (true, super::views::sql::Dialect::Postgres) => format!("{mark}::text::jsonb"),
                    _ => mark,
                }
            })
            .collect();
        let names: Vec<&str> = FAILURE_COLUMNS.iter().map(|(c, _)| *c).collect();
        let text = format!(
            "INSERT INTO failure_report ({}) VALUES ({})
             ON CONFLICT (identity) DO NOTHING RETURNING id",
            names.join(", "),
            marks.join(", ")
        );
        let blob = (f.0[32].clone(), f.0[33].clone());
        let blob_sql = self.sql();
        self.in_transaction(|ex| {
            let Some(row) = ex.rows(&text, &sql.args)?.into_iter().next() else {
                return Ok(false);
            };
            if !matches!(blob.1, Value::Null) {
                let mut b = blob_sql;
                let text = format!(
                    "INSERT INTO failure_report_blob (report, sha256, gzip) VALUES ({}, {}, {})",
                    b.bind(row.get::<i64>(0)?),
                    b.bind(blob.0),
                    b.bind(blob.1)
                );
                ex.rows(&text, &b.args)?;
            }
            Ok(true)
        })
    }

    /// Every kept variant of an aggregate report, oldest first.
    pub fn variant_copies(&self) -> Result<Vec<VariantCopy>, DbError> {
        let text = "SELECT r.org_name, r.report_id, r.policy_domain, r.date_begin, r.date_end,
                           v.sha256, v.source, v.repair, v.gzip, v.first_seen, v.last_seen
                    FROM report_variant v JOIN report r ON r.id = v.report ORDER BY v.id";
        self.rows(text, &self.sql(), |r| Ok(VariantCopy(r.0.clone())))
    }

    /// Keeps variant `v` beside the stored report with its report's
    /// identity key, unless it is kept already (or there is no such
    /// report); returns whether it was added.
    pub fn import_variant(&mut self, v: &VariantCopy) -> Result<bool, DbError> {
        let mut sql = self.sql();
        let m: Vec<String> = v.0.iter().map(|x| sql.bind(x.clone())).collect();
        let text = format!(
            "INSERT INTO report_variant (report, sha256, source, repair, gzip, first_seen, last_seen)
             SELECT id, {}, {}, {}, {}, {}, {} FROM report
             WHERE org_name = {} AND report_id = {} AND policy_domain = {}
               AND date_begin = {} AND date_end = {}
             ON CONFLICT (sha256) DO NOTHING",
            m[5], m[6], m[7], m[8], m[9], m[10], m[0], m[1], m[2], m[3], m[4]
        );
        let n = match &self.backend {
            Backend::Sqlite(s) => s.execute(&text, &sql.args)?,
            Backend::Postgres(p) => p.execute(&text, &sql.args)?,
        };
        Ok(n > 0)
    }

    /// The secrets the database generated (the `--redact` key), by name.
    pub fn secrets(&self) -> Result<Vec<(String, Vec<u8>)>, DbError> {
        let text = "SELECT name, value FROM secret ORDER BY name";
        self.rows(text, &self.sql(), |r| Ok((r.get(0)?, r.get(1)?)))
    }

    /// Keeps secret `name` unless the database has one of that name
    /// already (its own stays); returns whether it was added.
    pub fn import_secret(&mut self, name: &str, value: &[u8]) -> Result<bool, DbError> {
        let mut sql = self.sql();
        let text = format!(
            "INSERT INTO secret (name, value) VALUES ({}, {}) ON CONFLICT (name) DO NOTHING",
            sql.bind(name.to_string()),
            sql.bind(value.to_vec())
        );
        let n = match &self.backend {
            Backend::Sqlite(s) => s.execute(&text, &sql.args)?,
            Backend::Postgres(p) => p.execute(&text, &sql.args)?,
        };
        Ok(n > 0)
    }
}
