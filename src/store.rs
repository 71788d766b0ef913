//! Store: the database, and the only door to it. `Store` owns every
//! connection and every SQL statement of dmarcdb; the rest of the program
//! asks it typed questions (one method per question, answering with named
//! rows) and hands it parsed reports to keep. Nothing outside `src/store/`
//! names a database driver or writes SQL, and the store hands out no
//! connection.
//!
//! Two backends sit behind the same methods: a SQLite file (the default)
//! and a PostgreSQL server (`--db postgres://...`). `Store` holds an enum
//! of the two ([`Backend`]); `backend.rs` dispatches each method to its
//! backend, once per call (per report on the write path, never per
//! record). Callers see only backend-neutral types: rows, [`Stored`],
//! [`StoreError`], [`DbError`], [`Scope`].
//!
//! Where things live:
//! - `store.rs`: the types every backend shares, [`DbError`], the grouping
//!   limits; `backend.rs` the dispatch.
//! - `sqlite.rs`: opening a file, its schema (`schema.sql`) and migrations
//!   (`migrations/`; `newfile.rs` makes a new file), transactions and groups (`undo.rs`: a failed report
//!   of a group deleted). Its statements: `write.rs`
//!   (a report, the quarantine), `insert.rs` (records and auth sets, whose
//!   in-memory map [`insert::AuthSets`] both backends use), `lookup.rs`,
//!   `quarantine.rs`, `rebuild.rs` (reparse; `rebuild_kinds.rs` for TLS and
//!   failure reports, its row statements written once for both backends),
//!   `variant.rs` (a second copy of a stored report with other content),
//!   `report_ips.rs`,
//!   `netfacts.rs` (those tables' own operations), `senders.rs` (the
//!   per-IP totals of the enriched views), `tls.rs` and `failure.rs` (SMTP
//!   TLS and DMARC failure reports: their writes, row types and the
//!   `--redact` key), `fault.rs` (SQLite faults explained).
//! - Written once for both backends: `drill.rs` (one report's page, one
//!   source's records), `readiness.rs` (the policies reporters saw,
//!   subdomain mail), `sender_facts.rs` (the sender facts `copy` moves),
//!   `import.rs` and `import_kinds.rs` (what `copy` writes besides
//!   aggregate reports: quarantine; failure reports, the redaction key and
//!   variants row by row).
//! - `pg.rs` and `pg/`: the same jobs on PostgreSQL, with their own schema
//!   (`schema-postgres.sql`) and migrations (listed in `pg.rs`, in
//!   `pg/migrations/`): `connect.rs` (URL, TLS, passwords), `write.rs`
//!   (records loaded with binary COPY, and each report's `report_ips`
//!   row), `admin.rs` (quarantine, reparse), `report_ips.rs` (the
//!   new-sender alert's reads), `enrich.rs` (`net_fact`, `rdns`),
//!   `variant.rs` (the stored side of a conflicting copy), `tls.rs` and
//!   `failure.rs` (SMTP TLS and failure reports, the `--redact` key),
//!   `rebuild_kinds.rs` (reparse of those), `import.rs` (a connection as
//!   the runner of `import_kinds.rs`).
//! - `views.rs` and `views/`: the questions of `query` and `alert`, written
//!   once for both backends (`views/kinds.rs` those over TLS and failure
//!   reports). `views/sql.rs` is the one SQL builder, and
//!   the only place where the dialects differ (placeholders, case-blind
//!   comparison, join order, aggregate types) besides `views/fold.rs`
//!   (grouping by many keys: summed in a hash map as SQLite's rows stream
//!   by, grouped by PostgreSQL); rows come back as backend-neutral
//!   [`views::Cells`].
//!
//! A new table goes into `schema.sql` and `schema-postgres.sql` (what a new
//! database gets) and into a new migration of each backend (what an
//! existing one gets); its operations go in a new file here, as methods
//! taking and returning named structs, dispatched in `backend.rs`.
//!
//! A report is written inside one transaction that first takes the write
//! lock (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a transaction-scoped
//! advisory lock), then checks the identity key, so several processes
//! ingesting the same reports, on one machine or several, all succeed and
//! store each report once; the UNIQUE identity key backs this up. Records
//! stream from the caller's parser, never a whole report in memory
//! ([`Store::store_parsed`]; PostgreSQL buffers at most a few thousand
//! records per COPY). Nothing of a report is visible until its commit, and
//! a killed process leaves the database as it was before that commit. By
//! default each report is its own transaction; `ingest` groups several
//! into one ([`Store::set_batching`]), and acknowledges inputs only after
//! the group's commit. A report of a group that fails half-way leaves
//! nothing behind: on SQLite its rows are deleted (`undo.rs`: cheaper than
//! a savepoint per report, which journaled every page a report touched),
//! on PostgreSQL a savepoint is opened for a report too big to hold until
//! parsed.
//!
//! Durability: SQLite runs WAL with `synchronous = NORMAL` by default (a
//! power cut may lose the last commits, never corrupt the file; the input
//! files are still there); PostgreSQL likewise with `synchronous_commit =
//! off`. Sources that mark mail seen switch to `FULL` / `on` via
//! [`Store::set_durable`], so a message is only ever marked seen after its
//! report is on disk.

use std::time::{Duration, Instant};

use crate::model::ReportHeader;
use crate::parse::ParseError;

