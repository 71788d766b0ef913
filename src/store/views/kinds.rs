//! The views over the report kinds besides aggregate reports: SMTP TLS
//! reports (`query tls-reports`, `tls`, `tls-failures`, the `tls_failures`
//! alert) and DMARC failure reports (`query failure-reports`, the failure
//! reports counted per source IP by `alert`). Written once for both
//! backends; the JSON lists are built in SQL with [`Sql::json_list`] and
//! read back as text.

use super::sql::Sql;
use super::Window;
use crate::store::failure::FailureReportRow;
use crate::store::tls::{TlsFailureRow, TlsPolicyRow, TlsReportRow};
use crate::store::{DbError, Store};

impl Store {
    /// Stored TLS reports whose `date_begin` is in the window, oldest
    /// first (the rows of `query tls-reports`).
    pub fn tls_reports(&self, w: &Window) -> Result<Vec<TlsReportRow>, DbError> {
        let mut sql = self.sql();
        let window = window(&mut sql, "date_begin", w);
        let text = format!(
            "SELECT org_name, report_id, date_begin, date_end, policy_count,
                    sessions_success, sessions_failure
             FROM tls_report WHERE {window}
             ORDER BY date_begin, org_name, report_id"
        );
        self.rows(&text, &sql, |r| {
            Ok(TlsReportRow {
                org_name: r.get(0)?,
                report_id: r.get(1)?,
                date_begin: r.get(2)?,
                date_end: r.get(3)?,
                policies: r.get(4)?,
                sessions_success: r.get(5)?,
                sessions_failure: r.get(6)?,
            })
        })
    }

    /// Sessions per policy domain and policy type in the window, with the
    /// result types of their failures (the rows of `query tls` and of the
    /// `tls_failures` alert), most failures first.
    pub fn tls_policies(&self, w: &Window) -> Result<Vec<TlsPolicyRow>, DbError> {
        let mut sql = self.sql();
        let window = window(&mut sql, "r.date_begin", w);
        let (n, success, failure) = (
            sql.sum("f.failed_session_count"),
            sql.sum("p.sessions_success"),
            sql.sum("p.sessions_failure"),
        );
        let types = sql.json_list(&sql.json_pair("result_type", "n"), "n DESC, result_type");
        let text = format!(
            "WITH p AS (
               SELECT p.report, p.seq, p.policy_domain, p.policy_type,
                      p.sessions_success, p.sessions_failure
               FROM tls_report r JOIN tls_policy p ON p.report = r.id
               WHERE {window}),
             t AS (
               SELECT p.policy_domain, p.policy_type, f.result_type, {n} AS n
               FROM p JOIN tls_failure f ON f.report = p.report AND f.policy = p.seq
               GROUP BY 1, 2, 3)
             SELECT p.policy_domain, p.policy_type, {success}, {failure},
                    (SELECT {types} FROM t
                     WHERE t.policy_domain = p.policy_domain
                       AND t.policy_type = p.policy_type)
             FROM p GROUP BY 1, 2
             ORDER BY {failure} DESC, 1, 2"
        );
        self.rows(&text, &sql, |r| {
            let success: i64 = r.get(2)?;
            let failure: i64 = r.get(3)?;
            let types: String = r.get(4)?;
            Ok(TlsPolicyRow {
                policy_domain: r.get(0)?,
                policy_type: r.get(1)?,
                sessions: success + failure,
                sessions_failure: failure,
                failure_pct: pct(failure, success + failure),
                result_types: serde_json::from_str::<Vec<(String, i64)>>(&types)
                    .unwrap_or_default(),
            })
        })
    }

    /// Failed sessions per result type, receiving MX and sending MTA IP in
    /// the window (the rows of `query tls-failures`), most first.
    pub fn tls_failures(&self, w: &Window) -> Result<Vec<TlsFailureRow>, DbError> {
        let mut sql = self.sql();
        let window = window(&mut sql, "r.date_begin", w);
        let failed = sql.sum("f.failed_session_count");
        let domains = sql.json_list("DISTINCT p.policy_domain", "p.policy_domain");
        let text = format!(
            "SELECT f.result_type, coalesce(f.receiving_mx_hostname, ''),
                    coalesce(f.sending_mta_ip, ''), {failed},
                    count(DISTINCT f.report), {domains}
             FROM tls_report r
             JOIN tls_failure f ON f.report = r.id
             JOIN tls_policy p ON p.report = f.report AND p.seq = f.policy
             WHERE {window}
             GROUP BY 1, 2, 3
             ORDER BY 4 DESC, 1, 2, 3"
        );
        self.rows(&text, &sql, |r| {
            let domains: String = r.get(5)?;
            Ok(TlsFailureRow {
                result_type: r.get(0)?,
                receiving_mx_hostname: r.get(1)?,
                sending_mta_ip: r.get(2)?,
                failed_sessions: r.get(3)?,
                reports: r.get(4)?,
                policy_domains: serde_json::from_str(&domains).unwrap_or_default(),
            })
        })
    }

    /// Stored failure reports whose arrival date is in the window (a
    /// report without one counts as arriving at 0), oldest first (the rows
    /// of `query failure-reports`).
    pub fn failure_reports(&self, w: &Window) -> Result<Vec<FailureReportRow>, DbError> {
        let mut sql = self.sql();
        let window = window(&mut sql, "coalesce(arrival_date, 0)", w);
        let rcpt = sql.json_text("original_rcpt_to");
        let text = format!(
            "SELECT arrival_date, feedback_type, source_ip, reported_domain, auth_failure,
                    delivery_result, original_mail_from, {rcpt}, reported_from,
                    reported_subject, dkim_domain, identity_alignment, origin, redacted
             FROM failure_report WHERE {window}
             ORDER BY arrival_date NULLS FIRST, id"
        );
        self.rows(&text, &sql, |r| {
            let rcpt: String = r.get(7)?;
            Ok(FailureReportRow {
                arrival_date: r.get(0)?,
                feedback_type: r.get(1)?,
                source_ip: r.get(2)?,
                reported_domain: r.get(3)?,
                auth_failure: r.get(4)?,
                delivery_result: r.get(5)?,
                original_mail_from: r.get(6)?,
                original_rcpt_to: serde_json::from_str(&rcpt).unwrap_or_default(),
                from: r.get(8)?,
                subject: r.get(9)?,
                dkim_domain: r.get(10)?,
                identity_alignment: r.get(11)?,
                origin: r.get(12)?,
                redacted: r.get(13)?,
            })
        })
    }

    /// How many failure reports in the window name each source IP as
    /// their Source-IP (for the source-IP problems of `alert`).
    pub fn failure_reports_per_ip(&self, w: &Window) -> Result<Vec<(String, i64)>, DbError> {
        let mut sql = self.sql();
        let window = window(&mut sql, "coalesce(arrival_date, 0)", w);
        let text = format!(
            "SELECT source_ip, count(*) FROM failure_report
             WHERE source_ip IS NOT NULL AND {window}
             GROUP BY source_ip ORDER BY source_ip"
        );
        self.rows(&text, &sql, |r| Ok((r.get(0)?, r.get(1)?)))
    }
}

/// `lo <= e < hi` for the window.
fn window(sql: &mut Sql, e: &str, w: &Window) -> String {
    let (lo, hi) = (sql.bind(w.lo()), sql.bind(w.hi()));
    format!("{e} >= {lo} AND {e} < {hi}")
}

/// `100 * part / whole`, one decimal; `None` without a whole.
fn pct(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (1000.0 * part as f64 / whole as f64).round() / 10.0)
}
