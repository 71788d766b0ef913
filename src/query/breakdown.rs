//! The breakdown views: totals per reporter (`orgs`), per domain
//! (`domains`), per DKIM signing domain and selector (`dkim`) and per SPF
//! domain (`spf`). Same conventions as the parent module.

use serde_json::{json, Value};

use super::{columns, counts, pct, Scope, COUNT_COLUMNS};
use crate::render::{Column, Table};
use crate::store::{DbError, Store};

/// `query orgs`: one row per reporter, largest volume first.
///
/// JSON keys: `org_name`, `reports` (how many reports), `messages`,
/// `messages_pass`, `messages_fail`, `pass_pct`.
pub fn orgs(store: &Store, q: &Scope<'_>) -> Result<Table, DbError> {
    let cols = columns(
        &[Column::text("org_name"), Column::num("reports")],
        &COUNT_COLUMNS,
    );
    let mut t = Table::new(cols);
    for r in store.org_rows(q)? {
        let mut row = vec![json!(r.org_name), json!(r.reports)];
        row.extend(counts(r.messages, r.messages_pass));
        t.rows.push(row);
    }
    Ok(t)
}

/// `query domains`: one row per policy domain and header_from (lower
/// case), largest volume first.
///
/// JSON keys: `policy_domain`, `header_from`, `sources` (distinct source
/// IPs), `messages`, `messages_pass`, `messages_fail`, `pass_pct`.
pub fn domains(store: &Store, q: &Scope<'_>) -> Result<Table, DbError> {
    let cols = columns(
        &[
            Column::text("policy_domain"),
            Column::text("header_from"),
            Column::num("sources"),
        ],
        &COUNT_COLUMNS,
    );
    let mut t = Table::new(cols);
    for r in store.domain_rows(q)? {
        let mut row = vec![
            json!(r.policy_domain),
            json!(r.header_from),
            json!(r.sources),
        ];
        row.extend(counts(r.messages, r.messages_pass));
        t.rows.push(row);
    }
    Ok(t)
}

/// The columns of the `dkim` and `spf` views after their keys.
const RESULT_COLUMNS: [Column; 5] = [
    Column::num("messages"),
    Column::num("messages_pass"),
    Column::num("messages_fail"),
    Column::num("messages_other"),
    Column::num("pass_pct"),
];

/// Row tail for `dkim` / `spf` from messages, passing and failing ones.
fn result_counts(m: i64, p: i64, f: i64) -> [Value; 5] {
    [
        json!(m),
        json!(p),
        json!(f),
        json!(m - p - f),
        pct(p as f64, m as f64),
    ]
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
pub fn dkim(store: &Store, q: &Scope<'_>) -> Result<Table, DbError> {
    let cols = columns(
        &[Column::text("dkim_domain"), Column::text("selector")],
        &RESULT_COLUMNS,
    );
    let mut t = Table::new(cols);
    for r in store.dkim_rows(q)? {
        let mut row = vec![json!(r.dkim_domain), json!(r.selector)];
        row.extend(result_counts(r.messages, r.messages_pass, r.messages_fail));
        t.rows.push(row);
    }
    Ok(t)
}

/// `query spf`: one row per SPF domain (lower case) from `<auth_results>`,
/// largest volume first; like `dkim`, raw results, a domain a record lists
/// twice counted once, and records without an SPF result form one row with
/// a null domain.
///
/// JSON keys: `spf_domain`, `messages`, `messages_pass`, `messages_fail`
/// (fail, softfail, hardfail), `messages_other`, `pass_pct`.
pub fn spf(store: &Store, q: &Scope<'_>) -> Result<Table, DbError> {
    let mut t = Table::new(columns(&[Column::text("spf_domain")], &RESULT_COLUMNS));
    for r in store.spf_rows(q)? {
        let mut row = vec![json!(r.spf_domain)];
        row.extend(result_counts(r.messages, r.messages_pass, r.messages_fail));
        t.rows.push(row);
    }
    Ok(t)
}
