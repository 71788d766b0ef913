//! `dmarcdb ingest` on the bundled samples and on bad input: summary,
//! exit codes, quarantine, idempotence.

mod common;

use common::cli::dmarcdb;
use std::path::{Path, PathBuf};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn count(db: &Path, sql: &str) -> i64 {
    common::cli::one(db, sql)
}

#[test]
fn samples_ingest_once_in_any_container() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let out = dmarcdb(&db).arg("ingest").arg(samples()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Three aggregate reports (the Yahoo one arrives twice: mail and plain
    // XML), three SMTP TLS reports and one failure report.
    assert!(
        stdout.starts_with(
            "7 new report(s) (3 aggregate with 7 records, 3 TLS, 1 failure), 1 already stored"
        ),
        "{stdout}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM report"), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM report_blob"), 3);
    assert_eq!(
        count(&db, "SELECT CAST(sum(count) AS bigint) FROM record"),
        412 + 37 + 23 + 96 + 4 + 58 + 31
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM record c JOIN dkim_result d ON d.auth_set = c.auth"
        ),
        6
    );
    let again = dmarcdb(&db).arg("ingest").arg(samples()).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("0 new report(s)"));
    assert_eq!(count(&db, "SELECT count(*) FROM record"), 7);
}

#[test]
fn stdin_is_read_with_dash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let gz = std::fs::read(
        samples()
            .join("enterprise.protection.outlook.com!example.org!1761955200!1762041600.xml.gz"),
    )
    .unwrap();
    dmarcdb(&db)
        .args(["ingest", "-"])
        .write_stdin(gz)
        .assert()
        .success();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM report WHERE org_name = 'Enterprise Outlook'"
        ),
        1
    );
}

#[test]
fn bad_input_is_named_quarantined_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    for f in std::fs::read_dir(samples()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, inputs.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        inputs.join("zz-not-a-report.xml"),
        "<html><body>hello</body></html>",
    )
    .unwrap();
    std::fs::write(
        inputs.join("zz-truncated.gz"),
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1],
    )
    .unwrap();
    let db = dir.path().join("b.db");
    let out = dmarcdb(&db).arg("ingest").arg(&inputs).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("rejected")).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("zz-not-a-report.xml") && l.contains("no <feedback>")),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.contains("zz-truncated.gz")),
        "{stderr}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM report"), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM quarantine"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM quarantine WHERE source LIKE '%zz-not-a-report.xml'"
        ),
        1
    );
}

#[test]
fn missing_path_and_usage_errors_have_distinct_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = dmarcdb(&db)
        .args(["ingest", "/nonexistent/x.xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.xml"));
    let out = dmarcdb(&db).args(["ingest"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
