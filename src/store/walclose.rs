//! The WAL a run leaves behind. Connections close without a checkpoint
//! (`sqlite.rs`): copying the WAL into the file, with its disk syncs, was
//! on the critical path at the end of every run. But the next run pays for
//! the WAL that stays: the first connection to open the file reads all of
//! it and checksums every frame to rebuild the WAL index, and reads pages
//! through it after that. Re-ingesting 200 stored reports took 10.9 ms
//! with the 3.9 MB WAL their first ingest left, 8.8 ms with none
//! (bench/README.md, eighth round).
//!
//! So a connection to a file it did not make checkpoints as it closes (as
//! SQLite does by default) once the WAL has grown to [`TIDY_AT`]: the next
//! run then opens a file without a WAL. A file the run made keeps its WAL
//! (a new file is the first ingest, whose end is what the checkpoint would
//! slow); the next run tidies it. SQLite checkpoints on close only when the
//! connection is the file's last, so another process reading or writing
//! the file is never waited for. Nothing about durability changes: the WAL
//! holds only committed transactions, and a checkpoint syncs what it moves.

use std::path::Path;

use rusqlite::config::DbConfig;

use super::sqlite::Lite;

/// The WAL size from which a connection to a file it did not make
/// checkpoints as it closes.
pub(super) const TIDY_AT: u64 = 1 << 20;

/// Whether a connection to the file at `path` should checkpoint as it
/// closes: the file was there before it was opened, and its WAL has grown
/// to [`TIDY_AT`].
pub(super) fn should_tidy(path: &str) -> bool {
    let mut wal = Path::new(path).as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).is_ok_and(|m| m.len() >= TIDY_AT)
}

impl Drop for Lite {
    fn drop(&mut self) {
        if !self.existed {
            return;
        }
        if self.path().is_some_and(should_tidy) {
            // Only a setting: SQLite's close does the checkpoint (and
            // deletes the WAL) if it can, and says nothing if it cannot.
            let _ = self
                .conn
                .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;
    use crate::generate::{write_gz, ReportSpec};

    fn wal_len(db: &Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    fn store_reports(db: &Path, seeds: std::ops::Range<u64>) {
        let mut s = Lite::open_waiting(db, crate::store::DEFAULT_BUSY_TIMEOUT).unwrap();
        s.set_batching(true).unwrap();
        for seed in seeds {
            let mut data = Vec::new();
            write_gz(&ReportSpec::new(seed, 500), &mut data).unwrap();
            let p = crate::extract::Payload {
                name: format!("r{seed}.xml.gz"),
                data: data.into(),
                gzip: true,
                kind: crate::extract::PayloadKind::Aggregate,
            };
            s.store_report(&p, &Limits::default(), "t").unwrap();
        }
        s.set_batching(false).unwrap();
    }

    #[test]
    fn a_new_file_keeps_its_wal_and_the_next_connection_tidies_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.sqlite");
        store_reports(&db, 0..20);
        let left = wal_len(&db);
        assert!(left >= TIDY_AT, "the first run's WAL stays: {left} bytes");
        // A later run, on a file it did not make, writing nothing.
        drop(Lite::open_waiting(&db, crate::store::DEFAULT_BUSY_TIMEOUT).unwrap());
        assert_eq!(wal_len(&db), 0, "checkpointed as it closed");
        // Everything is in the file itself.
        let c = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM report", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 20);
    }

    #[test]
    fn a_small_wal_stays_and_another_connection_keeps_the_checkpoint_away() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.sqlite");
        store_reports(&db, 0..1);
        // A run on the file it did not make, its WAL still small.
        store_reports(&db, 1..2);
        let small = wal_len(&db);
        assert!(small > 0 && small < TIDY_AT, "{small}");
        // Another connection open all along: the writing one, closing
        // with a large WAL, is not the file's last.
        let other = rusqlite::Connection::open(&db).unwrap();
        other
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .unwrap();
        other
            .query_row("SELECT count(*) FROM report", [], |r| r.get::<_, i64>(0))
            .unwrap();
        store_reports(&db, 2..30);
        let big = wal_len(&db);
        assert!(
            big >= TIDY_AT,
            "no checkpoint under another connection: {big}"
        );
        // Without it, the next connection to the file tidies it.
        drop(other);
        assert_eq!(wal_len(&db), big);
        drop(Lite::open_waiting(&db, crate::store::DEFAULT_BUSY_TIMEOUT).unwrap());
        assert_eq!(wal_len(&db), 0);
    }
}
