//! The per-IP totals behind the enriched views (`sources` with names,
//! `senders`, `readiness`, the alert): sums per source IP, with the
//! failing messages split for the forwarding rules
//! ([`FailSplit`](crate::enrich::forwarding::FailSplit)). What `readiness`
//! reads besides is in `readiness.rs`.
//!
//! One pass over the window's records, summed per source IP into a hash
//! map as the rows stream by, on both backends (a fold: `GROUP BY` sorts
//! on SQLite and took four times as long as reading the records on
//! PostgreSQL, see [`views::fold`](super::views::fold)); on PostgreSQL the
//! DKIM results are read before the stream (`senders/later.rs`). A
//! record's DKIM results are its auth set's, so "our own
//! signature failed" is decided once per distinct (set, From) in Rust by
//! [`forwarding::ours_failed`], the rule's own test. The reporter's
//! override reasons (rules 1 and 2) are tested in SQL, for failing records
//! only, by the same words as [`forwarding::reporter_says`] and
//! [`forwarding::arc_pass`] (a test checks they agree).

use std::collections::hash_map::Entry;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use super::views::fold::{add, RowRef};
use super::views::sql::{Dialect, Sql, PASS};
use super::{Backend, DbError, Scope, Store};
use crate::enrich::forwarding::{self, Dkim, FailSplit};
use crate::enrich::senders::IpTotals;

mod dkim;
mod domains;
mod later;
mod split;
#[cfg(test)]
pub(super) use split::connections;
mod subdomains;

use dkim::{DkimSets, Results};
use domains::{Bits, Domains};

/// Whether override reason `o` says the record was forwarded (rules 1
/// and 2 of [`forwarding`]).
const FORWARDED: &str = "(trim(o.type) IN ('forwarded', 'mailing_list', 'trusted_forwarder')
    OR (trim(o.type) = 'local_policy' AND ' ' || lower(o.comment) || ' ' GLOB '*[ ;,]arc=pass[ ;,]*'))";

/// [`FORWARDED`] in `dialect` (PostgreSQL has no `GLOB`).
fn forwarded(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => FORWARDED.to_string(),
        Dialect::Postgres => FORWARDED.replace(
            "' ' || lower(o.comment) || ' ' GLOB '*[ ;,]arc=pass[ ;,]*'",
            "(' ' || lower(o.comment) || ' ') ~ '[ ;,]arc=pass[ ;,]'",
        ),
    }
}

/// Messages of a failing record that the reporter says were forwarded.
fn overridden(dialect: Dialect) -> String {
    format!(
        "CASE WHEN c.dmarc_pass THEN 0 WHEN EXISTS (
           SELECT 1 FROM override_reason o WHERE o.report = c.report AND o.record = c.seq
           AND {}) THEN c.count ELSE 0 END",
        forwarded(dialect)
    )
}

impl Store {
    /// Per source IP in the scope, largest volume first (the scope's limit
    /// is not applied: callers group or cut).
    pub fn ip_totals(&self, q: &Scope<'_>) -> Result<Vec<IpTotals>, DbError> {
        ip_totals(self, q)
    }
}

/// What the fold needs of one auth set: its passing DKIM domains (as bits
/// of [`Domains`]), and per header From seen with it whether our own
/// signature failed (a few thousand pairs where records are millions).
struct AuthInfo {
    pass: Bits,
    broken: Vec<(String, bool)>,
}

/// One source IP's sums while the records stream by.
#[derive(Default)]
struct Sums {
    ours: bool,
    messages: i64,
    pass: i64,
    dkim_pass: i64,
    overridden: i64,
    broken: i64,
    other: i64,
    domains: Bits,
}

/// One row of [`totals_sql`]: a record's columns (SQLite: a column
/// each; PostgreSQL: `pass`, `dkim_pass`, `overridden` and `ours` as bits
/// of one flags column, see [`Rec::flagged`]).
struct Rec<'a> {
    ip: &'a str,
    ours: bool,
    auth: Option<i64>,
    from: &'a str,
    messages: i64,
    pass: i64,
    dkim_pass: i64,
    overridden: i64,
    /// Counted as a subdomain's mail (PostgreSQL, `readiness` only).
    sub: bool,
}

