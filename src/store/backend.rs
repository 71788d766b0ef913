//! Where the database is ([`Location`]: a SQLite file or a PostgreSQL
//! URL), and the dispatch of each of [`Store`]'s methods to its backend.
//! One `match` per call: per report on the write path, never per record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::pg::Pg;
use super::sqlite::Lite;
use super::{
    Backend, DbError, Dropped, KeptSha, LookupOpener, Quarantined, Rebuilt, Store, StoreError,
    Stored,
};
use crate::extract::{Limits, Payload};
use crate::model::{Record, ReportHeader};
use crate::parse::ParseError;

/// Where the database is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL server: a `postgres://` or `postgresql://` URL, which
    /// may hold a password (never shown: see [`Location::display`]).
    Postgres(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl Location {
    /// `db` as given to `--db`: a PostgreSQL URL or a file path.
    pub fn parse(db: &std::ffi::OsStr) -> Location {
        match db.to_str() {
            Some(s) if super::pg::is_url(s) => Location::Postgres(s.to_string()),
            _ => Location::File(PathBuf::from(db)),
        }
    }

    /// What to call it in messages: the path, or the URL without its
    /// password.
    pub fn display(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Postgres(url) => super::pg::scrub(url),
        }
    }
}

impl Store {
    /// Opens (creating and migrating as needed) the database at `loc`.
    pub fn connect(loc: &Location) -> Result<Store, DbError> {
        Store::connect_waiting(loc, super::DEFAULT_BUSY_TIMEOUT)
    }

    /// [`Store::connect`], a SQLite file waiting up to `busy_timeout` for
    /// another process's write lock (PostgreSQL waits for its lock as long
    /// as it takes).
    pub fn connect_waiting(loc: &Location, busy_timeout: Duration) -> Result<Store, DbError> {
        match loc {
            Location::File(path) => Store::open_waiting(path, busy_timeout),
            Location::Postgres(url) => Ok(Store {
                backend: Backend::Postgres(Box::new(Pg::connect(url)?)),
            }),
        }
    }

    /// Opens (creating if needed, readable by its owner only) and migrates
    /// a SQLite file, waiting up to [`super::DEFAULT_BUSY_TIMEOUT`] for a
    /// busy file.
    pub fn open(path: &Path) -> Result<Store, DbError> {
        Store::open_waiting(path, super::DEFAULT_BUSY_TIMEOUT)
    }

    /// [`Store::open`], with `busy_timeout` as the longest wait for another
    /// process's write lock (on open and on every later write).
    pub fn open_waiting(path: &Path, busy_timeout: Duration) -> Result<Store, DbError> {
        Ok(Store {
            backend: Backend::Sqlite(Lite::open_waiting(path, busy_timeout)?),
        })
    }

    /// The SQLite file's path, for messages (`None` in memory and on
    /// PostgreSQL).
    pub fn path(&self) -> Option<&str> {
        match &self.backend {
            Backend::Sqlite(s) => s.path(),
            Backend::Postgres(_) => None,
        }
    }

