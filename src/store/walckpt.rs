//! When the WAL is copied into the file while reports are grouped
//! ([`Store::set_batching`](super::Store::set_batching)): before the next
//! group begins, not right after a commit.
//!
//! SQLite's auto-checkpoint runs inside `COMMIT` once the WAL holds 1000
//! pages: it syncs the WAL, copies every page into the file and syncs the
//! file. A run whose last group crosses that line (one report of 200,000
//! records is 2,600 pages) paid all of it at its very end, with nothing
//! left to overlap: 21 MB read, written and synced twice, the biggest part
//! of that run's serial tail (bench/README.md, tenth round).
//! Grouped, the same checkpoint (passive, as SQLite's own) runs when the
//! next group opens instead, so a run in the middle does the same work
//! as before and the WAL stays bounded the same way (1000 pages and one
//! group), while the WAL of the run's last group is left to whoever opens
//! the file next, as a run that made the file leaves a smaller one
//! (`walclose.rs`). Nothing about durability changes: a commit is as
//! durable as `synchronous` makes it, and a checkpoint syncs what it moves.
//!
//! The WAL's length comes from SQLite's WAL hook, which replaces the
//! auto-checkpoint while grouping is on; switching it off puts SQLite's
//! own back.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};

use rusqlite::{ffi, Connection};

/// Pages in the WAL from which the next group checkpoints first
/// (SQLite's default auto-checkpoint; fewer in the unit tests).
pub(super) const CHECKPOINT_AT: u32 = if cfg!(test) { 64 } else { 1000 };
/// SQLite's own auto-checkpoint, given back when grouping ends.
const SQLITE_CHECKPOINT_AT: u32 = 1000;

/// Frames in the WAL after the connection's last commit, as the hook
/// heard of it. Boxed: SQLite holds its address.
#[derive(Default)]
pub(super) struct WalFrames(Box<Cell<u32>>);

/// SQLite's WAL hook: called after each commit with the WAL's length.
extern "C" fn heard(
    arg: *mut c_void,
    _db: *mut ffi::sqlite3,
    _name: *const c_char,
    frames: c_int,
) -> c_int {
    // SAFETY: `arg` is the `Cell` of a `WalFrames` that outlives the
    // hook's registration (see `WalFrames::listen`), and the hook runs on
    // the thread using the connection.
    let frames_seen = unsafe { &*(arg as *const Cell<u32>) };
    frames_seen.set(u32::try_from(frames).unwrap_or(0));
    ffi::SQLITE_OK
}

impl WalFrames {
    /// Takes over from SQLite's auto-checkpoint on `conn` (`on`), or gives
    /// it back (at its default length).
    pub(super) fn listen(&self, conn: &Connection, on: bool) -> rusqlite::Result<()> {
        if on {
            let arg = &*self.0 as *const Cell<u32> as *mut c_void;
            // SAFETY: the connection is open; `self` is a field of the
            // `Lite` that owns `conn`, declared after it, so the cell is
            // freed only after the connection is closed.
            unsafe { ffi::sqlite3_wal_hook(conn.handle(), Some(heard), arg) };
            Ok(())
        } else {
            conn.pragma_update(None, "wal_autocheckpoint", SQLITE_CHECKPOINT_AT)
        }
    }

    /// Before a group begins: the checkpoint SQLite's own would have run
    /// after the last commit, if the WAL has grown to [`CHECKPOINT_AT`].
    pub(super) fn checkpoint_due(&self, conn: &Connection) -> rusqlite::Result<()> {
        if self.0.get() >= CHECKPOINT_AT {
            self.0.set(0);
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::extract::{Limits, Payload, PayloadKind};
    use crate::generate::{write_gz, ReportSpec};
    use crate::store::sqlite::Lite;
    use crate::store::DEFAULT_BUSY_TIMEOUT;

    fn len(path: &Path, suffix: &str) -> u64 {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }

    fn store(s: &mut Lite, seed: u64) {
        let mut data = Vec::new();
        write_gz(&ReportSpec::new(seed, 500), &mut data).unwrap();
        let p = Payload {
            name: format!("r{seed}.xml.gz"),
            data: data.into(),
            gzip: true,
            kind: PayloadKind::Aggregate,
        };
        s.store_report(&p, &Limits::default(), "t").unwrap();
    }

    #[test]
    fn a_big_group_is_checkpointed_when_the_next_one_begins_not_at_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.sqlite");
        let mut s = Lite::open_waiting(&db, DEFAULT_BUSY_TIMEOUT).unwrap();
        s.set_batching(true).unwrap();
        for seed in 0..12 {
            store(&mut s, seed);
        }
        let file = len(&db, "");
        s.commit().unwrap();
        let wal = len(&db, "-wal");
        assert!(wal > 8216 * 64, "a group of more pages: {wal}");
        assert_eq!(len(&db, ""), file, "nothing copied in at the commit");
        // The next group copies the WAL in first.
        store(&mut s, 12);
        let copied = len(&db, "");
        assert!(copied > file + 8192 * 64, "{file} -> {copied}");
        s.commit().unwrap();
        // Grouping off: SQLite's own auto-checkpoint is back.
        s.set_batching(false).unwrap();
        let auto: i64 = s
            .conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(auto, 1000);
        drop(s);
        let c = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM record", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 13 * 500);
    }
}
