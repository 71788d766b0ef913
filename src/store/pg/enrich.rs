//! Enrichment on PostgreSQL: the network facts (`net_fact`) and reverse-DNS
//! cache (`rdns`) of source IPs, the same operations as SQLite's
//! `netfacts.rs` (whose doc says what the tables are), and the writes of
//! `copy` (`sender_facts.rs`).
//!
//! Every write is one statement for all its rows (arrays bound and
//! `unnest`ed): one round trip to the server, however many IPs `enrich`
//! looked up. Each row also gets the address as `inet` (`addr`, NULL when
//! the text does not parse), for psql and dashboards; the views look names
//! up by the text as the reporter wrote it, as on SQLite.
//!
//! The reads take their IPs (for the views, all of a window's sources: a
//! few hundred thousand) as one array, joined to the table: with `ip =
//! ANY($1)` the planner weighed each element of the array in turn, 60-160
//! ms a statement for 218,000 IPs before anything was read.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::super::netfacts::{IpFacts, ENRICHED};
use super::super::sender_facts::{NetFactRow, RdnsRow};
use super::super::DbError;
use super::Pg;
use crate::enrich::geo::NetInfo;
use crate::enrich::rdns::Ptr;

/// Replaces the `net_fact` rows of `rows`' IPs, or with `newer_only`
/// only those looked up before the given row was.
const PUT_NET: &str =
    "INSERT INTO net_fact (ip, addr, asn, as_name, as_domain, country, looked_up_at)
     SELECT * FROM unnest($1::text[], $2::inet[], $3::int8[], $4::text[], $5::text[], $6::text[],
                          $7::int8[])
     ON CONFLICT (ip) DO UPDATE SET addr = excluded.addr, asn = excluded.asn,
       as_name = excluded.as_name, as_domain = excluded.as_domain, country = excluded.country,
       looked_up_at = excluded.looked_up_at
     WHERE NOT $8 OR excluded.looked_up_at > net_fact.looked_up_at";

/// [`PUT_NET`] for `rdns`.
const PUT_RDNS: &str = "INSERT INTO rdns (ip, addr, ptr, confirmed, looked_up_at)
     SELECT * FROM unnest($1::text[], $2::inet[], $3::text[], $4::bool[], $5::int8[])
     ON CONFLICT (ip) DO UPDATE SET addr = excluded.addr, ptr = excluded.ptr,
       confirmed = excluded.confirmed, looked_up_at = excluded.looked_up_at
     WHERE NOT $6 OR excluded.looked_up_at > rdns.looked_up_at";

fn addr(ip: &str) -> Option<IpAddr> {
    ip.trim().parse().ok()
}

impl Pg {
    /// See [`super::super::sqlite::Lite::unenriched_ips`].
    pub fn unenriched_ips(&self) -> Result<(Vec<String>, i64), DbError> {
        let mut c = self.client.borrow_mut();
        let done: i64 = c
            .query_opt("SELECT value FROM state WHERE key = $1", &[&ENRICHED])?
            .map(|r| r.get(0))
            .unwrap_or(0);
        let last: i64 = c
            .query_one("SELECT coalesce(max(id), 0) FROM report", &[])?
            .get(0);
        let st = c.prepared(
            "SELECT DISTINCT c.source_ip FROM record c WHERE c.report > $1 AND c.report <= $2",
        )?;
        let rows = c.client.query(&st, &[&done, &last])?;
        Ok((rows.iter().map(|r| r.get(0)).collect(), last))
    }

    /// See [`super::super::sqlite::Lite::mark_enriched`].
    pub fn mark_enriched(&self, report: i64) -> Result<(), DbError> {
        self.client.borrow_mut().execute(
            "INSERT INTO state (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = greatest(state.value, excluded.value)",
            &[&ENRICHED, &report],
        )?;
        Ok(())
    }

