//! Window totals read from the reports alone (their stored message and
//! pass counts), for the headline of the HTML report: no record is read,
//! so they cost nothing on millions of records. Only possible when no
//! filter needs the records (`--domain`, `--ip`, `--ours`, `--external`).

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

impl Store {
    /// The totals of the reports in `q`'s window (and `--org`); `None`
    /// when a filter of `q` needs the records.
    pub fn report_totals(&self, q: &Scope<'_>) -> Result<Option<ReportTotals>, DbError> {
        let f = q.filter;
        if f.domain.is_some() || f.ip.is_some() || f.side.is_some() {
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
