//! The SQLite backend: one file, opened with the pragmas below, its
//! schema (`schema.sql`) and migrations (`migrations/`, on `user_version`),
//! and the grouping of reports into transactions. The SQLite statements
//! of each job live beside it: `write.rs` and `insert.rs` (a report's
//! rows), `quarantine.rs`, `rebuild.rs`, `report_ips.rs`, `netfacts.rs`,
//! `senders.rs`, `drill.rs`, `lookup.rs`.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OpenFlags, TransactionBehavior};

use super::insert::AuthSets;
use super::undo::Undo;
use super::views::Cells;
use super::walckpt::WalFrames;
use super::{
    DbError, Group, StoreError, Stored, BATCH_AGE, BATCH_RECORDS, BATCH_REPORTS,
    DEFAULT_BUSY_TIMEOUT,
};

/// The current schema, applied to a new file. See `schema.sql`.
pub(super) const SCHEMA: &str = include_str!("../../schema.sql");

/// Migrations of files made by earlier versions, in order: entry `i` takes
/// `user_version` from `i + 1` to `i + 2` (version 1 was the first
/// schema). A new file gets [`SCHEMA`] and the latest version at once.
/// Append only: never edit, remove or reorder an entry that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/v1-to-v2.sql"),
    include_str!("migrations/v2-to-v3.sql"),
    include_str!("migrations/v3-to-v4.sql"),
    include_str!("migrations/v4-to-v5.sql"),
    include_str!("migrations/v5-to-v6.sql"),
];

/// The `user_version` of a file with the current schema.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64 + 1;

/// An open SQLite file.
pub struct Lite {
    /// Whether reports are grouped into transactions; see [`Store::set_batching`].
    pub(super) batching: bool,
    /// The open group of reports, if any.
    pub(super) batch: Option<Group>,
    /// Auth-result sets known to be stored, for the inserts.
    pub(super) sets: AuthSets,
    /// A failed report of the open group could not be deleted
    /// (`undo.rs`): the group must not be committed.
    pub(super) undo_failed: Cell<Option<rusqlite::Error>>,
    /// This connection made the file and has committed no group yet:
    /// nothing is stored, so a [`Lookup`](super::Lookup) would find
    /// nothing (and opening one costs each parsing thread a connection and
    /// a read of the schema). Only a hint, as the lookup itself is.
    pub(super) made_here: bool,
    /// The file was there before this connection opened it: it checkpoints
    /// as it closes once the WAL is large (`walclose.rs`).
    pub(super) existed: bool,
    /// Read-only connections kept for the parts of a shared read
    /// (`share.rs`).
    pub(super) readers: RefCell<Vec<Connection>>,
    /// Last: fields drop in order, and the statements `sets` holds
    /// (`insert/raw.rs`) must be finalized before the connection closes.
    pub(super) conn: Connection,
    /// The WAL's length while grouping (`walckpt.rs`); after `conn`, whose
    /// WAL hook holds its address.
    wal_frames: WalFrames,
}