    /// See [`super::super::sqlite::Lite::enriched_ips`].
    pub fn enriched_ips(&self) -> Result<Vec<String>, DbError> {
        let rows = self.client.borrow_mut().client.query(
            "SELECT ip FROM net_fact UNION SELECT ip FROM rdns ORDER BY 1",
            &[],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Writes `rows` (one per IP: the last wins); with `newer_only` an IP's
    /// row is replaced only by a later lookup. Returns the rows written.
    pub fn put_net_fact_rows(&self, rows: &[NetFactRow], newer_only: bool) -> Result<u64, DbError> {
        let rows: BTreeMap<&str, &NetFactRow> = rows.iter().map(|r| (r.ip.as_str(), r)).collect();
        if rows.is_empty() {
            return Ok(0);
        }
        let ips: Vec<&str> = rows.keys().copied().collect();
        let addrs: Vec<Option<IpAddr>> = ips.iter().map(|ip| addr(ip)).collect();
        let v = || rows.values();
        let asn: Vec<Option<i64>> = v().map(|r| r.net.asn.map(i64::from)).collect();
        let as_name: Vec<Option<&str>> = v().map(|r| r.net.as_name.as_deref()).collect();
        let as_domain: Vec<Option<&str>> = v().map(|r| r.net.as_domain.as_deref()).collect();
        let country: Vec<Option<&str>> = v().map(|r| r.net.country.as_deref()).collect();
        let at: Vec<i64> = v().map(|r| r.looked_up_at).collect();
        Ok(self.client.borrow_mut().execute(
            PUT_NET,
            &[
                &ips,
                &addrs,
                &asn,
                &as_name,
                &as_domain,
                &country,
                &at,
                &newer_only,
            ],
        )?)
    }

    /// [`Pg::put_net_fact_rows`] for `rdns` (failed lookups are skipped).
    pub fn put_rdns_rows(&self, rows: &[RdnsRow], newer_only: bool) -> Result<u64, DbError> {
        let rows: BTreeMap<&str, &RdnsRow> = rows
            .iter()
            .filter(|r| r.ptr.is_answer())
            .map(|r| (r.ip.as_str(), r))
            .collect();
        if rows.is_empty() {
            return Ok(0);
        }
        let ips: Vec<&str> = rows.keys().copied().collect();
        let addrs: Vec<Option<IpAddr>> = ips.iter().map(|ip| addr(ip)).collect();
        let (mut ptr, mut confirmed, mut at) = (Vec::new(), Vec::new(), Vec::new());
        for r in rows.values() {
            let (name, ok) = match &r.ptr {
                Ptr::Confirmed(n) => (Some(n.as_str()), true),
                Ptr::Unconfirmed(n) => (Some(n.as_str()), false),
                Ptr::None | Ptr::Failed(_) => (None, false),
            };
            ptr.push(name);
            confirmed.push(ok);
            at.push(r.looked_up_at);
        }
        Ok(self.client.borrow_mut().execute(
            PUT_RDNS,
            &[&ips, &addrs, &ptr, &confirmed, &at, &newer_only],
        )?)
    }

    /// See [`super::super::sqlite::Lite::rdns_looked_up`].
    pub fn rdns_looked_up(&self, ips: &[String]) -> Result<Vec<Option<i64>>, DbError> {
        let rows = self.client.borrow_mut().client.query(
            "SELECT d.ip, d.looked_up_at FROM unnest($1::text[]) u(ip) JOIN rdns d ON d.ip = u.ip",
            &[&ips],
        )?;
        let when: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(ips.iter().map(|ip| when.get(ip).copied()).collect())
    }

    /// See [`super::super::sqlite::Lite::ip_facts`]: a statement for all
    /// of `ips` per table, unless the table has no rows at all (nothing
    /// enriched yet: sending the list would cost more than the rest).
    pub fn ip_facts(&self, ips: &[&str]) -> Result<HashMap<String, IpFacts>, DbError> {
        let mut out: HashMap<String, IpFacts> = HashMap::new();
        if ips.is_empty() {
            return Ok(out);
        }
        let mut c = self.client.borrow_mut();
        let any = c.query_one(
            "SELECT EXISTS (SELECT 1 FROM net_fact), EXISTS (SELECT 1 FROM rdns)",
            &[],
        )?;
        let (nets, names): (bool, bool) = (any.try_get(0)?, any.try_get(1)?);
        if nets {
            let st = c.prepared(
                "SELECT n.ip, n.asn, n.as_name, n.as_domain, n.country
                 FROM unnest($1::text[]) u(ip) JOIN net_fact n ON n.ip = u.ip",
            )?;
            for r in c.client.query(&st, &[&ips])? {
                let asn: Option<i64> = r.try_get(1)?;
                out.entry(r.try_get(0)?).or_default().net = Some(NetInfo {
                    asn: asn.and_then(|n| u32::try_from(n).ok()),
                    as_name: r.try_get(2)?,
                    as_domain: r.try_get(3)?,
                    country: r.try_get(4)?,
                });
            }
        }
        if names {
            let st = c.prepared(
                "SELECT d.ip, d.ptr, d.confirmed, d.looked_up_at
                 FROM unnest($1::text[]) u(ip) JOIN rdns d ON d.ip = u.ip",
            )?;
            for r in c.client.query(&st, &[&ips])? {
                let ptr: Option<String> = r.try_get(1)?;
                let p = match ptr {
                    Some(n) if r.try_get::<_, bool>(2)? => Ptr::Confirmed(n),
                    Some(n) => Ptr::Unconfirmed(n),
                    None => Ptr::None,
                };
                out.entry(r.try_get(0)?).or_default().rdns = Some((p, r.try_get(3)?));
            }
        }
        Ok(out)
    }

    /// See [`super::super::sqlite::Lite::forget_enrichment`]: one
    /// message of three statements, which the server runs as one
    /// transaction (or as part of the open group).
    pub fn forget_enrichment(&self) -> Result<(), DbError> {
        Ok(self.client.borrow_mut().batch_execute(
            "DELETE FROM net_fact; DELETE FROM rdns; DELETE FROM state WHERE key = 'enrich_report';",
        )?)
    }
}
