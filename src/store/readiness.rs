//! What `readiness` reads besides the per-IP totals (`senders.rs`): the
//! policies reporters saw published for a domain, and the mail from its
//! subdomains. Written once for both backends with the views' SQL builder
//! (`views/sql.rs` spells the case-blind comparisons).

use super::{DbError, Scope, Store};
use crate::enrich::readiness::{Published, Seen};

impl Store {
    /// Each reporter's distinct views of `domain`'s published policy in
    /// the window, with the newest report date of each (ordered by
    /// reporter and policy, the same on both backends).
    pub fn policies_seen(&self, q: &Scope<'_>, domain: &str) -> Result<Vec<Seen>, DbError> {
        let mut sql = self.sql();
        let d = sql.bind(domain.to_string());
        let is_domain = sql.nocase_eq("policy_domain", &d);
        let (lo, hi) = (sql.bind(q.window.lo()), sql.bind(q.window.hi()));
        let text = format!(
            "SELECT org_name, policy_p, policy_sp, policy_np, policy_pct, max(date_begin)
             FROM report WHERE {is_domain} AND date_begin >= {lo} AND date_begin < {hi}
             GROUP BY org_name, policy_p, policy_sp, policy_np, policy_pct
             ORDER BY 1, 2 NULLS FIRST, 3 NULLS FIRST, 4 NULLS FIRST, 5 NULLS FIRST"
        );
        self.rows(&text, &sql, |r| {
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
        })
    }

    /// Messages in the window whose header From is a subdomain of `domain`.
    pub fn subdomain_messages(&self, q: &Scope<'_>, domain: &str) -> Result<i64, DbError> {
        let mut sql = self.sql();
        let d = sql.bind(domain.to_string());
        let is_domain = sql.nocase_eq("r.policy_domain", &d);
        let sub = sql.subdomain_of("c.header_from", &d);
        let (lo, hi) = (sql.bind(q.window.lo()), sql.bind(q.window.hi()));
        let from = sql.from();
        let messages = sql.sum("c.count");
        let text = format!(
            "SELECT coalesce({messages}, 0) {from}
             WHERE {is_domain} AND r.date_begin >= {lo} AND r.date_begin < {hi} AND {sub}"
        );
        Ok(self.value(&text, &sql)?.unwrap_or(0))
    }
}
