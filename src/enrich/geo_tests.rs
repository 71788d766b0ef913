//! Databases in each layout, built by the test MMDB writer.

use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::json;

use super::*;

use crate::enrich::test_support::mmdb;

fn write(dir: &tempfile::TempDir, name: &str, bytes: Vec<u8>) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn geolite_asn() -> Vec<u8> {
    mmdb::build(
        "GeoLite2-ASN",
        6,
        &[
            (
                "209.85.128.0/17",
                json!({"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"}),
            ),
            (
                "2a00:1450::/32",
                json!({"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"}),
            ),
        ],
    )
}

fn geolite_country() -> Vec<u8> {
    let us = json!({
        "continent": {"code": "NA", "geoname_id": 6255149, "names": {"en": "North America"}},
        "country": {"geoname_id": 6252001, "iso_code": "US", "names": {"en": "United States", "de": "USA"}},
        "registered_country": {"geoname_id": 6252001, "iso_code": "US", "names": {"en": "United States"}},
    });
    // Anonymous proxies and the like: no country, only the registration.
    let reg_only = json!({"registered_country": {"iso_code": "DE", "names": {"en": "Germany"}}});
    mmdb::build(
        "GeoLite2-Country",
        6,
        &[
            ("209.85.128.0/17", us.clone()),
            ("2a00:1450::/32", us),
            ("198.51.100.0/24", reg_only),
        ],
    )
}

#[test]
fn geolite2_asn_and_country_ipv4_ipv6_and_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let geo = Geo::open(
        Some(&write(&dir, "asn.mmdb", geolite_asn())),
        Some(&write(&dir, "country.mmdb", geolite_country())),
    )
    .unwrap();
    let google = NetInfo {
        asn: Some(15169),
        as_name: Some("GOOGLE".into()),
        as_domain: None,
        country: Some("US".into()),
    };
    assert_eq!(geo.lookup(ip("209.85.220.69")).unwrap(), google);
    assert_eq!(geo.lookup(ip("::ffff:209.85.220.69")).unwrap(), google);
    assert_eq!(geo.lookup(ip("2a00:1450:4864:20::136")).unwrap(), google);
    assert_eq!(geo.lookup(ip("192.0.2.1")).unwrap(), NetInfo::default());
    assert_eq!(
        geo.lookup(ip("198.51.100.7")).unwrap().country.as_deref(),
        Some("DE")
    );
    assert_eq!(geo.asn.as_ref().unwrap().database_type(), "GeoLite2-ASN");
}

#[test]
fn ipinfo_lite_one_file_holds_both() {
    let dir = tempfile::tempdir().unwrap();
    let db = mmdb::build(
        "ipinfo lite.mmdb",
        6,
        &[
            (
                "54.240.0.0/18",
                json!({"asn": "AS16509", "as_name": "Amazon.com, Inc.", "as_domain": "amazon.com",
                       "country_code": "US", "country": "United States",
                       "continent_code": "NA", "continent": "North America"}),
            ),
            (
                "2a01:111::/32",
                json!({"asn": "AS8075", "as_name": "Microsoft Corporation", "as_domain": "microsoft.com",
                       "country_code": "IE", "country": "Ireland",
                       "continent_code": "EU", "continent": "Europe"}),
            ),
        ],
    );
    let path = write(&dir, "ipinfo_lite.mmdb", db);
    // The same file given as both databases, as the README suggests.
    let geo = Geo::open(Some(&path), Some(&path)).unwrap();
    let amazon = geo.lookup(ip("::ffff:54.240.8.1")).unwrap();
    assert_eq!(
        amazon,
        NetInfo {
            asn: Some(16509),
            as_name: Some("Amazon.com, Inc.".into()),
            as_domain: Some("amazon.com".into()),
            country: Some("US".into()),
        }
    );
    assert_eq!(geo.lookup(ip("54.240.8.1")).unwrap(), amazon);
    let ms = geo.lookup(ip("2a01:111:f400::1")).unwrap();
    assert_eq!((ms.asn, ms.country.as_deref()), (Some(8075), Some("IE")));
}

#[test]
fn ipinfo_legacy_country_is_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = mmdb::build(
        "ipinfo country_asn.mmdb",
        6,
        &[(
            "5.255.0.0/16",
            json!({"asn": "AS13238", "as_name": "YANDEX LLC", "as_domain": "yandex.com",
                   "country": "RU", "country_name": "Russia", "continent": "EU"}),
        )],
    );
    let geo = Geo::open(Some(&write(&dir, "c.mmdb", db)), None).unwrap();
    let i = geo.lookup(ip("5.255.1.2")).unwrap();
    assert_eq!((i.asn, i.country.as_deref()), (Some(13238), Some("RU")));
}

#[test]
fn dbip_lite_layouts_ipv4_only_tree() {
    let dir = tempfile::tempdir().unwrap();
    let asn = mmdb::build(
        "DBIP-ASN-Lite (compat=GeoLite2-ASN)",
        4,
        &[(
            "149.72.0.0/16",
            json!({"autonomous_system_number": 11377, "autonomous_system_organization": "SendGrid, Inc."}),
        )],
    );
    let country = mmdb::build(
        "DBIP-Country-Lite",
        4,
        &[(
            "149.72.0.0/16",
            json!({"continent": {"code": "NA", "names": {"en": "North America"}},
                   "country": {"iso_code": "us", "is_in_european_union": false,
                               "names": {"en": "United States"}}}),
        )],
    );
    let geo = Geo::open(
        Some(&write(&dir, "a.mmdb", asn)),
        Some(&write(&dir, "c.mmdb", country)),
    )
    .unwrap();
    let i = geo.lookup(ip("149.72.12.34")).unwrap();
    assert_eq!(
        (i.asn, i.as_name.as_deref(), i.country.as_deref()),
        (Some(11377), Some("SendGrid, Inc."), Some("US"))
    );
    assert_eq!(geo.lookup(ip("::ffff:149.72.12.34")).unwrap(), i);
    // An IPv6 address in an IPv4-only database: not listed, not an error.
    assert_eq!(geo.lookup(ip("2001:db8::1")).unwrap(), NetInfo::default());
}

#[test]
fn missing_and_corrupt_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("GeoLite2-ASN.mmdb");
    let e = Geo::open(Some(&missing), None).unwrap_err().to_string();
    assert!(e.contains("GeoLite2-ASN.mmdb"), "{e}");
    assert!(e.starts_with("cannot read MaxMind database"), "{e}");

    let junk = write(&dir, "junk.mmdb", b"this is not a database".repeat(50));
    let e = Geo::open(None, Some(&junk)).unwrap_err().to_string();
    assert!(e.contains("junk.mmdb") && e.contains("not a usable"), "{e}");

    // A real database cut short: the metadata is gone.
    let mut cut = geolite_asn();
    cut.truncate(cut.len() / 2);
    let cut = write(&dir, "cut.mmdb", cut);
    let e = Geo::open(Some(&cut), None).unwrap_err().to_string();
    assert!(e.contains("cut.mmdb"), "{e}");
}

#[test]
fn asn_text_forms() {
    assert_eq!(parse_asn("AS15169"), Some(15169));
    assert_eq!(parse_asn("as8075"), Some(8075));
    assert_eq!(parse_asn("16509"), Some(16509));
    assert_eq!(parse_asn("ASX"), None);
}
