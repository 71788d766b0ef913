//! Store: the database, and the only door to it. `Store` owns every
//! connection and every SQL statement of dmarcdb; the rest of the program
//! asks it typed questions (one method per question, answering with named
//! rows) and hands it parsed reports to keep. Nothing outside `src/store/`
//! names the database driver or writes SQL, and the store hands out no
//! connection.
//!
//! Where things live:
//! - `store.rs`: opening, the schema and its migrations, transactions and
//!   the grouping of reports into them, [`DbError`].
//! - `write.rs`: the write path of one report (the store as a sink: it
//!   takes a header and a stream of records, parsing is the caller's) and
//!   of the quarantine; `insert.rs` the record inserts.
//! - `lookup.rs`: a read-only second handle, for ingest's parsing threads.
//! - `views.rs` and `views/`: the questions of `query` and `alert`.
//! - `rebuild.rs`: rewriting a stored report for `reparse`.
//! - `variant.rs`: a second copy of a stored report with other content.
//! - `quarantine.rs`, `report_ips.rs`, `netfacts.rs`: those tables' own
//!   operations; `senders.rs` the per-IP totals of the enriched views.
//! - `tls.rs`, `failure.rs`: SMTP TLS reports and DMARC failure reports
//!   (their writes, taking reports parsed by the caller; their view rows;
//!   the `--redact` key).
//!
//! A new table goes into `schema.sql` (what a new file gets) and into a
//! new migration in `migrations/` (what an existing file gets, appended to
//! `MIGRATIONS`); its operations go in a new file here, as `impl Store`
//! methods taking and returning named structs.
//!
//! A second backend (PostgreSQL, planned): the public face is `Store`'s
//! methods and the backend-neutral types they take and return (rows,
//! [`Stored`], [`StoreError`], [`DbError`], [`Scope`]); no caller sees a
//! connection, a statement or a driver's error. Everything SQLite-specific
//! (pragmas, `BEGIN IMMEDIATE`, `?N` placeholders, `ON CONFLICT` upserts,
//! BLOB columns, `COLLATE NOCASE`) sits in these files behind those
//! methods. The second backend becomes a second connection type behind the
//! same methods (`Store` holding an enum of the two), with its own schema
//! and migrations; the view SQL is built by one builder
//! (`views/sql.rs`) whose placeholders and dialect bits are the only
//! thing it would need to vary.
//!
//! A report is written inside a `BEGIN IMMEDIATE` transaction: the write
//! lock is taken first, then the identity key is checked, so two processes
//! ingesting the same file both succeed and store it once. Records stream
//! from the caller's parser straight into prepared statements, never a
//! whole report in memory ([`Store::store_parsed`]). Nothing of a report
//! is visible until its commit, and a killed process leaves the file as it
//! was before that commit (SQLite's journal guarantees it). By default
//! each report is its own transaction; `ingest` groups several into one
//! ([`Store::set_batching`]), each in its own savepoint, and acknowledges
//! inputs only after the group's commit.
//!
//! Durability: WAL with `synchronous = NORMAL` by default (a power cut may
//! lose the last commits, never corrupt the file; the input files are still
//! there). Sources that mark mail seen switch to `synchronous = FULL` via
//! [`Store::set_durable`], so a message is only ever marked seen after its
//! report is on disk.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, TransactionBehavior};

use crate::model::ReportHeader;
use crate::parse::ParseError;

mod drill;
mod failure;
mod fault;
mod insert;
mod lookup;
mod netfacts;
mod quarantine;
mod rebuild;
mod report_ips;
mod senders;
mod tls;
pub mod variant;
mod views;
mod write;
pub use drill::{RecordRow, ReportDetail, ReportMeta, XML_SHOWN};
pub use failure::{FailureReportRow, FailureStored};
#[cfg(test)]
use insert::auth_key;
use insert::{AuthSets, Inserter};
pub use lookup::Lookup;
pub use netfacts::IpFacts;
pub use quarantine::{inflate_to, Dropped, Quarantined};
pub use rebuild::Rebuilt;
pub use report_ips::ip_hash;
pub use tls::{TlsFailureRow, TlsPolicyRow, TlsReportRow, TlsStored};
pub use views::{
    DkimRow, DomainRow, FailureRow, Filter, Novelty, OrgRow, ReportRow, ReportSpan, ReportTotals,
    Scope, Side, SourceRow, SpfRow, Window,
};

