//! The world of the tests that compare sender intelligence and the pages
//! on PostgreSQL with SQLite (`postgres_senders.rs`, `postgres_pages.rs`):
//! three reports, MaxMind-format databases naming their senders (made by
//! `mmdb.rs`), a SQLite file and a PostgreSQL database of the tests'
//! throwaway cluster to store them in, and the built binary to run on
//! either. Include with `#[path]` beside `common`, `dnsmasq` and `mmdb`.
// Each test binary uses a different part.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use super::sender_reports::{rec, report, Rec};
use super::{common, dnsmasq, mmdb};

pub const OURS: &str = "203.0.113.0/24";
pub const DAY: i64 = 86_400;

/// Report files, MaxMind databases and a SQLite file and a PostgreSQL
/// database to store them in.
pub struct World {
    pub dir: tempfile::TempDir,
    /// The reports, in the order both databases ingest them.
    pub files: Vec<PathBuf>,
    pub asn: PathBuf,
    pub country: PathBuf,
    pub lite: OsString,
    pub pg: OsString,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn world() -> Option<World> {
    let pg = common::postgres::database()?;
    let dir = tempfile::tempdir().unwrap();
    let day = now() - 2 * DAY;
    let a = [
        Rec {
            dkim: &[("sendgrid.net", "pass"), ("example.com", "pass")],
            ..rec("149.72.1.2", 40, true)
        },
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
        rec("54.240.8.1", 40, false),
        rec("2001:DB8::5", 15, false),
        Rec {
            from: Some("news.example.com"),
            ..rec("203.0.113.7", 12, true)
        },
    ];
    let reports = [
        (
            "hist",
            report(
                "example.com",
                "hist",
                day - 20 * DAY,
                "none",
                &[rec("209.85.220.69", 5, true), rec("149.72.1.2", 10, true)],
            ),
        ),
        ("a", report("example.com", "a", day, "none", &a)),
        (
            "b",
            report(
                "example.net",
                "b",
                day,
                "quarantine",
                &[rec("203.0.113.6", 150, true)],
            ),
        ),
    ];
    let mut files = Vec::new();
    for (name, xml) in reports {
        let f = dir.path().join(format!("{name}.xml"));
        std::fs::write(&f, xml).unwrap();
        files.push(f);
    }
    let net = |n: u32, name: &str| json!({"autonomous_system_number": n, "autonomous_system_organization": name});
    let c = |code: &str| json!({"country": {"iso_code": code, "names": {"en": code}}});
    let nets = [
        ("149.72.0.0/16", 11377, "SENDGRID", "US"),
        ("209.85.128.0/17", 15169, "GOOGLE", "US"),
        ("45.1.0.0/16", 64500, "EVIL-AS", "RU"),
        ("54.240.0.0/18", 16509, "AMAZON-02", "US"),
        ("2001:db8::/32", 64501, "DOC-V6", "DE"),
    ];
    let asn = dir.path().join("GeoLite2-ASN.mmdb");
    let rows: Vec<_> = nets.iter().map(|(n, a, o, _)| (*n, net(*a, o))).collect();
    std::fs::write(&asn, mmdb::build("GeoLite2-ASN", 6, &rows)).unwrap();
    let country = dir.path().join("GeoLite2-Country.mmdb");
    let rows: Vec<_> = nets.iter().map(|(n, _, _, k)| (*n, c(k))).collect();
    std::fs::write(&country, mmdb::build("GeoLite2-Country", 6, &rows)).unwrap();
    let lite = dir.path().join("t.sqlite").into_os_string();
    Some(World {
        dir,
        files,
        asn,
        country,
        lite,
        pg: pg.into(),
    })
}

/// `dmarcdb --db DB --our-net OURS ARGS` with a clean environment.
pub fn cmd(db: &OsStr, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("dmarcdb"));
    for k in [
        "DMARCDB_DB",
        "DATABASE_URL",
        "DMARCDB_CONFIG",
        "DMARCDB_OUR_NETS",
        "DMARCDB_ASN_DB",
        "DMARCDB_COUNTRY_DB",
    ] {
        c.env_remove(k);
    }
    c.env("XDG_CONFIG_HOME", "/nonexistent")
        .arg("--db")
        .arg(db)
        .args(["--our-net", OURS])
        .args(args);
    c
}

/// Exit code, stdout, stderr.
pub fn run(db: &OsStr, args: &[&str]) -> (i32, String, String) {
    let out = cmd(db, args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn ok(db: &OsStr, args: &[&str]) -> String {
    let (code, out, err) = run(db, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

pub fn ingest(w: &World, db: &OsStr) {
    for f in &w.files {
        ok(db, &["ingest", f.to_str().unwrap()]);
    }
}

pub fn dns() -> Option<dnsmasq::Dnsmasq> {
    dnsmasq::start(&[
        "--host-record=mail-ed1-f69.google.com,209.85.220.69",
        "--host-record=a8-25.smtp-out.amazonses.com,54.240.8.1",
        "--local=/com/",
    ])
}

/// `enrich` with both databases and reverse DNS from `dns`.
pub fn enrich(w: &World, db: &OsStr, dns: &dnsmasq::Dnsmasq) -> String {
    let server = dns.addr.to_string();
    ok(
        db,
        &[
            "enrich",
            "--asn-db",
            w.asn.to_str().unwrap(),
            "--country-db",
            w.country.to_str().unwrap(),
            "--rdns",
            "--dns-server",
            &server,
        ],
    )
}

/// The time a page was made, which differs between two runs.
pub fn no_stamp(page: &str) -> String {
    const MARK: &str = "Made by dmarcdb on ";
    match page.find(MARK) {
        Some(i) => {
            let end = (i + MARK.len() + "2026-01-01 00:00 UTC".len()).min(page.len());
            format!("{}{MARK}(time){}", &page[..i], &page[end..])
        }
        None => page.to_string(),
    }
}

/// `YYYY-MM-DD` of `days` ago.
pub fn date(days: i64) -> String {
    chrono::DateTime::from_timestamp(now() - days * DAY, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}
