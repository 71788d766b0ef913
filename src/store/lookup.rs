//! A second, read-only handle on the committed database, for a thread
//! other than the writer's: an ingest parsing thread asks it whether a
//! report is stored before parsing its records, so re-ingesting costs
//! little more than the headers. It sees committed reports only: a report
//! it does not find is looked for again by the writer, inside its
//! transaction. A report it finds stored from the very same gzip bytes
//! ([`Known::SameBytes`]) is a duplicate that the writer need not look at
//! (what is committed stays stored, unless another run replaces or deletes
//! it meanwhile; the answer is then the one that run would have seen first).
//!
//! A run of lookups that find reports stored shares one read transaction
//! (one snapshot of the committed database), ended by a lookup that finds
//! none (its records are parsed next, which takes a while), after
//! [`LOOKUPS_PER_READ`] lookups, or by [`Lookup::rest`] when the thread
//! waits for work: each read transaction of its own cost a lock and an
//! unlock of the WAL index and a `fstat` of the file (bench/README.md,
//! eleventh round). A snapshot older than the writer's last commit only
//! misses reports this run stored since, which the writer then finds.

use rusqlite::{params, Connection, OpenFlags, ToSql};

use super::sqlite::Lite;
use super::DbError;
use crate::extract::Payload;
use crate::model::ReportHeader;

/// What the committed database holds of a report, as [`Lookup::known`]
/// finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// No report with its identity key is committed.
    Absent,
    /// One is; the writer settles the new copy (the same report, or a
    /// variant, see `variant`).
    Stored,
    /// One is, kept from the same gzip bytes (the same file again): a
    /// duplicate, with nothing to settle.
    SameBytes,
}

/// A read-only view of the committed database (`Send`: it may move to
/// another thread).
pub struct Lookup {
    conn: Handle,
    /// Lookups made in the open read transaction (0: none is open).
    in_read: std::cell::Cell<u32>,
}

/// Lookups one read transaction serves at most: the snapshot stays
/// recent, and the writer's checkpoints are not held up for long.
const LOOKUPS_PER_READ: u32 = 32;

/// The second connection, of the store's backend.
enum Handle {
    Sqlite(Connection),
    Postgres(Box<std::cell::RefCell<super::pg::Conn>>),
}

/// How a thread opens its own [`Lookup`] (`Send`): a SQLite file is
/// opened on the thread that uses it, which readies it (the schema read,
/// the statement prepared) while the writer starts on the first inputs.
pub enum LookupOpener {
    Sqlite(String),
    /// A PostgreSQL connection, made already.
    Ready(Lookup),
}

/// Bytes of the file a lookup connection maps into memory: it reads the
/// few pages a duplicate needs in place (a `pread` of each, into a page
/// cache allocated for it, cost more than the lookup itself).
const LOOKUP_MMAP: i64 = 256 * 1024 * 1024;

/// `$head` (a select from `report r`) limited to the report with a given
/// identity key, bound by [`by_key`]: the one place the key's five
/// columns are matched, for the lookup and the writer (`write::stored_id`).
macro_rules! key_sql {
    ($head:literal) => {
        concat!(
            $head,
            " WHERE r.org_name = ?1 AND r.report_id = ?2 AND r.policy_domain = ?3
             AND r.date_begin = ?4 AND r.date_end = ?5"
        )
    };
}
pub(super) use key_sql;

/// The lookup's one statement: the bytes kept with a report of this
/// identity key if they are as long as `?6` (NULL if they are not, or it
/// has none kept; no row if there is no such report). Their length is
/// read from the row's header, so bytes of another length are not read.
const KNOWN_SQL: &str = key_sql!(
    "SELECT CASE WHEN length(b.gzip) = ?6 THEN b.gzip END
     FROM report r LEFT JOIN report_blob b ON b.report = r.id"
);

