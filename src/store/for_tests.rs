//! What tests outside the store may do to a SQLite store that no command
//! does: damage its rows and read single numbers back. Reparse's tests use
//! it to break what is stored and see it rebuilt, without reaching into the
//! store's connection (which would make the store's tests call reparse,
//! and reparse call the store). Compiled for tests only.

use rusqlite::params;

use super::{write, Store};

impl Store {
    /// Runs `sql` (statements without parameters) as it is.
    pub(crate) fn execute_for_test(&mut self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }

    /// The one integer `sql` selects.
    pub(crate) fn number_for_test(&self, sql: &str) -> i64 {
        self.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Every `report_blob` row's `sha256` and `gzip`, by report id.
    pub(crate) fn blobs_for_test(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut st = self
            .conn
            .prepare("SELECT sha256, gzip FROM report_blob ORDER BY report")
            .unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// Every report's stored bytes replaced by `bytes` (compressed as
    /// stored).
    pub(crate) fn replace_report_bytes_for_test(&mut self, bytes: &[u8]) {
        let gzip = write::gzip(bytes);
        self.conn
            .execute("UPDATE report_blob SET gzip = ?1", params![gzip])
            .unwrap();
    }
}
