//! Store: the SQLite file. Owns the connection, the schema and its
//! migrations, and the one-transaction-per-report write path.
//!
//! A report is written inside one `BEGIN IMMEDIATE` transaction: the write
//! lock is taken first, then the identity key is checked, so two processes
//! ingesting the same file both succeed and store it once. Records stream
//! from the parser straight into cached prepared statements; nothing of a
//! report is visible until its commit, and a killed process leaves the file
//! as it was before that report (SQLite's journal guarantees it).
//!
//! Durability: WAL with `synchronous = NORMAL` by default (a power cut may
//! lose the last commits, never corrupt the file; the input files are still
//! there). Sources that mark mail seen switch to `synchronous = FULL` via
//! [`Store::set_durable`], so a message is only ever marked seen after its
//! report is on disk.

use std::io::Write;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::extract::{Limits, Payload};
use crate::model::{Record, ReportHeader};
use crate::parse::{ParseError, ReportReader};

/// The schema, applied to a new file. See `schema.sql`.
const SCHEMA_V1: &str = include_str!("../schema.sql");

/// Migrations, in order; entry `i` takes `user_version` from `i` to `i + 1`.
/// Append only: never edit, remove or reorder an entry that has shipped.
const MIGRATIONS: &[&str] = &[SCHEMA_V1];

/// What happened to one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Newly stored, with its row id, number of records and sum of counts.
    New {
        id: i64,
        header: Box<ReportHeader>,
        records: u64,
        messages: i64,
        messages_fail: i64,
    },
    /// A report with the same identity key is already stored.
    Duplicate { header: Box<ReportHeader> },
}

/// Why a report was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input's fault: it goes to quarantine and the run goes on.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// The database's fault (disk full, file locked too long): fatal.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
}

