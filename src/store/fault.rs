//! The database failures a run meets on a healthy file — the disk is full,
//! the file is read-only, another process holds the write lock longer than
//! the busy timeout — told in words, with what to do about them.
//!
//! Each is fatal to the run and loses nothing: the open group of reports
//! is rolled back by SQLite, its inputs were never acknowledged (no mail
//! marked seen), and the next run, once the cause is gone, stores them.

/// What went wrong, in one line, for an error from the database.
pub fn explain(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    let rusqlite::Error::SqliteFailure(failure, _) = e else {
        return e.to_string();
    };
    match failure.code {
        C::DiskFull => format!(
            "the disk is full ({e}); the reports not yet stored are left for the next run: \
             free some space and run again"
        ),
        C::ReadOnly => format!(
            "the database is read-only ({e}): make the file, its -wal and -shm files if \
             any, and the directory holding them writable for this user, and run again"
        ),
        C::DatabaseBusy | C::DatabaseLocked => format!(
            "another process kept the database locked for longer than the busy timeout ({e}); \
             run again later, or wait longer with --busy-timeout SECONDS"
        ),
        C::CannotOpen => {
            format!("the file cannot be opened ({e}): check the path and its permissions")
        }
        C::PermissionDenied => format!("permission denied ({e})"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn faults_are_named_with_what_to_do() {
        let full = explain(&sqlite(rusqlite::ffi::SQLITE_FULL));
        assert!(
            full.starts_with("the disk is full") && full.contains("free some space"),
            "{full}"
        );
        let ro = explain(&sqlite(rusqlite::ffi::SQLITE_READONLY));
        assert!(ro.contains("read-only"), "{ro}");
        let busy = explain(&sqlite(rusqlite::ffi::SQLITE_BUSY));
        assert!(busy.contains("--busy-timeout"), "{busy}");
        assert_eq!(
            explain(&rusqlite::Error::InvalidQuery),
            rusqlite::Error::InvalidQuery.to_string()
        );
    }
}
