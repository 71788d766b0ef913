//! `enrich`, `query senders`, `readiness` and named alerts, through the
//! built binary: MaxMind-format databases made by the test writer, reverse
//! DNS from a private dnsmasq.

mod common;
#[path = "support/dnsmasq.rs"]
mod dnsmasq;
#[path = "support/mmdb.rs"]
mod mmdb;
#[path = "support/sender_reports.rs"]
mod sender_reports;
#[path = "support/enrich_world.rs"]
mod world;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::cli::dmarcdb;
use world::{dns, enrich, p, run, world, OURS};

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
