//! A new SQLite file, made whole beside its path and then linked into
//! place. Made the ordinary way — `PRAGMA journal_mode = WAL` on an empty
//! file, then the schema — a new file cost six disk syncs and a journal
//! made and unlinked: switching to WAL is a rollback-journal transaction
//! (journal, directory, journal header, database), and the schema's commit
//! was the WAL's first (its header and directory entry). On a busy disk
//! those were most of a short run (bench/README.md, seventh round).
//!
//! Here the schema is written into a private file next to `path`
//! (`<name>-new.<pid>`, mode 0600) with neither journal nor sync — nobody
//! else knows that file, and a half-made one is simply thrown away — and
//! switched to WAL there; in fact its bytes are written in one go from
//! the image of that empty file ([`image`]), which SQLite built the same
//! way when the test wrote it, and only built with SQLite here when the
//! image is not of this schema and SQLite. One disk sync makes the file
//! durable, and a hard link gives it its name only then, so the name never
//! stands for a half-made file, even after a power cut: the link is either
//! there, with all of the file behind it, or not (and the next run makes
//! the file again).
//! The link fails if the name exists, so two runs making the same file at
//! once keep whichever linked first, and no file is ever replaced.
//!
//! Anything unusual (the name or a `-wal` or `-journal` of it already
//! there, no hard links on this filesystem, any error) gives up and leaves
//! the file to the ordinary way, which reports errors as before. A run
//! killed in the millisecond between making the private file and
//! unlinking it leaves that file behind; it is never read.
//!
//! Once linked and opened, the file's WAL is begun at once ([`start_wal`]),
//! on the thread that makes the file while the first inputs are parsed
//! (`ingest::opening`), and without the two syncs (its header, its
//! directory entry) SQLite's first commit into a new WAL would make: the
//! writer waits for this file, and those syncs took 1-3 ms of a 35 ms
//! run (bench/README.md, twelfth round).

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::sqlite::{SCHEMA, VERSION};

mod image;

/// Makes a new database at `path` with the current schema, in WAL mode.
/// Returns whether it did; `false` leaves `path` as it was.
pub(super) fn create(path: &Path) -> bool {
    if [
        path.to_owned(),
        aside(path, "-wal"),
        aside(path, "-journal"),
    ]
    .iter()
    .any(|p| p.symlink_metadata().is_ok())
    {
        return false;
    }
    let temp = aside(path, &format!("-new.{}", std::process::id()));
    let linked = make(&temp, image::file()) && fs::hard_link(&temp, path).is_ok();
    let _ = fs::remove_file(&temp);
    linked
}

/// Makes `temp` whole and synced: from `image`, the bytes of an empty
/// file for this schema and SQLite ([`image::file`]), or without one built
/// with SQLite. SQLite's page cache, if the command set one aside, is
/// faulted in meanwhile (`store::pagecache`): before SQLite starts, and
/// while the disk writes the new file, which the sync then waits less for.
fn make(temp: &Path, image: Option<Vec<u8>>) -> bool {
    let Ok(mut file) = private(temp) else {
        return false;
    };
    let written = match image {
        Some(bytes) => {
            let written = file.write_all(&bytes).is_ok();
            start_writeback(&file);
            super::pagecache::fault_in();
            written
        }
        None => {
            super::pagecache::fault_in();
            build(temp).is_ok()
        }
    };
    // (A sync of any descriptor of the file syncs what SQLite wrote too.)
    written && file.sync_all().is_ok()
}

/// Asks the kernel to start writing `file` to disk now, without waiting
/// (Linux's `sync_file_range`); the sync that follows still waits for all
/// of it and for the file's metadata. Elsewhere: nothing.
fn start_writeback(file: &fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: an open descriptor of ours; the call only schedules I/O.
        unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Begins the WAL of a file [`create`] made: one commit that rewrites the
/// header page as it is (`user_version` set to what it holds), which
/// creates the `-wal` file and writes its header.
///
/// That commit runs with `synchronous = OFF`, so it does not sync the
/// header as SQLite's first commit into a WAL otherwise does: that sync
/// (1-3 ms, and the writer waits for this file) guards a WAL being
/// *restarted*, whose old frames could be replayed under a new header;
/// a new `-wal` has no old frames. Nothing stored is less durable: a
/// commit under `synchronous = NORMAL` syncs nothing, so until the first
/// checkpoint syncs the WAL (header and all) a power cut can lose every
/// frame whether the header was synced or not; the database file itself
/// was synced whole before its link. The WAL's directory entry is synced
/// with the WAL's first sync instead (SQLite syncs a new WAL's folder
/// then), before any checkpoint copies a frame into the file, and at
/// once by the first commit under `synchronous = FULL`.
pub(super) fn start_wal(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "user_version", VERSION)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
}

