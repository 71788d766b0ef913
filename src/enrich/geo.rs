//! Network facts from MaxMind-format databases (`.mmdb`): the AS number,
//! AS name and country of an address.
//!
//! Free databases come in several layouts, and this module reads them all,
//! one field at a time, whichever file holds it:
//!
//! | layout                          | AS number                      | AS name                            | country                    |
//! |---------------------------------|--------------------------------|------------------------------------|----------------------------|
//! | GeoLite2-ASN, DB-IP ASN Lite    | `autonomous_system_number` (u32) | `autonomous_system_organization` | —                          |
//! | GeoLite2-Country/City, DB-IP Country/City Lite | —              | —                                  | `country.iso_code` (else `registered_country.iso_code`) |
//! | IPinfo Lite                     | `asn` ("AS15169")              | `as_name` (+ `as_domain`)          | `country_code` (`country` is the name) |
//! | IPinfo legacy free (country_asn)| `asn`                          | `as_name`, `as_domain`             | `country` (the code)       |
//!
//! Addresses are looked up as they are: IPv4 in the IPv4 part of an IPv6
//! database (the readers' `::a.b.c.d`), IPv6 as IPv6; an IPv4-mapped IPv6
//! address (`::ffff:a.b.c.d`) is looked up as the IPv4 address, since not
//! every database aliases the mapped range. Nothing here touches the store.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A database that cannot be used, always naming the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot read MaxMind database {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not a usable MaxMind database: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("MaxMind database {path}: looking up {ip} failed: {reason}")]
    Lookup {
        path: PathBuf,
        ip: IpAddr,
        reason: String,
    },
}

/// What the databases say about one address (each `None` when unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetInfo {
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    /// The AS owner's web domain (IPinfo's `as_domain`), a naming hint.
    pub as_domain: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
}

impl NetInfo {
    /// Fills what `self` lacks from `other`.
    fn or(self, other: NetInfo) -> NetInfo {
        NetInfo {
            asn: self.asn.or(other.asn),
            as_name: self.as_name.or(other.as_name),
            as_domain: self.as_domain.or(other.as_domain),
            country: self.country.or(other.country),
        }
    }
}

/// One open database.
pub struct GeoDb {
    path: PathBuf,
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("path", &self.path).finish()
    }
}

impl GeoDb {
    /// Reads the whole file (free databases are some MB) and checks its
    /// metadata and search tree layout.
    pub fn open(path: &Path) -> Result<GeoDb, GeoError> {
        let bytes = std::fs::read(path).map_err(|e| GeoError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| GeoError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(GeoDb {
            path: path.to_owned(),
            reader,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database's own type name (`GeoLite2-ASN`, `ipinfo lite`, ...).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// What this database knows about `ip` (all `None` when not listed).
    pub fn lookup(&self, ip: IpAddr) -> Result<NetInfo, GeoError> {
        let ip = canonical(ip);
        let fail = |e: maxminddb::MaxMindDbError| GeoError::Lookup {
            path: self.path.clone(),
            ip,
            reason: e.to_string(),
        };
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            // An IPv4-only database lists no IPv6 network.
            return Ok(NetInfo::default());
        }
        let found = self.reader.lookup(ip).map_err(fail)?;
        let raw: Option<Raw> = found.decode().map_err(fail)?;
        Ok(raw.map(Raw::info).unwrap_or_default())
    }
}

/// The AS database and the country database (either may be missing, and
/// one file may hold both kinds of facts: IPinfo Lite does).
#[derive(Debug, Default)]
pub struct Geo {
    pub asn: Option<GeoDb>,
    pub country: Option<GeoDb>,
}

impl Geo {
    pub fn open(asn: Option<&Path>, country: Option<&Path>) -> Result<Geo, GeoError> {
        Ok(Geo {
            asn: asn.map(GeoDb::open).transpose()?,
            country: country.map(GeoDb::open).transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.asn.is_none() && self.country.is_none()
    }

    /// AS facts from the AS database first, the country from the country
    /// database first; each falls back to the other file.
    pub fn lookup(&self, ip: IpAddr) -> Result<NetInfo, GeoError> {
        let get = |db: &Option<GeoDb>| db.as_ref().map_or(Ok(NetInfo::default()), |d| d.lookup(ip));
        let a = get(&self.asn)?;
        let c = get(&self.country)?;
        let country = c.country.clone().or(a.country.clone());
        Ok(NetInfo { country, ..a.or(c) })
    }
}

/// IPv4-mapped IPv6 as IPv4; anything else unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The union of the layouts' fields; unknown fields are skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Raw {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
    asn: Option<Asn>,
    as_name: Option<String>,
    as_domain: Option<String>,
    country: Option<Country>,
    country_code: Option<String>,
    registered_country: Option<CountryMap>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Asn {
    Number(u32),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Country {
    Map(CountryMap),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CountryMap {
    iso_code: Option<String>,
}

impl Raw {
    fn info(self) -> NetInfo {
        let asn = self.autonomous_system_number.or(match self.asn {
            Some(Asn::Number(n)) => Some(n),
            Some(Asn::Text(t)) => parse_asn(&t),
            None => None,
        });
        let country = self
            .country_code
            .as_deref()
            .and_then(country_code)
            .or(match &self.country {
                Some(Country::Map(m)) => m.iso_code.as_deref().and_then(country_code),
                // IPinfo's older layout: the code; IPinfo Lite's: the name.
                Some(Country::Text(t)) => country_code(t),
                None => None,
            })
            .or(self
                .registered_country
                .and_then(|m| m.iso_code)
                .as_deref()
                .and_then(country_code));
        let text = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        NetInfo {
            asn,
            as_name: text(self.autonomous_system_organization).or(text(self.as_name)),
            as_domain: text(self.as_domain).map(|d| d.to_ascii_lowercase()),
            country,
        }
    }
}

/// `AS15169`, `as15169` or `15169` → 15169.
pub fn parse_asn(t: &str) -> Option<u32> {
    let t = t.trim();
    let digits = t
        .strip_prefix("AS")
        .or_else(|| t.strip_prefix("as"))
        .unwrap_or(t);
    digits.parse().ok()
}

/// A two-letter code, upper-cased; anything else (a country name) is not one.
fn country_code(t: &str) -> Option<String> {
    let t = t.trim();
    (t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic())).then(|| t.to_ascii_uppercase())
}

#[cfg(test)]
#[path = "geo_tests.rs"]
mod tests;
