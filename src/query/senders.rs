//! Named sources and senders: the store's per-IP totals with the facts it
//! keeps, named and grouped by [`enrich::senders`](crate::enrich::senders).

use crate::enrich::catalogue::Catalogue;
use crate::enrich::senders::{self, IpTotals, SenderRow, Source};
use crate::store::{DbError, Scope, Store};

/// The sources in the scope, largest first, with their names, facts and
/// forwarded counts; at most the scope's limit when `limited`.
pub fn named_sources(
    store: &Store,
    q: &Scope<'_>,
    cat: &Catalogue,
    limited: bool,
) -> Result<Vec<Source>, DbError> {
    name_totals(store, q, cat, limited, store.ip_totals(q)?)
}

/// [`named_sources`] of per-IP totals already read.
pub fn name_totals(
    store: &Store,
    q: &Scope<'_>,
    cat: &Catalogue,
    limited: bool,
    mut rows: Vec<IpTotals>,
) -> Result<Vec<Source>, DbError> {
    if let (true, Some(n)) = (limited, q.limit.filter(|n| *n > 0)) {
        rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    let ips: Vec<&str> = rows.iter().map(|r| r.source_ip.as_str()).collect();
    let facts = store.ip_facts(&ips)?;
    Ok(senders::name_sources(rows, &facts, cat))
}

/// `query senders`: one row per named sender, largest first, at most the
/// scope's limit.
pub fn sender_rows(
    store: &Store,
    q: &Scope<'_>,
    cat: &Catalogue,
) -> Result<Vec<SenderRow>, DbError> {
    Ok(limit(
        q,
        senders::group(&named_sources(store, q, cat, false)?),
    ))
}

/// The first of `rows` up to the scope's limit.
pub fn limit(q: &Scope<'_>, mut rows: Vec<SenderRow>) -> Vec<SenderRow> {
    if let Some(n) = q.limit.filter(|n| *n > 0) {
        rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    rows
}
