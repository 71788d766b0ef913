//! A new report written into the open group without a savepoint of its
//! own, and undone by deleting its rows if it fails half-way.
//!
//! A savepoint made SQLite copy every page the report touched (the tail
//! of `record`, `report` and its indexes, `report_blob`) into an undo
//! journal before changing it, and parse `SAVEPOINT` / `RELEASE` for each
//! report: a tenth of the writer's instructions on reports of a hundred
//! records (bench/README.md). A report fails half-way only on bad input (a
//! record that does not parse, no record at all) or a bug (a panic), both
//! rare: deleting what it wrote then costs less than journaling every
//! report that succeeds. A database error ends the run and rolls the
//! whole group back, as before.
//!
//! Everything a report writes is keyed by its id (`report`, `record`,
//! `override_reason`, `report_ips`, `report_blob`), except the auth sets
//! it was the first to use, which [`AuthSets`] lists as pending until
//! kept: those are deleted too, so the file is as if the report had never
//! come. If a delete fails, the group must not be committed: the error is
//! kept in [`Lite::undo_failed`](super::sqlite::Lite) and the next commit
//! rolls back and reports it.

use std::cell::Cell;

use rusqlite::{params, Connection};

use super::insert::AuthSets;

/// The report being written and what undoes it; dropped without
/// [`Undo::keep`] (an error returned, or a panic unwinding), it deletes
/// the report's rows.
pub(super) struct Undo<'a> {
    conn: &'a Connection,
    pub(super) sets: &'a mut AuthSets,
    /// The report's id, once its row is inserted.
    report: Option<i64>,
    failed: &'a Cell<Option<rusqlite::Error>>,
}

impl<'a> Undo<'a> {
    pub(super) fn new(
        conn: &'a Connection,
        sets: &'a mut AuthSets,
        failed: &'a Cell<Option<rusqlite::Error>>,
    ) -> Self {
        Undo {
            conn,
            sets,
            report: None,
            failed,
        }
    }

    /// The report's row is in, as `id`: from now on a failure deletes it.
    pub(super) fn written(&mut self, id: i64) {
        self.report = Some(id);
    }

    /// The report is complete: nothing to undo.
    pub(super) fn keep(mut self) {
        self.report = None;
        self.sets.keep();
    }

    fn undo(&mut self) -> rusqlite::Result<()> {
        let sets = self.sets.forget();
        for set in sets {
            for sql in [
                "DELETE FROM dkim_result WHERE auth_set = ?1",
                "DELETE FROM spf_result WHERE auth_set = ?1",
                "DELETE FROM auth_set WHERE id = ?1",
            ] {
                self.conn.prepare_cached(sql)?.execute(params![set])?;
            }
        }
        let Some(id) = self.report.take() else {
            return Ok(());
        };
        for sql in [
            "DELETE FROM override_reason WHERE report = ?1",
            "DELETE FROM record WHERE report = ?1",
            "DELETE FROM report_ips WHERE report = ?1",
            "DELETE FROM report_blob WHERE report = ?1",
            "DELETE FROM report WHERE id = ?1",
        ] {
            self.conn.prepare_cached(sql)?.execute(params![id])?;
        }
        Ok(())
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.undo() {
            self.failed.set(Some(e));
        }
    }
}