/// The row of `sql` (made by [`key_sql!`]) for `header`'s identity key
/// (and `more`, bound from `?6` on), read by `row`.
pub(super) fn by_key<T>(
    conn: &Connection,
    sql: &str,
    header: &ReportHeader,
    more: &[&dyn ToSql],
    row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let k = header.key();
    let key = params![
        k.org_name,
        k.report_id,
        k.policy_domain,
        k.date_begin,
        k.date_end
    ];
    let mut stmt = conn.prepare_cached(sql)?;
    for (i, value) in key.iter().chain(more).enumerate() {
        stmt.raw_bind_parameter(i + 1, value)?;
    }
    let mut rows = stmt.raw_query();
    let found = rows.next()?.map(row).transpose();
    found
}

impl LookupOpener {
    /// Whether one such lookup may serve several threads in turn: a
    /// SQLite file's answers in microseconds, where a connection of each
    /// thread's own reads the schema and maps the file again; a
    /// PostgreSQL lookup waits for the server.
    pub fn shareable(&self) -> bool {
        matches!(self, LookupOpener::Sqlite(_))
    }

    /// The [`Lookup`]; `None` when the connection cannot be opened (then
    /// everything is parsed).
    pub fn open(self) -> Option<Lookup> {
        let path = match self {
            LookupOpener::Ready(lookup) => return Some(lookup),
            LookupOpener::Sqlite(path) => path,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ok()?;
        // Best effort: without it, pages are read as usual.
        let _ = conn.pragma_update(None, "mmap_size", LOOKUP_MMAP);
        conn.prepare_cached(KNOWN_SQL).ok()?;
        Some(Lookup {
            conn: Handle::Sqlite(conn),
            in_read: std::cell::Cell::new(0),
        })
    }
}

impl Lite {
    /// How to open a [`Lookup`] on this file; `None` for a database in
    /// memory, or for a file this connection made and has committed
    /// nothing to yet (there is nothing to find).
    pub fn lookup_opener(&self) -> Option<LookupOpener> {
        if self.made_here {
            return None;
        }
        Some(LookupOpener::Sqlite(self.path()?.to_string()))
    }

    /// [`Lookup::same_bytes`] in the writer's own view (what it stored in
    /// its open group included).
    pub fn holds_kept(&self, sha: &[u8; 32], data: &[u8]) -> Result<bool, DbError> {
        kept_here(&self.conn, sha, data)
    }
}

impl Lookup {
    /// A lookup on a PostgreSQL server, through a connection of its own.
    pub(super) fn postgres(client: super::pg::Conn) -> Lookup {
        Lookup {
            conn: Handle::Postgres(Box::new(std::cell::RefCell::new(client))),
            in_read: std::cell::Cell::new(0),
        }
    }

    /// Ends the read transaction the last lookups shared, if one is open
    /// (the thread is about to wait for work).
    pub fn rest(&self) {
        if let Handle::Sqlite(conn) = &self.conn {
            if self.in_read.replace(0) > 0 {
                // Best effort: a failed COMMIT of a read transaction
                // leaves it open, and the next lookup finds it so.
                let _ = conn
                    .prepare_cached("COMMIT")
                    .and_then(|mut s| s.execute([]));
            }
        }
    }

    /// Whether a report with `header`'s identity key is committed, and
    /// whether it was kept from `payload`'s very bytes: a gzip payload
    /// equal, byte for byte, to the kept bytes (whose digest
    /// `variant::settle` compares, so it would find the same; comparing
    /// the bytes in place costs less than the digest, which a duplicate
    /// does not need; bench/README.md, twelfth round). PostgreSQL answers
    /// [`Known::Stored`] then, and its writer settles.
    pub fn known(&self, header: &ReportHeader, payload: &Payload) -> Result<Known, DbError> {
        let conn = match &self.conn {
            Handle::Sqlite(conn) => conn,
            Handle::Postgres(client) => {
                let stored = super::pg::is_stored(&mut client.borrow_mut(), header)?;
                return Ok(if stored { Known::Stored } else { Known::Absent });
            }
        };
        // Only a gzip payload is kept as it came: -1 matches no length.
        let len = if payload.gzip {
            i64::try_from(payload.data.len()).unwrap_or(-1)
        } else {
            -1
        };
        // Compared where SQLite holds them (the mapped page).
        let found = self.shared_read(
            conn,
            || {
                Ok(by_key(conn, KNOWN_SQL, header, &[&len], |r| {
                    Ok(r.get_ref(0)?.as_blob_or_null()? == Some(&payload.data[..]))
                })?)
            },
            Option::is_some,
        )?;
        Ok(match found {
            None => Known::Absent,
            Some(true) => Known::SameBytes,
            Some(false) => Known::Stored,
        })
    }

