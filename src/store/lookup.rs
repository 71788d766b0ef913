//! A second, read-only handle on the committed file, for a thread other
//! than the writer's: an ingest parsing thread asks it whether a report is
//! stored before parsing its records, so re-ingesting costs little more
//! than the headers. Only a hint: it sees committed reports only, and the
//! writer decides again inside its transaction.

use rusqlite::{Connection, OpenFlags};

use super::write::is_stored;
use super::{DbError, Store};
use crate::model::ReportHeader;

/// A read-only view of the committed database (`Send`: it may move to
/// another thread).
pub struct Lookup {
    conn: Connection,
}

impl Store {
    /// A [`Lookup`] on this file; `None` for a database in memory, or when
    /// a second connection cannot be opened (then everything is parsed).
    pub fn lookup(&self) -> Option<Lookup> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(self.path()?, flags).ok()?;
        Some(Lookup { conn })
    }
}

impl Lookup {
    /// Whether a report with `header`'s identity key is committed.
    pub fn is_stored(&self, header: &ReportHeader) -> Result<bool, DbError> {
        Ok(is_stored(&self.conn, header)?)
    }
}
