//! Store: the SQLite file. Owns the connection, the schema and its
//! migrations, and the write path of a report.
//!
//! A report is written inside a `BEGIN IMMEDIATE` transaction: the write
//! lock is taken first, then the identity key is checked, so two processes
//! ingesting the same file both succeed and store it once. Records stream
//! from the parser straight into prepared statements, never a whole report
//! in memory: on a second thread for a big report, and always during
//! `ingest`, whose parsing thread hands over the header and the records
//! ([`Store::store_parsed`]). Nothing of a report is visible until its
//! commit, and a killed process leaves the file as it was before that
//! commit (SQLite's journal guarantees it). By default each report is its
//! own transaction; `ingest` groups several into one
//! ([`Store::set_batching`]), each in its own savepoint, and acknowledges
//! inputs only after the group's commit.
//!
//! Durability: WAL with `synchronous = NORMAL` by default (a power cut may
//! lose the last commits, never corrupt the file; the input files are still
//! there). Sources that mark mail seen switch to `synchronous = FULL` via
//! [`Store::set_durable`], so a message is only ever marked seen after its
//! report is on disk.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::extract::{Limits, Payload};
use crate::model::{Record, ReportHeader};
use crate::parse::{ParseError, ReportReader};

mod drill;
mod insert;
mod quarantine;
mod sender;
pub use drill::{RecordRow, ReportDetail, ReportMeta, XML_SHOWN};
pub use insert::{auth_key, AuthSets, Inserter};
pub use quarantine::{inflate_to, Dropped, Quarantined};
pub use sender::{forget_senders, refresh_senders};

/// The current schema, applied to a new file. See `schema.sql`.
const SCHEMA: &str = include_str!("../schema.sql");

/// Migrations of files made by earlier versions, in order: entry `i` takes
/// `user_version` from `i + 1` to `i + 2` (version 1 was the first
/// schema). A new file gets [`SCHEMA`] and the latest version at once.
/// Append only: never edit, remove or reorder an entry that has shipped.
const MIGRATIONS: &[&str] = &[include_str!("store/migrations/v1-to-v2.sql")];

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
    /// A report with the same identity key is already stored.
    Duplicate { header: Box<ReportHeader> },
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
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
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

