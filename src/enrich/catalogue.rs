//! Sender names: which service or organisation sends from a source IP,
//! and on what evidence.
//!
//! The name comes from the first of these that matches:
//!
//! 1. the user's `[[sender]]` entries in the config, in order (an entry
//!    matches by `nets`, by `ptr_suffixes` against the confirmed PTR name,
//!    or by `dkim_domains` against the DKIM domains that passed); an entry
//!    with `ours = true` makes the source ours;
//! 2. the built-in catalogue ([`services::SERVICES`]): by the confirmed PTR
//!    name's domain, then by AS number, then by a passing DKIM domain;
//! 3. the AS name from the AS database (category unknown);
//! 4. the base domain of the confirmed PTR name, by the public suffix
//!    list (category unknown).
//!
//! Only a PTR name confirmed forward counts (anyone can publish any PTR
//! for their own addresses), and only DKIM signatures that passed (anyone
//! can write `d=sendgrid.net` on a signature that fails). Domain matches
//! are on label boundaries: `x.mail.google.com` is under `google.com`,
//! `notgoogle.com` is not. Pure: the caller gathers the evidence.

mod services;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

pub use services::SERVICES;

/// What a catalogued service is, which decides how its failures read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Hosts mailboxes (Google, Microsoft 365, Yahoo, ...): its users'
    /// forwarding rules relay our mail through it.
    Mailbox,
    /// Sends on a customer's behalf (SES, SendGrid, ...).
    Esp,
    /// A security gateway in front of mailboxes; relays mail on.
    Gateway,
    /// A mailing-list service: redistributes mail to its members.
    List,
}

/// One catalogue entry; see [`services`] for where the data comes from.
#[derive(Debug, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    pub kind: Kind,
    /// Domains its sending hosts' PTR names end in.
    pub ptr: &'static [&'static str],
    /// AS numbers that are the service's own.
    pub asns: &'static [u32],
    /// Domains it DKIM-signs with by default.
    pub dkim: &'static [&'static str],
}

/// The catalogue entry called `name`.
pub fn service(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name == name)
}

/// A `[[sender]]` entry as written in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SenderFile {
    pub name: String,
    #[serde(default)]
    pub nets: Vec<String>,
    #[serde(default)]
    pub dkim_domains: Vec<String>,
    #[serde(default)]
    pub ptr_suffixes: Vec<String>,
    #[serde(default)]
    pub ours: bool,
}

/// A `[[sender]]` entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub name: String,
    pub nets: Vec<IpNet>,
    pub dkim_domains: Vec<String>,
    pub ptr_suffixes: Vec<String>,
    pub ours: bool,
}

impl Sender {
    /// Checks a config entry: networks must parse, names are lower-cased.
    pub fn from_file(f: &SenderFile) -> Result<Sender, String> {
        let nets = f
            .nets
            .iter()
            .map(|n| crate::config::parse_net(n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("[[sender]] {:?}: {e}", f.name))?;
        let low = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|d| d.trim().trim_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect()
        };
        Ok(Sender {
            name: f.name.trim().to_string(),
            nets,
            dkim_domains: low(&f.dkim_domains),
            ptr_suffixes: low(&f.ptr_suffixes),
            ours: f.ours,
        })
    }

    fn matches(&self, e: &Evidence<'_>) -> Option<Basis> {
        if let Some(ip) = e.ip {
            let ip = super::geo::canonical(ip);
            if self.nets.iter().any(|n| n.contains(&ip)) {
                return Some(Basis::Net);
            }
        }
        if let Some(ptr) = e.ptr {
            if self.ptr_suffixes.iter().any(|s| under(ptr, s)) {
                return Some(Basis::Ptr);
            }
        }
        let dkim = e
            .dkim
            .iter()
            .any(|d| self.dkim_domains.iter().any(|s| under(d, s)));
        dkim.then_some(Basis::Dkim)
    }
}

/// What is known about one source IP. Names are lower case.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    pub ip: Option<IpAddr>,
    /// The PTR name, only when confirmed forward.
    pub ptr: Option<&'a str>,
    pub asn: Option<u32>,
    pub as_name: Option<&'a str>,
    /// DKIM signing domains that passed on mail from this IP.
    pub dkim: &'a [&'a str],
}

/// Which evidence gave the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Net,
    Ptr,
    Asn,
    Dkim,
    AsName,
    PtrDomain,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Net => "net",
            Basis::Ptr => "ptr",
            Basis::Asn => "asn",
            Basis::Dkim => "dkim",
            Basis::AsName => "as_name",
            Basis::PtrDomain => "ptr_domain",
        }
    }
}

