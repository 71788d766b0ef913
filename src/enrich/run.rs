//! The `enrich` run: looks up network facts and reverse DNS for the source
//! IPs that need them and hands the answers to the store.
//!
//! Which IPs: those of the reports stored since the last run (the store
//! keeps the mark), every IP already enriched when `refresh` is set (new
//! databases), and, for reverse DNS, every IP whose cached answer is older
//! than `rdns_max_age`. A failed reverse-DNS lookup is a warning, never an
//! error: the run goes on, nothing is cached for that IP, and the mark is
//! not moved past its reports, so the next run asks again.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::geo::{Geo, GeoError};
use super::rdns::{self, Ptr, RdnsError};
use crate::store::Store;

/// What to look up.
#[derive(Debug, Default)]
pub struct Options {
    pub geo: Geo,
    /// Reverse DNS, when on.
    pub rdns: Option<rdns::Options>,
    pub rdns_max_age: Duration,
    /// Look every known IP up again in the databases.
    pub refresh: bool,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// IPs looked up in the databases, and how many they knew.
    pub geo_looked_up: usize,
    pub geo_found: usize,
    /// IPs asked by reverse DNS; confirmed names; no name; failures.
    pub rdns_asked: usize,
    pub rdns_confirmed: usize,
    pub rdns_none: usize,
    pub rdns_failed: usize,
    /// For the caller to print (a failing DNS server, say).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error(transparent)]
    Rdns(#[from] RdnsError),
    #[error("database: {0}")]
    Db(#[from] crate::store::DbError),
}

/// Enriches what needs it; `now` is the lookup time stored.
pub fn run(store: &mut Store, opts: &Options, now: i64) -> Result<Summary, EnrichError> {
    let mut sum = Summary::default();
    let (fresh, mark) = store.unenriched_ips()?;
    let known = store.enriched_ips()?;
    let parse = |s: &String| s.trim().parse::<IpAddr>().ok().map(|ip| (s.clone(), ip));
    if !opts.geo.is_empty() {
        let ips: BTreeSet<&String> = if opts.refresh {
            fresh.iter().chain(&known).collect()
        } else {
            fresh.iter().collect()
        };
        let mut facts = Vec::with_capacity(ips.len());
        for (text, ip) in ips.into_iter().filter_map(parse) {
            let info = opts.geo.lookup(ip)?;
            sum.geo_looked_up += 1;
            if info != Default::default() {
                sum.geo_found += 1;
            }
            facts.push((text, info));
        }
        store.put_net_facts(&facts, now)?;
    }
    if let Some(ropts) = &opts.rdns {
        let all: Vec<String> = fresh
            .iter()
            .chain(&known)
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let when = store.rdns_looked_up(&all)?;
        let due: Vec<(String, IpAddr)> = all
            .iter()
            .zip(when)
            .filter(|(_, w)| rdns::due(*w, now, opts.rdns_max_age))
            .filter_map(|(s, _)| parse(s))
            .collect();
        let ips: Vec<IpAddr> = due.iter().map(|(_, ip)| *ip).collect();
        let answers = rdns::lookup_all(&ips, ropts)?;
        let mut first_failure = None;
        let answers: Vec<(String, Ptr)> = due
            .into_iter()
            .zip(answers)
            .map(|((text, _), (_, p))| {
                match &p {
                    Ptr::Confirmed(_) => sum.rdns_confirmed += 1,
                    Ptr::None => sum.rdns_none += 1,
                    Ptr::Unconfirmed(_) => {}
                    Ptr::Failed(why) => {
                        sum.rdns_failed += 1;
                        first_failure.get_or_insert_with(|| format!("{text}: {why}"));
                    }
                }
                (text, p)
            })
            .collect();
        sum.rdns_asked = answers.len();
        store.put_rdns(&answers, now)?;
        if let Some(first) = first_failure {
            sum.warnings.push(format!(
                "reverse DNS failed for {} of {} addresses (first: {first}); they are asked again next time",
                sum.rdns_failed, sum.rdns_asked
            ));
        }
    }
    // Failed lookups keep their reports' IPs due for the next run.
    if sum.rdns_failed == 0 {
        store.mark_enriched(mark)?;
    }
    Ok(sum)
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
