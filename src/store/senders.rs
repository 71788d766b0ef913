//! The per-IP totals behind the enriched views (`sources` with names,
//! `senders`, `readiness`, the alert): sums per source IP, with the
//! failing messages split for the forwarding rules
//! ([`FailSplit`](crate::enrich::forwarding::FailSplit)). What `readiness`
//! reads besides is in `readiness.rs`.
//!
//! One pass over the window's records, grouped by (source IP, auth set,
//! header From): a record's DKIM results are its auth set's, so "our own
//! signature failed" is decided once per distinct (set, From) in Rust by
//! [`forwarding::ours_failed`], the rule's own test. The reporter's
//! override reasons (rules 1 and 2) are tested in SQL, for failing records
//! only, by the same words as [`forwarding::reporter_says`] and
//! [`forwarding::arc_pass`] (a test checks they agree).

use std::collections::HashMap;

use super::views::sql::{Dialect, Sql, PASS};
use super::{DbError, Scope, Store};
use crate::enrich::forwarding::{self, Dkim};
use crate::enrich::senders::IpTotals;

/// Messages of a failing record that the reporter says were forwarded.
const OVERRIDDEN: &str = "CASE WHEN c.dmarc_pass THEN 0 WHEN EXISTS (
    SELECT 1 FROM override_reason o WHERE o.report = c.report AND o.record = c.seq
    AND (trim(o.type) IN ('forwarded', 'mailing_list', 'trusted_forwarder')
         OR (trim(o.type) = 'local_policy' AND ' ' || lower(o.comment) || ' ' GLOB '*[ ;,]arc=pass[ ;,]*')))
  THEN c.count ELSE 0 END";

/// [`OVERRIDDEN`] in `dialect` (PostgreSQL has no `GLOB`).
fn overridden(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => OVERRIDDEN.to_string(),
        Dialect::Postgres => OVERRIDDEN.replace(
            "' ' || lower(o.comment) || ' ' GLOB '*[ ;,]arc=pass[ ;,]*'",
            "(' ' || lower(o.comment) || ' ') ~ '[ ;,]arc=pass[ ;,]'",
        ),
    }
}

impl Store {
    /// Per source IP in the scope, largest volume first (the scope's limit
    /// is not applied: callers group or cut).
    pub fn ip_totals(&self, q: &Scope<'_>) -> Result<Vec<IpTotals>, DbError> {
        ip_totals(self, q)
    }
}

/// One row of [`totals_sql`]: messages, passing, DKIM-passing and
/// overridden messages of one (source IP, auth set, header From).
struct Group {
    ip: String,
    ours: bool,
    auth: Option<i64>,
    from: String,
    counts: (i64, i64, i64, i64),
}

fn ip_totals(store: &Store, q: &Scope<'_>) -> Result<Vec<IpTotals>, DbError> {
    let (text, sql) = totals_sql(store.sql(), q);
    let mut dkim = DkimSets::default();
    let mut by_ip: HashMap<String, IpTotals> = HashMap::new();
    let rows = store.rows(&text, &sql, |r| {
        Ok(Group {
            ip: r.get(0)?,
            ours: r.get(1)?,
            auth: r.get(2)?,
            from: r.get(3)?,
            counts: (r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?),
        })
    })?;
    if sql.dialect == Dialect::Postgres {
        dkim.fetch_all(store, rows.iter().filter_map(|g| g.auth))?;
    }
    for Group {
        ip,
        ours,
        auth,
        from,
        counts,
    } in rows
    {
        let (messages, pass, dkim_pass, overridden): (i64, i64, i64, i64) = counts;
        let set = dkim.get(store, auth)?;
        let t = by_ip.entry(ip.clone()).or_insert_with(|| IpTotals {
            source_ip: ip,
            ..IpTotals::default()
        });
        t.ours |= ours;
        t.messages += messages;
        t.messages_pass += pass;
        t.messages_dkim_pass += dkim_pass;
        t.fail.overridden += overridden;
        let rest = messages - pass - overridden;
        let broken = set.iter().any(|(d, res)| {
            forwarding::ours_failed(
                &Dkim {
                    domain: d,
                    result: res,
                },
                &from,
            )
        });
        if broken {
            t.fail.our_dkim_broken += rest;
        } else {
            t.fail.other += rest;
        }
        for (d, res) in set {
            if res == "pass" && !t.dkim_pass_domains.contains(d) {
                t.dkim_pass_domains.push(d.clone());
            }
        }
    }
    let mut out: Vec<IpTotals> = by_ip.into_values().collect();
    for t in &mut out {
        t.dkim_pass_domains.sort();
    }
    // Unstable is enough (one row per IP): a third fewer instructions
    // than the stable sort for the 100,000 senders of the benchmark.
    out.sort_unstable_by(|a, b| {
        b.messages
            .cmp(&a.messages)
            .then(a.source_ip.cmp(&b.source_ip))
    });
    Ok(out)
}

