//! The world of tests/enrich_cli.rs: two reports (named services,
//! forwarders, a spoofer, our own network), MaxMind-format databases made by
//! the test writer, and a dnsmasq that knows two senders' reverse names.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::cli::dmarcdb;
use crate::sender_reports::{rec, report, Rec};
use crate::{dnsmasq, mmdb};

pub struct World {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub asn: PathBuf,
    pub country: PathBuf,
}

pub const OURS: &str = "203.0.113.0/24";

pub fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono_now();
    let day = now - 2 * 86_400;
    let recs = [
        Rec {
            dkim: &[("sendgrid.net", "pass"), ("example.com", "pass")],
            ..rec("149.72.1.2", 40, true)
        },
        // Gmail forwarding our signed mail: our signature broke.
        Rec {
            dkim: &[("example.com", "fail")],
            ..rec("209.85.220.69", 30, false)
        },
        Rec {
            reason: Some("forwarded"),
            ..rec("198.51.100.9", 25, false)
        },
        rec("45.1.2.3", 50, false),
        rec("203.0.113.5", 200, true),
        // Amazon SES sending for us without our DKIM: 20 pass by SPF, 40 fail.
        Rec {
            spf_only: true,
            ..rec("54.240.8.1", 20, true)
        },
        rec("54.240.8.1", 40, false),
    ];
    std::fs::write(
        dir.path().join("a.xml"),
        report("example.com", "a", day, "none", &recs),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.xml"),
        report(
            "example.net",
            "b",
            day,
            "quarantine",
            &[rec("203.0.113.6", 150, true)],
        ),
    )
    .unwrap();
    let asn = dir.path().join("GeoLite2-ASN.mmdb");
    let net = |n: u32, name: &str| json!({"autonomous_system_number": n, "autonomous_system_organization": name});
    std::fs::write(
        &asn,
        mmdb::build(
            "GeoLite2-ASN",
            6,
            &[
                ("149.72.0.0/16", net(11377, "SENDGRID")),
                ("209.85.128.0/17", net(15169, "GOOGLE")),
                ("45.1.0.0/16", net(64500, "EVIL-AS")),
                ("54.240.0.0/18", net(16509, "AMAZON-02")),
            ],
        ),
    )
    .unwrap();
    let country = dir.path().join("GeoLite2-Country.mmdb");
    let c = |code: &str| json!({"country": {"iso_code": code, "names": {"en": code}}});
    std::fs::write(
        &country,
        mmdb::build(
            "GeoLite2-Country",
            6,
            &[
                ("149.72.0.0/16", c("US")),
                ("209.85.128.0/17", c("US")),
                ("45.1.0.0/16", c("RU")),
                ("54.240.0.0/18", c("US")),
            ],
        ),
    )
    .unwrap();
    let db = dir.path().join("t.sqlite");
    let out = dmarcdb(&db)
        .arg("ingest")
        .arg(dir.path().join("a.xml"))
        .arg(dir.path().join("b.xml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    World {
        dir,
        db,
        asn,
        country,
    }
}

pub fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn run(w: &World, args: &[&str]) -> (i32, String, String) {
    let out = dmarcdb(&w.db)
        .env_remove("DMARCDB_ASN_DB")
        .env_remove("DMARCDB_COUNTRY_DB")
        .env_remove("DMARCDB_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub fn enrich(w: &World, dns: &dnsmasq::Dnsmasq) {
    let server = dns.addr.to_string();
    let (code, out, err) = run(
        w,
        &[
            "enrich",
            "--asn-db",
            p(&w.asn),
            "--country-db",
            p(&w.country),
            "--rdns",
            "--dns-server",
            &server,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("7 address(es) looked up in the databases, 4 known")
            && out.contains("reverse DNS for 7: 2 confirmed"),
        "{out}"
    );
}

pub fn dns() -> Option<dnsmasq::Dnsmasq> {
    dnsmasq::start(&[
        "--host-record=mail-ed1-f69.google.com,209.85.220.69",
        "--host-record=a8-25.smtp-out.amazonses.com,54.240.8.1",
        "--local=/com/",
    ])
}
