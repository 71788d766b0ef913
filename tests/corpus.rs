//! The shared real-world corpus (`../shared/corpus`, read in place): every
//! aggregate report ingests through the built binary, and `query reports`
//! matches the totals an independent implementation computed.

mod common;

use common::cli::{dmarcdb, run_ok};
use common::corpus::corpus_root;
use std::collections::BTreeSet;

use serde_json::Value;

struct Expected {
    path: String,
    org: String,
    report_id: String,
    records: i64,
    messages: i64,
    pass: i64,
}

fn expected(root: &std::path::Path) -> Vec<Expected> {
    let tsv = std::fs::read_to_string(root.join("expected-totals.tsv")).unwrap();
    tsv.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            // TAB only, no quoting: org_name may start with `"`.
            let f: Vec<&str> = l.split('\t').collect();
            Expected {
                path: f[0].into(),
                org: f[1].into(),
                report_id: f[2].into(),
                records: f[3].parse().unwrap(),
                messages: f[4].parse().unwrap(),
                pass: f[5].parse().unwrap(),
            }
        })
        .collect()
}

fn reports_json(db: &std::path::Path) -> Vec<Value> {
    let out = run_ok(dmarcdb(db).args(["query", "reports", "--format", "json"]));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn every_corpus_report_matches_expected_totals_and_reingest_adds_nothing() {
    let Some(root) = corpus_root() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("corpus.db");

    // The whole corpus: its TLS and failure reports are stored too (see
    // tests/tls_failure.rs); the README, the TSV files, the LICENSE and
    // empty.xml are not reports, so the run exits 3 (some input rejected).
    let out = dmarcdb(&db).arg("ingest").arg(&root).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    for line in stderr.lines().filter(|l| l.contains("rejected")) {
        assert!(
            !line.contains("/aggregate/") && !line.contains("/extract_report/"),
            "an aggregate report was rejected: {line}"
        );
    }
    assert!(stderr.contains("empty.xml"), "{stderr}");

    let rows = reports_json(&db);
    let exp = expected(&root);
    for e in &exp {
        let matching: Vec<&Value> = rows
            .iter()
            .filter(|r| r["report_id"] == e.report_id.as_str())
            .filter(|r| e.org.is_empty() || r["org_name"] == e.org.as_str())
            .collect();
        assert_eq!(matching.len(), 1, "{}: rows {matching:?}", e.path);
        let r = matching[0];
        assert_eq!(r["records"], e.records, "{} records", e.path);
        assert_eq!(r["messages"], e.messages, "{} messages", e.path);
        assert_eq!(r["messages_pass"], e.pass, "{} messages_pass", e.path);
    }
    // Each distinct (org, report_id) of the TSV is one stored report; the
    // same report in xml, gz and zip form is stored once.
    let distinct: BTreeSet<(&str, &str)> = exp
        .iter()
        .map(|e| (e.org.as_str(), e.report_id.as_str()))
        .collect();
    assert_eq!(rows.len(), distinct.len(), "{rows:#?}");

    // Everything again: nothing new.
    let again = dmarcdb(&db).arg("ingest").arg(&root).output().unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.starts_with("0 new report(s)"), "{stdout}");
    assert_eq!(reports_json(&db).len(), rows.len());
}

#[test]
fn dry_run_over_corpus_writes_nothing() {
    let Some(root) = corpus_root() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dry.db");
    let out = run_ok(
        dmarcdb(&db)
            .args(["ingest", "--dry-run"])
            .arg(root.join("parsedmarc/extract_report")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("report=11038226378739404135").count(),
        4,
        "{stdout}"
    );
    assert!(stdout.contains("records=20"), "{stdout}");
    assert!(!db.exists(), "dry run created the database");
}

/// A corpus that is not where it should be skips the corpus tests with a
/// notice locally, and fails them with `CI=true`: this runs one of them
/// again, in a child process of this test binary, pointed at a missing
/// corpus.
#[test]
fn missing_corpus_fails_in_ci_and_skips_with_a_notice_locally() {
    let run = |ci: &str| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "dry_run_over_corpus_writes_nothing",
                "--nocapture",
            ])
            .env("DMARCDB_CORPUS", "/nonexistent/shared/corpus")
            .env("CI", ci)
            .output()
            .unwrap()
    };
    let out = run("true");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "CI=true passed without a corpus: {text}"
    );
    assert!(text.contains("may not be skipped"), "{text}");
    let out = run("false");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("NOTICE") && text.contains("/nonexistent/shared/corpus"),
        "{text}"
    );
}
