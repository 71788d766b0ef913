//! The breakdown questions: totals per reporter, per domain, per DKIM
//! signing domain and selector, and per SPF domain.

use serde::Serialize;

use super::fold::AuthSums;
use super::sql::{Sql, PASS};
use super::totals::{whole_reports, WITH_RECORDS};
use super::Scope;
use crate::store::{DbError, Store};

/// Totals of one reporter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgRow {
    pub org_name: String,
    /// How many reports.
    pub reports: i64,
    pub messages: i64,
    pub messages_pass: i64,
}

/// Totals of one policy domain and header_from (both lower case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainRow {
    pub policy_domain: String,
    pub header_from: String,
    /// Distinct source IPs.
    pub sources: i64,
    pub messages: i64,
    pub messages_pass: i64,
}

/// Totals of one DKIM signing domain (lower case) and selector; both
/// `None` for messages without a DKIM result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkimRow {
    pub dkim_domain: Option<String>,
    pub selector: Option<String>,
    pub messages: i64,
    pub messages_pass: i64,
    /// fail, softfail, hardfail.
    pub messages_fail: i64,
}

/// Totals of one SPF domain (lower case); `None` for messages without an
/// SPF result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpfRow {
    pub spf_domain: Option<String>,
    pub messages: i64,
    pub messages_pass: i64,
    /// fail, softfail, hardfail.
    pub messages_fail: i64,
}

// `NULLS FIRST` spells out SQLite's order of NULLs (messages without a
// result), which PostgreSQL would put last.

/// Result words that count as failing (`hardfail` is what some SPF
/// reporters write for `fail`).
const FAIL_WORDS: &str = "('fail', 'softfail', 'hardfail')";

/// Each auth set's DKIM results once per row key (lower-cased domain,
/// selector), however often a record repeats a signature: `pass` when any
/// of them passed, else `fail` when any failed (fail, softfail, or the
/// `hardfail` some SPF reporters write), so a message counts once per row,
/// by its best result.
fn dkim_once(sql: &Sql) -> String {
    format!(
        "(SELECT auth_set, lower(domain) AS domain, selector,
            {} AS pass, {} AS fail
        FROM dkim_result GROUP BY auth_set, lower(domain), selector)",
        sql.any("result = 'pass'"),
        sql.any(&format!("result IN {FAIL_WORDS}"))
    )
}

/// The same for SPF results, per lower-cased domain.
fn spf_once(sql: &Sql) -> String {
    format!(
        "(SELECT auth_set, lower(domain) AS domain, {} AS pass, {} AS fail
        FROM spf_result GROUP BY auth_set, lower(domain))",
        sql.any("result = 'pass'"),
        sql.any(&format!("result IN {FAIL_WORDS}"))
    )
}

impl Store {
    /// Per reporter, largest volume first.
    pub fn org_rows(&self, q: &Scope<'_>) -> Result<Vec<OrgRow>, DbError> {
        let mut sql = self.sql();
        let text = if whole_reports(q) {
            // The reports' own sums (see `totals`): no record is read.
            let (messages, pass) = (sql.sum("r.message_count"), sql.sum("r.pass_count"));
            let conds = sql.report_conds(q).join(" AND ");
            let limit = sql.limit(q.limit);
            format!(
                "SELECT r.org_name, count(*), {messages}, {pass} FROM report r
                 WHERE {conds} AND {WITH_RECORDS}
                 GROUP BY r.org_name ORDER BY 3 DESC, 1 {limit}"
            )
        } else {
            let from = sql.from();
            let (messages, pass) = (sql.sum("c.count"), sql.sum(PASS));
            let cond = sql.where_all(q);
            let limit = sql.limit(q.limit);
            format!(
                "SELECT r.org_name, count(DISTINCT r.id), {messages}, {pass} {from} {cond}
                 GROUP BY r.org_name ORDER BY 3 DESC, 1 {limit}"
            )
        };
        self.rows(&text, &sql, |r| {
            Ok(OrgRow {
                org_name: r.get(0)?,
                reports: r.get(1)?,
                messages: r.get(2)?,
                messages_pass: r.get(3)?,
            })
        })
    }

