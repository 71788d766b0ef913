//! Maildir and mbox through the built binary: unseen-only by default,
//! marked seen only after the commit, mbox never modified, and a run killed
//! with SIGKILL loses and duplicates nothing. With
//! `DMARCDB_TEST_DB=postgres` the same on PostgreSQL (`common/cli.rs`).

mod common;

use common::cli::{dmarcdb, run_ok};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::mail::{plain_mail, simple_report_mail};
use rusqlite::Connection;

fn report_ids(db: &Path) -> Vec<String> {
    common::cli::stored_report_ids(db)
}

fn new_maildir(root: &Path) -> PathBuf {
    let md = root.join("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    md
}

/// Every file under the Maildir with its relative path, for before/after.
fn listing(md: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for d in ["cur", "new", "tmp"] {
        for e in std::fs::read_dir(md.join(d)).unwrap() {
            out.insert(format!("{d}/{}", e.unwrap().file_name().to_string_lossy()));
        }
    }
    out
}

fn seen_in_cur(md: &Path) -> usize {
    listing(md)
        .iter()
        .filter(|f| {
            f.starts_with("cur/") && f.rsplit_once(":2,").is_some_and(|(_, fl)| fl.contains('S'))
        })
        .count()
}

#[test]
fn maildir_unseen_only_marked_seen_after_commit_all_and_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let md = new_maildir(dir.path());
    for i in 0..4 {
        std::fs::write(
            md.join(format!("new/100{i}.host")),
            simple_report_mail(&format!("new-{i}"), 1_760_000_000),
        )
        .unwrap();
    }
    std::fs::write(md.join("new/2000.host"), plain_mail("hello")).unwrap();
    std::fs::write(
        md.join("cur/3000.host:2,S"),
        simple_report_mail("seen-0", 1_760_000_000),
    )
    .unwrap();
    let db = dir.path().join("m.db");

    // --dry-run changes no file.
    let before = listing(&md);
    let out = run_ok(dmarcdb(&db).args(["ingest", "--dry-run"]).arg(&md));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("report=new-")
            .count(),
        4
    );
    assert_eq!(listing(&md), before);
    assert!(!db.exists());

    let out = run_ok(dmarcdb(&db).arg("ingest").arg(&md));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("4 new report(s)"), "{stdout}");
    assert!(stdout.contains("1 not a report"), "{stdout}");
    assert_eq!(report_ids(&db), ["new-0", "new-1", "new-2", "new-3"]);
    // new/ is empty; all six messages sit in cur/ flagged S.
    let after = listing(&md);
    assert!(!after.iter().any(|f| f.starts_with("new/")), "{after:?}");
    assert_eq!(seen_in_cur(&md), 6, "{after:?}");

    let out = dmarcdb(&db).arg("ingest").arg(&md).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 new report(s) (0 records)"));

    let out = dmarcdb(&db)
        .args(["ingest", "--all"])
        .arg(&md)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("1 new report(s)"), "{stdout}");
    assert!(stdout.contains("4 already stored"), "{stdout}");
    assert_eq!(report_ids(&db).len(), 5);
}

fn mbox_of(n: usize, crlf: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(b"From dmarc@reporter.example Mon Nov  3 00:00:00 2025\r\n");
        out.extend_from_slice(&simple_report_mail(&format!("mbox-{i}"), 1_760_000_000));
        out.extend_from_slice(b"\r\n");
    }
    if crlf {
        out
    } else {
        String::from_utf8(out)
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes()
    }
}

#[test]
fn mbox_file_and_stdin_store_every_message_and_file_is_untouched() {
    for crlf in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("export.mbox");
        let bytes = mbox_of(7, crlf);
        std::fs::write(&mbox, &bytes).unwrap();
        let db = dir.path().join("f.db");
        run_ok(dmarcdb(&db).arg("ingest").arg(&mbox));
        assert_eq!(report_ids(&db).len(), 7, "crlf={crlf}");
        assert_eq!(std::fs::read(&mbox).unwrap(), bytes, "mbox was modified");

        let db2 = dir.path().join("s.db");
        dmarcdb(&db2)
            .args(["ingest", "-"])
            .write_stdin(bytes.clone())
            .assert()
            .success();
        assert_eq!(report_ids(&db2).len(), 7, "stdin crlf={crlf}");
    }
}

/// SIGKILL part-way, several times at different moments, then a full run:
/// every report stored once, and no message seen whose report is missing.
#[test]
fn maildir_run_killed_midway_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let md = new_maildir(dir.path());
    let n = 400;
    for i in 0..n {
        std::fs::write(
            md.join(format!("new/{i:05}.host")),
            simple_report_mail(&format!("k{i:05}"), 1_760_000_000),
        )
        .unwrap();
    }
    let db = dir.path().join("k.db");
    let bin = assert_cmd::cargo::cargo_bin("dmarcdb");
    let mut partway = 0;
    for (trial, target) in [1usize, 60, 150, 250].iter().enumerate() {
        let mut child = std::process::Command::new(&bin)
            .arg("--db")
            .arg(common::cli::db_arg(&db))
            .arg("ingest")
            .arg(&md)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill once the run has stored at least `target` reports (or has
        // ended by itself), so the kills land at different points.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while report_ids(&db).len() < *target && std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let stored_now = report_ids(&db).len();
        eprintln!("trial {trial}: killed with {stored_now} of {n} stored");
        if stored_now < n {
            partway += 1;
        }
        // Invariant: every message marked seen has its report stored.
        let stored: BTreeSet<String> = report_ids(&db).into_iter().collect();
        for f in listing(&md) {
            if let Some(name) = f.strip_prefix("cur/") {
                let id = format!("k{}", &name[..5]);
                assert!(
                    stored.contains(&id),
                    "trial {trial}: {name} seen but {id} not stored"
                );
            }
        }
    }
    assert!(partway > 0, "no run was killed part-way");
    run_ok(dmarcdb(&db).arg("ingest").arg(&md));
    let ids = report_ids(&db);
    assert_eq!(ids.len(), n, "every report exactly once");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), n);
    assert_eq!(seen_in_cur(&md), n);
    if !common::cli::on_postgres() {
        let c = Connection::open(&db).unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
}
