//! `enrich`, `query senders`, `readiness` and named alerts, through the
//! built binary: MaxMind-format databases made by the test writer, reverse
//! DNS from a private dnsmasq.

mod common;
#[path = "support/dnsmasq.rs"]
mod dnsmasq;
#[path = "support/mmdb.rs"]
mod mmdb;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::cli::dmarcdb;

struct Rec {
    ip: &'static str,
    count: i64,
    pass: bool,
    /// (domain, result) of <auth_results><dkim>.
    dkim: &'static [(&'static str, &'static str)],
    reason: Option<&'static str>,
    /// Passing by SPF alone (policy_evaluated DKIM fails).
    spf_only: bool,
}

const fn rec(ip: &'static str, count: i64, pass: bool) -> Rec {
    Rec {
        ip,
        count,
        pass,
        dkim: &[],
        reason: None,
        spf_only: false,
    }
}

fn report(domain: &str, id: &str, begin: i64, p: &str, recs: &[Rec]) -> String {
    let mut s = format!(
        "<feedback><report_metadata><org_name>google.com</org_name><email>e@google.com</email>\
         <report_id>{id}</report_id><date_range><begin>{begin}</begin><end>{}</end></date_range>\
         </report_metadata><policy_published><domain>{domain}</domain><p>{p}</p><sp>{p}</sp>\
         <pct>100</pct></policy_published>",
        begin + 86_399
    );
    for r in recs {
        let v = if r.pass { "pass" } else { "fail" };
        let dv = if r.spf_only { "fail" } else { v };
        let reason = r
            .reason
            .map(|t| format!("<reason><type>{t}</type></reason>"))
            .unwrap_or_default();
        let dkim: String = r
            .dkim
            .iter()
            .map(|(d, res)| {
                format!(
                    "<dkim><domain>{d}</domain><selector>s</selector><result>{res}</result></dkim>"
                )
            })
            .collect();
        s.push_str(&format!(
            "<record><row><source_ip>{}</source_ip><count>{}</count><policy_evaluated>\
             <disposition>none</disposition><dkim>{dv}</dkim><spf>{v}</spf>{reason}</policy_evaluated></row>\
             <identifiers><header_from>{domain}</header_from></identifiers><auth_results>{dkim}\
             <spf><domain>{domain}</domain><result>{v}</result></spf></auth_results></record>",
            r.ip, r.count
        ));
    }
    s + "</feedback>"
}

struct World {
    dir: tempfile::TempDir,
    db: PathBuf,
    asn: PathBuf,
    country: PathBuf,
}

const OURS: &str = "203.0.113.0/24";

