//! One read in parts over several SQLite connections at once
//! ([`LiteShared`]), as `pg/parts.rs` does on PostgreSQL: the per-IP fold
//! behind `senders`, `sources`, `readiness`, the alert and the report
//! (`senders/split.rs`) reads a large window's reports in parts, each on a
//! connection and a thread of its own, so that SQLite's stepping through
//! the records and the folding of them run on every core. One connection
//! keeps one core busy: 30 days of the 10-million-record benchmark file
//! were 1.6 s of one core of two.
//!
//! Every part sees the same data, as one statement would. The main
//! connection opens a read transaction and takes its snapshot
//! (`sqlite3_snapshot_get`; SQLite is built with `SQLITE_ENABLE_SNAPSHOT`,
//! `.cargo/config.toml`), and each reader opens its own read transaction
//! on that snapshot (`sqlite3_snapshot_open`) before its part; while the
//! main connection's transaction is open the WAL is not restarted, so the
//! snapshot stays available. SQLite takes no snapshot of a WAL that holds
//! no commit yet (just made, or emptied by a checkpoint as the last
//! connection closed): the main connection then reads the database file
//! alone, and so does a reader whose WAL is still empty when its read
//! begins — no commit came in between, and none can be copied into the
//! file under the main connection's read. A reader that finds a commit
//! there (it can take a snapshot), or cannot open the file or the
//! snapshot, leaves its part to the main connection, after its own:
//! slower, the same answer. Readers are opened read-only on first use and
//! kept for the next read (`serve` and `report` read many times).
//!
//! SQLite's snapshot calls, which rusqlite does not wrap, are one of the
//! project's few `unsafe` sites; each says why it is sound where it stands.

use std::ffi::CStr;
use std::time::Duration;

use rusqlite::{ffi, Connection, OpenFlags};

use super::sqlite::Lite;
use super::DbError;

const MAIN: &CStr = c"main";

/// How long a reader waits for a lock (a WAL read slot another process
/// holds while it recovers the WAL): as long as a query would.
const READER_BUSY: Duration = Duration::from_secs(5);

/// An open shared read: the main connection's read transaction and its
/// snapshot. Ended by [`LiteShared::end`]; rolled back if dropped.
pub(crate) struct LiteShared<'a> {
    lite: &'a Lite,
    /// `None`: the WAL held no commit when the read began.
    snapshot: Option<Snapshot>,
}

/// A snapshot taken by `sqlite3_snapshot_get`, freed when dropped.
struct Snapshot(*mut ffi::sqlite3_snapshot);

impl Snapshot {
    /// The snapshot of `conn`'s open read transaction, if SQLite takes
    /// one (see the module doc).
    fn of(conn: &Connection) -> Option<Snapshot> {
        let mut snapshot: *mut ffi::sqlite3_snapshot = std::ptr::null_mut();
        // SAFETY: the handle is this open connection's, used on this
        // thread; `snapshot` receives a new object that `Drop` frees.
        let rc = unsafe { ffi::sqlite3_snapshot_get(conn.handle(), MAIN.as_ptr(), &mut snapshot) };
        (rc == ffi::SQLITE_OK && !snapshot.is_null()).then_some(Snapshot(snapshot))
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // SAFETY: taken by `sqlite3_snapshot_get`, freed once, here.
        unsafe { ffi::sqlite3_snapshot_free(self.0) };
    }
}

/// Reads the schema table: in a transaction (`BEGIN` alone defers it), it
/// begins the read.
fn begin_read(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
}