/// Bits of PostgreSQL's flags column ([`totals_sql`]).
const F_PASS: i64 = 1;
const F_DKIM_PASS: i64 = 2;
const F_FORWARDED: i64 = 4;
const F_OURS: i64 = 8;
const F_SUB: i64 = 16;

impl<'a> Rec<'a> {
    /// SQLite's row: ip, ours, auth, From, messages, pass, DKIM pass,
    /// overridden.
    #[inline(always)]
    fn lite(r: &'a RowRef<'a>) -> Result<Rec<'a>, DbError> {
        Ok(Rec {
            ip: r.text(0)?,
            ours: r.int(1)? != 0,
            auth: r.opt_int(2)?,
            from: r.text(3)?,
            messages: r.int(4)?,
            pass: r.int(5)?,
            dkim_pass: r.int(6)?,
            overridden: r.int(7)?,
            sub: false,
        })
    }

    /// PostgreSQL's row: ip, auth, From, messages, flags (pass, DKIM
    /// pass and forwarded are each all of the record's messages or none:
    /// one small array where there were three of bigints).
    #[inline(always)]
    fn flagged(r: &'a RowRef<'a>) -> Result<Rec<'a>, DbError> {
        let (messages, flags) = (r.int(3)?, r.int(4)?);
        let all = |bit: i64| if flags & bit != 0 { messages } else { 0 };
        Ok(Rec {
            ip: r.text(0)?,
            ours: flags & F_OURS != 0,
            auth: r.opt_int(1)?,
            from: r.text(2)?,
            messages,
            pass: all(F_PASS),
            dkim_pass: all(F_DKIM_PASS),
            overridden: all(F_FORWARDED),
            sub: flags & F_SUB != 0,
        })
    }
}

/// The rows of [`totals_sql`] summed per source IP (a fold, see
/// [`views::fold`](super::views::fold): one row per record, or on
/// PostgreSQL also per (IP, auth set, header From) for the records whose
/// auth set was not read first, see `senders/later.rs`; the sums are the
/// same).
#[derive(Default)]
struct Fold {
    domains: Domains,
    auths: HashMap<Option<i64>, AuthInfo>,
    /// Each IP's place in `sums`: growing the map moves only keys and
    /// indexes.
    index: HashMap<Box<str>, u32>,
    sums: Vec<Sums>,
}

fn ip_totals(store: &Store, q: &Scope<'_>) -> Result<Vec<IpTotals>, DbError> {
    Ok(fold_totals(store, q, None)?.0)
}

/// The per-IP totals of `q`, and on PostgreSQL with `sub` given also the
/// messages of its records that [`Store::subdomain_messages`] counts for
/// domain `sub` (the caller makes sure they are all in `q`, see
/// `senders/subdomains.rs`); 0 otherwise.
fn fold_totals(
    store: &Store,
    q: &Scope<'_>,
    sub: Option<&str>,
) -> Result<(Vec<IpTotals>, i64), DbError> {
    let (text, sql) = totals_sql_sub(store.sql(), q, sub, false);
    let (fold, subs) = match &store.backend {
        Backend::Postgres(pg) => {
            let part = totals_sql_sub(store.sql(), q, sub, true);
            later::fold_streamed(store, pg, q, (&text, &sql), part)?
        }
        Backend::Sqlite(lite) => {
            let part = totals_sql_sub(store.sql(), q, sub, true);
            (split::fold_lite(store, lite, q, (&text, &sql), part)?, 0)
        }
    };
    Ok((fold.finish(), subs))
}

