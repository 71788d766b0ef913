//! What `readiness` reads for a domain: its senders (see
//! [`sender_rows`](super::sender_rows)), the policies reporters saw
//! published, and its subdomains' mail; judged by
//! [`enrich::readiness`](crate::enrich::readiness).

use super::senders::{limit, name_totals};
use crate::enrich::catalogue::Catalogue;
use crate::enrich::readiness::{self, Input, Readiness, SenderTotals, Target};
use crate::enrich::senders::group;
use crate::store::{DbError, Scope, Store};

/// Judges the scope's `--domain` in its window for `target`.
pub fn readiness(
    store: &Store,
    q: &Scope<'_>,
    cat: &Catalogue,
    target: Target,
    t: &readiness::Thresholds,
) -> Result<Readiness, DbError> {
    let domain = q.filter.domain.clone().unwrap_or_default();
    // On PostgreSQL the subdomains' mail is counted in the same pass.
    let (totals, subdomain_messages) = store.readiness_totals(q, &domain)?;
    let senders = limit(q, group(&name_totals(store, q, cat, false, totals)?))
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
        seen: store.policies_seen(q, &domain)?,
        subdomain_messages,
        domain,
        senders,
    };
    Ok(readiness::judge(&input, target, t))
}
