//! Rewriting a stored report from its original bytes, for `reparse`: the
//! store hands out the bytes, the caller parses them, and the store
//! replaces the report's rows in one transaction, kept only when they
//! changed.
//!
//! A fingerprint of the rows (every column except row ids, `source` and
//! `ingested_at`) taken before and after decides whether anything changed;
//! when nothing did, the transaction is rolled back, so a database built by
//! the current version is left byte-for-byte alone. Records are written by
//! the same [`Inserter`] as ingest's, so the two cannot drift apart.

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::sqlite::Lite;
use super::write::{header_errors, header_values, Totals, HEADER_COLUMNS};
use super::{AuthSets, Inserter, StoreError};
use crate::model::{Record, ReportHeader};
use crate::parse::ParseError;

/// What rebuilding one report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuilt {
    /// Its rows were rewritten with different content (and its
    /// `report_ips` row with them: the records' addresses may have changed).
    Changed,
    /// They came out the same; nothing was written.
    Unchanged,
    /// The report is gone (deleted meanwhile).
    Gone,
}

impl Lite {
    /// Replaces report `id`'s header fields, records and their child rows
    /// with `header` and the records from `next_record`, in one `BEGIN
    /// IMMEDIATE` transaction committed only when the rows changed. An
    /// error leaves the report as it was; a constraint error
    /// (`DbError::is_constraint`) means it would collide with another
    /// stored report.
    pub fn rebuild_report(
        &mut self,
        id: i64,
        header: &ReportHeader,
        next_record: &mut dyn FnMut() -> Result<Option<Record>, ParseError>,
    ) -> Result<Rebuilt, StoreError> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let exists = tx
            .query_row(
                "SELECT 1 FROM report WHERE id = ?1",
                params![id],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_none() {
            return Ok(Rebuilt::Gone);
        }
        let before = fingerprint(&tx, id)?;
        rewrite(&tx, id, header, next_record)?;
        if fingerprint(&tx, id)? == before {
            // Dropping `tx` rolls back: an unchanged report is not even rewritten.
            return Ok(Rebuilt::Unchanged);
        }
        tx.commit()?;
        Ok(Rebuilt::Changed)
    }
}

/// Replaces report `id`'s header fields, records and child rows (deleting
/// the records cascades to their children), inside the caller's
/// transaction or savepoint (also [`variant`](super::variant)'s, when a
/// clean copy replaces a repaired one).
pub(super) fn rewrite(
    tx: &Connection,
    id: i64,
    header: &ReportHeader,
    next_record: &mut dyn FnMut() -> Result<Option<Record>, ParseError>,
) -> Result<(), StoreError> {
    update_header(tx, id, header)?;
    tx.execute("DELETE FROM override_reason WHERE report = ?1", params![id])?;
    tx.execute("DELETE FROM record WHERE report = ?1", params![id])?;
    // A cache of this transaction only: nothing to forget on rollback.
    let mut sets = AuthSets::default();
    let mut ins = Inserter::new(tx, &mut sets, id)?;
    let mut t = Totals::default();
    while let Some(rec) = next_record()? {
        t.add(&rec);
        ins.insert(rec)?;
    }
    ins.finish()?;
    if t.records == 0 {
        return Err(ParseError::NotAReport("no <record> elements".into()).into());
    }
    tx.execute(
        "UPDATE report SET record_count = ?2, message_count = ?3, pass_count = ?4 WHERE id = ?1",
        params![
            id,
            t.records as i64,
            t.messages,
            t.messages - t.messages_fail
        ],
    )?;
    // Its records may have changed source IPs.
    t.ips.write(tx, id)?;
    Ok(())
}

/// Every header column the parser fills, as the write path inserts them.
fn update_header(tx: &Connection, id: i64, h: &ReportHeader) -> rusqlite::Result<()> {
    let errors = header_errors(h);
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&id];
    values.extend(header_values(h, &errors));
    let placeholders = (2..=values.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    tx.prepare_cached(&format!(
        "UPDATE report SET ({HEADER_COLUMNS}) = ({placeholders}) WHERE id = ?1"
    ))?
    .execute(values.as_slice())?;
    Ok(())
}

/// Columns that say where and when a row was stored, or which shared row
/// it points at, not what it holds.
pub(super) const NOT_CONTENT: &[&str] =
    &["id", "report", "source", "ingested_at", "auth", "auth_set"];

/// What a report's records hold: the records, then the rows they point
/// at or own, each in (record, seq) order.
pub(super) const ROWS: &[&str] = &[
    "SELECT * FROM report WHERE id = ?1",
    "SELECT * FROM record WHERE report = ?1 ORDER BY seq",
    "SELECT d.* FROM record r JOIN dkim_result d ON d.auth_set = r.auth
     WHERE r.report = ?1 ORDER BY r.seq, d.seq",
    "SELECT s.* FROM record r JOIN spf_result s ON s.auth_set = r.auth
     WHERE r.report = ?1 ORDER BY r.seq, s.seq",
    "SELECT * FROM override_reason WHERE report = ?1 ORDER BY record, seq",
];

/// A digest of everything stored about report `id`: every column (so a
/// column added by a later migration counts too) except row ids and
/// provenance. Records are keyed by their position in the report and auth
/// results are hashed by content, not by the id of their shared set.
fn fingerprint(conn: &Connection, id: i64) -> rusqlite::Result<[u8; 32]> {
    let mut h = Sha256::new();
    for sql in ROWS {
        hash_rows(conn, sql, id, &mut h)?;
    }
    Ok(h.finalize().into())
}

/// Feeds every content column of every row of `sql` (bound to `id`) into
/// `h`.
pub(super) fn hash_rows(
    conn: &Connection,
    sql: &str,
    id: i64,
    h: &mut Sha256,
) -> rusqlite::Result<()> {
    let mut st = conn.prepare_cached(sql)?;
    let names: Vec<String> = st.column_names().iter().map(|n| n.to_string()).collect();
    let mut rows = st.query(params![id])?;
    while let Some(row) = rows.next()? {
        h.update(b"\x1erow");
        for (i, name) in names.iter().enumerate() {
            if !NOT_CONTENT.contains(&name.as_str()) {
                feed(h, name, row.get_ref(i)?);
            }
        }
    }
    Ok(())
}

/// One value, typed and length-prefixed so that no two rows hash alike by
/// accident of concatenation.
pub(super) fn feed(h: &mut Sha256, name: &str, value: ValueRef<'_>) {
    h.update((name.len() as u64).to_le_bytes());
    h.update(name.as_bytes());
    let (tag, bytes): (u8, Vec<u8>) = match value {
        ValueRef::Null => (0, Vec::new()),
        ValueRef::Integer(n) => (1, n.to_le_bytes().to_vec()),
        ValueRef::Real(x) => (2, x.to_le_bytes().to_vec()),
        ValueRef::Text(t) => (3, t.to_vec()),
        ValueRef::Blob(b) => (4, b.to_vec()),
    };
    h.update([tag]);
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(&bytes);
}
