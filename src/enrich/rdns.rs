//! Reverse DNS: the PTR name of each source IP, confirmed forward (the
//! name resolves back to the same address, so a PTR cannot claim to be
//! `google.com` by itself), through `hickory-resolver`.
//!
//! Lookups run on a current-thread tokio runtime made for the call; no
//! async type leaves this module. At most `concurrency` addresses are in
//! flight, each bounded by `timeout` (PTR and forward lookups together).
//! A server that does not answer must not hold the run up: once
//! `concurrency` lookups in a row (at least 4) have failed without an
//! answer and none has succeeded since, the remaining addresses are not
//! tried; they come back [`Ptr::Failed`] and the caller warns and keeps
//! them due for next time. Answers — a confirmed or unconfirmed name, or
//! no name at all (NXDOMAIN or no PTR record) — are what the store caches
//! with their lookup time ([`due`] says when to ask again); failures are
//! not cached.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::{Resolver, TokioResolver};

use super::geo::canonical;

/// How to look names up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The DNS server (`--dns-server IP:PORT`); the system's when `None`.
    pub server: Option<SocketAddr>,
    /// For one address, PTR and forward lookups together.
    pub timeout: Duration,
    /// Addresses looked up at once.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            server: None,
            timeout: Duration::from_secs(3),
            concurrency: 16,
        }
    }
}

/// What reverse DNS says about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ptr {
    /// A PTR name that resolves back to the address (lower case, no final dot).
    Confirmed(String),
    /// A PTR name that does not resolve back to the address.
    Unconfirmed(String),
    /// No name: NXDOMAIN, or the name exists without a PTR record.
    None,
    /// No answer (timeout, server failure, not tried): not cached.
    Failed(String),
}

impl Ptr {
    /// Whether the store keeps it (everything but a failure).
    pub fn is_answer(&self) -> bool {
        !matches!(self, Ptr::Failed(_))
    }

    /// The confirmed name, the only one to name a sender by.
    pub fn confirmed(&self) -> Option<&str> {
        match self {
            Ptr::Confirmed(n) => Some(n),
            _ => None,
        }
    }
}

/// The resolver could not be set up (no usable system configuration).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up DNS lookups: {0}")]
pub struct RdnsError(String);

/// Whether a cached answer from `looked_up_at` is due again at `now`.
pub fn due(looked_up_at: Option<i64>, now: i64, max_age: Duration) -> bool {
    match looked_up_at {
        None => true,
        Some(t) => now.saturating_sub(t) >= max_age.as_secs() as i64,
    }
}

/// Looks up every address; results in the order given.
pub fn lookup_all(ips: &[IpAddr], opts: &Options) -> Result<Vec<(IpAddr, Ptr)>, RdnsError> {
    if ips.is_empty() {
        return Ok(Vec::new());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RdnsError(e.to_string()))?;
    rt.block_on(run(ips, opts))
}

fn resolver(opts: &Options) -> Result<TokioResolver, RdnsError> {
    let mut b = match opts.server {
        Some(addr) => {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| RdnsError(e.to_string()))?,
    };
    let o = b.options_mut();
    o.timeout = opts.timeout;
    o.attempts = 1;
    o.use_hosts_file = ResolveHosts::Never;
    b.build().map_err(|e| RdnsError(e.to_string()))
}

async fn run(ips: &[IpAddr], opts: &Options) -> Result<Vec<(IpAddr, Ptr)>, RdnsError> {
    let resolver = resolver(opts)?;
    let width = opts.concurrency.max(1);
    let give_up = width.max(4);
    let mut out: Vec<Option<Ptr>> = vec![None; ips.len()];
    let mut tasks = tokio::task::JoinSet::new();
    let (mut next, mut failing) = (0, 0usize);
    loop {
        while tasks.len() < width && next < ips.len() && failing < give_up {
            let (r, ip, t) = (resolver.clone(), canonical(ips[next]), opts.timeout);
            let i = next;
            tasks.spawn(async move {
                let ptr = match tokio::time::timeout(t, one(&r, ip)).await {
                    Ok(p) => p,
                    Err(_) => Ptr::Failed(format!("no answer within {} ms", t.as_millis())),
                };
                (i, ptr)
            });
            next += 1;
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let (i, ptr) = done.map_err(|e| RdnsError(e.to_string()))?;
        failing = if ptr.is_answer() { 0 } else { failing + 1 };
        out[i] = Some(ptr);
    }
    let skipped = || Ptr::Failed("not tried: the DNS server stopped answering".into());
    Ok(ips
        .iter()
        .zip(out)
        .map(|(ip, p)| (*ip, p.unwrap_or_else(skipped)))
        .collect())
}

/// PTR, then each name's addresses until one is `ip`.
async fn one(r: &TokioResolver, ip: IpAddr) -> Ptr {
    let names = match r.reverse_lookup(Name::from(ip)).await {
        Ok(l) => l
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>(),
        Err(e) if no_name(&e) => return Ptr::None,
        Err(e) => return Ptr::Failed(e.to_string()),
    };
    let Some(first) = names.first().cloned() else {
        return Ptr::None;
    };
    for name in names {
        match r.lookup_ip(format!("{name}.")).await {
            Ok(found) if found.iter().any(|a| canonical(a) == ip) => return Ptr::Confirmed(name),
            Ok(_) => {}
            Err(e) if no_name(&e) => {}
            Err(e) => return Ptr::Failed(e.to_string()),
        }
    }
    Ptr::Unconfirmed(first)
}

/// NXDOMAIN or an empty answer: a real answer, "no name".
fn no_name(e: &NetError) -> bool {
    e.is_nx_domain() || e.is_no_records_found()
}

#[cfg(test)]
#[path = "rdns_tests.rs"]
mod tests;