/// The open database.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed, readable by its owner only) and migrates.
    pub fn open(path: &Path) -> Result<Store, rusqlite::Error> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        create_private(path);
        let conn = Connection::open(path)?;
        Store::setup(conn)
    }

    /// A throwaway database, for tests.
    pub fn open_in_memory() -> Result<Store, rusqlite::Error> {
        Store::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Store, rusqlite::Error> {
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    /// Applies pending migrations in one transaction, so two processes
    /// opening a new file at once do not both create the tables.
    fn migrate(&mut self) -> Result<(), rusqlite::Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let start = usize::try_from(version).unwrap_or(usize::MAX);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()
    }

    /// `synchronous = FULL` (true) or `NORMAL` (false); see the module doc.
    pub fn set_durable(&self, durable: bool) -> Result<(), rusqlite::Error> {
        let mode = if durable { "FULL" } else { "NORMAL" };
        self.conn.pragma_update(None, "synchronous", mode)
    }

    /// The connection, for the query views.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Parses `payload` and stores it as one transaction, unless a report
    /// with the same identity is already stored (decided from the header,
    /// before any record is read).
    pub fn store_report(
        &mut self,
        payload: &Payload,
        limits: &Limits,
        source: &str,
    ) -> Result<Stored, StoreError> {
        let mut reader = ReportReader::new(payload.reader(limits));
        let header = reader.header()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let k = header.key();
        let exists = tx
            .prepare_cached(
                "SELECT 1 FROM report WHERE org_name = ?1 AND report_id = ?2
                 AND policy_domain = ?3 AND date_begin = ?4 AND date_end = ?5",
            )?
            .query_row(
                params![
                    k.org_name,
                    k.report_id,
                    k.policy_domain,
                    k.date_begin,
                    k.date_end
                ],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_some() {
            return Ok(Stored::Duplicate {
                header: Box::new(header),
            });
        }
        let id = insert_header(&tx, &header, source)?;
        let mut records = 0u64;
        let mut messages = 0i64;
        let mut messages_fail = 0i64;
        while let Some(rec) = reader.next_record()? {
            insert_record(&tx, id, &rec)?;
            records += 1;
            messages = messages.saturating_add(rec.count);
            if !rec.dmarc_pass() {
                messages_fail = messages_fail.saturating_add(rec.count);
            }
        }
        if records == 0 {
            // Dropping `tx` rolls back: nothing of this report is kept.
            return Err(ParseError::NotAReport("no <record> elements".into()).into());
        }
        tx.execute(
            "UPDATE report SET record_count = ?2, message_count = ?3, pass_count = ?4
             WHERE id = ?1",
            params![id, records as i64, messages, messages - messages_fail],
        )?;
        let blob = keep_bytes(payload);
        tx.execute(
            "INSERT INTO report_blob (report, sha256, gzip) VALUES (?1, ?2, ?3)",
            params![id, Sha256::digest(&blob).as_slice(), blob],
        )?;
        tx.commit()?;
        Ok(Stored::New {
            id,
            header: Box::new(header),
            records,
            messages,
            messages_fail,
        })
    }

    /// Keeps an input that could not be stored, with the reason, so a
    /// later version can retry it. The same bytes again update the row.
    pub fn quarantine(
        &self,
        source: &str,
        reason: &str,
        bytes: &[u8],
    ) -> Result<(), rusqlite::Error> {
        let now = chrono::Utc::now().timestamp();
        let sha = Sha256::digest(bytes);
        self.conn.execute(
            "INSERT INTO quarantine (sha256, source, reason, gzip, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (sha256) DO UPDATE SET source = excluded.source,
               reason = excluded.reason, last_seen = excluded.last_seen,
               attempts = attempts + 1",
            params![sha.as_slice(), source, reason, gzip(bytes), now],
        )?;
        Ok(())
    }
}

/// Creates the database file with mode 0600 before SQLite opens it, so
/// report data (who mails as us, from where) is not world-readable.
fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The bytes to keep for a report: a gzip payload as received, plain XML
/// compressed.
fn keep_bytes(payload: &Payload) -> Vec<u8> {
    if payload.gzip {
        payload.data.clone()
    } else {
        gzip(&payload.data)
    }
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn insert_header(
    tx: &rusqlite::Transaction<'_>,
    h: &ReportHeader,
    source: &str,
) -> Result<i64, rusqlite::Error> {
    let m = &h.metadata;
    let p = &h.policy;
    let errors = (!m.errors.is_empty()).then(|| m.errors.join("\n"));
    tx.prepare_cached(
        "INSERT INTO report (org_name, email, extra_contact_info, report_id, date_begin,
           date_end, errors, generator, version, xml_namespace, policy_domain, policy_adkim,
           policy_aspf, policy_p, policy_sp, policy_np, policy_pct, policy_fo, policy_testing,
           policy_discovery_method, source, ingested_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
           ?18, ?19, ?20, ?21, ?22)",
    )?
    .execute(params![
        m.org_name,
        m.email,
        m.extra_contact_info,
        m.report_id,
        m.date_begin,
        m.date_end,
        errors,
        m.generator,
        h.version,
        h.namespace,
        p.domain,
        p.adkim,
        p.aspf,
        p.p,
        p.sp,
        p.np,
        p.pct,
        p.fo,
        p.testing,
        p.discovery_method,
        source,
        chrono::Utc::now().timestamp(),
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Inserts one record and its child rows (also used by `reparse`).
pub(crate) fn insert_record(
    tx: &rusqlite::Transaction<'_>,
    report: i64,
    r: &Record,
) -> Result<(), rusqlite::Error> {
    let pe = &r.policy_evaluated;
    let ids = &r.identifiers;
    tx.prepare_cached(
        "INSERT INTO record (report, source_ip, ip_bin, count, disposition, dkim, spf,
           dmarc_pass, header_from, envelope_from, envelope_to)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        report,
        r.source_ip,
        ip_bin(&r.source_ip).as_ref().map(|b| &b[..]),
        r.count,
        pe.disposition.as_str(),
        pe.dkim.as_str(),
        pe.spf.as_str(),
        r.dmarc_pass(),
        ids.header_from,
        ids.envelope_from,
        ids.envelope_to,
    ])?;
    let rec = tx.last_insert_rowid();
    if !r.dkim.is_empty() {
        let mut st = tx.prepare_cached(
            "INSERT INTO dkim_result (record, seq, domain, selector, result, human_result)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (i, d) in r.dkim.iter().enumerate() {
            st.execute(params![
                rec,
                i as i64,
                d.domain,
                d.selector,
                d.result.as_str(),
                d.human_result
            ])?;
        }
    }
    if !r.spf.is_empty() {
        let mut st = tx.prepare_cached(
            "INSERT INTO spf_result (record, seq, domain, scope, result, human_result)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (i, s) in r.spf.iter().enumerate() {
            st.execute(params![
                rec,
                i as i64,
                s.domain,
                s.scope,
                s.result.as_str(),
                s.human_result
            ])?;
        }
    }
    if !pe.reasons.is_empty() {
        let mut st = tx.prepare_cached(
            "INSERT INTO override_reason (record, seq, type, comment) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (i, o) in pe.reasons.iter().enumerate() {
            st.execute(params![rec, i as i64, o.kind, o.comment])?;
        }
    }
    Ok(())
}

/// The 16-byte form of an address (IPv4 as `::ffff:a.b.c.d`), so that CIDR
/// filters are byte-range comparisons in SQL. IPv4-mapped IPv6 input and
/// plain IPv4 give the same bytes.
pub fn ip_bin(ip: &str) -> Option<[u8; 16]> {
    let addr: std::net::IpAddr = ip.trim().parse().ok()?;
    Some(match addr {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(xml: &str) -> Payload {
        Payload {
            name: "t.xml".into(),
            data: xml.as_bytes().to_vec(),
            gzip: false,
        }
    }

    const XML: &str = r#"<feedback><report_metadata><org_name>o</org_name><email>a@o</email>
      <report_id>r1</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>
      <policy_published><domain>d.example</domain></policy_published>
      <record><row><source_ip>192.0.2.1</source_ip><count>4</count><policy_evaluated>
      <disposition>none</disposition><dkim>fail</dkim><spf>pass</spf>
      <reason><type>forwarded</type></reason></policy_evaluated></row>
      <identifiers><header_from>d.example</header_from></identifiers>
      <auth_results><dkim><domain>a</domain><result>fail</result></dkim>
      <dkim><domain>b</domain><result>pass</result></dkim>
      <spf><domain>d.example</domain><result>pass</result></spf></auth_results></record>
      </feedback>"#;

    fn count(s: &Store, table: &str) -> i64 {
        s.conn()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn stores_once_with_every_child_row() {
        let mut s = Store::open_in_memory().unwrap();
        let l = Limits::default();
        let first = s.store_report(&payload(XML), &l, "t").unwrap();
        assert!(matches!(
            first,
            Stored::New {
                records: 1,
                messages: 4,
                messages_fail: 0,
                ..
            }
        ));
        let again = s.store_report(&payload(XML), &l, "t").unwrap();
        assert!(matches!(again, Stored::Duplicate { .. }));
        assert_eq!(count(&s, "report"), 1);
        assert_eq!(count(&s, "record"), 1);
        assert_eq!(count(&s, "dkim_result"), 2);
        assert_eq!(count(&s, "spf_result"), 1);
        assert_eq!(count(&s, "override_reason"), 1);
        assert_eq!(count(&s, "report_blob"), 1);
    }

    #[test]
    fn a_bad_record_leaves_nothing_behind() {
        let mut s = Store::open_in_memory().unwrap();
        let bad = XML.replace(
            "</record>",
            "</record><record><row><source_ip>x</source_ip><count>1</count></row></record>",
        );
        let e = s
            .store_report(&payload(&bad), &Limits::default(), "t")
            .unwrap_err();
        assert!(matches!(e, StoreError::Parse(_)), "{e}");
        assert_eq!(count(&s, "report"), 0);
        assert_eq!(count(&s, "record"), 0);
    }

    #[test]
    fn quarantine_keeps_one_row_per_content() {
        let s = Store::open_in_memory().unwrap();
        s.quarantine("a", "bad", b"xyz").unwrap();
        s.quarantine("b", "bad again", b"xyz").unwrap();
        assert_eq!(count(&s, "quarantine"), 1);
        let attempts: i64 = s
            .conn()
            .query_row("SELECT attempts FROM quarantine", [], |r| r.get(0))
            .unwrap();
        assert_eq!(attempts, 2);
    }

    #[test]
    fn ipv4_mapped_equals_ipv4() {
        assert_eq!(ip_bin("192.0.2.1"), ip_bin("::ffff:192.0.2.1"));
        assert_eq!(ip_bin("nope"), None);
    }

    #[test]
    fn new_file_is_private_and_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let s = Store::open(&path).unwrap();
        let v: i64 = s
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        }
    }
}
