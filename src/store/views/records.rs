//! The record-level questions: failing records in detail, and one row per
//! report.

use serde::Serialize;

use super::Scope;
use crate::store::{DbError, Store};

/// One record that failed DMARC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureRow {
    /// The report's begin, epoch seconds.
    pub date_begin: i64,
    pub org_name: String,
    pub report_id: String,
    pub source_ip: String,
    pub ours: bool,
    /// The record's count.
    pub messages: i64,
    pub header_from: String,
    pub envelope_from: Option<String>,
    /// policy_evaluated (aligned) results.
    pub dkim: String,
    pub spf: String,
    /// `domain/selector=result, ...` from auth_results; `None` when none.
    pub dkim_results: Option<String>,
    /// `domain=result, ...`.
    pub spf_results: Option<String>,
    pub disposition: String,
}

/// One stored report; dates in epoch seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub org_name: String,
    pub report_id: String,
    pub policy_domain: String,
    pub date_begin: i64,
    pub date_end: i64,
    pub records: i64,
    pub messages: i64,
    pub messages_pass: i64,
}

impl Store {
    /// Every record in scope that failed DMARC, largest count first, then
    /// newest.
    pub fn failure_rows(&self, q: &Scope<'_>) -> Result<Vec<FailureRow>, DbError> {
        let mut sql = self.sql();
        let from = sql.from();
        let dkim = sql.join_text(
            "d.domain || coalesce('/' || d.selector, '') || '=' || d.result",
            "d.seq",
        );
        let spf = sql.join_text("s.domain || '=' || s.result", "s.seq");
        let ours = sql.ours(q.nets);
        let cond = sql.where_all(q);
        let limit = sql.limit(q.limit);
        let text = format!(
            "SELECT f.date_begin, f.org_name, f.report_id, f.source_ip, f.ours, f.count,
                f.header_from, f.envelope_from, f.dkim, f.spf,
                (SELECT {dkim} FROM dkim_result d WHERE d.auth_set = f.auth),
                (SELECT {spf} FROM spf_result s WHERE s.auth_set = f.auth),
                f.disposition
             FROM (SELECT c.report, c.seq, c.auth, r.date_begin, r.org_name, r.report_id, c.source_ip, {ours} AS ours,
                     c.count, c.header_from, c.envelope_from, c.dkim, c.spf, c.disposition
                   {from} {cond} AND NOT c.dmarc_pass
                   ORDER BY c.count DESC, r.date_begin DESC, c.report, c.seq {limit}) f
             ORDER BY f.count DESC, f.date_begin DESC, f.report, f.seq"
        );
        self.rows(&text, &sql, |r| {
            Ok(FailureRow {
                date_begin: r.get(0)?,
                org_name: r.get(1)?,
                report_id: r.get(2)?,
                source_ip: r.get(3)?,
                ours: r.get(4)?,
                messages: r.get(5)?,
                header_from: r.get(6)?,
                envelope_from: r.get(7)?,
                dkim: r.get(8)?,
                spf: r.get(9)?,
                dkim_results: r.get(10)?,
                spf_results: r.get(11)?,
                disposition: r.get(12)?,
            })
        })
    }

    /// The reports in scope: `--org` and the window on the report, the
    /// record filters keeping a report when at least one of its records
    /// matches. Counts are the whole report's.
    pub fn report_rows(&self, q: &Scope<'_>) -> Result<Vec<ReportRow>, DbError> {
        let mut sql = self.sql();
        let mut conds = sql.report_conds(q);
        let rec = sql.record_conds(q.filter, q.nets);
        if !rec.is_empty() {
            conds.push(format!(
                "EXISTS (SELECT 1 FROM record c WHERE c.report = r.id AND {})",
                rec.join(" AND ")
            ));
        }
        let limit = sql.limit(q.limit);
        let text = format!(
            "SELECT org_name, report_id, policy_domain, date_begin, date_end, record_count,
                    message_count, pass_count
             FROM report r WHERE {}
             ORDER BY date_begin, org_name, report_id {limit}",
            conds.join(" AND ")
        );
        self.rows(&text, &sql, |r| {
            Ok(ReportRow {
                org_name: r.get(0)?,
                report_id: r.get(1)?,
                policy_domain: r.get(2)?,
                date_begin: r.get(3)?,
                date_end: r.get(4)?,
                records: r.get(5)?,
                messages: r.get(6)?,
                messages_pass: r.get(7)?,
            })
        })
    }
}