/// Where the name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `[[sender]]` entry; `ours` as it says.
    User { ours: bool },
    /// A catalogue entry.
    Catalogue(&'static Service),
    /// Neither: an AS name or a PTR domain, an unknown sender with a label.
    Label,
}

/// A source IP's name and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub basis: Basis,
    pub origin: Origin,
}

impl Named {
    pub fn ours(&self) -> bool {
        matches!(self.origin, Origin::User { ours: true })
    }

    /// A named sender one can set up (ours, or a known service); a label
    /// names nobody to ask.
    pub fn known(&self) -> bool {
        !matches!(self.origin, Origin::Label)
    }

    /// The catalogue kind, when it is a catalogued service.
    pub fn kind(&self) -> Option<Kind> {
        match self.origin {
            Origin::Catalogue(s) => Some(s.kind),
            _ => None,
        }
    }
}

/// The user's entries in front of the built-in catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub user: Vec<Sender>,
}

impl Catalogue {
    pub fn new(user: Vec<Sender>) -> Catalogue {
        Catalogue { user }
    }

    /// The name for `e`, or `None` when nothing is known.
    pub fn name(&self, e: &Evidence<'_>) -> Option<Named> {
        for u in &self.user {
            if let Some(basis) = u.matches(e) {
                return Some(Named {
                    name: u.name.clone(),
                    basis,
                    origin: Origin::User { ours: u.ours },
                });
            }
        }
        let found = |basis, test: &dyn Fn(&Service) -> bool| {
            SERVICES.iter().find(|s| test(s)).map(|s| Named {
                name: s.name.to_string(),
                basis,
                origin: Origin::Catalogue(s),
            })
        };
        let by_ptr = |s: &Service| e.ptr.is_some_and(|p| s.ptr.iter().any(|d| under(p, d)));
        let by_asn = |s: &Service| e.asn.is_some_and(|a| s.asns.contains(&a));
        let by_dkim = |s: &Service| e.dkim.iter().any(|d| s.dkim.iter().any(|x| under(d, x)));
        found(Basis::Ptr, &by_ptr)
            .or_else(|| found(Basis::Asn, &by_asn))
            .or_else(|| found(Basis::Dkim, &by_dkim))
            .or_else(|| label(e.as_name, Basis::AsName))
            .or_else(|| label(e.ptr.and_then(base_domain), Basis::PtrDomain))
    }
}

fn label(name: Option<&str>, basis: Basis) -> Option<Named> {
    let name = name.map(str::trim).filter(|n| !n.is_empty())?;
    Some(Named {
        name: name.to_string(),
        basis,
        origin: Origin::Label,
    })
}

/// The registrable domain of `name` by the public suffix list
/// (`mail-ed1-f69.google.com` → `google.com`, `a.b.example.co.uk` →
/// `example.co.uk`).
pub fn base_domain(name: &str) -> Option<&str> {
    psl::domain_str(name.trim_end_matches('.'))
}

/// Whether `name` is `domain` or under it, on a label boundary.
pub fn under(name: &str, domain: &str) -> bool {
    let (n, d) = (name.as_bytes(), domain.as_bytes());
    if d.is_empty() || n.len() < d.len() || !n[n.len() - d.len()..].eq_ignore_ascii_case(d) {
        return false;
    }
    n.len() == d.len() || n[n.len() - d.len() - 1] == b'.'
}

#[cfg(test)]
#[path = "catalogue_tests.rs"]
mod tests;

/// A sender's category in `query senders` and `readiness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Category {
    #[serde(rename = "ours")]
    Ours,
    #[serde(rename = "known service")]
    KnownService,
    #[serde(rename = "forwarder")]
    Forwarder,
    #[serde(rename = "unknown")]
    Unknown,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Ours => "ours",
            Category::KnownService => "known service",
            Category::Forwarder => "forwarder",
            Category::Unknown => "unknown",
        }
    }

    /// Ours when a `[[sender]]` entry or `--our-net` says so; a forwarder
    /// when it is a list service or most of its mail is our mail it
    /// forwarded (more forwarded messages than passing ones); a known
    /// service when a user entry or the catalogue names it; else unknown
    /// (an AS name or a PTR domain is a label, not a service one can set up).
    pub fn of(named: Option<&Named>, ours: bool, messages_pass: i64, forwarded: i64) -> Category {
        if ours || named.is_some_and(Named::ours) {
            Category::Ours
        } else if named.and_then(Named::kind) == Some(Kind::List)
            || (forwarded > 0 && forwarded > messages_pass)
        {
            Category::Forwarder
        } else if named.is_some_and(Named::known) {
            Category::KnownService
        } else {
            Category::Unknown
        }
    }
}
