//! The PostgreSQL backend: one connection to a server (`connect.rs`: URL,
//! TLS, password), its schema (`schema-postgres.sql`) and migrations (on
//! the `dmarcdb_schema` table, append-only like SQLite's), transactions and
//! groups. Its statements: `write.rs` (a report, the quarantine),
//! `load.rs` (what the reports of a transaction add, loaded together:
//! records by binary COPY, reasons, bytes, `report_ips` rows), `nul.rs`
//! (the NUL characters PostgreSQL cannot store), `admin.rs` (quarantine
//! admin, reparse; `rebuild_kinds.rs` that of TLS and failure reports),
//! `report_ips.rs` (the "new sender" alert's reads),
//! `enrich.rs` (network facts and reverse DNS of source IPs, and their
//! copy), `variant.rs` (a conflicting copy of a stored report), `tls.rs`
//! and `failure.rs` (SMTP TLS and failure reports, the `--redact` key),
//! `import.rs` (what `copy` writes row by row).
//! The views are shared with SQLite (`views/`); [`Pg::cells`] runs them,
//! `stream.rs` hands the folded views' rows on as they arrive, as arrays,
//! `parts.rs` reads them in parts over several connections at once.
//!
//! Several writers, on one machine or several, take one transaction-scoped
//! advisory lock ([`WRITE_LOCK`]) before their first statement, as SQLite's
//! `BEGIN IMMEDIATE` takes the file's write lock: one writer at a time,
//! each inserting a report's row under the lock with `ON CONFLICT DO
//! NOTHING` on the UNIQUE identity key (no row back: stored already), so
//! each report is stored once and no two writers deadlock on each other's
//! rows. Readers never wait for it.

use std::cell::RefCell;
use std::time::Instant;

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Client, Statement};
use rusqlite::types::Value;

use super::views::Cells;
use super::{DbError, Group, Lookup, StoreError, Stored, BATCH_AGE, BATCH_RECORDS, BATCH_REPORTS};
use load::Loader;

mod admin;
mod arg;
mod connect;
mod enrich;
mod failure;
mod import;
mod load;
mod nul;
mod parts;
mod rebuild_kinds;
mod report_ips;
mod stream;
mod tls;
mod undo;
mod variant;
mod write;

pub(super) use connect::{is_url, scrub};
pub(super) use stream::{batches, Col};
pub(super) use write::is_stored;

/// The schema of a new database.
const SCHEMA: &str = include_str!("../../schema-postgres.sql");

/// Migrations of databases made by earlier versions, in order: entry `i`
/// takes `dmarcdb_schema.version` from `i + 1` to `i + 2`. Append only:
/// never edit, remove or reorder an entry that has shipped.
const MIGRATIONS: &[&str] = &[
    // SMTP TLS and failure reports, report variants, the redact key.
    include_str!("pg/migrations/2-tls-failure-variants.sql"),
    // Sender intelligence (report_ips, net_fact, rdns; `sender` dropped).
    include_str!("pg/migrations/3-sender-facts.sql"),
];

/// The version of a database with the current schema.
const VERSION: i64 = MIGRATIONS.len() as i64 + 1;

/// The planner settings of dmarcdb's own sessions (nothing changes for
/// anyone else), set on connect in one round trip. The views read a
/// window of reports and their records through the record key, `(report,
/// seq)`; records are loaded report by report, so that is close to a
/// sequential read, but PostgreSQL's default `random_page_cost` (4, made
/// for spinning disks) priced it above scanning all 10 million records of
/// the benchmark database. Its JIT compiled each view for 1-3.5 s, longer
/// than the view then ran; and the views' sorts and hash tables spilled to
/// disk at the default `work_mem` of 4 MB. Settings a server has lower
/// (costs) or higher (memory) than these are left as they are.
const SESSION: &str = "SET jit = off;
    SELECT set_config('random_page_cost', '1.1', false)
      WHERE current_setting('random_page_cost')::float8 > 1.1;
    SELECT set_config('work_mem', '64MB', false)
      WHERE pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024";

/// The advisory lock of writers (and of migrations): "dmarcdb" in ASCII.
const WRITE_LOCK: i64 = 0x0064_6d61_7263_6462;