fn world() -> World {
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

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn run(w: &World, args: &[&str]) -> (i32, String, String) {
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

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn enrich(w: &World, dns: &dnsmasq::Dnsmasq) {
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

fn dns() -> Option<dnsmasq::Dnsmasq> {
    dnsmasq::start(&[
        "--host-record=mail-ed1-f69.google.com,209.85.220.69",
        "--host-record=a8-25.smtp-out.amazonses.com,54.240.8.1",
        "--local=/com/",
    ])
}

#[test]
fn sources_and_senders_get_names_facts_and_forwarded_counts() {
    let Some(dns) = dns() else { return };
    let w = world();
    enrich(&w, &dns);
    let (code, out, err) = run(
        &w,
        &["--our-net", OURS, "query", "sources", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let row = |ip: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["source_ip"] == ip)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("209.85.220.69"),
        json!({"source_ip": "209.85.220.69", "ours": false, "messages": 30, "messages_pass": 0,
               "messages_fail": 30, "pass_pct": 0.0, "name": "Google", "asn": 15169,
               "as_name": "GOOGLE", "country": "US", "ptr": "mail-ed1-f69.google.com",
               "messages_forwarded": 30})
    );
    assert_eq!(row("149.72.1.2")["name"], "SendGrid");
    assert_eq!(row("54.240.8.1")["name"], "Amazon SES");
    assert_eq!(row("54.240.8.1")["ptr"], "a8-25.smtp-out.amazonses.com");
    assert_eq!(row("45.1.2.3")["name"], "EVIL-AS");
    assert_eq!(row("198.51.100.9")["messages_forwarded"], 25);
    assert_eq!(row("198.51.100.9")["name"], Value::Null);
    assert_eq!(row("198.51.100.9")["ptr"], Value::Null);

    let (code, out, err) = run(
        &w,
        &[
            "--our-net",
            OURS,
            "query",
            "senders",
            "--format",
            "json",
            "--domain",
            "example.com",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let by_name = |n: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_name("Amazon SES"),
        json!({"name": "Amazon SES", "category": "known service", "ips": 1, "asns": [16509],
               "countries": ["US"], "messages": 60, "messages_pass": 20, "messages_fail": 40,
               "messages_forwarded": 0, "pass_pct": 33.3, "dkim_domains": []})
    );
    assert_eq!(by_name("Google")["category"], "forwarder");
    assert_eq!(
        by_name("SendGrid")["dkim_domains"],
        json!(["example.com", "sendgrid.net"])
    );
    assert_eq!(by_name("(our networks)")["category"], "ours");
    assert_eq!(by_name("EVIL-AS")["category"], "unknown");
    assert_eq!(by_name("(unknown)")["category"], "forwarder");

    // The alert names who it is about; forwarded mail is no spoofing.
    let (code, out, _) = run(&w, &["--our-net", OURS, "alert", "--format", "json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    let texts: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"45.1.2.3 (EXTERNAL: EVIL-AS (AS64500, RU)): 50 failing msgs sending as us -- possible spoofing"), "{texts:?}");
    assert!(texts.contains(&"54.240.8.1 (EXTERNAL: Amazon SES (AS16509, US)): 40 failing msgs sending as us -- possible spoofing"), "{texts:?}");
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("209.85.220.69") || t.contains("198.51.100.9")),
        "{texts:?}"
    );
    let evil = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source_ip"] == "45.1.2.3")
        .unwrap();
    assert_eq!(
        (
            evil["name"].as_str(),
            evil["asn"].as_u64(),
            evil["country"].as_str()
        ),
        (Some("EVIL-AS"), Some(64500), Some("RU"))
    );
}

#[test]
fn readiness_blocks_on_a_known_service_and_passes_a_clean_domain() {
    let Some(dns) = dns() else { return };
    let w = world();
    enrich(&w, &dns);
    let (code, out, err) = run(
        &w,
        &[
            "--our-net",
            OURS,
            "readiness",
            "--domain",
            "example.com",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["domain"].as_str(),
            v["policy"].as_str(),
            v["ready"].as_bool()
        ),
        (Some("example.com"), Some("reject"), Some(false))
    );
    assert_eq!(
        v["blockers"],
        json!([{"name": "Amazon SES", "category": "known service", "messages": 60, "messages_fail": 40,
                "pass_pct": 33.3, "advice": "set up DKIM for Amazon SES first (signing as example.com)"}])
    );
    assert_eq!(
        v["would_act_on"],
        json!({"ours": 0, "known_services": 40, "forwarded": 55, "unknown": 50})
    );
    assert_eq!(v["published"]["p"], "none");
    // The table says the same in words.
    let (code, out, _) = run(
        &w,
        &[
            "--our-net",
            OURS,
            "readiness",
            "--domain",
            "example.com",
            "--policy",
            "quarantine",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("not ready: p=quarantine would quarantine mail of Amazon SES"),
        "{out}"
    );
    assert!(
        out.contains("next step: set up DKIM for Amazon SES first"),
        "{out}"
    );
    let (code, csv, _) = run(
        &w,
        &[
            "--our-net",
            OURS,
            "readiness",
            "--domain",
            "example.com",
            "--format",
            "csv",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("blocker,Amazon SES,known service,60,40,0,33.3,")),
        "{csv}"
    );

    // A [[sender]] entry that says the SES account is ours does not make it pass.
    let cfg = w.dir.path().join("c.toml");
    std::fs::write(&cfg, "[[sender]]\nname = \"Our SES\"\nptr_suffixes = [\"amazonses.com\"]\nours = true\n[readiness]\nmin_messages = 100\n").unwrap();
    let (code, out, _) = run(
        &w,
        &[
            "--config",
            p(&cfg),
            "--our-net",
            OURS,
            "readiness",
            "--domain",
            "example.com",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["blockers"][0]["name"].as_str(),
            v["blockers"][0]["category"].as_str()
        ),
        (Some("Our SES"), Some("ours"))
    );

    // example.net: ours only, all passing, p=quarantine published.
    let (code, out, err) = run(
        &w,
        &[
            "--our-net",
            OURS,
            "readiness",
            "--domain",
            "example.net",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["blockers"], json!([]));
    assert_eq!(v["next_step"], "publish p=reject");
}

#[test]
fn missing_or_corrupt_databases_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.sqlite");
    let missing = dir.path().join("GeoLite2-ASN.mmdb");
    let out = dmarcdb(&db)
        .env_remove("DMARCDB_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .args(["enrich", "--asn-db"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read MaxMind database") && err.contains("GeoLite2-ASN.mmdb"),
        "{err}"
    );
    let junk = dir.path().join("junk.mmdb");
    std::fs::write(&junk, b"not a database").unwrap();
    let out = dmarcdb(&db)
        .env_remove("DMARCDB_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("DMARCDB_COUNTRY_DB", &junk)
        .arg("enrich")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.mmdb"));
    let out = dmarcdb(&db)
        .env_remove("DMARCDB_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env_remove("DMARCDB_ASN_DB")
        .env_remove("DMARCDB_COUNTRY_DB")
        .arg("enrich")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to look up"));
}

#[test]
fn ingest_enrich_uses_the_environment_and_a_dead_dns_server_only_warns() {
    let w = world();
    // Stored already; --enrich runs after an ingest that adds nothing new.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = w.dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[enrich]\nrdns = true\ndns_server = \"{}\"\nrdns_timeout_ms = 500\n",
            sink.local_addr().unwrap()
        ),
    )
    .unwrap();
    let start = Instant::now();
    let out = dmarcdb(&w.db)
        .env("DMARCDB_CONFIG", &cfg)
        .env("DMARCDB_ASN_DB", &w.asn)
        .env_remove("DMARCDB_COUNTRY_DB")
        .args(["ingest", "--enrich"])
        .arg(w.dir.path().join("b.xml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(err.contains("warning: reverse DNS failed for"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("7 address(es) looked up in the databases, 4 known"),
        "{stdout}"
    );
    let (_, out, _) = run(&w, &["query", "sources", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let sg = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source_ip"] == "149.72.1.2")
        .unwrap();
    assert_eq!(
        (
            sg["asn"].as_u64(),
            sg["country"].as_str(),
            sg["ptr"].as_str()
        ),
        (Some(11377), None, None)
    );
}
