//! `dmarcdb quarantine`: list, export and drop inputs that will never
//! store, so that `reparse` can exit 0 again.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{dmarcdb, run_ok};
use serde_json::Value;

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// A batch of one good report and two bad inputs: a non-report XML file
/// and a truncated gzip. Returns the two bad files.
fn batch(dir: &Path) -> (PathBuf, PathBuf) {
    let good = "yahoo.com!example.org!1762041600!1762127999.xml";
    std::fs::copy(samples().join(good), dir.join(good)).unwrap();
    let html = dir.join("page.xml");
    std::fs::write(&html, b"<html/>").unwrap();
    let gz = std::fs::read(
        samples()
            .join("enterprise.protection.outlook.com!example.org!1761955200!1762041600.xml.gz"),
    )
    .unwrap();
    let cut = dir.join("cut.xml.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    (html, cut)
}

fn list(db: &Path) -> Vec<Value> {
    let out = run_ok(dmarcdb(db).args(["quarantine", "list", "--format", "json"]));
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(rows) => rows,
        other => panic!("not an array: {other}"),
    }
}

fn by_source<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["source"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
}

#[test]
fn inputs_that_never_store_can_be_listed_exported_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let (html, cut) = batch(&input);
    let db = dir.path().join("db.sqlite");
    dmarcdb(&db).arg("ingest").arg(&input).assert().code(3);

    let rows = list(&db);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let h = by_source(&rows, "page.xml");
    assert!(
        h["reason"]
            .as_str()
            .unwrap()
            .contains("no <feedback> element"),
        "{h}"
    );
    assert_eq!(h["bytes"], std::fs::metadata(&html).unwrap().len());
    assert_eq!(h["attempts"], 1);
    assert!(h["first_seen"].as_str().unwrap().ends_with('Z'), "{h}");
    let c = by_source(&rows, "cut.xml.gz");
    assert!(
        c["reason"].as_str().unwrap().contains("truncated gzip"),
        "{c}"
    );
    assert_eq!(c["bytes"], std::fs::metadata(&cut).unwrap().len());

    // Export gives back the bytes as received.
    let out = dir.path().join("exported");
    let id = c["id"].as_i64().unwrap().to_string();
    run_ok(
        dmarcdb(&db)
            .args(["quarantine", "export", &id, "--out"])
            .arg(&out),
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&cut).unwrap());

    let id = h["id"].as_i64().unwrap().to_string();
    let d = run_ok(dmarcdb(&db).args(["quarantine", "drop", &id]));
    assert_eq!(
        String::from_utf8_lossy(&d.stdout),
        "1 quarantined input(s) dropped.\n"
    );
    assert_eq!(list(&db).len(), 1);

    dmarcdb(&db).args(["reparse"]).assert().code(3);
    run_ok(dmarcdb(&db).args(["quarantine", "drop", "--all"]));
    assert!(list(&db).is_empty());
    run_ok(dmarcdb(&db).args(["reparse"]));
}

#[test]
fn dropping_an_unknown_id_exits_3_and_still_drops_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    batch(dir.path());
    let db = dir.path().join("db.sqlite");
    dmarcdb(&db)
        .arg("ingest")
        .arg(dir.path().join("page.xml"))
        .assert()
        .code(3);
    let id = list(&db)[0]["id"].as_i64().unwrap().to_string();
    let out = dmarcdb(&db)
        .args(["quarantine", "drop", &id, "999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("999999"));
    assert!(list(&db).is_empty());
    dmarcdb(&db)
        .args(["quarantine", "export", "999999", "--out"])
        .arg(dir.path().join("x"))
        .assert()
        .code(3);
}

#[test]
fn an_empty_quarantine_lists_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    assert!(list(&db).is_empty());
    let out = run_ok(dmarcdb(&db).args(["quarantine", "list"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "The quarantine is empty.\n"
    );
    dmarcdb(&db).args(["quarantine", "drop"]).assert().code(2);
}