/// A connection and its prepared statements: each statement is parsed
/// and planned by the server once per connection, not once per use (a
/// round trip saved on every statement of every report).
pub(crate) struct Conn {
    pub client: Client,
    cache: HashMap<&'static str, Statement>,
    /// What the open transaction has yet to load (`load.rs`).
    pub load: Loader,
}

impl Conn {
    pub fn new(client: Client) -> Conn {
        Conn {
            client,
            cache: HashMap::new(),
            load: Loader::default(),
        }
    }

    /// `sql`, prepared on first use.
    pub fn prepared(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(st) = self.cache.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(sql)?;
        self.cache.insert(sql, st.clone());
        Ok(st)
    }

    pub fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let st = self.prepared(sql)?;
        self.client.execute(&st, params)
    }

    pub fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<postgres::Row>, postgres::Error> {
        let st = self.prepared(sql)?;
        self.client.query_opt(&st, params)
    }

    pub fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        let st = self.prepared(sql)?;
        self.client.query(&st, params)
    }

    pub fn query_one(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<postgres::Row, postgres::Error> {
        let st = self.prepared(sql)?;
        self.client.query_one(&st, params)
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }
}

/// An open PostgreSQL database.
pub struct Pg {
    /// In a `RefCell`: the driver needs `&mut` even to read, and the
    /// views read through `&Store`.
    client: RefCell<Conn>,
    /// For a second connection ([`Pg::lookup`], `parts.rs`).
    url: String,
    /// Further connections for reads in parts, kept between reads
    /// (`parts.rs`).
    readers: RefCell<Vec<Client>>,
    batching: bool,
    batch: Option<Group>,
    /// A database error in the open group: its transaction is void.
    failed: bool,
}

impl Pg {
    /// Connects to `url` and brings the schema up to date.
    pub fn connect(url: &str) -> Result<Pg, DbError> {
        let client = connect::connect(url)?;
        let mut pg = Pg {
            client: RefCell::new(Conn::new(client)),
            url: url.to_string(),
            readers: RefCell::new(Vec::new()),
            batching: false,
            batch: None,
            failed: false,
        };
        pg.migrate()?;
        // As `set_durable(false)`, with the session's settings.
        pg.client
            .get_mut()
            .batch_execute(&format!("SET synchronous_commit = off; {SESSION}"))?;
        Ok(pg)
    }