impl Store {
    /// Opens (creating if needed, readable by its owner only) and migrates.
    pub fn open(path: &Path) -> Result<Store, rusqlite::Error> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        create_private(path);
        let conn = Connection::open(path)?;
        Store::setup(conn)
    }

    /// A throwaway database, for tests.
    pub fn open_in_memory() -> Result<Store, rusqlite::Error> {
        Store::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Store, rusqlite::Error> {
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        // 8 KiB pages for a new file (an existing one keeps its own): half
        // the WAL frames, each a write of its own, and shallower trees;
        // ingest was 5-8 % faster than with 4 KiB (bench/README.md).
        conn.pragma_update(None, "page_size", 8192)?;
        // Switching a new file to WAL needs a lock that SQLite does not wait
        // for through the busy handler: two runs creating the same file at
        // once would see "database is locked". Retry for a while instead.
        retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
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
    pub fn set_durable(&self, durable: bool) -> Result<(), rusqlite::Error> {
        let mode = if durable { "FULL" } else { "NORMAL" };
        self.conn.pragma_update(None, "synchronous", mode)
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
    pub fn set_batching(&mut self, on: bool) -> Result<(), rusqlite::Error> {
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
    pub fn commit_due(&mut self) -> Result<bool, rusqlite::Error> {
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
    pub fn commit(&mut self) -> Result<(), rusqlite::Error> {
        match self.batch.take() {
            Some(_) => self.conn.execute_batch("COMMIT").inspect_err(|_| {
                // Whatever failed, the sets added by the group are not
                // known to be in the file.
                self.sets.clear();
            }),
            None => Ok(()),
        }
    }

    /// The connection, for the query views.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Parses `payload` and stores it in one transaction (or one savepoint
    /// of the open group, see [`Store::set_batching`]), unless a report
    /// with the same identity is already stored (decided from the header,
    /// before any record is read).
    ///
    /// The header is read first through a small buffer, so a duplicate
    /// costs a KiB or two of inflating and one lookup. A big report's records
    /// (from 64 KiB of payload, `THREAD_MIN`) are parsed on a second thread
    /// and handed over in chunks while this one writes them: decompressing
    /// and parsing take about as long as the inserts, so with two cores
    /// free the report takes little more than half the time. At most 8
    /// chunks of 64 records wait, so memory stays flat however big the
    /// report.
    pub fn store_report(
        &mut self,
        payload: &Payload,
        limits: &Limits,
        source: &str,
    ) -> Result<Stored, StoreError> {
        let mut reader = ReportReader::with_capacity(payload.reader(limits), HEADER_BUF);
        let header = reader.header()?;
        reader.set_chunk(RECORDS_BUF);
        self.in_savepoint(|conn, sets| {
            write_report(conn, payload, source, header, |conn, id| {
                let ins = Inserter::new(conn, sets, id)?;
                if payload.data.len() < THREAD_MIN {
                    return write_inline(ins, &mut reader);
                }
                drop(reader);
                std::thread::scope(|scope| {
                    let (send, chunks) = mpsc::sync_channel(CHUNKS_AHEAD);
                    scope.spawn(move || parse_chunks(payload, limits, send));
                    write_chunks(ins, &chunks)
                })
            })
        })
    }

    /// Stores a report whose header was already parsed (by `ingest`'s
    /// parsing thread), like [`Store::store_report`]: unless it is a
    /// duplicate, its records come from `next_record` until it returns
    /// `None`. A duplicate never calls `next_record`.
    pub(crate) fn store_parsed(
        &mut self,
        payload: &Payload,
        source: &str,
        header: ReportHeader,
        next_record: &mut dyn FnMut() -> Result<Option<Record>, StoreError>,
    ) -> Result<Stored, StoreError> {
        self.in_savepoint(|conn, sets| {
            write_report(conn, payload, source, header, |conn, id| {
                let mut ins = Inserter::new(conn, sets, id)?;
                let mut t = Totals::default();
                while let Some(rec) = next_record()? {
                    t.add(&rec);
                    ins.insert(&rec)?;
                }
                Ok(t)
            })
        })
    }

    /// The file's path, for a second, read-only connection (`None` in memory).
    pub(crate) fn path(&self) -> Option<&str> {
        self.conn.path().filter(|p| !p.is_empty())
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

    /// Keeps an input that could not be stored, with the reason, so a
    /// later version can retry it. The same bytes again update the row.
    pub fn quarantine(
        &self,
        source: &str,
        reason: &str,
        bytes: &[u8],
    ) -> Result<(), rusqlite::Error> {
        let now = chrono::Utc::now().timestamp();
        let sha = Sha256::digest(bytes);
        self.conn.execute(
            "INSERT INTO quarantine (sha256, source, reason, gzip, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (sha256) DO UPDATE SET source = excluded.source,
               reason = excluded.reason, last_seen = excluded.last_seen,
               attempts = attempts + 1",
            params![sha.as_slice(), source, reason, gzip(bytes), now],
        )?;
        Ok(())
    }
}

/// Stores one report inside the caller's transaction or savepoint (which
/// the caller drops without commit on error: nothing of the report is kept).
/// `records` inserts the records under the new report id.
fn write_report(
    conn: &Connection,
    payload: &Payload,
    source: &str,
    header: ReportHeader,
    records: impl FnOnce(&Connection, i64) -> Result<Totals, StoreError>,
) -> Result<Stored, StoreError> {
    if is_stored(conn, &header)? {
        return Ok(Stored::Duplicate {
            header: Box::new(header),
        });
    }
    let id = insert_header(conn, &header, source)?;
    let Totals {
        records,
        messages,
        messages_fail,
    } = records(conn, id)?;
    if records == 0 {
        return Err(ParseError::NotAReport("no <record> elements".into()).into());
    }
    conn.prepare_cached(
        "UPDATE report SET record_count = ?2, message_count = ?3, pass_count = ?4
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        records as i64,
        messages,
        messages - messages_fail
    ])?;
    let blob = keep_bytes(payload);
    conn.prepare_cached("INSERT INTO report_blob (report, sha256, gzip) VALUES (?1, ?2, ?3)")?
        .execute(params![id, Sha256::digest(&blob).as_slice(), blob])?;
    Ok(Stored::New {
        id,
        header: Box::new(header),
        records,
        messages,
        messages_fail,
    })
}

/// Runs `op` again while the database is busy or locked, for up to a
/// minute (like the busy timeout, for the statements that bypass it).
fn retry_busy<T>(mut op: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
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

/// The bytes to keep for a report: a gzip payload as received, plain XML
/// compressed.
fn keep_bytes(payload: &Payload) -> std::borrow::Cow<'_, [u8]> {
    if payload.gzip {
        std::borrow::Cow::Borrowed(&payload.data)
    } else {
        std::borrow::Cow::Owned(gzip(&payload.data))
    }
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// The `report` columns a header fills, in the order of [`header_values`].
pub(crate) const HEADER_COLUMNS: &str = "org_name, email, extra_contact_info, report_id, \
    date_begin, date_end, errors, generator, version, xml_namespace, policy_domain, \
    policy_adkim, policy_aspf, policy_p, policy_sp, policy_np, policy_pct, policy_fo, \
    policy_testing, policy_discovery_method";

/// `<error>` elements as stored: newline-separated, NULL when none.
pub(crate) fn header_errors(h: &ReportHeader) -> Option<String> {
    let e = &h.metadata.errors;
    (!e.is_empty()).then(|| e.join("\n"))
}

/// The values of [`HEADER_COLUMNS`] for `h` (`errors` from [`header_errors`]).
pub(crate) fn header_values<'a>(
    h: &'a ReportHeader,
    errors: &'a Option<String>,
) -> [&'a dyn rusqlite::ToSql; 20] {
    let m = &h.metadata;
    let p = &h.policy;
    [
        &m.org_name,
        &m.email,
        &m.extra_contact_info,
        &m.report_id,
        &m.date_begin,
        &m.date_end,
        errors,
        &m.generator,
        &h.version,
        &h.namespace,
        &p.domain,
        &p.adkim,
        &p.aspf,
        &p.p,
        &p.sp,
        &p.np,
        &p.pct,
        &p.fo,
        &p.testing,
        &p.discovery_method,
    ]
}

fn insert_header(tx: &Connection, h: &ReportHeader, source: &str) -> Result<i64, rusqlite::Error> {
    let errors = header_errors(h);
    let now = chrono::Utc::now().timestamp();
    let mut values: Vec<&dyn rusqlite::ToSql> = header_values(h, &errors).to_vec();
    values.push(&source);
    values.push(&now);
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let n = HEADER_COLUMNS.split(',').count() + 2;
        let placeholders = (1..=n).map(|i| format!("?{i}")).collect::<Vec<_>>();
        format!(
            "INSERT INTO report ({HEADER_COLUMNS}, source, ingested_at) VALUES ({})",
            placeholders.join(", ")
        )
    });
    tx.prepare_cached(&SQL)?.execute(values.as_slice())?;
    Ok(tx.last_insert_rowid())
}

/// Whether a report with `header`'s identity key is stored.
pub(crate) fn is_stored(tx: &Connection, header: &ReportHeader) -> rusqlite::Result<bool> {
    let k = header.key();
    let found = tx
        .prepare_cached(
            "SELECT 1 FROM report WHERE org_name = ?1 AND report_id = ?2
             AND policy_domain = ?3 AND date_begin = ?4 AND date_end = ?5",
        )?
        .query_row(
            params![
                k.org_name,
                k.report_id,
                k.policy_domain,
                k.date_begin,
                k.date_end
            ],
            |_| Ok(()),
        )
        .optional()?;
    Ok(found.is_some())
}

/// Payloads (as stored: compressed or not) at least this big are parsed on
/// a second thread while this one writes. Below, starting a thread and
/// reading the header a second time cost more than the overlap saves: a
/// 64 KiB payload holds some hundred records as plain XML, some thousand
/// gzip-compressed.
pub(crate) const THREAD_MIN: usize = 64 * 1024;
/// Records handed from the parsing thread to the writer at a time.
pub(crate) const CHUNK: usize = 64;
/// Chunks parsed ahead of the writer at most (some hundred records).
pub(crate) const CHUNKS_AHEAD: usize = 8;
/// Read size for the header check: most headers fit (a longer one takes
/// more reads), and a duplicate is told after inflating this much...
pub(crate) const HEADER_BUF: usize = 1024;
/// ...then the records are read in chunks of this size.
pub(crate) const RECORDS_BUF: usize = 16 * 1024;

/// What the parsing thread sends: records, and whether they are the last.
/// The writer needs `last` to commit: a channel that closes without it
/// means the parser died, and the report must not be kept.
struct Chunk {
    records: Vec<Record>,
    last: bool,
}

/// The parsing thread: reads `payload` (header again, then every record)
/// and sends the records in chunks, then the error if one stops it. Ends
/// early when the writer hangs up (it failed).
fn parse_chunks(
    payload: &Payload,
    limits: &Limits,
    out: mpsc::SyncSender<Result<Chunk, ParseError>>,
) {
    let mut reader = ReportReader::new(payload.reader(limits));
    if let Err(e) = reader.header() {
        let _ = out.send(Err(e));
        return;
    }
    let mut records = Vec::with_capacity(CHUNK);
    loop {
        let last = match reader.next_record() {
            Ok(Some(r)) => {
                records.push(r);
                false
            }
            Ok(None) => true,
            Err(e) => {
                let _ = out.send(Err(e));
                return;
            }
        };
        if last || records.len() == CHUNK {
            let records = std::mem::replace(&mut records, Vec::with_capacity(CHUNK));
            if out.send(Ok(Chunk { records, last })).is_err() || last {
                return;
            }
        }
    }
}

/// Sums kept in the `report` row.
#[derive(Debug, Default)]
struct Totals {
    records: u64,
    messages: i64,
    messages_fail: i64,
}

impl Totals {
    fn add(&mut self, rec: &Record) {
        self.records += 1;
        self.messages = self.messages.saturating_add(rec.count);
        if !rec.dmarc_pass() {
            self.messages_fail = self.messages_fail.saturating_add(rec.count);
        }
    }
}

/// A small report: parses the rest of it and inserts on this thread.
fn write_inline<R: BufRead>(
    mut ins: Inserter<'_, '_>,
    reader: &mut ReportReader<R>,
) -> Result<Totals, StoreError> {
    let mut t = Totals::default();
    while let Some(rec) = reader.next_record()? {
        t.add(&rec);
        ins.insert(&rec)?;
    }
    Ok(t)
}

/// The writer's side of a big report: inserts every chunk until the last.
fn write_chunks(
    mut ins: Inserter<'_, '_>,
    chunks: &mpsc::Receiver<Result<Chunk, ParseError>>,
) -> Result<Totals, StoreError> {
    let mut t = Totals::default();
    loop {
        let Ok(chunk) = chunks.recv() else {
            return Err(ParseError::Io("the parser stopped unexpectedly".into()).into());
        };
        let chunk = chunk?;
        for rec in &chunk.records {
            t.add(rec);
            ins.insert(rec)?;
        }
        if chunk.last {
            return Ok(t);
        }
    }
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
mod tests;