impl Lite {
    /// Opens a shared read, or `None` when there is none to share: a
    /// transaction is open on this connection (a group of writes: its
    /// reports are in no other connection's snapshot), or the database
    /// is in memory.
    pub(crate) fn share(&self) -> Result<Option<LiteShared<'_>>, DbError> {
        if !self.conn.is_autocommit() || self.path().is_none() {
            return Ok(None);
        }
        self.conn.execute_batch("BEGIN")?;
        if let Err(e) = begin_read(&self.conn) {
            self.conn.execute_batch("ROLLBACK")?;
            return Err(e.into());
        }
        Ok(Some(LiteShared {
            lite: self,
            snapshot: Snapshot::of(&self.conn),
        }))
    }

    /// A read-only connection to this file, for a part of a shared read.
    fn reader(&self) -> Option<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(self.path()?, flags).ok()?;
        conn.busy_timeout(READER_BUSY).ok()?;
        // A first read opens the WAL (SQLite opens it lazily, and opens
        // no snapshot on a connection that has not).
        begin_read(&conn).ok()?;
        Some(conn)
    }
}

impl LiteShared<'_> {
    /// Runs `f` for each of `parts` at once: the first on the main
    /// connection in this thread, each other in a thread of its own on a
    /// reader, all on this read's snapshot. The results in the order of
    /// `parts`; the first error if any failed.
    pub fn run<J: Sync, T: Send>(
        &self,
        parts: &[J],
        f: impl Fn(&Connection, &J) -> Result<T, DbError> + Sync,
    ) -> Result<Vec<T>, DbError> {
        let Some((first, rest)) = parts.split_first() else {
            return Ok(Vec::new());
        };
        let mut idle = std::mem::take(&mut *self.lite.readers.borrow_mut());
        // Each reader on the snapshot before any part starts (here, on
        // this thread: the snapshot object is the main connection's).
        let ready: Vec<Option<Connection>> = rest
            .iter()
            .map(|_| {
                let conn = idle.pop().or_else(|| self.lite.reader())?;
                if self.open_on(&conn) {
                    return Some(conn);
                }
                // Sound, only too late for this read: kept for the next.
                idle.push(conn);
                None
            })
            .collect();
        let (mine, theirs) = std::thread::scope(|s| {
            let f = &f;
            let handles: Vec<_> = (rest.iter().zip(ready))
                .map(|(part, conn)| {
                    let conn = conn?;
                    Some(s.spawn(move || {
                        let out = f(&conn, part);
                        // A read transaction ends without fail; a reader
                        // that cannot end one is not kept.
                        let ended = conn.execute_batch("COMMIT").is_ok();
                        (out, ended.then_some(conn))
                    }))
                })
                .collect();
            let mine = f(&self.lite.conn, first);
            let theirs: Vec<_> = handles
                .into_iter()
                .map(|h| h.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
                .collect();
            (mine, theirs)
        });
        let mut out = vec![mine?];
        let mut readers = self.lite.readers.borrow_mut();
        readers.append(&mut idle);
        for (outcome, part) in theirs.into_iter().zip(rest) {
            out.push(match outcome {
                Some((done, conn)) => {
                    readers.extend(conn);
                    done?
                }
                None => f(&self.lite.conn, part)?,
            });
        }
        Ok(out)
    }

    /// Begins a read transaction on `conn` that sees what the main
    /// connection sees; `false` (and no transaction) when it cannot.
    fn open_on(&self, conn: &Connection) -> bool {
        if conn.execute_batch("BEGIN").is_err() {
            return false;
        }
        let same = match &self.snapshot {
            // SAFETY: the handle is an open connection used on this
            // thread; the snapshot is alive until `self` drops.
            Some(s) => unsafe {
                ffi::sqlite3_snapshot_open(conn.handle(), MAIN.as_ptr(), s.0) == ffi::SQLITE_OK
            },
            // The main connection read the file alone: so must this one
            // (its WAL is still without a commit: no snapshot).
            None => begin_read(conn).is_ok() && Snapshot::of(conn).is_none(),
        };
        if !same {
            let _ = conn.execute_batch("ROLLBACK");
        }
        same
    }

    /// Ends the read.
    pub fn end(self) -> Result<(), DbError> {
        Ok(self.lite.conn.execute_batch("COMMIT")?)
    }
}

impl Drop for LiteShared<'_> {
    fn drop(&mut self) {
        if !self.lite.conn.is_autocommit() {
            let _ = self.lite.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
#[path = "share_tests.rs"]
mod tests;
