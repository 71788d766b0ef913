//! The write path of one report, and of an input that could not be
//! stored: the store as a sink. Callers parse (ingest's driver does, on
//! its own thread); this file takes a header and a stream of records and
//! writes them inside the caller's savepoint ([`Store::in_savepoint`]).

use std::cell::Cell;
use std::io::Write;

use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

use super::sqlite::Lite;
use super::undo::Undo;
use super::{variant, DbError, Inserter, StoreError, Stored};
use crate::extract::{Limits, Payload};
use crate::model::{Record, ReportHeader};
use crate::parse::ParseError;

impl Lite {
    /// Stores a parsed report in one transaction (or one savepoint of the
    /// open group, see [`Store::set_batching`]), unless a report with the
    /// same identity is already stored, decided from `header` before any
    /// record is asked for: a copy of a stored report never calls
    /// `next_records` (its content is judged from `payload`, read within
    /// `limits`, see [`variant`]).
    /// Otherwise the records come from `next_records` a chunk at a time
    /// (it fills the empty vector it is given, and leaves it empty at the
    /// end), and go straight into prepared statements; an error from it
    /// (or a report without records) leaves nothing of the report behind.
    /// `payload` is kept as the report's original bytes (`report_blob`).
    /// `sha` is the kept bytes' SHA-256 when a parsing thread made it
    /// ([`hash_kept`]); made here otherwise.
    pub fn store_parsed(
        &mut self,
        payload: &Payload,
        sha: &KeptSha,
        limits: &Limits,
        source: &str,
        header: ReportHeader,
        next_records: &mut dyn FnMut(&mut Vec<Record>) -> Result<(), StoreError>,
    ) -> Result<Stored, StoreError> {
        let payload = &Kept { payload, sha };
        if !self.batching {
            return self.in_savepoint(|conn, sets| {
                if let Some(id) = stored_id(conn, &header)? {
                    let payload = payload.payload;
                    return variant::settle(&mut &*conn, id, payload, limits, source, header);
                }
                // The transaction rolls back on failure; the undo is moot.
                let failed = Cell::new(None);
                let mut undo = Undo::new(conn, sets, &failed);
                let stored = write_new(conn, &mut undo, payload, source, header, next_records)?;
                undo.keep();
                Ok(stored)
            });
        }
        self.open_group()?;
        if let Some(id) = stored_id(&self.conn, &header)? {
            return self.in_savepoint(|conn, _| {
                variant::settle(&mut &*conn, id, payload.payload, limits, source, header)
            });
        }
        self.unjournaled(|conn, undo| write_new(conn, undo, payload, source, header, next_records))
    }

    /// Keeps an input that could not be stored, with the reason, so a
    /// later version can retry it. The same bytes again update the row.
    pub fn quarantine(&self, source: &str, reason: &str, bytes: &[u8]) -> Result<(), DbError> {
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

/// The SHA-256 of a report's kept bytes ([`keep_bytes`]), when made
/// before the report reaches the writer: ingest's parsing thread makes
/// it ([`hash_kept`]), which has time to spare, where the writer has
/// none (bench/README.md, tenth round). Empty: the writer makes it.
pub type KeptSha = std::sync::OnceLock<[u8; 32]>;

/// Makes `payload`'s [`KeptSha`] into `sha` when its kept bytes are its
/// own (gzip); plain XML is compressed first, on the writer, as before.
pub fn hash_kept(payload: &Payload, sha: &KeptSha) {
    if payload.gzip {
        // Made once, whichever of its callers comes first (the parsing
        // or the inflating thread); a duplicate is told without it
        // (`Lookup::known` compares the bytes).
        sha.get_or_init(|| Sha256::digest(&payload.data[..]).into());
    }
}

/// The SHA-256 of `blob`, `payload`'s kept bytes: `sha` if made.
pub(super) fn kept_sha(sha: &KeptSha, blob: &[u8]) -> [u8; 32] {
    match sha.get() {
        Some(sha) => *sha,
        None => Sha256::digest(blob).into(),
    }
}

/// A payload and the SHA-256 of its kept bytes, if made.
struct Kept<'a> {
    payload: &'a Payload,
    sha: &'a KeptSha,
}

/// Stores a new report from its header and records, telling `undo` its
/// id once its row is in.
fn write_new(
    conn: &Connection,
    undo: &mut Undo<'_>,
    payload: &Kept<'_>,
    source: &str,
    header: ReportHeader,
    next_records: &mut dyn FnMut(&mut Vec<Record>) -> Result<(), StoreError>,
) -> Result<Stored, StoreError> {
    write_report(conn, payload, source, header, |conn, id| {
        undo.written(id);
        let mut ins = Inserter::new(conn, undo.sets, id)?;
        let mut t = Totals::default();
        // Records stay in the chunk they came in until their rows are
        // bound (a ~500-byte record is not moved once per record).
        let mut chunk = Vec::new();
        loop {
            next_records(&mut chunk)?;
            if chunk.is_empty() {
                break;
            }
            for rec in &chunk {
                t.add(rec);
            }
            ins.insert_chunk(&mut chunk)?;
        }
        ins.finish()?;
        Ok(t)
    })
}

/// Stores one new report (the caller found none with its identity) inside
/// the caller's transaction or savepoint (which the caller drops without
/// commit on error: nothing of the report is kept). `records` inserts the
/// records under the new report id.
fn write_report(
    conn: &Connection,
    payload: &Kept<'_>,
    source: &str,
    header: ReportHeader,
    records: impl FnOnce(&Connection, i64) -> Result<Totals, StoreError>,
) -> Result<Stored, StoreError> {
    let id = insert_header(conn, &header, source)?;
    let Totals {
        records,
        messages,
        messages_fail,
        ips,
    } = records(conn, id)?;
    if records == 0 {
        return Err(ParseError::NotAReport("no <record> elements".into()).into());
    }
    conn.prepare_cached(
        "UPDATE report SET record_count = ?2, message_count = ?3, pass_count = ?4
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        records as i64,
        messages,
        messages - messages_fail
    ])?;
    ips.write(conn, id)?;
    let blob = keep_bytes(payload.payload);
    let sha = kept_sha(payload.sha, &blob);
    conn.prepare_cached("INSERT INTO report_blob (report, sha256, gzip) VALUES (?1, ?2, ?3)")?
        .execute(params![id, sha.as_slice(), blob])?;
    Ok(Stored::New {
        id,
        header: Box::new(header),
        records,
        messages,
        messages_fail,
    })
}

