//! The statements of a report's inserts that run once or more per record:
//! prepared once per connection, each the first time it is needed, and
//! bound without copies (`raw.rs`).
//!
//! They are kept in [`AuthSets`](super::AuthSets), the writer's state
//! that every path inserting records already passes along, and which
//! `Lite` declares before its connection (see `raw.rs` on why that
//! matters).

use std::fmt;

use rusqlite::Connection;

use super::raw::RawStatement;

/// Rows per `record` statement: a full statement first, then what the
/// rest of a report fills. Item 1 of `bench/run.sh` (reports of 100
/// records) took the fewest instructions with these among 128/64/32 first
/// (bench/README.md, seventh round).
pub(super) const RECORD_SIZES: [usize; 4] = [32, 8, 2, 1];

/// Rows per `override_reason` statement. Real reports carry a reason on
/// about one record in four (bench/README.md, eighth round).
pub(super) const REASON_SIZES: [usize; 3] = [16, 4, 1];

/// The columns of a record row, in the order they are bound.
const RECORD_COLUMNS: &str = "report, seq, source_ip, ip_bin, count, disposition, dkim, spf, \
    dmarc_pass, header_from, envelope_from, envelope_to, auth";
/// Values per record row.
const RECORD_WIDTH: usize = 13;

/// One of the statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sql {
    /// `record` rows, `RECORD_SIZES[i]` of them.
    Records(usize),
    /// `override_reason` rows, `REASON_SIZES[i]` of them.
    Reasons(usize),
    /// The id of the auth set with a key.
    FindSet,
    /// A new auth set (its key).
    AddSet,
    /// One `dkim_result` row of a new set.
    Dkim,
    /// One `spf_result` row of a new set.
    Spf,
}

/// How many statements there are (the slots of [`Statements`]).
const COUNT: usize = RECORD_SIZES.len() + REASON_SIZES.len() + 4;

impl Sql {
    /// Its slot in [`Statements`].
    fn slot(self) -> usize {
        let reasons = RECORD_SIZES.len();
        let singles = reasons + REASON_SIZES.len();
        match self {
            Sql::Records(i) => i,
            Sql::Reasons(i) => reasons + i,
            Sql::FindSet => singles,
            Sql::AddSet => singles + 1,
            Sql::Dkim => singles + 2,
            Sql::Spf => singles + 3,
        }
    }

    /// Its text.
    fn text(self) -> String {
        match self {
            Sql::Records(i) => many("record", RECORD_COLUMNS, RECORD_WIDTH, RECORD_SIZES[i]),
            Sql::Reasons(i) => many(
                "override_reason",
                "report, record, seq, type, comment",
                5,
                REASON_SIZES[i],
            ),
            Sql::FindSet => "SELECT id FROM auth_set WHERE key = ?".into(),
            Sql::AddSet => "INSERT INTO auth_set (key) VALUES (?)".into(),
            Sql::Dkim => "INSERT INTO dkim_result \
                (auth_set, seq, domain, selector, result, human_result) VALUES (?, ?, ?, ?, ?, ?)"
                .into(),
            Sql::Spf => "INSERT INTO spf_result \
                (auth_set, seq, domain, scope, result, human_result) VALUES (?, ?, ?, ?, ?, ?)"
                .into(),
        }
    }
}

/// The INSERT of `rows` rows of `width` values into `table`, whose first
/// column is the report's id: one parameter (`?1`) for every row, bound
/// once. `OR IGNORE`
/// spares SQLite a statement journal (a copy of every page the statement
/// changes, in case a later row fails and the earlier ones must be
/// undone); no row is ignored unnoticed, though: a statement must change
/// as many rows as it has, or the report fails (`rows.rs`). The rows'
/// keys are new (a new report's id) and their NOT NULL values are never
/// missing.
fn many(table: &str, columns: &str, width: usize, rows: usize) -> String {
    // A bare `?` is numbered one past the highest number so far: 2, 3,
    // ... in the first row, on from there in the next.
    let one = format!("(?1,{})", vec!["?"; width - 1].join(","));
    format!(
        "INSERT OR IGNORE INTO {table} ({columns}) VALUES {}",
        vec![one; rows].join(",")
    )
}

/// The prepared statements of one connection.
#[derive(Default)]
pub(crate) struct Statements {
    /// The connection they belong to (its handle's address).
    db: usize,
    /// By [`Sql::slot`], once prepared.
    slots: [Option<RawStatement>; COUNT],
}

impl fmt::Debug for Statements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.slots.iter().filter(|s| s.is_some()).count();
        write!(f, "Statements({n} prepared)")
    }
}

impl Statements {
    /// The statement `sql`, prepared on `conn` if not yet.
    pub(super) fn get(
        &mut self,
        conn: &Connection,
        sql: Sql,
    ) -> rusqlite::Result<&mut RawStatement> {
        // SAFETY: the handle is only compared, never used.
        let db = unsafe { conn.handle() } as usize;
        if self.db != db {
            // Another connection's (none in practice): start over.
            self.slots = Default::default();
            self.db = db;
        }
        let slot = &mut self.slots[sql.slot()];
        if slot.is_none() {
            // SAFETY: the statements live in `AuthSets`, which `Lite`
            // declares before its connection (fields drop in order) and
            // `rebuild::rewrite` makes after its transaction began: each
            // is finalized before its connection closes.
            *slot = Some(unsafe { RawStatement::prepare(conn, &sql.text()) }?);
        }
        Ok(slot.as_mut().expect("prepared above"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_has_a_slot_of_its_own_and_prepares_on_the_schema() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../schema.sql"))
            .unwrap();
        let all: Vec<Sql> = (0..RECORD_SIZES.len())
            .map(Sql::Records)
            .chain((0..REASON_SIZES.len()).map(Sql::Reasons))
            .chain([Sql::FindSet, Sql::AddSet, Sql::Dkim, Sql::Spf])
            .collect();
        let mut slots: Vec<usize> = all.iter().map(|s| s.slot()).collect();
        slots.sort_unstable();
        assert_eq!(slots, (0..COUNT).collect::<Vec<_>>());
        let mut sts = Statements::default();
        for sql in all {
            sts.get(&conn, sql).unwrap();
        }
        // The report's id is one parameter for all rows.
        assert_eq!(
            sts.get(&conn, Sql::Records(0)).unwrap().params(),
            1 + 32 * 12
        );
        assert_eq!(sts.get(&conn, Sql::Reasons(1)).unwrap().params(), 1 + 4 * 4);
        assert_eq!(format!("{sts:?}"), format!("Statements({COUNT} prepared)"));
    }
}
