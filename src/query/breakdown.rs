//! The breakdown views: totals per reporter (`orgs`), per domain
//! (`domains`), per DKIM signing domain and selector (`dkim`) and per SPF
//! domain (`spf`). Same conventions as the parent module.

use serde_json::{json, Value};

use super::sql::{Sql, FROM, PASS};
use super::{columns, counts, pct, table, Scope, COUNT_COLUMNS};
use crate::render::{Column, Table};
use crate::store::Store;
use rusqlite::Row;

/// `query orgs`: one row per reporter, largest volume first.
///
/// JSON keys: `org_name`, `reports` (how many reports), `messages`,
/// `messages_pass`, `messages_fail`, `pass_pct`.
pub fn orgs(store: &Store, q: &Scope<'_>) -> rusqlite::Result<Table> {
    let mut sql = Sql::default();
    let cond = sql.where_all(q);
    let limit = sql.limit(q.limit);
    let text = format!(
        "SELECT r.org_name, count(DISTINCT r.id), sum(c.count), sum({PASS}) {FROM} {cond}
         GROUP BY r.org_name ORDER BY 3 DESC, 1 {limit}"
    );
    let cols = columns(
        &[Column::text("org_name"), Column::num("reports")],
        &COUNT_COLUMNS,
    );
    table(store, cols, &text, &sql, |r| {
        let mut row = vec![json!(r.get::<_, String>(0)?), json!(r.get::<_, i64>(1)?)];
        row.extend(counts(r, 2)?);
        Ok(row)
    })
}

/// `query domains`: one row per policy domain and header_from (lower
/// case), largest volume first.
///
/// JSON keys: `policy_domain`, `header_from`, `sources` (distinct source
/// IPs), `messages`, `messages_pass`, `messages_fail`, `pass_pct`.
pub fn domains(store: &Store, q: &Scope<'_>) -> rusqlite::Result<Table> {
    let mut sql = Sql::default();
    let cond = sql.where_all(q);
    let limit = sql.limit(q.limit);
    let text = format!(
        "SELECT lower(r.policy_domain), lower(c.header_from), count(DISTINCT c.source_ip),
                sum(c.count), sum({PASS}) {FROM} {cond}
         GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2 {limit}"
    );
    let cols = columns(
        &[
            Column::text("policy_domain"),
            Column::text("header_from"),
            Column::num("sources"),
        ],
        &COUNT_COLUMNS,
    );
    table(store, cols, &text, &sql, |r| {
        let mut row = vec![
            json!(r.get::<_, String>(0)?),
            json!(r.get::<_, String>(1)?),
            json!(r.get::<_, i64>(2)?),
        ];
        row.extend(counts(r, 3)?);
        Ok(row)
    })
}

/// The columns of the `dkim` and `spf` views after their keys.
const RESULT_COLUMNS: [Column; 5] = [
    Column::num("messages"),
    Column::num("messages_pass"),
    Column::num("messages_fail"),
    Column::num("messages_other"),
    Column::num("pass_pct"),
];

/// Each auth set's DKIM results once per row key (lower-cased domain,
/// selector), however often a record repeats a signature: `pass` when any
/// of them passed, else `fail` when any failed (fail, softfail, or the
/// `hardfail` some SPF reporters write), so a message counts once per row,
/// by its best result.
const DKIM_ONCE: &str = "(SELECT auth_set, lower(domain) AS domain, selector,
        max(result = 'pass') AS pass, max(result IN ('fail', 'softfail', 'hardfail')) AS fail
    FROM dkim_result GROUP BY auth_set, lower(domain), selector)";

/// The same for SPF results, per lower-cased domain.
const SPF_ONCE: &str = "(SELECT auth_set, lower(domain) AS domain,
        max(result = 'pass') AS pass, max(result IN ('fail', 'softfail', 'hardfail')) AS fail
    FROM spf_result GROUP BY auth_set, lower(domain))";

/// Row tail for `dkim` / `spf`: messages, pass, fail at `i..i+3`.
fn result_counts(r: &Row<'_>, i: usize) -> rusqlite::Result<[Value; 5]> {
    let m: i64 = r.get(i)?;
    let p: i64 = r.get(i + 1)?;
    let f: i64 = r.get(i + 2)?;
    Ok([
        json!(m),
        json!(p),
        json!(f),
        json!(m - p - f),
        pct(p as f64, m as f64),
    ])
}

/// `query dkim`: one row per DKIM signing domain (lower case) and
/// selector from `<auth_results>`, largest volume first. These are the raw
/// DKIM results, not DMARC alignment: a message with two signatures counts
/// once in each row, a signature a record lists twice counts once (by its
/// best result: pass, else fail), and messages with no DKIM result form one
/// row whose domain and selector are null.
///
/// JSON keys: `dkim_domain`, `selector`, `messages`, `messages_pass`,
/// `messages_fail` (fail, softfail, hardfail), `messages_other` (none,
/// neutral, policy, temperror, permerror, or no signature), `pass_pct`.
pub fn dkim(store: &Store, q: &Scope<'_>) -> rusqlite::Result<Table> {
    let mut sql = Sql::default();
    let cond = sql.where_all(q);
    let limit = sql.limit(q.limit);
    let text = format!(
        "SELECT d.domain, d.selector, sum(c.count),
                sum(CASE WHEN d.pass THEN c.count ELSE 0 END),
                sum(CASE WHEN d.fail AND NOT d.pass THEN c.count ELSE 0 END)
         {FROM} LEFT JOIN {DKIM_ONCE} d ON d.auth_set = c.auth {cond}
         GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 {limit}"
    );
    let cols = columns(
        &[Column::text("dkim_domain"), Column::text("selector")],
        &RESULT_COLUMNS,
    );
    table(store, cols, &text, &sql, |r| {
        let mut row = vec![
            json!(r.get::<_, Option<String>>(0)?),
            json!(r.get::<_, Option<String>>(1)?),
        ];
        row.extend(result_counts(r, 2)?);
        Ok(row)
    })
}

/// `query spf`: one row per SPF domain (lower case) from `<auth_results>`,
/// largest volume first; like `dkim`, raw results, a domain a record lists
/// twice counted once, and records without an SPF result form one row with
/// a null domain.
///
/// JSON keys: `spf_domain`, `messages`, `messages_pass`, `messages_fail`
/// (fail, softfail, hardfail), `messages_other`, `pass_pct`.
pub fn spf(store: &Store, q: &Scope<'_>) -> rusqlite::Result<Table> {
    let mut sql = Sql::default();
    let cond = sql.where_all(q);
    let limit = sql.limit(q.limit);
    let text = format!(
        "SELECT s.domain, sum(c.count),
                sum(CASE WHEN s.pass THEN c.count ELSE 0 END),
                sum(CASE WHEN s.fail AND NOT s.pass THEN c.count ELSE 0 END)
         {FROM} LEFT JOIN {SPF_ONCE} s ON s.auth_set = c.auth {cond}
         GROUP BY 1 ORDER BY 2 DESC, 1 {limit}"
    );
    let cols = columns(&[Column::text("spf_domain")], &RESULT_COLUMNS);
    table(store, cols, &text, &sql, |r| {
        let mut row = vec![json!(r.get::<_, Option<String>>(0)?)];
        row.extend(result_counts(r, 1)?);
        Ok(row)
    })
}
