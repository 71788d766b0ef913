//! What `readiness` reads for a domain: its senders (see [`senders`]),
//! the policies reporters saw published, and its subdomains' mail.

use rusqlite::params;

use super::senders::sender_rows;
use super::Scope;
use crate::enrich::catalogue::Catalogue;
use crate::enrich::readiness::{self, Input, Published, Readiness, Seen, SenderTotals, Target};
use crate::store::Store;

/// Judges `domain` (the scope's window and `--domain`) for `target`.
pub fn readiness(
    store: &Store,
    q: &Scope<'_>,
    cat: &Catalogue,
    target: Target,
    t: &readiness::Thresholds,
) -> rusqlite::Result<Readiness> {
    let domain = q.filter.domain.clone().unwrap_or_default();
    let senders = sender_rows(store, q, cat)?
        .into_iter()
        .map(|s| SenderTotals {
            name: s.name,
            category: s.category,
            messages: s.messages,
            messages_pass: s.messages_pass,
            messages_fail: s.messages_fail,
            messages_forwarded: s.messages_forwarded,
            messages_dkim_pass: s.messages_dkim_pass,
        })
        .collect();
    let input = Input {
        seen: seen(store, q, &domain)?,
        subdomain_messages: subdomain_messages(store, q, &domain)?,
        domain,
        senders,
    };
    Ok(readiness::judge(&input, target, t))
}

/// Each reporter's distinct views of the domain's published policy.
fn seen(store: &Store, q: &Scope<'_>, domain: &str) -> rusqlite::Result<Vec<Seen>> {
    let mut st = store.conn().prepare_cached(
        "SELECT org_name, policy_p, policy_sp, policy_np, policy_pct, max(date_begin)
         FROM report WHERE policy_domain = ?1 COLLATE NOCASE
           AND date_begin >= ?2 AND date_begin < ?3
         GROUP BY org_name, policy_p, policy_sp, policy_np, policy_pct",
    )?;
    let rows = st.query_map(
        params![
            domain,
            q.window.since.unwrap_or(i64::MIN),
            q.window.until.unwrap_or(i64::MAX)
        ],
        |r| {
            Ok(Seen {
                org_name: r.get(0)?,
                policy: Published {
                    p: r.get(1)?,
                    sp: r.get(2)?,
                    np: r.get(3)?,
                    pct: r.get(4)?,
                },
                last_seen: r.get(5)?,
            })
        },
    )?;
    rows.collect()
}

/// Messages whose header From is a subdomain of `domain`.
fn subdomain_messages(store: &Store, q: &Scope<'_>, domain: &str) -> rusqlite::Result<i64> {
    let mut st = store.conn().prepare_cached(
        "SELECT coalesce(sum(c.count), 0)
         FROM report r CROSS JOIN record c ON c.report = r.id
         WHERE r.policy_domain = ?1 COLLATE NOCASE AND r.date_begin >= ?2 AND r.date_begin < ?3
           AND length(c.header_from) > length(?1)
           AND substr(c.header_from, -length(?1) - 1) = '.' || ?1 COLLATE NOCASE",
    )?;
    st.query_row(
        params![
            domain,
            q.window.since.unwrap_or(i64::MIN),
            q.window.until.unwrap_or(i64::MAX)
        ],
        |r| r.get(0),
    )
}
