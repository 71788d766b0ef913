//! Window totals read from the reports alone (their stored message and
//! pass counts), for the headline of the HTML report: no record is read,
//! so they cost nothing on millions of records. Only possible when no
//! filter needs the records (`--domain`, `--ip`, `--ours`, `--external`);
//! the `orgs` and `daily` views read them too then ([`whole_reports`]).
//!
//! A report's `message_count` and `pass_count` are the sums of its
//! records' `count` (passing ones for `pass_count`), written with them in
//! one transaction (at ingest, by `reparse`, by `copy`), and every stored
//! report has records — so summing the reports gives what joining and
//! summing their records gives (a test compares the two).

use serde::Serialize;

use super::Scope;
use crate::store::{DbError, Store};

/// Messages, passing messages and policy domains of the reports in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportTotals {
    pub messages: i64,
    pub messages_pass: i64,
    pub policy_domains: i64,
}

/// Whether `q` keeps whole reports (no filter reads the records), so
/// their stored sums answer for their records.
pub(crate) fn whole_reports(q: &Scope<'_>) -> bool {
    let f = q.filter;
    f.domain.is_none() && f.ip.is_none() && f.side.is_none()
}

/// The reports a join to their records would keep (all stored ones have
/// records; spelled out so the two readings cannot differ).
pub(crate) const WITH_RECORDS: &str = "r.record_count > 0";

impl Store {
    /// The totals of the reports in `q`'s window (and `--org`); `None`
    /// when a filter of `q` needs the records.
    pub fn report_totals(&self, q: &Scope<'_>) -> Result<Option<ReportTotals>, DbError> {
        if !whole_reports(q) {
            return Ok(None);
        }
        let mut sql = self.sql();
        let (messages, pass) = (sql.sum("r.message_count"), sql.sum("r.pass_count"));
        let conds = sql.report_conds(q).join(" AND ");
        let text = format!(
            "SELECT coalesce({messages}, 0), coalesce({pass}, 0),
                    count(DISTINCT r.policy_domain)
             FROM report r WHERE {conds}"
        );
        let rows = self.rows(&text, &sql, |r| {
            Ok(ReportTotals {
                messages: r.get(0)?,
                messages_pass: r.get(1)?,
                policy_domains: r.get(2)?,
            })
        })?;
        Ok(rows.into_iter().next())
    }
}

#[cfg(test)]
#[path = "totals_tests.rs"]
mod tests;
