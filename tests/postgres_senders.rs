//! Sender intelligence and the pages on PostgreSQL, against SQLite: the
//! same reports, MaxMind-format databases (made by `support/mmdb.rs`) and
//! reverse DNS (a private dnsmasq) give the same output on both backends
//! for `enrich`, `query sources` / `senders`, `readiness` (exit codes
//! too), the named alert, `report --html` and the `serve` pages with their
//! drill-down; `copy` carries the sender facts both ways; a database made
//! before PostgreSQL had `report_ips` finds the same new senders. The
//! PostgreSQL server is a throwaway cluster started by the tests
//! (`tests/common/postgres.rs`): without it they skip, unless `CI=true`.

mod common;
#[path = "support/dnsmasq.rs"]
mod dnsmasq;
#[path = "support/mmdb.rs"]
mod mmdb;
#[path = "support/pg_world.rs"]
mod pg_world;

use std::ffi::OsStr;

use serde_json::{json, Value};

use pg_world::{cmd, date, dns, enrich, ingest, ok, run, world};

/// What the sender commands answer, with their exit codes.
fn answers(db: &OsStr) -> Vec<(String, i32, String)> {
    let since = date(7);
    let cases: [&[&str]; 9] = [
        &["query", "sources", "--format", "json"],
        &[
            "query",
            "sources",
            "--external",
            "--days",
            "40",
            "--format",
            "json",
        ],
        &["query", "senders", "--format", "json"],
        &[
            "query",
            "senders",
            "--domain",
            "example.com",
            "--format",
            "json",
        ],
        &["readiness", "--domain", "example.com", "--format", "json"],
        &[
            "readiness",
            "--domain",
            "EXAMPLE.com",
            "--policy",
            "quarantine",
        ],
        &["readiness", "--domain", "example.net", "--format", "json"],
        &["readiness", "--domain", "example.com", "--format", "csv"],
        &["alert", "--since", &since, "--format", "json"],
    ];
    cases
        .iter()
        .map(|args| {
            let (code, out, err) = run(db, args);
            assert!(err.is_empty() || code != 0, "{args:?}: {err}");
            (args.join(" "), code, out)
        })
        .collect()
}

#[test]
fn enrich_senders_readiness_and_named_alerts_answer_alike_on_both_backends() {
    let Some(dns) = dns() else { return };
    let Some(w) = world() else { return };
    let mut seen = Vec::new();
    for db in [&w.lite, &w.pg] {
        ingest(&w, db);
        let said = enrich(&w, db, &dns);
        assert!(
            said.contains("9 address(es) looked up in the databases, 5 known"),
            "{said}"
        );
        // A second run has nothing new to look up.
        let again = enrich(&w, db, &dns);
        assert!(again.contains("0 address(es) looked up"), "{again}");
        seen.push((said, answers(db)));
    }
    let (lite, pg) = (&seen[0], &seen[1]);
    assert_eq!(lite.0, pg.0);
    for (a, b) in lite.1.iter().zip(&pg.1) {
        assert_eq!(a, b, "{}", a.0);
    }
    // What PostgreSQL answered is the real thing, not two empty answers.
    let v = |i: usize| -> Value { serde_json::from_str(&pg.1[i].2).unwrap() };
    let sources = v(0);
    let row = |ip: &str| {
        sources
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["source_ip"] == ip)
            .unwrap_or_else(|| panic!("{ip} in {sources}"))
            .clone()
    };
    assert_eq!(
        row("209.85.220.69"),
        json!({"source_ip": "209.85.220.69", "ours": false, "messages": 30, "messages_pass": 0,
               "messages_fail": 30, "pass_pct": 0.0, "name": "Google", "asn": 15169,
               "as_name": "GOOGLE", "country": "US", "ptr": "mail-ed1-f69.google.com",
               "messages_forwarded": 30})
    );
    assert_eq!(row("2001:DB8::5")["as_name"], "DOC-V6");
    assert_eq!(row("198.51.100.9")["messages_forwarded"], 25);
    let senders = v(3);
    assert!(
        senders
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Amazon SES" && s["messages_fail"] == 40),
        "{senders}"
    );
    // readiness: blocked by Amazon SES (exit 1); example.net is ready (0).
    assert_eq!(pg.1[4].1, 1);
    let ready = v(4);
    assert_eq!(ready["blockers"][0]["name"], "Amazon SES", "{ready}");
    assert_eq!(ready["published"]["p"], "none", "{ready}");
    // news.example.com's 12 messages, found case-blind (EXAMPLE.com too).
    assert_eq!(
        ready["subdomains"],
        json!({"sp": ["none"], "np": [], "messages": 12}),
        "{ready}"
    );
    assert!(
        pg.1[5]
            .2
            .contains("not ready: p=quarantine would quarantine mail of Amazon SES"),
        "{}",
        pg.1[5].2
    );
    assert_eq!((pg.1[6].1, v(6)["ready"].clone()), (0, json!(true)));
    // The alert: named spoofing, and the senders not in the older report.
    assert_eq!(pg.1[8].1, 1);
    let alert = v(8);
    let texts: Vec<&str> = alert["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"45.1.2.3 (EXTERNAL: EVIL-AS (AS64500, RU)): 50 failing msgs sending as us -- possible spoofing"), "{texts:?}");
    let new: Vec<&str> = alert["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "new_sender")
        .map(|p| p["source_ip"].as_str().unwrap())
        .collect();
    // 209.85.220.69 and 149.72.1.2 were in the older report.
    assert_eq!(new, ["198.51.100.9", "2001:DB8::5"]);
}

#[test]
fn ingest_enrich_names_the_new_sources_alike_on_both_backends() {
    let Some(w) = world() else { return };
    let mut sources = Vec::new();
    for db in [&w.lite, &w.pg] {
        let mut c = cmd(db, &["ingest", "--enrich"]);
        c.env("DMARCDB_ASN_DB", &w.asn).args(&w.files);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("9 address(es) looked up in the databases, 5 known"),
            "{said}"
        );
        sources.push(ok(db, &["query", "sources", "--format", "json"]));
    }
    assert_eq!(sources[0], sources[1]);
    let v: Value = serde_json::from_str(&sources[1]).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["as_name"] == "EVIL-AS"),
        "{v}"
    );
}