    /// Per policy domain and header_from, largest volume first.
    pub fn domain_rows(&self, q: &Scope<'_>) -> Result<Vec<DomainRow>, DbError> {
        let mut sql = self.sql();
        let from = sql.from();
        let (messages, pass) = (sql.sum("c.count"), sql.sum(PASS));
        let cond = sql.where_all(q);
        let limit = sql.limit(q.limit);
        let text = format!(
            "SELECT lower(r.policy_domain), lower(c.header_from), count(DISTINCT c.source_ip),
                    {messages}, {pass} {from} {cond}
             GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2 {limit}"
        );
        self.rows(&text, &sql, |r| {
            Ok(DomainRow {
                policy_domain: r.get(0)?,
                header_from: r.get(1)?,
                sources: r.get(2)?,
                messages: r.get(3)?,
                messages_pass: r.get(4)?,
            })
        })
    }

    /// Per DKIM signing domain and selector from `<auth_results>`, largest
    /// volume first (raw results: a message with two signatures counts in
    /// both rows; a signature its record lists twice counts once).
    pub fn dkim_rows(&self, q: &Scope<'_>) -> Result<Vec<DkimRow>, DbError> {
        self.dkim_rows_of(q, &AuthSums::of(self, q)?)
    }

    /// The DKIM and SPF rows of `q` ([`Store::dkim_rows`],
    /// [`Store::spf_rows`]) from one pass over its records.
    pub fn auth_rows(&self, q: &Scope<'_>) -> Result<(Vec<DkimRow>, Vec<SpfRow>), DbError> {
        let sums = AuthSums::of(self, q)?;
        Ok((self.dkim_rows_of(q, &sums)?, self.spf_rows_of(q, &sums)?))
    }

    fn dkim_rows_of(&self, q: &Scope<'_>, sums: &AuthSums) -> Result<Vec<DkimRow>, DbError> {
        let mut sql = self.sql();
        let dpass = sql.sum("CASE WHEN d.pass THEN a.n ELSE 0 END");
        let dfail = sql.sum("CASE WHEN d.fail AND NOT d.pass THEN a.n ELSE 0 END");
        let once = dkim_once(&sql);
        let messages = sql.sum("a.n");
        let a = sums.select(&mut sql, q);
        let limit = sql.limit(q.limit);
        // Messages per auth set first, then their results: records share a
        // few sets, so each set's results are joined once, not per record.
        let text = format!(
            "WITH a AS ({a})
             SELECT d.domain, d.selector, {messages}, {dpass}, {dfail}
             FROM a LEFT JOIN {once} d ON d.auth_set = a.auth
             GROUP BY 1, 2 ORDER BY 3 DESC, 1 NULLS FIRST, 2 NULLS FIRST {limit}"
        );
        self.rows(&text, &sql, |r| {
            Ok(DkimRow {
                dkim_domain: r.get(0)?,
                selector: r.get(1)?,
                messages: r.get(2)?,
                messages_pass: r.get(3)?,
                messages_fail: r.get(4)?,
            })
        })
    }

    /// Per SPF domain from `<auth_results>`, largest volume first (a
    /// domain its record lists twice counts once).
    pub fn spf_rows(&self, q: &Scope<'_>) -> Result<Vec<SpfRow>, DbError> {
        self.spf_rows_of(q, &AuthSums::of(self, q)?)
    }

    fn spf_rows_of(&self, q: &Scope<'_>, sums: &AuthSums) -> Result<Vec<SpfRow>, DbError> {
        let mut sql = self.sql();
        let spass = sql.sum("CASE WHEN s.pass THEN a.n ELSE 0 END");
        let sfail = sql.sum("CASE WHEN s.fail AND NOT s.pass THEN a.n ELSE 0 END");
        let once = spf_once(&sql);
        let messages = sql.sum("a.n");
        let a = sums.select(&mut sql, q);
        let limit = sql.limit(q.limit);
        // As in `dkim_rows`: per auth set first.
        let text = format!(
            "WITH a AS ({a})
             SELECT s.domain, {messages}, {spass}, {sfail}
             FROM a LEFT JOIN {once} s ON s.auth_set = a.auth
             GROUP BY 1 ORDER BY 2 DESC, 1 NULLS FIRST {limit}"
        );
        self.rows(&text, &sql, |r| {
            Ok(SpfRow {
                spf_domain: r.get(0)?,
                messages: r.get(1)?,
                messages_pass: r.get(2)?,
                messages_fail: r.get(3)?,
            })
        })
    }
}