    /// Applies pending migrations in one transaction, under the write lock,
    /// so two processes opening a new database at once do not both create
    /// the tables.
    fn migrate(&mut self) -> Result<(), DbError> {
        let mut tx = self.client.get_mut().client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS dmarcdb_schema (version bigint NOT NULL)")?;
        let version: Option<i64> = tx
            .query_opt("SELECT version FROM dmarcdb_schema", &[])?
            .map(|r| r.get(0));
        match version {
            None => {
                tx.batch_execute(SCHEMA)?;
                tx.execute(
                    "INSERT INTO dmarcdb_schema (version) VALUES ($1)",
                    &[&VERSION],
                )?;
            }
            Some(v) => {
                let start = usize::try_from(v - 1).unwrap_or(usize::MAX);
                for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
                    tx.batch_execute(sql)?;
                    tx.execute("UPDATE dmarcdb_schema SET version = $1", &[&(i as i64 + 2)])?;
                }
            }
        }
        Ok(tx.commit()?)
    }

    /// `synchronous_commit = on` (true) or `off` (false): off, a server
    /// crash may lose the last commits, never corrupt anything.
    pub fn set_durable(&self, durable: bool) -> Result<(), DbError> {
        let mode = if durable { "on" } else { "off" };
        Ok(self
            .client
            .borrow_mut()
            .batch_execute(&format!("SET synchronous_commit = {mode}"))?)
    }

    pub fn set_batching(&mut self, on: bool) -> Result<(), DbError> {
        self.batching = on;
        if on {
            Ok(())
        } else {
            self.commit()
        }
    }

    /// Whether a group of reports is open, not committed yet.
    pub fn group_open(&self) -> bool {
        self.batch.is_some()
    }

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

    /// Loads what the group buffered and commits it. After a database
    /// error in the group nothing of it is kept, and this says so.
    pub fn commit(&mut self) -> Result<(), DbError> {
        if self.batch.take().is_none() {
            return Ok(());
        }
        let client = self.client.get_mut();
        let done = if std::mem::take(&mut self.failed) {
            Err(DbError::setup(
                "a database error ended the transaction: nothing of it was stored",
            ))
        } else {
            client
                .flush()
                .and_then(|()| Ok(client.batch_execute("COMMIT")?))
        };
        if done.is_err() {
            let _ = client.batch_execute("ROLLBACK");
            client.load.clear();
            client.load.sets.clear();
        }
        done
    }

    /// A second connection, for ingest's parsing thread.
    pub fn lookup(&self) -> Option<Lookup> {
        let client = connect::connect(&self.url).ok()?;
        Some(Lookup::postgres(Conn::new(client)))
    }

    /// Every row of `text` with `args` bound, as [`Cells`].
    pub(super) fn cells(&self, text: &str, args: &[Value]) -> Result<Vec<Cells>, DbError> {
        let args: Vec<arg::Arg<'_>> = args.iter().map(arg::Arg).collect();
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self.loaded()?.client.query(text, &params)?;
        rows.iter().map(arg::cells).collect()
    }

    /// Runs `text` with `args` bound; returns the rows it changed.
    pub(super) fn execute(&self, text: &str, args: &[Value]) -> Result<u64, DbError> {
        let args: Vec<arg::Arg<'_>> = args.iter().map(arg::Arg).collect();
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        Ok(self.loaded()?.client.execute(text, &params)?)
    }

    /// The connection, with what the open group buffered loaded first, so
    /// that a statement reads (or changes) every record stored so far.
    fn loaded(&self) -> Result<std::cell::RefMut<'_, Conn>, DbError> {
        let mut client = self.client.borrow_mut();
        if !client.load.is_empty() {
            client.flush()?;
        }
        Ok(client)
    }

    /// Runs `write` in a transaction of its own, or in the open group; kept
    /// only if it succeeds (`write` takes out what it wrote of a report
    /// that fails, see `write.rs`). Either way the write lock is taken
    /// first. A database error voids the group ([`Pg::commit`]).
    fn in_group(
        &mut self,
        write: impl FnOnce(&mut Conn) -> Result<Stored, StoreError>,
    ) -> Result<Stored, StoreError> {
        let client = self.client.get_mut();
        if !self.batching {
            client.batch_execute("BEGIN")?;
            let stored = lock(client)
                .map_err(StoreError::from)
                .and_then(|()| write(client))
                .and_then(|stored| {
                    client.flush()?;
                    client.batch_execute("COMMIT")?;
                    Ok(stored)
                });
            return match stored {
                Ok(stored) => {
                    client.load.sets.keep();
                    Ok(stored)
                }
                Err(e) => {
                    let _ = client.batch_execute("ROLLBACK");
                    client.load.clear();
                    client.load.sets.forget();
                    Err(e)
                }
            };
        }
        if self.batch.is_none() {
            client.batch_execute("BEGIN")?;
            lock(client)?;
            self.batch = Some(Group {
                since: Instant::now(),
                reports: 0,
                records: 0,
            });
        }
        let stored = match write(client) {
            Ok(stored) => stored,
            Err(e) => {
                if matches!(e, StoreError::Db(_)) {
                    self.failed = true;
                }
                return Err(e);
            }
        };
        // The report's new sets stay with it (a report that failed took
        // its own out: `Loader::discard`; the group's go with a rollback).
        client.load.sets.keep();
        if let (Some(g), Stored::New { records, .. }) = (self.batch.as_mut(), &stored) {
            g.reports += 1;
            g.records += records;
        }
        Ok(stored)
    }
}

/// Takes the writers' lock, held until the transaction ends.
fn lock(client: &mut Conn) -> Result<(), postgres::Error> {
    client.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    Ok(())
}

/// A driver error's text: the server's message (with its detail) when
/// there is one, else the driver's own with its causes ("error performing
/// TLS handshake: invalid peer certificate: ..."). Never the connection
/// string.
pub(super) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let more = c.to_string();
                if !text.contains(&more) {
                    text = format!("{text}: {more}");
                }
                cause = c.source();
            }
            text
        }
    }
}