/// The current schema, applied to a new file. See `schema.sql`.
const SCHEMA: &str = include_str!("../schema.sql");

/// Migrations of files made by earlier versions, in order: entry `i` takes
/// `user_version` from `i + 1` to `i + 2` (version 1 was the first
/// schema). A new file gets [`SCHEMA`] and the latest version at once.
/// Append only: never edit, remove or reorder an entry that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("store/migrations/v1-to-v2.sql"),
    include_str!("store/migrations/v2-to-v3.sql"),
    include_str!("store/migrations/v3-to-v4.sql"),
    include_str!("store/migrations/v4-to-v5.sql"),
];

/// The `user_version` of a file with the current schema.
const VERSION: i64 = MIGRATIONS.len() as i64 + 1;

/// What happened to one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Newly stored, with its row id, number of records and sum of counts.
    New {
        id: i64,
        header: Box<ReportHeader>,
        records: u64,
        messages: i64,
        messages_fail: i64,
    },
    /// A report with the same identity key and the same content is
    /// already stored.
    Duplicate { header: Box<ReportHeader> },
    /// A report with the same identity key but other content is stored:
    /// one copy is the report, the other is kept in `report_variant` (see
    /// [`variant`]).
    Conflicting {
        header: Box<ReportHeader>,
        kept: variant::Kept,
    },
}

/// A failure of the database itself (disk full, file locked too long, a
/// damaged file): whoever meets one stops, since nothing after it could be
/// stored either. The driver's error stays inside: callers see its text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbError(rusqlite::Error);

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError(e)
    }
}

impl DbError {
    /// What went wrong, in one line, with what to do about it when the
    /// cause is a known fault (disk full, read-only file, lock held).
    pub fn explain(&self) -> String {
        fault::explain(&self.0)
    }

    /// A uniqueness or other constraint refused the write.
    pub(crate) fn is_constraint(&self) -> bool {
        self.0.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
    }

    /// An error to test how it is reported.
    #[cfg(test)]
    pub(crate) fn for_test() -> DbError {
        DbError(rusqlite::Error::InvalidQuery)
    }
}

/// Why a report was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input's fault: it goes to quarantine and the run goes on.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The database's fault (disk full, file locked too long): fatal.
    /// Not an error `source`: its text is in the message (see `Fatal::Db`).
    #[error("database error: {0}")]
    Db(DbError),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Db(DbError(e))
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError::Db(e)
    }
}

/// The open database.
pub struct Store {
    conn: Connection,
    /// Whether reports are grouped into transactions; see [`Store::set_batching`].
    batching: bool,
    /// The open group of reports, if any.
    batch: Option<Group>,
    /// Auth-result sets known to be stored, for the inserts.
    sets: AuthSets,
}

/// Reports stored in the open transaction.
#[derive(Debug, Clone, Copy)]
struct Group {
    since: Instant,
    reports: u64,
    records: u64,
}

/// A group is committed once it holds this many reports (beyond a few
/// dozen small reports, a commit costs little per report)...
const BATCH_REPORTS: u64 = 50;
/// ...or this many records...
const BATCH_RECORDS: u64 = 20_000;
/// ...or is this old, so that a second process waiting for the write lock,
/// and the acknowledgement of mail, wait at most about this long.
const BATCH_AGE: Duration = Duration::from_millis(250);

/// How long a write waits for another process's write lock before it fails
/// with "database is locked", unless told otherwise
/// ([`Store::open_waiting`]).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

impl Store {
    /// Opens (creating if needed, readable by its owner only) and migrates,
    /// waiting up to [`DEFAULT_BUSY_TIMEOUT`] for a busy file.
    pub fn open(path: &Path) -> Result<Store, DbError> {
        Store::open_waiting(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`Store::open`], with `busy_timeout` as the longest wait for another
    /// process's write lock (on open and on every later write).
    pub fn open_waiting(path: &Path, busy_timeout: Duration) -> Result<Store, DbError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        create_private(path);
        let conn = Connection::open(path)?;
        Ok(Store::setup(conn, busy_timeout)?)
    }

    /// A throwaway database, for tests.
    pub fn open_in_memory() -> Result<Store, DbError> {
        Ok(Store::setup(
            Connection::open_in_memory()?,
            DEFAULT_BUSY_TIMEOUT,
        )?)
    }