    /// Runs `lookup` in the read transaction the lookups share (begun if
    /// none is open), which ends after it unless `stored` says that it
    /// found a stored report (otherwise the input is parsed next, which
    /// takes a while), or when the read has served its share.
    fn shared_read<T>(
        &self,
        conn: &Connection,
        lookup: impl FnOnce() -> Result<T, DbError>,
        stored: impl FnOnce(&T) -> bool,
    ) -> Result<T, DbError> {
        if conn.is_autocommit() {
            self.in_read.set(0);
            conn.prepare_cached("BEGIN")?.execute([])?;
        }
        self.in_read.set(self.in_read.get() + 1);
        let found = lookup();
        if !found.as_ref().is_ok_and(stored) || self.in_read.get() >= LOOKUPS_PER_READ {
            self.rest();
        }
        found
    }
}

impl Lookup {
    /// Whether `data`, whose SHA-256 is `sha`, are the very bytes kept
    /// with a committed report: the same gzip file again, a duplicate told
    /// before anything of it is inflated or parsed (the header lookup of
    /// [`Lookup::known`] needed both: four fifths of what a parsing thread
    /// spent on a duplicate; bench/README.md, thirteenth round). Found by
    /// the digest (`report_blob_sha256`), then compared byte for byte.
    /// PostgreSQL answers `false`: its reports go the way of the header.
    pub fn same_bytes(&self, sha: &[u8; 32], data: &[u8]) -> Result<bool, DbError> {
        let Handle::Sqlite(conn) = &self.conn else {
            return Ok(false);
        };
        self.shared_read(conn, || kept_here(conn, sha, data), |&same| same)
    }
}

/// Whether a report's kept bytes are `data` (SHA-256 `sha`), in what
/// `conn` sees: the lookup's snapshot, or the writer's own transaction.
pub(super) fn kept_here(conn: &Connection, sha: &[u8; 32], data: &[u8]) -> Result<bool, DbError> {
    let mut stmt = conn.prepare_cached(SAME_BYTES_SQL)?;
    let mut rows = stmt.query(params![&sha[..], data])?;
    Ok(rows.next()?.is_some())
}

/// The statement of [`kept_here`]: the digest finds the row (by the
/// index), the bytes are compared where SQLite holds them.
const SAME_BYTES_SQL: &str = "SELECT 1 FROM report_blob WHERE sha256 = ?1 AND gzip = ?2 LIMIT 1";

#[cfg(test)]
mod tests {
    use super::{Known, Lite};
    use crate::extract::{Limits, Payload, PayloadKind};
    use crate::generate::{report_xml, write_gz, ReportSpec};
    use crate::model::ReportHeader;
    use crate::parse::ReportReader;
    use crate::store::{Store, DEFAULT_BUSY_TIMEOUT};

    fn payload(data: Vec<u8>, gzip: bool) -> Payload {
        Payload {
            name: "r".into(),
            data: data.into(),
            gzip,
            kind: PayloadKind::Aggregate,
        }
    }

