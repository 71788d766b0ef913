//! SMTP TLS reports (RFC 8460) and DMARC failure reports (RFC 6591)
//! through the built binary: the shared corpus with independently computed
//! values, every source, the views, the `tls_failures` alert, redaction and
//! `reparse` of TLS reports an earlier version quarantined.

mod common;
#[path = "support/kinds.rs"]
mod kinds;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::cli::{dmarcdb, on_postgres, run_ok};
use common::mail::{gzip, report_xml, tls_json, Rec};
use kinds::{count, json_view, mails, mbox, pg, stdout};
use rusqlite::{params, Connection};
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if p.join("expected-tls.tsv").is_file() {
        Some(p)
    } else {
        eprintln!("notice: ../shared/corpus is absent; corpus tests skipped");
        None
    }
}

#[test]
fn corpus_tls_and_failure_reports_match_expected_values_and_reingest_adds_nothing() {
    let Some(root) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let tls_dir = root.join("parsedmarc/smtp_tls");
    let failure_dir = root.join("parsedmarc/failure");
    let out = run_ok(dmarcdb(&db).arg("ingest").arg(&tls_dir).arg(&failure_dir));
    let text = stdout(&out);
    // 4 TLS reports; 5 failure report files of which 2 are the same
    // LinkedIn report (LF and CRLF): 4 stored, 1 already stored.
    assert!(
        text.starts_with(
            "8 new report(s) (0 aggregate with 0 records, 4 TLS, 4 failure), 1 already stored"
        ),
        "{text}"
    );

    let rows = json_view(&db, &["tls-reports"]);
    let tsv = std::fs::read_to_string(root.join("expected-tls.tsv")).unwrap();
    assert_eq!(rows.len(), tsv.lines().count());
    let keys: BTreeSet<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "org_name",
            "report_id",
            "date_begin",
            "date_end",
            "policies",
            "sessions_success",
            "sessions_failure"
        ])
    );
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let r = rows
            .iter()
            .find(|r| r["org_name"] == f[0] && r["report_id"] == f[1])
            .unwrap_or_else(|| panic!("{line}: {rows:?}"));
        for (key, want) in [
            ("policies", f[2]),
            ("sessions_success", f[3]),
            ("sessions_failure", f[4]),
        ] {
            assert_eq!(r[key].to_string(), want, "{line} {key}");
        }
    }
    let google = rows
        .iter()
        .find(|r| r["org_name"] == "Google Inc.")
        .unwrap();
    assert_eq!(google["date_begin"], "2024-09-03T00:00:00Z");
    assert_eq!(google["date_end"], "2024-09-03T23:59:59Z");

    let failures = json_view(&db, &["failure-reports"]);
    assert_eq!(failures.len(), 4, "{failures:?}");
    let tsv = std::fs::read_to_string(root.join("expected-failure.tsv")).unwrap();
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(
            failures.iter().any(|r| r["feedback_type"] == f[1]
                && r["source_ip"] == f[2]
                && r["reported_domain"] == f[3]),
            "{line}: {failures:?}"
        );
    }
    for key in [
        "arrival_date",
        "auth_failure",
        "original_mail_from",
        "subject",
    ] {
        assert!(failures[0].get(key).is_some(), "{key}");
    }
    let netease = failures
        .iter()
        .find(|r| r["source_ip"] == "167.89.69.24")
        .unwrap();
    assert_eq!(netease["arrival_date"], "2018-09-28T08:48:42Z");
    assert_eq!(netease["subject"], "Rent Reminder");
    assert_eq!(netease["identity_alignment"], "spf,dkim");

    let again = run_ok(dmarcdb(&db).arg("ingest").arg(&tls_dir).arg(&failure_dir));
    assert!(
        stdout(&again).starts_with("0 new report(s)"),
        "{}",
        stdout(&again)
    );
    assert_eq!(count(&db, "tls_report"), 4);
    assert_eq!(count(&db, "failure_report"), 4);
    assert_eq!(count(&db, "tls_report_blob"), 4);
    assert_eq!(count(&db, "failure_report_blob"), 4);
}

#[test]
fn samples_folder_holds_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    let out = run_ok(dmarcdb(&db).arg("ingest").arg(&samples));
    let text = stdout(&out);
    assert!(text.contains("3 aggregate"), "{text}");
    assert!(text.contains("3 TLS, 1 failure"), "{text}");
    let tls = json_view(&db, &["tls-reports"]);
    assert_eq!(tls.len(), 3);
    let policies = json_view(&db, &["tls", "--since", "2026-11-01"]);
    let org = policies
        .iter()
        .find(|r| r["policy_domain"] == "example.org" && r["policy_type"] == "sts")
        .unwrap();
    // The plain and the gzip sample each have 1224 sessions, 24 failed;
    // the odd-case sample adds 7 successful sessions (on 2026-11-02).
    assert_eq!(org["sessions"], 1224 * 2 + 7);
    assert_eq!(org["sessions_failure"], 48);
    assert_eq!(
        org["top_result_types"],
        "certificate-expired (40), starttls-not-supported (8), x-private-reason (2)"
    );
}

#[test]
fn dry_run_names_every_kind_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dry.db");
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    let out = run_ok(dmarcdb(&db).args(["ingest", "--dry-run"]).arg(&samples));
    let text = stdout(&out);
    assert_eq!(text.matches("SMTP TLS report").count(), 3, "{text}");
    assert_eq!(text.matches("failure report ").count(), 1, "{text}");
    assert!(
        text.contains("DRY-RUN: 8 input(s), 8 report(s) parsed"),
        "{text}"
    );
    assert!(!db.exists());
}

