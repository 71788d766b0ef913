//! Named sources and senders: puts names, network facts and forwarded
//! counts on per-IP totals, and groups them into one row per sender.
//!
//! Pure: the store sums the records per source IP (with the failing ones
//! split by the forwarding rules' per-record tests) and looks the facts
//! up; this module decides the rest, the same way for `query sources`,
//! `query senders`, `readiness` and the alert texts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::catalogue::{Catalogue, Category, Evidence, Named};
use super::forwarding::{self, FailSplit};
use super::geo::NetInfo;
use super::rdns::Ptr;
use crate::store::IpFacts;

/// The name of the row for sources nobody named, ours and not.
pub const UNNAMED_OURS: &str = "(our networks)";
pub const UNNAMED: &str = "(unknown)";

/// One source IP's totals as the store sums them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpTotals {
    pub source_ip: String,
    /// In our networks (`--our-net`, `ours = true` senders' nets).
    pub ours: bool,
    pub messages: i64,
    pub messages_pass: i64,
    /// Messages whose policy-evaluated DKIM passed.
    pub messages_dkim_pass: i64,
    /// The failing messages, split for the forwarding rules.
    pub fail: FailSplit,
    /// DKIM domains that passed on its mail (auth results), lower case,
    /// sorted. Shared: many sources pass for the same domains (the
    /// 10-million-record benchmark's 210,000 sources for a few dozen
    /// sets), and a copy for each was a tenth of `senders`' time.
    pub dkim_pass_domains: Arc<[String]>,
}

/// A source with what is known about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub totals: IpTotals,
    pub named: Option<Named>,
    pub net: NetInfo,
    /// The confirmed PTR name.
    pub ptr: Option<String>,
    pub ours: bool,
    pub category: Category,
    pub messages_forwarded: i64,
}

impl Source {
    /// Failing messages that were not forwarded.
    pub fn messages_fail(&self) -> i64 {
        self.totals.messages - self.totals.messages_pass - self.messages_forwarded
    }

    /// The sender row this source belongs to.
    pub fn sender_name(&self) -> &str {
        match &self.named {
            Some(n) => &n.name,
            None if self.ours => UNNAMED_OURS,
            None => UNNAMED,
        }
    }

    /// "SendGrid (AS11377, US)", "AS64500, DE", "" — for alert texts.
    pub fn label(&self) -> String {
        let mut facts = Vec::new();
        if let Some(a) = self.net.asn {
            facts.push(format!("AS{a}"));
        }
        if let Some(c) = &self.net.country {
            facts.push(c.clone());
        }
        match (&self.named, facts.is_empty()) {
            (Some(n), true) => n.name.clone(),
            (Some(n), false) => format!("{} ({})", n.name, facts.join(", ")),
            (None, _) => facts.join(", "),
        }
    }
}

/// Names each source and counts its forwarded mail.
pub fn name_sources(
    rows: Vec<IpTotals>,
    facts: &HashMap<String, IpFacts>,
    cat: &Catalogue,
) -> Vec<Source> {
    rows.into_iter()
        .map(|t| {
            let f = facts.get(&t.source_ip);
            let net = f.and_then(|f| f.net.clone()).unwrap_or_default();
            let ptr = f.and_then(|f| f.rdns.as_ref()).and_then(|(p, _)| match p {
                Ptr::Confirmed(n) => Some(n.clone()),
                _ => None,
            });
            let dkim: Vec<&str> = t.dkim_pass_domains.iter().map(String::as_str).collect();
            let named = cat.name(&Evidence {
                ip: t.source_ip.trim().parse().ok(),
                ptr: ptr.as_deref(),
                asn: net.asn,
                as_name: net.as_name.as_deref(),
                dkim: &dkim,
            });
            let kind = named.as_ref().and_then(Named::kind);
            let ours = t.ours || named.as_ref().is_some_and(Named::ours);
            // Our own mail is judged as sent, never excused as forwarded.
            let messages_forwarded = if ours {
                0
            } else {
                forwarding::forwarded(&t.fail, kind)
            };
            let category = Category::of(named.as_ref(), ours, t.messages_pass, messages_forwarded);
            Source {
                totals: t,
                named,
                net,
                ptr,
                ours,
                category,
                messages_forwarded,
            }
        })
        .collect()
}

/// One row of `query senders`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SenderRow {
    pub name: String,
    pub category: Category,
    pub ips: usize,
    pub asns: Vec<u32>,
    pub countries: Vec<String>,
    pub messages: i64,
    pub messages_pass: i64,
    /// Failing, not forwarded.
    pub messages_fail: i64,
    pub messages_forwarded: i64,
    /// Pass % of the mail that was not forwarded (`null` without any).
    pub pass_pct: Option<f64>,
    pub dkim_domains: Vec<String>,
    #[serde(skip)]
    pub messages_dkim_pass: i64,
}

/// Groups sources by sender name (and ours or not), largest first.
pub fn group(sources: &[Source]) -> Vec<SenderRow> {
    #[derive(Default)]
    struct Acc<'a> {
        named: Option<&'a Named>,
        ips: usize,
        asns: BTreeSet<u32>,
        countries: BTreeSet<String>,
        dkim: BTreeSet<String>,
        messages: i64,
        pass: i64,
        dkim_pass: i64,
        forwarded: i64,
    }
    let mut by: BTreeMap<(&str, bool), Acc<'_>> = BTreeMap::new();
    for s in sources {
        let a = by.entry((s.sender_name(), s.ours)).or_default();
        a.named = a.named.or(s.named.as_ref());
        a.ips += 1;
        a.asns.extend(s.net.asn);
        a.countries.extend(s.net.country.clone());
        for d in s.totals.dkim_pass_domains.iter() {
            // Most are there already: a copy only for a new one.
            if !a.dkim.contains(d) {
                a.dkim.insert(d.clone());
            }
        }
        a.messages += s.totals.messages;
        a.pass += s.totals.messages_pass;
        a.dkim_pass += s.totals.messages_dkim_pass;
        a.forwarded += s.messages_forwarded;
    }
    let mut rows: Vec<SenderRow> = by
        .into_iter()
        .map(|((name, ours), a)| {
            let fail = a.messages - a.pass - a.forwarded;
            let judged = a.pass + fail;
            SenderRow {
                name: name.to_string(),
                category: Category::of(a.named, ours, a.pass, a.forwarded),
                ips: a.ips,
                asns: a.asns.into_iter().collect(),
                countries: a.countries.into_iter().collect(),
                messages: a.messages,
                messages_pass: a.pass,
                messages_fail: fail,
                messages_forwarded: a.forwarded,
                pass_pct: (judged > 0)
                    .then(|| (1000.0 * a.pass as f64 / judged as f64).round() / 10.0),
                dkim_domains: a.dkim.into_iter().collect(),
                messages_dkim_pass: a.dkim_pass,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.messages.cmp(&a.messages).then(a.name.cmp(&b.name)));
    rows
}

#[cfg(test)]
#[path = "senders_tests.rs"]
mod tests;
