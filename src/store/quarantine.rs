//! The quarantine as the admin sees it: list, export and drop the inputs
//! that could not be stored. Writing to it is [`Store::quarantine`]; retrying
//! it is `reparse`. Kept apart from `store.rs`, which owns the write path of
//! a report, to keep each file short.

use std::io::{self, Write};

use flate2::read::GzDecoder;
use rusqlite::params;

use super::sqlite::Lite;
use super::DbError;

/// One quarantined input, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: i64,
    pub source: String,
    pub reason: String,
    /// Size of the input as received; `None` if the stored gzip does not
    /// inflate (it was written by us, so that would be a damaged file).
    pub bytes: Option<u64>,
    pub attempts: i64,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// The outcome of dropping quarantined inputs by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    pub dropped: u64,
    /// Ids that matched no row (never existed, or already dropped).
    pub unknown: Vec<i64>,
}

impl Lite {
    /// Every quarantined input, oldest id first. The size is counted by
    /// inflating the stored gzip into nothing: no extra column, and the
    /// quarantine is small.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, DbError> {
        let mut st = self.conn.prepare(
            "SELECT id, source, reason, gzip, attempts, first_seen, last_seen
             FROM quarantine ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            let gzip: Vec<u8> = r.get(3)?;
            Ok(Quarantined {
                id: r.get(0)?,
                source: r.get(1)?,
                reason: r.get(2)?,
                bytes: inflate_to(&gzip, &mut io::sink()).ok(),
                attempts: r.get(4)?,
                first_seen: r.get(5)?,
                last_seen: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes the quarantined inputs `ids`, in one transaction; the ids
    /// that match nothing are returned, the others are still deleted.
    pub fn drop_quarantined(&mut self, ids: &[i64]) -> Result<Dropped, DbError> {
        let tx = self.conn.transaction()?;
        let mut out = Dropped::default();
        {
            let mut del = tx.prepare("DELETE FROM quarantine WHERE id = ?1")?;
            for &id in ids {
                match del.execute(params![id])? {
                    0 => out.unknown.push(id),
                    n => out.dropped += n as u64,
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Empties the quarantine; returns how many inputs were in it.
    pub fn drop_all_quarantined(&self) -> Result<u64, DbError> {
        Ok(self.conn.execute("DELETE FROM quarantine", [])? as u64)
    }
}

/// Writes the original bytes of a quarantined input (its stored gzip,
/// inflated) to `out`, streaming; returns how many were written.
pub fn inflate_to(gzip: &[u8], out: &mut dyn Write) -> io::Result<u64> {
    io::copy(&mut GzDecoder::new(gzip), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn lists_exports_and_drops() {
        let mut s = Store::open_in_memory().unwrap();
        s.quarantine("a.xml", "no <feedback> element", b"<html/>")
            .unwrap();
        s.quarantine("b.gz", "truncated gzip stream", b"\x1f\x8b")
            .unwrap();
        let rows = s.quarantined().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].source, "a.xml");
        assert_eq!(rows[0].bytes, Some(7));
        assert_eq!(rows[1].bytes, Some(2));
        let gz = s.quarantined_gzip(rows[0].id).unwrap().unwrap();
        let mut back = Vec::new();
        inflate_to(&gz, &mut back).unwrap();
        assert_eq!(back, b"<html/>");
        assert_eq!(s.quarantined_gzip(999).unwrap(), None);
        let d = s.drop_quarantined(&[rows[0].id, 999]).unwrap();
        assert_eq!(d.dropped, 1);
        assert_eq!(d.unknown, vec![999]);
        assert_eq!(s.drop_all_quarantined().unwrap(), 1);
        assert!(s.quarantined().unwrap().is_empty());
    }
}