/// One of each kind, dated yesterday so the default 7-day windows see it.
#[test]
fn tls_views_and_alert_name_the_failing_domain_and_the_failure_reports() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let m = mails("alert");
    let path = dir.path().join("box.mbox");
    std::fs::write(&path, mbox(&[&m.tls, &m.arf, &m.aggregate])).unwrap();
    run_ok(dmarcdb(&db).arg("ingest").arg(&path));

    let tls = json_view(&db, &["tls"]);
    assert_eq!(tls.len(), 1);
    assert_eq!(tls[0]["sessions"], 1000);
    assert_eq!(tls[0]["failure_pct"], 10.0);
    let f = json_view(&db, &["tls-failures"]);
    assert_eq!(f[0]["result_type"], "certificate-expired");
    assert_eq!(f[0]["receiving_mx_hostname"], "mx1.example.org");
    assert_eq!(f[0]["sending_mta_ip"], "192.0.2.25");
    assert_eq!(f[0]["failed_sessions"], 100);

    let out = dmarcdb(&db)
        .args(["alert", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = v["problems"].as_array().unwrap();
    let tls = problems
        .iter()
        .find(|p| p["kind"] == "tls_failures")
        .unwrap();
    assert_eq!(tls["policy_domain"], "example.org");
    assert_eq!(tls["sessions"], 1000);
    assert_eq!(tls["sessions_failure"], 100);
    assert_eq!(tls["failure_pct"], 10.0);
    assert_eq!(
        tls["top_result_types"][0]["result_type"],
        "certificate-expired"
    );
    let spoof = problems
        .iter()
        .find(|p| p["kind"] == "possible_spoofing")
        .unwrap();
    assert_eq!(spoof["source_ip"], "198.51.100.66");
    assert_eq!(spoof["failure_reports"], 1);
    assert!(
        spoof["text"]
            .as_str()
            .unwrap()
            .ends_with("; 1 failure report name it"),
        "{spoof}"
    );

    let text = dmarcdb(&db).arg("alert").output().unwrap();
    let text = stdout(&text);
    assert!(
        text.contains("- example.org: 100 of 1000 SMTP TLS sessions failed (10%) -- TLS delivery failing; top result types: certificate-expired (100)"),
        "{text}"
    );

    // Configurable: 20 % is not reached.
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[alert]\ntls_min_failure_pct = 20\n").unwrap();
    let out = dmarcdb(&db)
        .args(["--config"])
        .arg(&cfg)
        .args(["alert", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "tls_failures"));
}

#[test]
fn redact_hashes_local_parts_and_keeps_no_mail() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let m = mails("redact");
    let path = dir.path().join("arf.eml");
    std::fs::write(&path, &m.arf).unwrap();
    run_ok(dmarcdb(&db).args(["ingest", "--redact"]).arg(&path));
    let rows = json_view(&db, &["failure-reports"]);
    let from = rows[0]["original_mail_from"].as_str().unwrap();
    assert!(
        from.ends_with("@example.org>") && !from.contains("alice"),
        "{from}"
    );
    assert!(
        !rows[0]["from"].as_str().unwrap().contains("Alice"),
        "{rows:?}"
    );
    assert_eq!(rows[0]["redacted"], true);
    assert_eq!(count(&db, "failure_report_blob"), 0);
    let sql = "SELECT concat_ws('|', original_rcpt_to, fields, reported_from, reported_to) FROM failure_report";
    let all: String = if on_postgres() {
        pg(&db).query_one(sql, &[]).unwrap().get(0)
    } else {
        let c = Connection::open(&db).unwrap();
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    assert!(
        !all.contains("bob.jones") && !all.contains("alice.smith"),
        "{all}"
    );

    // From the config file, the same.
    let db2 = dir.path().join("r2.db");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[ingest]\nredact = true\n").unwrap();
    run_ok(
        dmarcdb(&db2)
            .arg("--config")
            .arg(&cfg)
            .arg("ingest")
            .arg(&path),
    );
    assert_eq!(json_view(&db2, &["failure-reports"])[0]["redacted"], true);
    assert_eq!(count(&db2, "failure_report_blob"), 0);
}

#[test]
fn reparse_moves_tls_reports_an_earlier_version_quarantined_into_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    // A database with one aggregate report, then a quarantine row as the
    // previous version wrote it for a TLS report.
    let xml = report_xml(
        "agg.example",
        "agg-q",
        1_760_000_000,
        &[Rec {
            ip: "192.0.2.1",
            count: 1,
            pass: true,
        }],
    );
    let x = dir.path().join("r.xml");
    std::fs::write(&x, xml).unwrap();
    run_ok(dmarcdb(&db).arg("ingest").arg(&x));
    let json = tls_json(
        "old.example",
        "quarantined-tls",
        1_760_000_000,
        "example.org",
        5,
        &[],
    );
    let gz = gzip(json.as_bytes());
    let sql = "INSERT INTO quarantine (sha256, source, reason, gzip, first_seen, last_seen)
         VALUES ($1, 'old/tls.json', 'not a DMARC aggregate report (JSON, looks like SMTP TLS report)', $2, 1, 1)";
    if on_postgres() {
        pg(&db).execute(sql, &[&vec![7u8; 32], &gz]).unwrap();
    } else {
        let c = Connection::open(&db).unwrap();
        c.execute(sql, params![vec![7u8; 32], gz]).unwrap();
    }
    run_ok(dmarcdb(&db).arg("reparse"));
    assert_eq!(count(&db, "quarantine"), 0);
    let rows = json_view(&db, &["tls-reports"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["report_id"], "quarantined-tls");
}