    /// A committed report is found; from the same gzip bytes it is
    /// `SameBytes`, from other bytes (plain XML, another compression)
    /// `Stored`, and a report never stored is `Absent`.
    #[test]
    fn known_tells_the_same_bytes_from_another_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        let spec = ReportSpec::new(1, 5);
        let mut gz = Vec::new();
        write_gz(&spec, &mut gz).unwrap();
        let limits = Limits::default();
        let stored = payload(gz.clone(), true);
        let header = ReportReader::new(stored.reader(&limits)).header().unwrap();
        // An existing file (one made here has nothing to look up).
        drop(Store::open(&path).unwrap());
        let mut store = Store::open(&path).unwrap();
        let lookup = store.lookup_opener().unwrap().open().unwrap();
        assert_eq!(lookup.known(&header, &stored).unwrap(), Known::Absent);
        store_payload(&mut store, &stored);
        let plain = payload(report_xml(&spec).into_bytes(), false);
        assert_eq!(lookup.known(&header, &stored).unwrap(), Known::SameBytes);
        assert_eq!(lookup.known(&header, &plain).unwrap(), Known::Stored);
        let mut other = gz.clone();
        other[9] ^= 1; // the OS byte of the gzip header: same XML
        let other = payload(other, true);
        assert_eq!(lookup.known(&header, &other).unwrap(), Known::Stored);
        let absent = ReportSpec::new(2, 5);
        let h2 =
            ReportReader::new(payload(report_xml(&absent).into_bytes(), false).reader(&limits))
                .header()
                .unwrap();
        assert_eq!(lookup.known(&h2, &stored).unwrap(), Known::Absent);
    }

    /// Stores the report in `p`; returns its header.
    fn store_payload(store: &mut Store, p: &Payload) -> ReportHeader {
        let limits = Limits::default();
        let mut reader = ReportReader::new(p.reader(&limits));
        let h = reader.header().unwrap();
        let mut records = Vec::new();
        reader.read_records(&mut records, 100).unwrap();
        let mut once = Some(records);
        store
            .store_parsed(p, &limits, "r", h.clone(), &mut |out| {
                *out = once.take().unwrap_or_default();
                Ok(())
            })
            .unwrap();
        h
    }

    /// Stores the report of `seed` (5 records) from its gzip bytes; returns
    /// its header and payload.
    fn store_gz(store: &mut Store, seed: u64) -> (ReportHeader, Payload) {
        let mut gz = Vec::new();
        write_gz(&ReportSpec::new(seed, 5), &mut gz).unwrap();
        let p = payload(gz, true);
        (store_payload(store, &p), p)
    }

    /// Lookups that find reports stored share one snapshot, which a lookup
    /// finding none, or `rest`, ends: a report committed meanwhile is found
    /// by the lookup after that (and the writer commits while it is open).
    #[test]
    fn stored_reports_share_a_read_until_one_is_absent_or_the_lookup_rests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        drop(Store::open(&path).unwrap());
        let mut store = Store::open(&path).unwrap();
        let (ha, pa) = store_gz(&mut store, 1);
        let lookup = store.lookup_opener().unwrap().open().unwrap();
        let known = |h: &ReportHeader, p: &Payload| lookup.known(h, p).unwrap();
        assert_eq!(known(&ha, &pa), Known::SameBytes);
        let (hb, pb) = store_gz(&mut store, 2);
        // The snapshot of the first lookup: B is not in it, and the
        // answer (nothing stored) ends it.
        assert_eq!(known(&hb, &pb), Known::Absent);
        assert_eq!(known(&hb, &pb), Known::SameBytes);
        let (hc, pc) = store_gz(&mut store, 3);
        lookup.rest();
        assert_eq!(known(&hc, &pc), Known::SameBytes);
        assert_eq!(known(&ha, &pa), Known::SameBytes);
    }

    /// A file this connection made has nothing to look up until its first
    /// group commit; an existing file, or the same one after a commit, has.
    #[test]
    fn no_lookup_on_a_file_made_here_until_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        let mut lite = Lite::open_waiting(&path, DEFAULT_BUSY_TIMEOUT).unwrap();
        assert!(lite.lookup_opener().is_none());
        lite.open_group().unwrap();
        lite.commit().unwrap();
        assert!(lite.lookup_opener().and_then(|o| o.open()).is_some());
        drop(lite);
        let lite = Lite::open_waiting(&path, DEFAULT_BUSY_TIMEOUT).unwrap();
        assert!(lite.lookup_opener().and_then(|o| o.open()).is_some());
    }
}
