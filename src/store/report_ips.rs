//! `report_ips`: which source IPs each report holds, as a sorted list of
//! 64-bit hashes, for the "new sender" alert ("was this IP in any report
//! before the window?").
//!
//! Written with each report, in its transaction: hashing a record's IP
//! costs some nanoseconds next to microseconds for its insert, and the
//! row is one append per report (its key is the report id, which only
//! grows). The alert then reads the hashes of the reports before the
//! window, some MB for millions of records, instead of grouping every
//! record by IP: 25 s on 10 million records became a fraction of a second
//! (bench/README.md). The `sender` table of schema versions 2–3, which
//! did that grouping, is gone (and on PostgreSQL, where it stood in until
//! `report_ips` came there too).
//!
//! Both backends keep the same rows: PostgreSQL's writer and reparse
//! (`pg/write.rs`, `pg/admin.rs`) gather them with [`IpHashes`] as
//! SQLite's do, and `pg/report_ips.rs` reads and fills them.
//!
//! `reparse` writes the row again with the report's new records. Reports
//! without a row (stored by an older version) get one from their records
//! the next time the alert asks ([`Store::fill_report_ips`]).
//!
//! The hash is FNV-1a (64 bit) of the source IP as the reporter wrote it
//! (trimmed), the same key the views group by. It is stored, so it must
//! never change. Two IPs with the same hash would make a new sender look
//! old: with thousands of candidates against ten million hashes the
//! chance is about one in 10^9.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::{Backend, DbError, Store};
use crate::model::trimmed;

/// FNV-1a 64 of the trimmed text.
pub fn ip_hash(ip: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    trimmed(ip)
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The hashes of one report's records, gathered while they are stored.
#[derive(Debug, Default)]
pub(crate) struct IpHashes(Vec<u64>);

impl IpHashes {
    pub(crate) fn add(&mut self, ip: &str) {
        let h = ip_hash(ip);
        // Records of one IP often follow each other.
        if self.0.last() != Some(&h) {
            self.0.push(h);
        }
    }

    /// The row's `hashes`: sorted, distinct, 8 bytes little-endian each.
    pub(crate) fn blob(&mut self) -> Vec<u8> {
        self.0.sort_unstable();
        self.0.dedup();
        self.0.iter().flat_map(|h| h.to_le_bytes()).collect()
    }

    /// Writes the report's row (inside the caller's transaction).
    pub(crate) fn write(mut self, conn: &Connection, report: i64) -> rusqlite::Result<()> {
        let blob = self.blob();
        conn.prepare_cached("INSERT OR REPLACE INTO report_ips (report, hashes) VALUES (?1, ?2)")?
            .execute(params![report, blob])?;
        Ok(())
    }
}

impl Store {
    /// For each of `candidates` (source IPs as written), whether it appears
    /// in a report beginning before `before`, from the `report_ips` hashes
    /// (filling the rows of reports that lack one first).
    pub fn seen_before(&self, before: i64, candidates: &[&str]) -> Result<Vec<bool>, DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => Ok(seen_before(&lite.conn, before, candidates)?),
            Backend::Postgres(pg) => pg.seen_before(before, candidates),
        }
    }

    /// Writes the `report_ips` rows of reports that have none.
    pub fn fill_report_ips(&self) -> Result<(), DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => Ok(fill_missing(&lite.conn)?),
            Backend::Postgres(pg) => pg.fill_report_ips(),
        }
    }
}

fn seen_before(conn: &Connection, before: i64, candidates: &[&str]) -> rusqlite::Result<Vec<bool>> {
    let mut search = Search::new(candidates);
    if candidates.is_empty() {
        return Ok(search.seen);
    }
    fill_missing(conn)?;
    let mut st = conn.prepare_cached(
        "SELECT i.hashes FROM report r JOIN report_ips i ON i.report = r.id
         WHERE r.date_begin < ?1",
    )?;
    let mut rows = st.query(params![before])?;
    while let Some(row) = rows.next()? {
        if search.scan(row.get_ref(0)?.as_blob()?) {
            break;
        }
    }
    Ok(search.seen)
}

/// Which of some candidate IPs the `hashes` of reports hold (both backends
/// read the rows, this looks through them).
pub(crate) struct Search {
    want: HashMap<u64, Vec<usize>>,
    /// Per candidate, whether a report holds it.
    pub seen: Vec<bool>,
}

impl Search {
    pub(crate) fn new(candidates: &[&str]) -> Search {
        let mut want: HashMap<u64, Vec<usize>> = HashMap::with_capacity(candidates.len());
        for (i, c) in candidates.iter().enumerate() {
            want.entry(ip_hash(c)).or_default().push(i);
        }
        Search {
            want,
            seen: vec![false; candidates.len()],
        }
    }

    /// Looks through one report's `hashes`; true once every candidate is
    /// found.
    pub(crate) fn scan(&mut self, blob: &[u8]) -> bool {
        for chunk in blob.chunks_exact(8) {
            let h = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            if let Some(ix) = self.want.remove(&h) {
                for i in ix {
                    self.seen[i] = true;
                }
            }
        }
        self.want.is_empty()
    }
}

/// Writes the rows of reports that have none, from their records.
fn fill_missing(conn: &Connection) -> rusqlite::Result<()> {
    let missing = |c: &Connection| -> rusqlite::Result<Option<i64>> {
        c.query_row(
            "SELECT r.id FROM report r WHERE NOT EXISTS
               (SELECT 1 FROM report_ips i WHERE i.report = r.id) LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
    };
    if missing(conn)?.is_none() {
        return Ok(());
    }
    if !conn.is_autocommit() {
        return fill(conn);
    }
    // The write lock first: taking it after reading could fail at once
    // when another process wrote meanwhile.
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    fill(&tx)?;
    tx.commit()
}

fn fill(conn: &Connection) -> rusqlite::Result<()> {
    let ids: Vec<i64> = conn
        .prepare(
            "SELECT r.id FROM report r
             WHERE NOT EXISTS (SELECT 1 FROM report_ips i WHERE i.report = r.id)",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare("SELECT source_ip FROM record WHERE report = ?1")?;
    for id in ids {
        let mut h = IpHashes::default();
        let mut rows = st.query(params![id])?;
        while let Some(row) = rows.next()? {
            h.add(row.get_ref(0)?.as_str()?);
        }
        h.write(conn, id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortcut_trims_as_str_trim_does() {
        let cases = [
            "",
            " ",
            "1",
            " 1",
            "1 ",
            "192.0.2.1",
            " 192.0.2.1\n",
            "\t2001:db8::1",
            "2001:db8::1\u{a0}",
            "\u{2003}10.0.0.1",
            "x\u{85}",
            "\u{7f}",
            "é",
            "a\u{1f}",
            "\u{1f}a",
            "~",
            "!",
        ];
        for s in cases {
            assert_eq!(trimmed(s), s.trim(), "{s:?}");
            let want = s.trim().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            assert_eq!(ip_hash(s), want, "{s:?}");
        }
    }
}
