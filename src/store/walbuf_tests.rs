//! The gathered WAL against SQLite's own: what another connection reads
//! after every commit, and what a process killed right after it would
//! leave on disk.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::vfs;

thread_local! {
    /// Writes handed to SQLite's own file by this thread.
    pub(super) static WRITES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn open(path: &Path) -> Connection {
    let name = vfs().expect("registered");
    let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), name).unwrap();
    c.pragma_update(None, "page_size", 8192).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "NORMAL").unwrap();
    c
}

/// Rows and their total length, read through SQLite's default VFS.
fn seen(path: &Path) -> (i64, i64) {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    c.query_row(
        "SELECT count(*), coalesce(sum(length(v)), 0) FROM t",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// The file and its WAL as they are in the kernel now, copied aside:
/// what a process killed at this moment would leave.
fn as_if_killed(path: &Path, into: &Path) {
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", path.display());
        let to = format!("{}{suffix}", into.display());
        std::fs::copy(from, to).unwrap();
    }
    let _ = std::fs::remove_file(format!("{}-shm", into.display()));
}

#[test]
fn every_commit_is_whole_to_other_readers_and_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.sqlite");
    let copy = dir.path().join("copy.sqlite");
    let c = open(&path);
    // A small page cache: transactions spill frames before they commit,
    // and pages written again after a spill are rewritten in place, with
    // the commit rewriting their checksums (the writes not at the end).
    c.pragma_update(None, "cache_size", 8).unwrap();
    c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        .unwrap();
    let mut rows = 0i64;
    let mut bytes = 0i64;
    for round in 0..12i64 {
        let tx = c.unchecked_transaction().unwrap();
        // From one row (a one-frame commit) to hundreds of pages.
        let n = [1, 3, 40, 400][round as usize % 4];
        for i in 0..n {
            let v = vec![(round + i) as u8; 500 + (i as usize * 37) % 3000];
            tx.execute("INSERT INTO t (v) VALUES (?1)", [&v]).unwrap();
            bytes += v.len() as i64;
        }
        rows += n;
        // Every row of this transaction touched again after the spills.
        tx.execute("UPDATE t SET v = v WHERE k > ?1", [rows - n])
            .unwrap();
        // And a part undone before the commit.
        tx.execute_batch("SAVEPOINT s; DELETE FROM t; ROLLBACK TO s; RELEASE s")
            .unwrap();
        tx.commit().unwrap();
        assert_eq!(seen(&path), (rows, bytes), "round {round}, another reader");
        as_if_killed(&path, &copy);
        assert_eq!(seen(&copy), (rows, bytes), "round {round}, killed");
        // A transaction rolled back whole leaves nothing.
        let tx = c.unchecked_transaction().unwrap();
        for _ in 0..200 {
            tx.execute("INSERT INTO t (v) VALUES (zeroblob(3000))", [])
                .unwrap();
        }
        drop(tx);
        assert_eq!(
            seen(&path),
            (rows, bytes),
            "round {round}, after a rollback"
        );
    }
    // A checkpoint that restarts the WAL, then more commits into it.
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    c.execute("INSERT INTO t (v) VALUES (zeroblob(20000))", [])
        .unwrap();
    assert_eq!(seen(&path), (rows + 1, bytes + 20000));
    drop(c);
    assert_eq!(seen(&path), (rows + 1, bytes + 20000));
}

#[test]
fn the_writer_reads_its_own_frames_before_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.sqlite");
    let c = open(&path);
    c.pragma_update(None, "cache_size", 4).unwrap();
    c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..300i64 {
        tx.execute("INSERT INTO t (v) VALUES (?1)", [vec![i as u8; 2000]])
            .unwrap();
    }
    // Pages spilled into the run are read back by the same transaction.
    let sum: i64 = tx
        .query_row("SELECT sum(length(v)) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sum, 600_000);
    tx.commit().unwrap();
    assert_eq!(seen(&path), (300, 600_000));
}