impl Lite {
    /// Opens (creating if needed, readable by its owner only) and migrates,
    /// with `busy_timeout` as the longest wait for another process's write
    /// lock (on open and on every later write).
    pub fn open_waiting(path: &Path, busy_timeout: Duration) -> Result<Lite, DbError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        // A new file is made whole aside and linked into place
        // (`newfile.rs`); otherwise, or if that gives up, SQLite makes it.
        let made_here = super::newfile::create(path);
        if !made_here {
            create_private(path);
        }
        // Its WAL written a commit at a time (`walbuf.rs`).
        let conn = match super::walbuf::vfs() {
            Some(vfs) => Connection::open_with_flags_and_vfs(path, OpenFlags::default(), vfs)?,
            None => Connection::open(path)?,
        };
        let mut lite = Lite::setup(conn, busy_timeout, made_here)?;
        if made_here {
            super::newfile::start_wal(&lite.conn)?;
        }
        lite.made_here = made_here;
        lite.existed = !made_here;
        Ok(lite)
    }

    /// A throwaway database, for tests.
    pub fn open_in_memory() -> Result<Lite, DbError> {
        Ok(Lite::setup(
            Connection::open_in_memory()?,
            DEFAULT_BUSY_TIMEOUT,
            false,
        )?)
    }

    /// Sets up a connection; `made_here`: to a file this run just made.
    fn setup(
        conn: Connection,
        busy_timeout: Duration,
        made_here: bool,
    ) -> Result<Lite, rusqlite::Error> {
        conn.busy_timeout(busy_timeout)?;
        // 8 KiB pages for a new file (an existing one keeps its own): half
        // the WAL frames, each a write of its own, and shallower trees;
        // ingest was 5-8 % faster than with 4 KiB (bench/README.md).
        conn.pragma_update(None, "page_size", 8192)?;
        // Switching a new file to WAL needs a lock that SQLite does not wait
        // for through the busy handler: two runs creating the same file at
        // once would see "database is locked". Retry for a while instead.
        // An existing file in WAL mode stays in it (the mode is kept in the
        // file), and opens with `synchronous = NORMAL` (SQLite is built
        // with that default for WAL, `.cargo/config.toml`): both pragmas
        // read and parse the whole schema first, which a run that stores
        // nothing (every input a duplicate) would not need at all. A file
        // made here has them, so that its schema is read now, on the
        // thread that made it (`ingest::opening`), not by the writer.
        if made_here || !conn.path().is_some_and(in_wal_mode) {
            retry_busy(busy_timeout, || {
                conn.pragma_update(None, "journal_mode", "WAL")
            })?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        // No checkpoint when the connection closes: copying the WAL into
        // the file and its two disk syncs were on the critical path at the
        // end of every run. A checkpoint at 1000 WAL pages still bounds
        // the WAL (SQLite's auto-checkpoint; while grouping, before the next
        // group, `walckpt.rs`), and the next connection reads it; what is
        // committed stays as durable as `synchronous` made it.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        // The schema's foreign keys document the references; SQLite is not
        // asked to check them on every insert (a seventh of the writer's
        // time): the writer makes each reference itself, and the tests
        // check them all with `PRAGMA foreign_key_check`.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        // The default page cache (2 MiB) is enough: records are appended in
        // key order, with no index to insert at random places. (A 16 MiB
        // cache served the record_source_ip index of schema version 1, and
        // added 13 MiB to the peak memory of a 200,000-record report.)
        // A savepoint's undo journal (copies of stored reports, ungrouped
        // writes) then stays in memory rather than in a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let mut store = Lite {
            conn,
            batching: false,
            batch: None,
            sets: AuthSets::default(),
            undo_failed: Cell::new(None),
            made_here: false,
            existed: false,
            readers: RefCell::default(),
            wal_frames: WalFrames::default(),
        };
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
        if version == 0 {
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", VERSION)?;
        }
        let start = usize::try_from(version - 1).unwrap_or(usize::MAX);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 2) as i64)?;
        }
        tx.commit()
    }

    /// `synchronous = FULL` (true) or `NORMAL` (false); see the module doc.
    pub fn set_durable(&self, durable: bool) -> Result<(), DbError> {
        let mode = if durable { "FULL" } else { "NORMAL" };
        Ok(self.conn.pragma_update(None, "synchronous", mode)?)
    }

    /// Groups reports into fewer transactions (`true`), or commits each on
    /// its own (`false`, the default; switching off commits the group).
    ///
    /// Grouped, a bad report still leaves nothing behind (its rows are
    /// deleted, `undo.rs`), but the transaction stays open for the next
    /// until [`Store::commit_due`] finds the group big or old enough. A
    /// commit writes every page the transaction touched to the WAL again,
    /// which for a report of 100 records costs about as much as inserting
    /// them: grouping made ingesting 200 such reports a quarter faster
    /// (`bench/README.md`). The caller acknowledges an input only once it
    /// is committed; a killed process loses the open group, whose inputs
    /// are then read again.
    pub fn set_batching(&mut self, on: bool) -> Result<(), DbError> {
        self.batching = on;
        if on {
            Ok(self.wal_frames.listen(&self.conn, true)?)
        } else {
            // SQLite's auto-checkpoint back after the commit (which then
            // does not checkpoint), whether or not it succeeded.
            let committed = self.commit();
            let restored = self.wal_frames.listen(&self.conn, false);
            committed?;
            Ok(restored?)
        }
    }

    /// Whether a transaction is open (a group not committed yet).
    pub fn in_group(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Commits the open group if it holds 100 reports or 20,000 records, or
    /// began 250 ms ago (`BATCH_REPORTS`, `BATCH_RECORDS`, `BATCH_AGE`).
    /// Returns whether everything stored so far is committed.
    pub fn commit_due(&mut self) -> Result<bool, DbError> {
        let Some(g) = self.batch else {
            return Ok(true);
        };
        if g.reports < BATCH_REPORTS && g.records < BATCH_RECORDS && g.since.elapsed() < BATCH_AGE {
            return Ok(false);
        }
        self.commit()?;
        Ok(true)
    }

    /// Commits the open group, if any.
    pub fn commit(&mut self) -> Result<(), DbError> {
        if let Some(e) = self.undo_failed.take() {
            // Half a report would be committed: nothing of the group is.
            self.batch = None;
            self.sets.clear();
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        match self.batch.take() {
            Some(_) => {
                self.conn.execute_batch("COMMIT").inspect_err(|_| {
                    // Whatever failed, the sets added by the group are not
                    // known to be in the file.
                    self.sets.clear();
                })?;
                self.made_here = false;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The file's path, for a second connection and for messages (`None`
    /// in memory).
    pub fn path(&self) -> Option<&str> {
        self.conn.path().filter(|p| !p.is_empty())
    }

    /// Runs `write` in a transaction of its own, or in a savepoint of the
    /// open group (see [`Store::set_batching`]); kept only if it succeeds.
    pub(super) fn in_savepoint(
        &mut self,
        write: impl FnOnce(&Connection, &mut AuthSets) -> Result<Stored, StoreError>,
    ) -> Result<Stored, StoreError> {
        if !self.batching {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored = write(&tx, &mut self.sets)
                .and_then(|stored| Ok(tx.commit().map(|()| stored)?))
                .inspect_err(|_| {
                    self.sets.forget();
                })?;
            self.sets.keep();
            return Ok(stored);
        }
        self.open_group()?;
        let sp = self.conn.savepoint()?;
        let stored = write(&sp, &mut self.sets)
            .and_then(|stored| Ok(sp.commit().map(|()| stored)?))
            .inspect_err(|_| {
                self.sets.forget();
            })?;
        self.sets.keep();
        if let (Some(g), Stored::New { records, .. }) = (self.batch.as_mut(), &stored) {
            g.reports += 1;
            g.records += records;
        }
        Ok(stored)
    }
}

impl Lite {
    /// Opens a group (a transaction, write lock first) unless one is open.
    pub(super) fn open_group(&mut self) -> rusqlite::Result<()> {
        if self.batch.is_none() {
            // The WAL copied into the file, if due (`walckpt.rs`).
            self.wal_frames.checkpoint_due(&self.conn)?;
            // The write lock first, as in the ungrouped case.
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.batch = Some(Group {
                since: Instant::now(),
                reports: 0,
                records: 0,
            });
        }
        Ok(())
    }

    /// Runs `write` for a new report in the open group without a
    /// savepoint: if it fails, [`Undo`] deletes what it wrote
    /// (`undo.rs`). The caller opened the group.
    pub(super) fn unjournaled(
        &mut self,
        write: impl FnOnce(&Connection, &mut Undo<'_>) -> Result<Stored, StoreError>,
    ) -> Result<Stored, StoreError> {
        let mut undo = Undo::new(&self.conn, &mut self.sets, &self.undo_failed);
        let stored = write(&self.conn, &mut undo)?;
        undo.keep();
        if let (Some(g), Stored::New { records, .. }) = (self.batch.as_mut(), &stored) {
            g.reports += 1;
            g.records += records;
        }
        Ok(stored)
    }
}

/// Whether the file at `path` is a SQLite database in WAL mode, from its
/// header (the read and write versions, bytes 18 and 19, are 2).
fn in_wal_mode(path: &str) -> bool {
    use std::io::Read;
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head.starts_with(b"SQLite format 3\0") && head[18..20] == [2, 2])
}

/// Runs `op` again while the database is busy or locked, for up to
/// `timeout` (like the busy timeout, for the statements that bypass it).
fn retry_busy<T>(
    timeout: Duration,
    mut op: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match op() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
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

impl Lite {
    /// Every row of `text` with `args` bound, as [`Cells`].
    pub(super) fn cells(&self, text: &str, args: &[Value]) -> Result<Vec<Cells>, DbError> {
        cells(&self.conn, text, args)
    }
}

/// Every row of `text` with `args` bound on `conn`, as [`Cells`] (also
/// for code that holds only the connection, e.g. inside a transaction).
pub(super) fn cells(conn: &Connection, text: &str, args: &[Value]) -> Result<Vec<Cells>, DbError> {
    let mut st = conn.prepare_cached(text)?;
    let n = st.column_count();
    let rows = st.query_map(params_from_iter(args.iter()), |r| {
        (0..n).map(|i| r.get::<_, Value>(i)).collect()
    })?;
    Ok(rows
        .map(|r| r.map(Cells))
        .collect::<rusqlite::Result<_>>()?)
}

impl Lite {
    /// Runs `text` with `args` bound; returns the rows it changed.
    pub(super) fn execute(&self, text: &str, args: &[Value]) -> Result<u64, DbError> {
        let mut st = self.conn.prepare_cached(text)?;
        Ok(st.execute(params_from_iter(args.iter()))? as u64)
    }
}
