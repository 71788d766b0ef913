//! A new database file made on a thread of its own while the run's first
//! inputs are read and parsed. Making a file costs disk syncs (the file
//! itself, then the first header of its WAL and its directory entry: see
//! `store::newfile`), 3-7 ms on a calm disk and ten times that on a busy
//! one, and they came before any parsing thread existed (bench/README.md,
//! seventh round). Here the parsing threads start at once; the writer waits
//! for the store only before it writes its first input.
//!
//! Only for a file that is not there yet: an existing file opens without a
//! sync, and its parsing threads need it from the start, to look up which
//! reports it holds already (`store::Lookup`); a new file holds none. What
//! can go wrong opening the file is reported as before, before any input is
//! written or acknowledged.

use std::panic::resume_unwind;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::store::{DbError, Store};

/// The store of a run, being made on a thread of its own.
pub struct Opening {
    path: PathBuf,
    thread: Option<JoinHandle<Result<Store, DbError>>>,
    store: Option<Store>,
}

impl Opening {
    /// Starts making the SQLite file at `path`, unless a file (or a link)
    /// is there already: then `None`, and the caller opens it the ordinary
    /// way. `durable` asks for `synchronous = FULL` ([`Store::set_durable`]).
    pub fn start_new(path: &Path, busy_timeout: Duration, durable: bool) -> Option<Opening> {
        if path.symlink_metadata().is_ok() {
            return None;
        }
        let at = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("dmarcdb-open".into())
            .spawn(move || {
                // Also faults in the page cache's memory, if the command
                // set it aside, here rather than page by page by the
                // writer (`store::newfile`, `store::pagecache`).
                let store = Store::open_waiting(&at, busy_timeout)?;
                if durable {
                    store.set_durable(true)?;
                }
                Ok(store)
            })
            .ok()?;
        Some(Opening {
            path: path.to_path_buf(),
            thread: Some(thread),
            store: None,
        })
    }

    /// Whether the store is there to be waited for without waiting (made,
    /// or failed).
    pub(crate) fn is_ready(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// The file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the store, the first time; then hands it out. An error
    /// is returned once (the store is then never there).
    pub(crate) fn wait(&mut self) -> Result<&mut Store, DbError> {
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(opened) => self.store = Some(opened?),
                Err(panic) => resume_unwind(panic),
            }
        }
        match &mut self.store {
            Some(store) => Ok(store),
            None => Err(DbError::setup("the database could not be opened")),
        }
    }

    /// The store, once [`Opening::wait`] has handed it out.
    pub fn store(&mut self) -> Option<&mut Store> {
        self.store.as_mut()
    }
}

impl Drop for Opening {
    /// A run that ended before it waited (a fatal error) still lets the
    /// file be made whole, so no private file of `store::newfile` is left.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DEFAULT_BUSY_TIMEOUT;

    #[test]
    fn an_existing_file_is_left_to_the_ordinary_way() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("there.sqlite");
        std::fs::write(&path, b"").unwrap();
        assert!(Opening::start_new(&path, DEFAULT_BUSY_TIMEOUT, false).is_none());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn a_new_file_is_made_on_its_thread_and_handed_out_once_ready() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/new.sqlite");
        let mut opening = Opening::start_new(&path, DEFAULT_BUSY_TIMEOUT, true).unwrap();
        assert!(opening.store().is_none(), "not before it is waited for");
        let store = opening.wait().unwrap();
        assert_eq!(store.report_count().unwrap(), 0);
        assert_eq!(store.path(), path.to_str());
        assert!(opening.store().is_some());
        // Its WAL begun already (see `store::newfile::start_wal`).
        let wal = std::fs::metadata(dir.path().join("sub/new.sqlite-wal")).unwrap();
        assert!(wal.len() > 32, "{}", wal.len());
    }

    #[test]
    fn an_error_making_it_is_handed_out_by_wait() {
        let dir = tempfile::tempdir().unwrap();
        // The folder the file would go in is a file.
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        let path = dir.path().join("file/new.sqlite");
        let mut opening = Opening::start_new(&path, DEFAULT_BUSY_TIMEOUT, false).unwrap();
        assert!(opening.wait().is_err());
        assert!(opening.store().is_none());
        assert!(opening.wait().is_err());
    }

    #[test]
    fn dropped_before_it_is_waited_for_it_is_still_made_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        drop(Opening::start_new(&path, DEFAULT_BUSY_TIMEOUT, false).unwrap());
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        // No private `-new.<pid>` file left; the WAL is kept (no
        // checkpoint at close).
        assert_eq!(names[0], "new.sqlite");
        assert!(names.iter().all(|n| !n.contains("-new.")), "{names:?}");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.report_count().unwrap(), 0);
    }
}