#[test]
fn a_new_wal_is_written_a_run_at_a_time() {
    // The point of it: a write per ~128 KiB of frames, not two a frame.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.sqlite");
    let c = open(&path);
    c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        .unwrap();
    WRITES.with(|w| w.set(0));
    let tx = c.unchecked_transaction().unwrap();
    for _ in 0..200 {
        tx.execute("INSERT INTO t (v) VALUES (zeroblob(4000))", [])
            .unwrap();
    }
    tx.commit().unwrap();
    let writes = WRITES.with(|w| w.get());
    let wal = std::fs::metadata(format!("{}-wal", path.display()))
        .unwrap()
        .len();
    // ~100 pages of 8 KiB, frames of 24 + 8,192 bytes.
    let frames = (wal - 32) / (24 + 8192);
    assert!(frames >= 90, "{wal}");
    assert!(
        writes <= 1 + wal as usize / super::CAPACITY,
        "{writes} writes, {frames} frames"
    );
    assert_eq!(seen(&path), (200, 800_000));
}

#[test]
fn a_new_wal_has_its_blocks_allocated_ahead_and_keeps_its_size() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.sqlite");
    let wal = format!("{}-wal", path.display());
    let c = open(&path);
    c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        .unwrap();
    c.execute("INSERT INTO t (v) VALUES (zeroblob(1000))", [])
        .unwrap();
    let meta = std::fs::metadata(&wal).unwrap();
    // Its size is its frames' (what SQLite and `walclose` read) ...
    assert_eq!((meta.len() - 32) % (24 + 8192), 0, "{}", meta.len());
    assert!(meta.len() < super::AHEAD as u64);
    // ... and its blocks are there for the frames to come.
    assert!(
        meta.blocks() * 512 >= super::AHEAD as u64,
        "{}",
        meta.blocks()
    );
    // A WAL growing past them gets the next ones, as it goes.
    let tx = c.unchecked_transaction().unwrap();
    for _ in 0..700 {
        tx.execute("INSERT INTO t (v) VALUES (zeroblob(7000))", [])
            .unwrap();
    }
    tx.commit().unwrap();
    let meta = std::fs::metadata(&wal).unwrap();
    assert_eq!((meta.len() - 32) % (24 + 8192), 0, "{}", meta.len());
    assert!(meta.len() > super::AHEAD as u64, "{}", meta.len());
    let blocks = meta.blocks() * 512;
    assert!(blocks >= 2 * super::AHEAD as u64, "{blocks}");
    assert!(
        blocks <= meta.len() + super::AHEAD as u64 + 65536,
        "{blocks}"
    );
    drop(c);
    // Opened again, read whole by a reader of SQLite's own.
    assert_eq!(seen(&path), (701, 1000 + 700 * 7000));
}

#[test]
fn a_reader_polling_meanwhile_sees_only_whole_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.sqlite");
    let c = open(&path);
    c.pragma_update(None, "cache_size", 16).unwrap();
    c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        .unwrap();
    // The states a reader may see: after each commit, (rows, bytes).
    let sizes: Vec<i64> = (0..60).map(|i| [1, 7, 90, 300][i % 4]).collect();
    let mut states = vec![(0i64, 0i64)];
    for &n in &sizes {
        let (rows, bytes) = *states.last().unwrap();
        states.push((rows + n, bytes + n * 3000));
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, states, done) = (path.clone(), states.clone(), done.clone());
        std::thread::spawn(move || {
            let r = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
            r.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            let mut looks = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || looks == 0 {
                let seen: (i64, i64) = r
                    .query_row(
                        "SELECT count(*), coalesce(sum(length(v)), 0) FROM t",
                        [],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .unwrap();
                assert!(states.contains(&seen), "a reader saw {seen:?}");
                looks += 1;
            }
            looks
        })
    };
    for &n in &sizes {
        let tx = c.unchecked_transaction().unwrap();
        for _ in 0..n {
            tx.execute("INSERT INTO t (v) VALUES (randomblob(3000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let looks = reader.join().unwrap();
    assert!(looks > 0);
    assert_eq!(seen(&path), *states.last().unwrap());
}

#[test]
fn under_synchronous_full_every_commit_is_synced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.sqlite");
    let copy = dir.path().join("copy.sqlite");
    let c = open(&path);
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        .unwrap();
    for round in 1..=5i64 {
        let tx = c.unchecked_transaction().unwrap();
        for _ in 0..50 {
            tx.execute("INSERT INTO t (v) VALUES (zeroblob(5000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
        as_if_killed(&path, &copy);
        assert_eq!(seen(&copy), (round * 50, round * 250_000));
    }
}