impl Fold {
    /// Adds one record (or a sum of records, see `senders/later.rs`);
    /// its auth set's DKIM results are looked up in `dkim` on first sight.
    fn add(&mut self, dkim: &mut impl Results, r: &Rec<'_>) -> Result<(), DbError> {
        let (ip, ours, auth, from) = (r.ip, r.ours, r.auth, r.from);
        let (messages, pass, dkim_pass, overridden) =
            (r.messages, r.pass, r.dkim_pass, r.overridden);
        let info = match self.auths.entry(auth) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let mut bits = Bits::default();
                for (d, res) in dkim.of(auth)? {
                    if res == "pass" {
                        bits.insert(self.domains.id(d));
                    }
                }
                e.insert(AuthInfo {
                    pass: bits,
                    broken: Vec::new(),
                })
            }
        };
        let broken = match info.broken.iter().find(|(f, _)| f == from) {
            Some((_, b)) => *b,
            None => {
                let b = dkim.of(auth)?.iter().any(|(d, res)| {
                    forwarding::ours_failed(
                        &Dkim {
                            domain: d,
                            result: res,
                        },
                        from,
                    )
                });
                info.broken.push((from.to_string(), b));
                b
            }
        };
        let i = match self.index.get(ip) {
            Some(&i) => i as usize,
            None => {
                self.index.insert(ip.into(), self.sums.len() as u32);
                self.sums.push(Sums::default());
                self.sums.len() - 1
            }
        };
        let t = &mut self.sums[i];
        t.ours |= ours;
        t.messages = add(t.messages, messages)?;
        t.pass = add(t.pass, pass)?;
        t.dkim_pass = add(t.dkim_pass, dkim_pass)?;
        t.overridden = add(t.overridden, overridden)?;
        let rest = messages - pass - overridden;
        if broken {
            t.broken = add(t.broken, rest)?;
        } else {
            t.other = add(t.other, rest)?;
        }
        t.domains.union(&info.pass);
        Ok(())
    }

    /// The sums per source IP, largest first, then by IP (each IP once:
    /// the order is total, whatever order the rows came in).
    fn finish(self) -> Vec<IpTotals> {
        let Fold {
            domains,
            index,
            mut sums,
            ..
        } = self;
        // Sorted on integers: the total, then the IP's first bytes; whole
        // IPs are compared only where those are equal (a comparison of
        // two sums and two strings read out of place was a quarter of the
        // client's work after the fold on the 10M-record benchmark).
        let mut ips: Vec<(Box<str>, u32)> = index.into_iter().collect();
        let mut keys: Vec<(i64, u128, u32)> = (ips.iter().enumerate())
            .map(|(k, (ip, i))| (sums[*i as usize].messages, head(ip), k as u32))
            .collect();
        keys.sort_unstable_by(|a, b| {
            (b.0.cmp(&a.0))
                .then(a.1.cmp(&b.1))
                .then_with(|| ips[a.2 as usize].0.cmp(&ips[b.2 as usize].0))
        });
        // Many IPs pass DKIM for the same domains: named once each.
        let mut names: HashMap<Bits, Arc<[String]>> = HashMap::default();
        keys.into_iter()
            .map(|(_, _, k)| {
                let (ip, i) = std::mem::take(&mut ips[k as usize]);
                let s = std::mem::take(&mut sums[i as usize]);
                let dkim = match names.get(&s.domains) {
                    Some(v) => v.clone(),
                    None => {
                        let v: Arc<[String]> = domains.names(&s.domains).into();
                        names.insert(s.domains, v.clone());
                        v
                    }
                };
                IpTotals {
                    source_ip: ip.into(),
                    ours: s.ours,
                    messages: s.messages,
                    messages_pass: s.pass,
                    messages_dkim_pass: s.dkim_pass,
                    fail: FailSplit {
                        overridden: s.overridden,
                        our_dkim_broken: s.broken,
                        other: s.other,
                    },
                    dkim_pass_domains: dkim,
                }
            })
            .collect()
    }
}