/// The bytes to keep for a report: a gzip payload as received, plain XML
/// compressed.
pub(super) fn keep_bytes(payload: &Payload) -> std::borrow::Cow<'_, [u8]> {
    if payload.gzip {
        std::borrow::Cow::Borrowed(&payload.data)
    } else {
        std::borrow::Cow::Owned(gzip(&payload.data))
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

/// The `report` columns a header fills, in the order of [`header_values`].
pub(super) const HEADER_COLUMNS: &str = "org_name, email, extra_contact_info, report_id, \
    date_begin, date_end, errors, generator, version, xml_namespace, policy_domain, \
    policy_adkim, policy_aspf, policy_p, policy_sp, policy_np, policy_pct, policy_fo, \
    policy_testing, policy_discovery_method";

/// `<error>` elements as stored: newline-separated, NULL when none.
pub(super) fn header_errors(h: &ReportHeader) -> Option<String> {
    let e = &h.metadata.errors;
    (!e.is_empty()).then(|| e.join("\n"))
}

/// The values of [`HEADER_COLUMNS`] for `h` (`errors` from [`header_errors`]).
pub(super) fn header_values<'a>(
    h: &'a ReportHeader,
    errors: &'a Option<String>,
) -> [&'a dyn rusqlite::ToSql; 20] {
    let m = &h.metadata;
    let p = &h.policy;
    [
        &m.org_name,
        &m.email,
        &m.extra_contact_info,
        &m.report_id,
        &m.date_begin,
        &m.date_end,
        errors,
        &m.generator,
        &h.version,
        &h.namespace,
        &p.domain,
        &p.adkim,
        &p.aspf,
        &p.p,
        &p.sp,
        &p.np,
        &p.pct,
        &p.fo,
        &p.testing,
        &p.discovery_method,
    ]
}

fn insert_header(tx: &Connection, h: &ReportHeader, source: &str) -> Result<i64, rusqlite::Error> {
    let errors = header_errors(h);
    let now = chrono::Utc::now().timestamp();
    let mut values: Vec<&dyn rusqlite::ToSql> = header_values(h, &errors).to_vec();
    values.push(&source);
    values.push(&now);
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let n = HEADER_COLUMNS.split(',').count() + 2;
        let placeholders = (1..=n).map(|i| format!("?{i}")).collect::<Vec<_>>();
        format!(
            "INSERT INTO report ({HEADER_COLUMNS}, source, ingested_at) VALUES ({})",
            placeholders.join(", ")
        )
    });
    tx.prepare_cached(&SQL)?.execute(values.as_slice())?;
    Ok(tx.last_insert_rowid())
}

/// The id of the stored report with `header`'s identity key, if any.
fn stored_id(tx: &Connection, header: &ReportHeader) -> rusqlite::Result<Option<i64>> {
    let sql = super::lookup::key_sql!("SELECT r.id FROM report r");
    super::lookup::by_key(tx, sql, header, &[], |r| r.get(0))
}

/// Sums kept in the `report` row.
#[derive(Debug, Default)]
pub(super) struct Totals {
    pub records: u64,
    pub messages: i64,
    pub messages_fail: i64,
    /// The records' source IPs, for `report_ips`.
    pub ips: super::report_ips::IpHashes,
}

impl Totals {
    pub fn add(&mut self, rec: &Record) {
        self.records += 1;
        self.ips.add(&rec.source_ip);
        self.messages = self.messages.saturating_add(rec.count);
        if !rec.dmarc_pass() {
            self.messages_fail = self.messages_fail.saturating_add(rec.count);
        }
    }
}

#[cfg(test)]
impl Lite {
    /// Parses `payload` on this thread and stores it: the tests' way in
    /// (ingest parses on a thread of its own, see `ingest/pipeline.rs`).
    pub(crate) fn store_report(
        &mut self,
        payload: &Payload,
        limits: &crate::extract::Limits,
        source: &str,
    ) -> Result<Stored, StoreError> {
        // As ingest reads: the header through a small buffer, then chunks.
        let mut reader = crate::parse::ReportReader::with_capacity(payload.reader(limits), 1024);
        let header = reader.header()?;
        reader.set_chunk(16 * 1024);
        self.store_parsed(
            payload,
            &KeptSha::new(),
            limits,
            source,
            header,
            &mut |out| {
                reader.read_records(out, 64)?;
                Ok(())
            },
        )
    }
}
