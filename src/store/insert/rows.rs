//! The `record` and `override_reason` rows of one report, inserted many
//! to a statement, their values bound without copies (`raw.rs`).
//!
//! A statement of one row costs SQLite a start and an end per row
//! (`sqlite3VdbeHalt`, `sqlite3_reset`, opening the table's cursor, a
//! seek from the root for the key's uniqueness) next to the row's own
//! B-tree work, and rusqlite copies every text value into SQLite. Rows
//! wait here until the biggest statement's worth of them is there, then
//! go in by one statement; what is left at the end of the report goes in
//! by the smaller statements it fills ([`RECORD_SIZES`],
//! [`REASON_SIZES`]).

use super::raw::Binding;
use super::statements::{Sql, Statements, REASON_SIZES, RECORD_SIZES};
use crate::model::{OverrideReason, Record};

/// A table whose rows wait to be inserted many to a statement.
pub(super) trait Table {
    /// A row as it waits.
    type Row;
    /// Rows per statement, biggest first, ending with 1.
    const SIZES: &'static [usize];
    /// The statement of `SIZES[i]` rows.
    fn sql(i: usize) -> Sql;
    /// Binds `row`'s values but the first (the report's id, bound once
    /// for all rows), in column order.
    fn bind<'a>(row: &'a Self::Row, b: &mut Binding<'_, 'a>) -> rusqlite::Result<()>;
}

/// Binds record `r`'s row but the report's id (bound once for all
/// rows), in column order: `seq` is its number in the report, `auth` its
/// auth set. The record is bound where it lies (the chunk it came in, or
/// the inserter's waiting records), not copied into a row of its own.
#[inline]
pub(super) fn bind_record<'a>(
    seq: i64,
    auth: Option<i64>,
    r: &'a Record,
    b: &mut Binding<'_, 'a>,
) -> rusqlite::Result<()> {
    let pe = &r.policy_evaluated;
    let ids = &r.identifiers;
    b.int(seq)?;
    b.text(&r.source_ip)?;
    match r.source_ip.bin_ref() {
        Some(bin) => b.blob(bin)?,
        None => b.null()?,
    }
    b.int(r.count)?;
    match pe.disposition.word() {
        Some(w) => b.word(w)?,
        None => b.text(pe.disposition.as_str())?,
    }
    for result in [&pe.dkim, &pe.spf] {
        match result.word() {
            Some(w) => b.word(w)?,
            None => b.text(result.as_str())?,
        }
    }
    b.int(r.dmarc_pass().into())?;
    // A report's records mostly share these (its domain): copied into
    // the statement, they are bound only when they change.
    b.text_copied(&ids.header_from)?;
    b.opt_text_copied(ids.envelope_from.as_deref())?;
    b.opt_text_copied(ids.envelope_to.as_deref())?;
    match auth {
        Some(a) => b.int(a),
        None => b.null(),
    }
}

/// Inserts `RECORD_SIZES[i]` record rows of report `report` by one
/// statement, from `rows` (`seq`, auth set, record, as
/// [`bind_record`] takes them).
pub(super) fn insert_records<'a>(
    sts: &mut Statements,
    conn: &rusqlite::Connection,
    report: i64,
    i: usize,
    rows: impl Iterator<Item = (i64, Option<i64>, &'a Record)>,
) -> rusqlite::Result<()> {
    let n = RECORD_SIZES[i];
    let st = sts.get(conn, Sql::Records(i))?;
    let mut b = st.bind();
    b.int(report)?;
    for (seq, auth, r) in rows.take(n) {
        bind_record(seq, auth, r, &mut b)?;
    }
    let changed = b.execute()?;
    // `OR IGNORE` (see `statements.rs`) must not have dropped a row.
    if changed != n {
        return Err(rusqlite::Error::StatementChangedRows(changed));
    }
    Ok(())
}

/// An `<policy_evaluated><reason>` waiting for its statement: the `seq`
/// of its record and its own.
pub(super) struct ReasonRow {
    pub record: i64,
    pub seq: i64,
    pub reason: OverrideReason,
}

/// `override_reason`.
pub(super) struct Reasons;

impl Table for Reasons {
    type Row = ReasonRow;
    const SIZES: &'static [usize] = &REASON_SIZES;

    fn sql(i: usize) -> Sql {
        Sql::Reasons(i)
    }

    #[inline]
    fn bind<'a>(w: &'a ReasonRow, b: &mut Binding<'_, 'a>) -> rusqlite::Result<()> {
        b.int(w.record)?;
        b.int(w.seq)?;
        b.text(&w.reason.kind)?;
        b.opt_text(w.reason.comment.as_deref())
    }
}

/// The waiting rows of one table for a report.
pub(super) struct Rows<T: Table> {
    report: i64,
    waiting: Vec<T::Row>,
}

impl<T: Table> Rows<T> {
    pub(super) fn new(report: i64) -> Self {
        Rows {
            report,
            waiting: Vec::with_capacity(T::SIZES[0]),
        }
    }

    /// Keeps `row`; inserts the waiting ones when there are enough for
    /// the biggest statement.
    pub(super) fn push(
        &mut self,
        sts: &mut Statements,
        conn: &rusqlite::Connection,
        row: T::Row,
    ) -> rusqlite::Result<()> {
        self.waiting.push(row);
        if self.waiting.len() >= T::SIZES[0] {
            self.insert(sts, conn, 0)?;
        }
        Ok(())
    }

    /// Inserts every waiting row.
    pub(super) fn finish(
        &mut self,
        sts: &mut Statements,
        conn: &rusqlite::Connection,
    ) -> rusqlite::Result<()> {
        for (i, &n) in T::SIZES.iter().enumerate() {
            while self.waiting.len() >= n {
                self.insert(sts, conn, i)?;
            }
        }
        Ok(())
    }

    /// Inserts the first `SIZES[i]` waiting rows by one statement.
    fn insert(
        &mut self,
        sts: &mut Statements,
        conn: &rusqlite::Connection,
        i: usize,
    ) -> rusqlite::Result<()> {
        let n = T::SIZES[i];
        let st = sts.get(conn, T::sql(i))?;
        let mut b = st.bind();
        b.int(self.report)?;
        for row in &self.waiting[..n] {
            T::bind(row, &mut b)?;
        }
        let changed = b.execute()?;
        // `OR IGNORE` (see `statements.rs`) must not have dropped a row.
        if changed != n {
            return Err(rusqlite::Error::StatementChangedRows(changed));
        }
        self.waiting.drain(..n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{AuthResult, Disposition};

    #[test]
    fn the_static_words_are_the_models_words() {
        for w in ["", "none", "quarantine", "reject", "pass", "other"] {
            let d = Disposition::from_word(w);
            if let Some(s) = d.word() {
                assert_eq!(s, d.as_str());
            } else {
                assert!(matches!(d, Disposition::Other(_)), "{w}");
            }
        }
        for w in [
            "",
            "none",
            "pass",
            "fail",
            "softfail",
            "neutral",
            "policy",
            "temperror",
            "permerror",
            "hardfail",
        ] {
            let r = AuthResult::from_word(w);
            if let Some(s) = r.word() {
                assert_eq!(s, r.as_str());
            } else {
                assert!(matches!(r, AuthResult::Other(_)), "{w}");
            }
        }
    }
}
