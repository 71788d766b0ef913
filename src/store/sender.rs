//! The `sender` table: the earliest report date of every source IP, which
//! the "new sender" alert asks about (schema.sql).
//!
//! It is brought up to date only when asked, from the reports stored
//! since the last time (`state.sender_report`, the highest report id
//! folded in), in one set-based statement. Ingest does not touch it: one
//! index insert per record, at a random place in a table as big as the
//! record count, cost a backfill more than the record inserts themselves.
//! Report ids only grow (dmarcdb never deletes a report), so "reports
//! after the last id folded in" are exactly the ones not counted yet.

use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use super::sqlite::Lite;
use super::DbError;

impl Lite {
    /// Folds the reports stored since the last call into `sender`.
    pub fn refresh_senders(&self) -> Result<(), DbError> {
        Ok(refresh(&self.conn)?)
    }
}

fn refresh(conn: &Connection) -> rusqlite::Result<()> {
    if !conn.is_autocommit() {
        // Inside the caller's transaction, whose write lock it holds.
        return fold(conn);
    }
    // The write lock first: taking it after reading could fail at once
    // when another process wrote meanwhile.
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    fold(&tx)?;
    tx.commit()
}

fn fold(conn: &Connection) -> rusqlite::Result<()> {
    let done: i64 = conn.query_row(
        "SELECT coalesce((SELECT value FROM state WHERE key = 'sender_report'), 0)",
        [],
        |r| r.get(0),
    )?;
    let last: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM report", [], |r| r.get(0))?;
    if last <= done {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO sender (source_ip, first_seen)
         SELECT c.source_ip, min(r.date_begin)
         FROM report r CROSS JOIN record c ON c.report = r.id
         WHERE r.id > ?1 AND r.id <= ?2
         GROUP BY c.source_ip
         ON CONFLICT (source_ip) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)",
        params![done, last],
    )?;
    conn.execute(
        "INSERT INTO state (key, value) VALUES ('sender_report', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![last],
    )?;
    Ok(())
}

/// Empties `sender`, to be rebuilt by the next refresh: for `reparse`,
/// which may change the records of reports already folded in.
pub(super) fn forget_senders(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("DELETE FROM sender; DELETE FROM state WHERE key = 'sender_report';")
}
