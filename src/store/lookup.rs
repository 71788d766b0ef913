//! A second, read-only handle on the committed database, for a thread
//! other than the writer's: an ingest parsing thread asks it whether a
//! report is stored before parsing its records, so re-ingesting costs
//! little more than the headers. Only a hint: it sees committed reports
//! only, and the writer decides again inside its transaction.

use rusqlite::{Connection, OpenFlags};

use super::sqlite::Lite;
use super::write::is_stored;
use super::DbError;
use crate::model::ReportHeader;

/// A read-only view of the committed database (`Send`: it may move to
/// another thread).
pub struct Lookup {
    conn: Handle,
}

/// The second connection, of the store's backend.
enum Handle {
    Sqlite(Connection),
    Postgres(Box<std::cell::RefCell<super::pg::Conn>>),
}

impl Lite {
    /// A [`Lookup`] on this file; `None` for a database in memory, for a
    /// file this connection made and has committed nothing to yet (there
    /// is nothing to find), or when a second connection cannot be opened
    /// (then everything is parsed).
    pub fn lookup(&self) -> Option<Lookup> {
        if self.made_here {
            return None;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(self.path()?, flags).ok()?;
        Some(Lookup {
            conn: Handle::Sqlite(conn),
        })
    }
}

impl Lookup {
    /// A lookup on a PostgreSQL server, through a connection of its own.
    pub(super) fn postgres(client: super::pg::Conn) -> Lookup {
        Lookup {
            conn: Handle::Postgres(Box::new(std::cell::RefCell::new(client))),
        }
    }

    /// Whether a report with `header`'s identity key is committed.
    pub fn is_stored(&self, header: &ReportHeader) -> Result<bool, DbError> {
        match &self.conn {
            Handle::Sqlite(conn) => Ok(is_stored(conn, header)?),
            Handle::Postgres(client) => super::pg::is_stored(&mut client.borrow_mut(), header),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lite;
    use crate::store::DEFAULT_BUSY_TIMEOUT;

    /// A file this connection made has nothing to look up until its first
    /// group commit; an existing file, or the same one after a commit, has.
    #[test]
    fn no_lookup_on_a_file_made_here_until_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        let mut lite = Lite::open_waiting(&path, DEFAULT_BUSY_TIMEOUT).unwrap();
        assert!(lite.lookup().is_none());
        lite.open_group().unwrap();
        lite.commit().unwrap();
        assert!(lite.lookup().is_some());
        drop(lite);
        let lite = Lite::open_waiting(&path, DEFAULT_BUSY_TIMEOUT).unwrap();
        assert!(lite.lookup().is_some());
    }
}