mod backend;
mod drill;
mod failure;
mod fault;
mod import;
mod import_kinds;
mod insert;
mod lookup;
mod netfacts;
mod newfile;
mod pagecache;
mod pg;
mod quarantine;
mod readiness;
mod rebuild;
mod rebuild_kinds;
mod report_ips;
mod sender_facts;
mod senders;
mod share;
mod sqlite;
mod tls;
mod undo;
pub mod variant;
mod views;
mod walbuf;
mod walckpt;
mod walclose;
mod write;
pub use crate::model::ip_bin;
pub use backend::Location;
pub use drill::{RecordRow, ReportDetail, ReportMeta, XML_SHOWN};
pub use failure::{FailureReportRow, FailureStored};
#[cfg(test)]
use insert::auth_key;
pub use insert::tag_auth_sets;
use insert::{AuthSets, Inserter};
pub use lookup::{Known, Lookup, LookupOpener};
pub use netfacts::IpFacts;
pub use pagecache::reserve as reserve_page_cache;
pub use quarantine::{inflate_to, Dropped, Quarantined};
pub use rebuild::Rebuilt;
pub use report_ips::ip_hash;
pub use sender_facts::{NetFactRow, RdnsRow};
pub use tls::{TlsFailureRow, TlsPolicyRow, TlsReportRow, TlsStored};
pub use views::{
    DkimRow, DomainRow, FailureRow, Filter, Novelty, OrgRow, ReportRow, ReportSpan, ReportTotals,
    Scope, Side, SourceRow, SpfRow, Window,
};
#[cfg(test)]
pub(crate) use write::gzip;
pub use write::{hash_kept, KeptSha};

/// The open database.
pub struct Store {
    backend: Backend,
}

/// The database behind a [`Store`]. One per process: the size of the
/// variants does not matter, and SQLite's stays unboxed, one pointer less
/// on its path.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Sqlite(sqlite::Lite),
    Postgres(Box<pg::Pg>),
}

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
    /// already stored. Its header is `None` when the input was told from
    /// its bytes alone, the very bytes kept with a stored report, and not
    /// parsed ([`Lookup::same_bytes`]).
    Duplicate { header: Option<Box<ReportHeader>> },
    /// A report with the same identity key but other content is stored:
    /// one copy is the report, the other is kept in `report_variant` (see
    /// [`variant`]).
    Conflicting {
        header: Box<ReportHeader>,
        kept: variant::Kept,
    },
}

/// A failure of the database itself (disk full, file locked too long, a
/// damaged file, a server gone): whoever meets one stops, since nothing
/// after it could be stored either. The driver's error stays inside:
/// callers see its text (which never holds a password: see `pg/connect.rs`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbError(Fault);

/// What [`DbError`] wraps.
#[derive(Debug, thiserror::Error)]
enum Fault {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg::describe(.0))]
    Postgres(#[from] postgres::Error),
    /// Opening or connecting failed before any driver was involved (a bad
    /// URL, a certificate file that does not load).
    #[error("{0}")]
    Setup(String),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError(Fault::Sqlite(e))
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        DbError(Fault::Postgres(e))
    }
}

impl DbError {
    /// What went wrong, in one line, with what to do about it when the
    /// cause is a known fault (disk full, read-only file, lock held).
    pub fn explain(&self) -> String {
        match &self.0 {
            Fault::Sqlite(e) => fault::explain(e),
            _ => self.to_string(),
        }
    }

    /// A uniqueness or other constraint refused the write.
    pub(crate) fn is_constraint(&self) -> bool {
        match &self.0 {
            Fault::Sqlite(e) => {
                e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
            }
            Fault::Postgres(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
            Fault::Setup(_) => false,
        }
    }

    pub(crate) fn setup(text: impl Into<String>) -> DbError {
        DbError(Fault::Setup(text.into()))
    }

    /// An error to test how it is reported.
    #[cfg(test)]
    pub(crate) fn for_test() -> DbError {
        DbError(Fault::Sqlite(rusqlite::Error::InvalidQuery))
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
        StoreError::Db(e.into())
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        StoreError::Db(e.into())
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError::Db(e)
    }
}

/// Reports stored in the open transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    pub since: Instant,
    pub reports: u64,
    pub records: u64,
}

/// A group is committed once it holds this many reports...
///
/// Every commit writes again the pages the group shares with the last one
/// (the tables' and indexes' inner pages, the leaves at their ends): at 50
/// reports of 100 records, 4 commits wrote 498 WAL frames for 377 new
/// pages; 2 commits of 100 write 429 (bench/README.md, eleventh round).
/// Bigger groups write fewer still (one of 200: 392), but a run stopped
/// part-way has more to do again, and a mailbox's messages are marked
/// seen in fewer, later steps. A second process waiting for the write
/// lock, and mail waiting for its acknowledgement, wait at most
/// [`BATCH_AGE`].
pub(crate) const BATCH_REPORTS: u64 = 100;
/// ...or this many records...
pub(crate) const BATCH_RECORDS: u64 = 20_000;
/// ...or is this old, so that a second process waiting for the write lock,
/// and the acknowledgement of mail, wait at most about this long.
pub(crate) const BATCH_AGE: Duration = Duration::from_millis(250);

/// How long a write waits for another process's write lock before it fails
/// with "database is locked", unless told otherwise
/// ([`Store::open_waiting`]).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod for_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod undo_tests;