/// `path` with `suffix` appended to its file name (`x.sqlite-wal`).
fn aside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `temp` readable by its owner only (as the database will be:
/// the link keeps the mode), open for writing; fails if it exists.
fn private(temp: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(temp)
}

/// The schema, written straight into `temp` (no journal, no sync), and
/// the file switched to WAL (its header says so; no `-wal` is made yet).
fn build(temp: &Path) -> rusqlite::Result<()> {
    let conn = Connection::open(temp)?;
    // As `Lite::setup` would: 8 KiB pages for a new file.
    conn.pragma_update(None, "page_size", 8192)?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute_batch("BEGIN")?;
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", VERSION)?;
    conn.execute_batch("COMMIT")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.close().map_err(|(_, e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::Lite;

    /// Every schema object's SQL, in order: what two files must share.
    fn schema_of(path: &Path) -> Vec<(String, String)> {
        let conn = Connection::open(path).unwrap();
        let mut st = conn
            .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn one<T: rusqlite::types::FromSql>(path: &Path, sql: &str) -> T {
        let conn = Connection::open(path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_new_file_is_linked_whole_with_the_schema_sqlite_would_make() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        assert!(create(&path));
        // Nothing left beside it, and nothing of a journal or WAL yet.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["new.sqlite"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let header = fs::read(&path).unwrap();
        assert_eq!(&header[..16], b"SQLite format 3\0");
        assert_eq!((header[18], header[19]), (2, 2), "WAL in the header");
        assert_eq!(one::<i64>(&path, "PRAGMA page_size"), 8192);
        assert_eq!(one::<i64>(&path, "PRAGMA user_version"), VERSION);
        assert_eq!(one::<String>(&path, "PRAGMA journal_mode"), "wal");
        assert_eq!(one::<String>(&path, "PRAGMA integrity_check"), "ok");

        // The same schema as a file SQLite made the ordinary way (an
        // empty file there first, so this path is not taken).
        let ordinary = dir.path().join("ordinary.sqlite");
        fs::File::create(&ordinary).unwrap();
        assert!(!create(&ordinary));
        drop(Lite::open_waiting(&ordinary, std::time::Duration::from_secs(5)).unwrap());
        assert_eq!(schema_of(&path), schema_of(&ordinary));
        assert!(!schema_of(&path).is_empty());
    }

    /// The image of an empty file is what SQLite makes from the schema,
    /// byte for byte; written again with `DMARCDB_WRITE_IMAGE=1`.
    #[test]
    fn the_image_is_the_file_sqlite_makes() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("built");
        private(&temp).unwrap();
        build(&temp).unwrap();
        let built = fs::read(&temp).unwrap();
        let fresh = image::encode(&built);
        let kept = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/newfile/empty.img");
        if fs::read(kept).unwrap() != fresh {
            if std::env::var_os("DMARCDB_WRITE_IMAGE").is_some() {
                fs::write(kept, &fresh).unwrap();
                panic!("{kept} written again: build and run the tests again");
            }
            panic!(
                "{kept} is not the empty file this SQLite makes from schema.sql: \
                 write it again with `DMARCDB_WRITE_IMAGE=1 cargo test --lib newfile`"
            );
        }
        assert_eq!(image::file().as_deref(), Some(&built[..]));

        // And `create` writes exactly that.
        let path = dir.path().join("new.sqlite");
        assert!(create(&path));
        assert_eq!(fs::read(&path).unwrap(), built);
        // Without an image (another schema or SQLite), SQLite builds the
        // same file.
        let without = dir.path().join("without");
        assert!(make(&without, None));
        assert_eq!(fs::read(&without).unwrap(), built);
        // A name taken already is not made over.
        assert!(!make(&without, image::file()));
        assert_eq!(fs::read(&without).unwrap(), built);
    }

    #[test]
    fn an_existing_name_or_its_wal_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        fs::write(&path, b"not ours").unwrap();
        assert!(!create(&path));
        assert_eq!(fs::read(&path).unwrap(), b"not ours");

        // A WAL without its database (the database removed by hand): left
        // to SQLite, which discards it when it makes the new file, rather
        // than read as if it belonged to ours.
        let orphan = dir.path().join("orphan.sqlite");
        fs::write(aside(&orphan, "-wal"), b"old frames").unwrap();
        assert!(!create(&orphan));
        assert!(!orphan.exists());

        // A directory that does not exist: nothing made, nothing left.
        assert!(!create(&dir.path().join("no/such/dir.sqlite")));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2);
    }
}