/// The grouping query of [`Store::ip_totals`].
pub(crate) fn totals_sql(mut sql: Sql, q: &Scope<'_>) -> (String, Sql) {
    let ours = sql.ours(q.nets);
    let from = sql.from();
    let messages = sql.sum("c.count");
    let pass = sql.sum(PASS);
    let dkim_pass = sql.sum("CASE WHEN c.dkim = 'pass' THEN c.count ELSE 0 END");
    let overridden = sql.sum(&overridden(sql.dialect));
    let cond = sql.where_all(q);
    let text = format!(
        "SELECT c.source_ip, max({ours}), c.auth, c.header_from, {messages}, {pass},
           {dkim_pass}, {overridden}
         {from} {cond} GROUP BY c.source_ip, c.auth, c.header_from"
    );
    (text, sql)
}

/// The DKIM results of each auth set, read once: (domain, result), the
/// domain lower case.
#[derive(Default)]
struct DkimSets {
    sets: HashMap<i64, Vec<(String, String)>>,
}

impl DkimSets {
    /// Reads the sets `ids` in one query (on PostgreSQL, where a query per
    /// set is a round trip to the server: a thousand of them took longer
    /// than the grouping query on the 10M-record benchmark database).
    fn fetch_all(&mut self, store: &Store, ids: impl Iterator<Item = i64>) -> Result<(), DbError> {
        let mut ids: Vec<i64> = ids.collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        let mut sql = store.sql();
        let text = format!(
            "SELECT auth_set, domain, result FROM dkim_result
             WHERE auth_set = ANY(string_to_array({}, ',')::bigint[])",
            sql.bind(list.join(","))
        );
        for id in ids {
            self.sets.insert(id, Vec::new());
        }
        let rows = store.rows(&text, &sql, |r| {
            let (id, d, res): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok((id, d, res))
        })?;
        for (id, d, res) in rows {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            self.sets.entry(id).or_default().push((d, res));
        }
        Ok(())
    }

    fn get(&mut self, store: &Store, auth: Option<i64>) -> Result<&[(String, String)], DbError> {
        let Some(id) = auth else {
            return Ok(&[]);
        };
        if let std::collections::hash_map::Entry::Vacant(e) = self.sets.entry(id) {
            let mut sql = store.sql();
            let text = format!(
                "SELECT domain, result FROM dkim_result WHERE auth_set = {}",
                sql.bind(id)
            );
            let v = store.rows(&text, &sql, |r| {
                let d: String = r.get(0)?;
                let res: String = r.get(1)?;
                Ok((d.trim().trim_end_matches('.').to_ascii_lowercase(), res))
            })?;
            e.insert(v);
        }
        Ok(self.sets.get(&id).map(Vec::as_slice).unwrap_or(&[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::forwarding::{arc_pass, reporter_says, Reason};

    /// The SQL test of rules 1 and 2 says what the Rust functions say.
    #[test]
    fn override_sql_agrees_with_the_rules() {
        let store = Store::open_in_memory().unwrap();
        let cases: &[(&str, Option<&str>)] = &[
            ("forwarded", None),
            ("mailing_list", Some("list")),
            ("trusted_forwarder", None),
            ("local_policy", Some("arc=pass")),
            ("local_policy", Some("spf=fail; arc=pass")),
            ("local_policy", Some("ARC=PASS")),
            ("local_policy", Some("arc=passed")),
            ("local_policy", Some("arc=fail")),
            ("local_policy", None),
            ("sampled_out", Some("arc=pass")),
            ("other", None),
        ];
        let text = OVERRIDDEN
            .replace("c.dmarc_pass", "0")
            .replace("o.report = c.report AND o.record = c.seq", "1")
            .replace("c.count", "1")
            .replace(
                "FROM override_reason o",
                "FROM (SELECT ?1 AS type, ?2 AS comment) o",
            );
        for (kind, comment) in cases {
            let sql: i64 = store
                .conn
                .query_row(
                    &format!("SELECT {text}"),
                    rusqlite::params![kind, comment],
                    |r| r.get(0),
                )
                .unwrap();
            let r = [Reason {
                kind,
                comment: *comment,
            }];
            let rust = reporter_says(&r).is_some() || arc_pass(&r);
            assert_eq!(sql == 1, rust, "{kind} {comment:?}");
        }
    }
}