/// The first 16 bytes of `s` as a number, zeros past its end: where two
/// strings' numbers differ, they are ordered as the strings are (a string
/// that ends first is a prefix of the other, or the first byte that
/// differs decides).
fn head(s: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

/// The query of [`Store::ip_totals`]: one row per record on SQLite; on
/// PostgreSQL one row per report, each column an array with an element
/// per record (see [`views::fold`](super::views::fold)).
#[cfg(test)]
pub(crate) fn totals_sql(sql: Sql, q: &Scope<'_>) -> (String, Sql) {
    totals_sql_sub(sql, q, None, false)
}

/// [`totals_sql`], on PostgreSQL with a flag for the records of domain
/// `sub`'s subdomains when it is given (see [`fold_totals`]), and with
/// `part` narrowed to a part of the window's reports (on both): its last
/// parameter is then their ids, a comma-separated list that
/// `senders/split.rs` fills in (read by `string_to_array`, or on SQLite as
/// a JSON array by `json_each`).
fn totals_sql_sub(mut sql: Sql, q: &Scope<'_>, sub: Option<&str>, part: bool) -> (String, Sql) {
    let ours = sql.ours(q.nets);
    let dkim_pass = "CASE WHEN c.dkim = 'pass' THEN c.count ELSE 0 END";
    if sql.dialect == Dialect::Postgres {
        // Per report, its records; the reasons of its forwarded ones are
        // read once per report into a hash that only failing records
        // probe (`hashed SubPlan` in the plan, built again for each
        // report). A merge join with them (sorting them, and every record
        // passing through the join) took a third longer; an EXISTS per
        // record was an index probe each, or a hash of every reason stored.
        // What depends on the report alone (is its policy domain the one
        // asked for) is decided once per report, in the subquery (`OFFSET
        // 0` keeps it apart): in the records' expressions it was decided
        // again for each record, a quarter of `readiness`' server time.
        let mut report = vec!["r.id".to_string()];
        let mut rec = vec!["c.report = r.id".to_string()];
        let mut filter = q.filter.clone();
        if let Some(d) = filter.domain.take() {
            let (is_domain, is_from) = sql.domain_conds(&d);
            report.push(format!("{is_domain} AS domain"));
            rec.push(format!("(r.domain OR {is_from})"));
        }
        let sub = match sub {
            Some(d) => {
                let d = sql.bind(d.to_string());
                let (is_domain, is_sub) = (
                    sql.nocase_eq("r.policy_domain", &d),
                    sql.subdomain_of("c.header_from", &d),
                );
                report.push(format!("{is_domain} AS sub_domain"));
                format!("+ CASE WHEN r.sub_domain AND {is_sub} THEN {F_SUB} ELSE 0 END")
            }
            None => String::new(),
        };
        rec.extend(sql.record_conds(&filter, q.nets));
        let mut conds = sql.report_conds(q);
        if part {
            let ids = sql.bind(String::new());
            conds.push(format!("r.id = ANY(string_to_array({ids}, ',')::bigint[])"));
        }
        let text = format!(
            "SELECT x.* FROM (SELECT {} FROM report r WHERE {} OFFSET 0) r CROSS JOIN LATERAL (
               SELECT array_agg(c.source_ip), array_agg(c.auth), array_agg(c.header_from),
                 array_agg(c.count),
                 array_agg((CASE WHEN c.dmarc_pass THEN {F_PASS}
                   WHEN c.seq IN (SELECT o.record FROM override_reason o
                     WHERE o.report = r.id AND {}) THEN {F_FORWARDED} ELSE 0 END
                   + CASE WHEN c.dkim = 'pass' THEN {F_DKIM_PASS} ELSE 0 END
                   + {F_OURS} * {ours} {sub})::int2)
               FROM record c
               WHERE {}) x",
            report.join(", "),
            conds.join(" AND "),
            forwarded(sql.dialect),
            rec.join(" AND "),
        );
        return (text, sql);
    }
    let from = sql.from();
    let overridden = overridden(sql.dialect);
    let mut cond = sql.where_all(q);
    if part {
        let ids = sql.bind(String::new());
        cond.push_str(&format!(
            " AND r.id IN (SELECT value FROM json_each('[' || {ids} || ']'))"
        ));
    }
    let text = format!(
        "SELECT c.source_ip, {ours}, c.auth, c.header_from, c.count, {PASS},
           {dkim_pass}, {overridden}
         {from} {cond}"
    );
    (text, sql)
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
        let text = overridden(Dialect::Sqlite)
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