    /// A throwaway SQLite database, for tests.
    pub fn open_in_memory() -> Result<Store, DbError> {
        Ok(Store {
            backend: Backend::Sqlite(Lite::open_in_memory()?),
        })
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// See the module doc of `store` on durability.
    pub fn set_durable(&self, durable: bool) -> Result<(), DbError> {
        match &self.backend {
            Backend::Sqlite(s) => s.set_durable(durable),
            Backend::Postgres(p) => p.set_durable(durable),
        }
    }

    /// Groups reports into fewer transactions (`true`), or commits each on
    /// its own (`false`, the default; switching off commits the group).
    ///
    /// Grouped, a bad report still leaves nothing behind (SQLite deletes
    /// what it wrote, PostgreSQL rolls back its savepoint), but the transaction stays open for the next
    /// until [`Store::commit_due`] finds the group big or old enough. A
    /// commit writes every page the transaction touched to the WAL again,
    /// which for a report of 100 records costs about as much as inserting
    /// them: grouping made ingesting 200 such reports a quarter faster
    /// (`bench/README.md`). The caller acknowledges an input only once it
    /// is committed; a killed process loses the open group, whose inputs
    /// are then read again.
    pub fn set_batching(&mut self, on: bool) -> Result<(), DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.set_batching(on),
            Backend::Postgres(p) => p.set_batching(on),
        }
    }

    /// Commits the open group if it holds 100 reports or 20,000 records, or
    /// began 250 ms ago. Returns whether everything stored so far is
    /// committed.
    pub fn commit_due(&mut self) -> Result<bool, DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.commit_due(),
            Backend::Postgres(p) => p.commit_due(),
        }
    }

    /// Whether a group of reports is open, not committed yet (the caller
    /// acknowledges a group's inputs only after its commit).
    pub fn in_group(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(s) => s.in_group(),
            Backend::Postgres(p) => p.group_open(),
        }
    }

    /// Commits the open group, if any.
    pub fn commit(&mut self) -> Result<(), DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.commit(),
            Backend::Postgres(p) => p.commit(),
        }
    }

    /// How many reports are stored.
    pub fn report_count(&self) -> Result<i64, DbError> {
        Ok(self
            .value("SELECT count(*) FROM report", &self.sql())?
            .unwrap_or(0))
    }

    /// Stores a parsed report in one transaction (or in the open group,
    /// see [`Store::set_batching`]), unless a report with the
    /// same identity is already stored, decided from `header` before any
    /// record is asked for: a copy of a stored report never calls
    /// `next_records` (on SQLite its content is judged from `payload`, read
    /// within `limits`, and a copy with other content kept as a variant,
    /// see [`super::variant`]).
    /// Otherwise the records come from `next_records`, which fills the
    /// (empty) vector it is given with the next ones, a chunk at a time,
    /// until it leaves it empty; an error from it (or a report without records) leaves
    /// nothing of the report behind. `payload` is kept as the report's
    /// original bytes (`report_blob`).
    pub fn store_parsed(
        &mut self,
        payload: &Payload,
        limits: &Limits,
        source: &str,
        header: ReportHeader,
        next_records: &mut dyn FnMut(&mut Vec<Record>) -> Result<(), StoreError>,
    ) -> Result<Stored, StoreError> {
        let sha = KeptSha::new();
        self.store_parsed_hashed(payload, &sha, limits, source, header, next_records)
    }

    /// [`Store::store_parsed`], with the SHA-256 of the report's kept bytes
    /// in `sha` when made already ([`hash_kept`](super::hash_kept); ingest's parsing
    /// threads do).
    pub fn store_parsed_hashed(
        &mut self,
        payload: &Payload,
        sha: &KeptSha,
        limits: &Limits,
        source: &str,
        header: ReportHeader,
        next_records: &mut dyn FnMut(&mut Vec<Record>) -> Result<(), StoreError>,
    ) -> Result<Stored, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(s) => {
                s.store_parsed(payload, sha, limits, source, header, next_records)
            }
            Backend::Postgres(p) => {
                p.store_parsed(payload, sha, limits, source, header, next_records)
            }
        }
    }

    /// Keeps an input that could not be stored, with the reason, so a
    /// later version can retry it. The same bytes again update the row.
    pub fn quarantine(&mut self, source: &str, reason: &str, bytes: &[u8]) -> Result<(), DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.quarantine(source, reason, bytes),
            Backend::Postgres(p) => p.quarantine(source, reason, bytes),
        }
    }

    /// How another thread opens a read-only second handle of its own;
    /// `None` when there cannot be one (a database in memory, a
    /// connection refused).
    pub fn lookup_opener(&self) -> Option<LookupOpener> {
        match &self.backend {
            Backend::Sqlite(s) => s.lookup_opener(),
            Backend::Postgres(p) => p.lookup().map(LookupOpener::Ready),
        }
    }

    /// Whether `data` (SHA-256 `sha`) are the very bytes kept with a
    /// stored report, as this connection sees it: the writer's check of a
    /// lookup's [`super::Lookup::same_bytes`] when the lookup's snapshot may be
    /// behind. PostgreSQL's lookups never answer so: `false`.
    pub fn holds_kept(&self, sha: &[u8; 32], data: &[u8]) -> Result<bool, DbError> {
        match &self.backend {
            Backend::Sqlite(s) => s.holds_kept(sha, data),
            Backend::Postgres(_) => Ok(false),
        }
    }

    /// Every quarantined input, oldest id first.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, DbError> {
        match &self.backend {
            Backend::Sqlite(s) => s.quarantined(),
            Backend::Postgres(p) => p.quarantined(),
        }
    }

    /// The stored (gzip-compressed) bytes of quarantined input `id`;
    /// `None` when there is no such row. See [`super::inflate_to`].
    pub fn quarantined_gzip(&self, id: i64) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self.quarantined_input(id)?.map(|(_, gzip)| gzip))
    }

    /// Every quarantined input's id, oldest first.
    pub fn quarantined_ids(&self) -> Result<Vec<i64>, DbError> {
        self.ids("SELECT id FROM quarantine ORDER BY id")
    }

    /// Quarantined input `id`'s source and stored (gzip-compressed) bytes;
    /// `None` when there is no such row.
    pub fn quarantined_input(&self, id: i64) -> Result<Option<(String, Vec<u8>)>, DbError> {
        let mut sql = self.sql();
        let text = format!(
            "SELECT source, gzip FROM quarantine WHERE id = {}",
            sql.bind(id)
        );
        let rows = self.rows(&text, &sql, |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.into_iter().next())
    }

    /// Deletes the quarantined inputs `ids`, in one transaction; the ids
    /// that match nothing are returned, the others are still deleted.
    pub fn drop_quarantined(&mut self, ids: &[i64]) -> Result<Dropped, DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.drop_quarantined(ids),
            Backend::Postgres(p) => p.drop_quarantined(ids),
        }
    }

    /// Empties the quarantine; returns how many inputs were in it.
    pub fn drop_all_quarantined(&mut self) -> Result<u64, DbError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.drop_all_quarantined(),
            Backend::Postgres(p) => p.drop_all_quarantined(),
        }
    }

    /// Every stored report's id, oldest first.
    pub fn report_ids(&self) -> Result<Vec<i64>, DbError> {
        self.ids("SELECT id FROM report ORDER BY id")
    }

    /// Report `id`'s source and its original bytes (gzip-compressed, as
    /// kept); `None` when there is no such report, or it has no bytes.
    pub fn report_bytes(&self, id: i64) -> Result<Option<Payload>, DbError> {
        self.kept_bytes("report", id, crate::extract::PayloadKind::Aggregate)
    }

    /// Row `id` of `table` (`report`, `tls_report` or `failure_report`):
    /// its source and the original bytes kept in `<table>_blob`
    /// (gzip-compressed), as a payload of `kind`; `None` when there is no
    /// such row or no bytes were kept.
    pub(super) fn kept_bytes(
        &self,
        table: &'static str,
        id: i64,
        kind: crate::extract::PayloadKind,
    ) -> Result<Option<Payload>, DbError> {
        let mut sql = self.sql();
        let text = format!(
            "SELECT r.source, b.gzip FROM {table} r JOIN {table}_blob b ON b.report = r.id
             WHERE r.id = {}",
            sql.bind(id)
        );
        let rows = self.rows(&text, &sql, |r| {
            Ok((r.get::<String>(0)?, r.get::<Vec<u8>>(1)?))
        })?;
        Ok(rows.into_iter().next().map(|(name, gzip)| Payload {
            name,
            data: gzip.into(),
            gzip: true,
            kind,
        }))
    }

    /// Replaces report `id`'s header fields, records and their child rows
    /// with `header` and the records from `next_record`, in one
    /// transaction committed only when the rows changed. An error leaves
    /// the report as it was; a constraint error (`DbError::is_constraint`)
    /// means it would collide with another stored report.
    pub fn rebuild_report(
        &mut self,
        id: i64,
        header: &ReportHeader,
        next_record: &mut dyn FnMut() -> Result<Option<Record>, ParseError>,
    ) -> Result<Rebuilt, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(s) => s.rebuild_report(id, header, next_record),
            Backend::Postgres(p) => p.rebuild_report(id, header, next_record),
        }
    }

    /// The first column of every row of `text`, which binds nothing.
    fn ids(&self, text: &str) -> Result<Vec<i64>, DbError> {
        self.rows(text, &self.sql(), |r| r.get(0))
    }

    /// The rows in `table`, for tests outside the store.
    #[cfg(test)]
    pub(crate) fn count_rows(&self, table: &str) -> i64 {
        self.value(&format!("SELECT count(*) FROM {table}"), &self.sql())
            .unwrap()
            .unwrap()
    }
}

/// The store's tests reach into the SQLite backend's connection and state.
#[cfg(test)]
impl std::ops::Deref for Store {
    type Target = Lite;
    fn deref(&self) -> &Lite {
        match &self.backend {
            Backend::Sqlite(s) => s,
            Backend::Postgres(_) => panic!("a SQLite store was expected"),
        }
    }
}

#[cfg(test)]
impl std::ops::DerefMut for Store {
    fn deref_mut(&mut self) -> &mut Lite {
        match &mut self.backend {
            Backend::Sqlite(s) => s,
            Backend::Postgres(_) => panic!("a SQLite store was expected"),
        }
    }
}