    fn setup(conn: Connection, busy_timeout: Duration) -> Result<Store, rusqlite::Error> {
        conn.busy_timeout(busy_timeout)?;
        // 8 KiB pages for a new file (an existing one keeps its own): half
        // the WAL frames, each a write of its own, and shallower trees;
        // ingest was 5-8 % faster than with 4 KiB (bench/README.md).
        conn.pragma_update(None, "page_size", 8192)?;
        // Switching a new file to WAL needs a lock that SQLite does not wait
        // for through the busy handler: two runs creating the same file at
        // once would see "database is locked". Retry for a while instead.
        retry_busy(busy_timeout, || {
            conn.pragma_update(None, "journal_mode", "WAL")
        })?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // No checkpoint when the connection closes: copying the WAL into
        // the file and its two disk syncs were on the critical path at the
        // end of every run. SQLite's auto-checkpoint (at 1000 WAL pages)
        // still bounds the WAL, and the next connection reads it; what is
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
        // Grouped reports each get a savepoint, whose undo journal then
        // stays in memory rather than in a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let mut store = Store {
            conn,
            batching: false,
            batch: None,
            sets: AuthSets::default(),
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
    /// Grouped, each report still gets its own savepoint, so a bad one
    /// leaves nothing behind, but the transaction stays open for the next
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
            Ok(())
        } else {
            self.commit()
        }
    }

    /// Commits the open group if it holds 50 reports or 20,000 records, or
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

    /// Whether a transaction is open: a group of reports not committed yet
    /// (the caller acknowledges a group's inputs only after its commit).
    pub fn in_group(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Commits the open group, if any.
    pub fn commit(&mut self) -> Result<(), DbError> {
        match self.batch.take() {
            Some(_) => Ok(self.conn.execute_batch("COMMIT").inspect_err(|_| {
                // Whatever failed, the sets added by the group are not
                // known to be in the file.
                self.sets.clear();
            })?),
            None => Ok(()),
        }
    }

    /// The file's path, for a second connection and for messages (`None`
    /// in memory).
    pub fn path(&self) -> Option<&str> {
        self.conn.path().filter(|p| !p.is_empty())
    }

    /// How many reports are stored.
    pub fn report_count(&self) -> Result<i64, DbError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM report", [], |r| r.get(0))?)
    }

    /// The rows in `table`, for tests outside the store.
    #[cfg(test)]
    pub(crate) fn count_rows(&self, table: &str) -> i64 {
        self.conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// Runs `write` in a transaction of its own, or in a savepoint of the
    /// open group (see [`Store::set_batching`]); kept only if it succeeds.
    fn in_savepoint(
        &mut self,
        write: impl FnOnce(&Connection, &mut AuthSets) -> Result<Stored, StoreError>,
    ) -> Result<Stored, StoreError> {
        if !self.batching {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored = write(&tx, &mut self.sets)
                .and_then(|stored| Ok(tx.commit().map(|()| stored)?))
                .inspect_err(|_| self.sets.forget())?;
            self.sets.keep();
            return Ok(stored);
        }
        if self.batch.is_none() {
            // The write lock first, as in the ungrouped case.
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.batch = Some(Group {
                since: Instant::now(),
                reports: 0,
                records: 0,
            });
        }
        let sp = self.conn.savepoint()?;
        let stored = write(&sp, &mut self.sets)
            .and_then(|stored| Ok(sp.commit().map(|()| stored)?))
            .inspect_err(|_| self.sets.forget())?;
        self.sets.keep();
        if let (Some(g), Stored::New { records, .. }) = (self.batch.as_mut(), &stored) {
            g.reports += 1;
            g.records += records;
        }
        Ok(stored)
    }
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

/// The 16-byte form of an address (IPv4 as `::ffff:a.b.c.d`), so that CIDR
/// filters are byte-range comparisons in SQL. IPv4-mapped IPv6 input and
/// plain IPv4 give the same bytes.
pub fn ip_bin(ip: &str) -> Option<[u8; 16]> {
    let addr: std::net::IpAddr = ip.trim().parse().ok()?;
    Some(match addr {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    })
}

#[cfg(test)]
mod reparse_tests;
#[cfg(test)]
mod tests;
