//! The `record` rows of one report, inserted many to a statement, their
//! values bound without copies (`raw.rs`).
//!
//! A statement of one row costs SQLite a start and an end per record
//! (`sqlite3VdbeHalt`, `sqlite3_reset`, opening the table's cursor, a
//! seek from the root for the key's uniqueness) next to the row's own
//! B-tree work, and rusqlite copies every text value into SQLite. Records
//! wait here until `SIZES[0]` of them are there, then go in by one
//! statement; what is left at the end of the report goes in by the
//! smaller statements of [`SIZES`] it fills. The statements are prepared
//! once per connection (kept in [`AuthSets`](super::AuthSets)), each the
//! first time it is needed.

use std::fmt;

use rusqlite::Connection;

use super::raw::RawStatement;
use crate::model::Record;

/// The columns of a record row, in the order they are bound.
const COLUMNS: &str = "report, seq, source_ip, ip_bin, count, disposition, dkim, spf, \
    dmarc_pass, header_from, envelope_from, envelope_to, auth";
/// Values per row.
const WIDTH: usize = 13;

/// Rows per statement: a full statement first, then what the rest of a
/// report fills. Item 1 of `bench/run.sh` (reports of 100 records) took
/// the fewest instructions with these among 128/64/32 first
/// (bench/README.md, seventh round).
const SIZES: [usize; 4] = [32, 8, 2, 1];

/// The INSERT of `rows` rows. `OR IGNORE` spares SQLite a statement
/// journal (a copy of every page the statement changes, in case a later
/// row fails and the earlier ones must be undone); no row is ignored
/// unnoticed, though: a statement must change as many rows as it has, or
/// the report fails ([`Rows::insert`]). The rows' keys are new (a new
/// report's id) and their NOT NULL values are never missing.
fn sql(rows: usize) -> String {
    let one = format!("({})", ["?"; WIDTH].join(","));
    format!(
        "INSERT OR IGNORE INTO record ({COLUMNS}) VALUES {}",
        vec![one; rows].join(",")
    )
}

/// The prepared INSERTs of record rows, by rows per statement, for one
/// connection.
#[derive(Default)]
pub(crate) struct Statements {
    /// The connection they belong to (its handle's address).
    db: usize,
    /// Per entry of [`SIZES`], once prepared.
    by_size: [Option<RawStatement>; SIZES.len()],
}

impl fmt::Debug for Statements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.by_size.iter().filter(|s| s.is_some()).count();
        write!(f, "Statements({n} prepared)")
    }
}

impl Statements {
    /// The statement of `SIZES[i]` rows, prepared on `conn` if not yet.
    fn get(&mut self, conn: &Connection, i: usize) -> rusqlite::Result<&mut RawStatement> {
        // SAFETY: the handle is only compared, never used.
        let db = unsafe { conn.handle() } as usize;
        if self.db != db {
            // Another connection's (none in practice): start over.
            self.by_size = Default::default();
            self.db = db;
        }
        let slot = &mut self.by_size[i];
        if slot.is_none() {
            // SAFETY: the statements live in `AuthSets`, which `Lite`
            // declares before its connection (fields drop in order) and
            // `rebuild::rewrite` makes after its transaction began: each
            // is finalized before its connection closes.
            *slot = Some(unsafe { RawStatement::prepare(conn, &sql(SIZES[i])) }?);
        }
        Ok(slot.as_mut().expect("prepared above"))
    }
}

/// A record waiting for its statement, with its key, auth set and the
/// 16-byte form of its address.
struct Waiting {
    seq: i64,
    auth: Option<i64>,
    ip_bin: Option<[u8; 16]>,
    rec: Record,
}

/// The waiting records of a report.
pub(super) struct Rows {
    report: i64,
    waiting: Vec<Waiting>,
}

impl Rows {
    pub(super) fn new(report: i64) -> Self {
        Rows {
            report,
            waiting: Vec::new(),
        }
    }

    /// Keeps `rec` as record `seq`; inserts the waiting ones when there
    /// are enough for the biggest statement.
    pub(super) fn push(
        &mut self,
        sts: &mut Statements,
        conn: &Connection,
        seq: i64,
        auth: Option<i64>,
        rec: Record,
    ) -> rusqlite::Result<()> {
        let ip_bin = super::super::ip_bin(&rec.source_ip);
        self.waiting.push(Waiting {
            seq,
            auth,
            ip_bin,
            rec,
        });
        if self.waiting.len() >= SIZES[0] {
            self.insert(sts, conn, 0)?;
        }
        Ok(())
    }

    /// Inserts every waiting record.
    pub(super) fn finish(
        mut self,
        sts: &mut Statements,
        conn: &Connection,
    ) -> rusqlite::Result<()> {
        for (i, n) in SIZES.into_iter().enumerate() {
            while self.waiting.len() >= n {
                self.insert(sts, conn, i)?;
            }
        }
        Ok(())
    }

    /// Inserts the first `SIZES[i]` waiting records by one statement.
    fn insert(
        &mut self,
        sts: &mut Statements,
        conn: &Connection,
        i: usize,
    ) -> rusqlite::Result<()> {
        let n = SIZES[i];
        let st = sts.get(conn, i)?;
        let mut b = st.bind();
        for w in &self.waiting[..n] {
            let r = &w.rec;
            let pe = &r.policy_evaluated;
            let ids = &r.identifiers;
            b.int(self.report)?;
            b.int(w.seq)?;
            b.text(&r.source_ip)?;
            match &w.ip_bin {
                Some(bin) => b.blob(bin)?,
                None => b.null()?,
            }
            b.int(r.count)?;
            b.text(pe.disposition.as_str())?;
            b.text(pe.dkim.as_str())?;
            b.text(pe.spf.as_str())?;
            b.int(r.dmarc_pass().into())?;
            b.text(&ids.header_from)?;
            b.opt_text(ids.envelope_from.as_deref())?;
            b.opt_text(ids.envelope_to.as_deref())?;
            match w.auth {
                Some(a) => b.int(a)?,
                None => b.null()?,
            }
        }
        let changed = b.execute()?;
        // `OR IGNORE` (see `sql`) must not have dropped a row.
        if changed != n {
            return Err(rusqlite::Error::StatementChangedRows(changed));
        }
        self.waiting.drain(..n);
        Ok(())
    }
}
