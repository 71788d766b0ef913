//! `dmarcdb imap` end to end against a real Dovecot over TLS: unseen only,
//! `\Seen` only after the commit, `--all`, `--move-to`, certificates, the
//! seed's environment names, and a run killed part-way.

mod common;

use common::cli::run_ok;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::dovecot::Dovecot;
use common::mail::{plain_mail, report_mail, report_xml, simple_report_mail, Rec};

/// `dmarcdb --db DB imap` with the server in the seed's env names.
fn imap_cmd(d: &Dovecot, db: &Path) -> Command {
    let mut c = Command::cargo_bin("dmarcdb").unwrap();
    c.env_remove("DMARCDB_DB").env_remove("DATABASE_URL");
    for (k, v) in d.env() {
        c.env(k, v);
    }
    c.arg("--db")
        .arg(common::cli::db_arg(db))
        .arg("imap")
        .arg("--ca-file")
        .arg(d.ca_pem_path());
    c
}

fn stored(db: &Path) -> i64 {
    common::cli::stored_report_ids(db).len() as i64
}

/// 4 unseen and 2 seen report mails in INBOX.
fn seed(d: &Dovecot) {
    for i in 0..4 {
        d.append(
            "INBOX",
            &simple_report_mail(&format!("unseen-{i}"), 1_760_000_000),
            false,
        );
    }
    for i in 0..2 {
        d.append(
            "INBOX",
            &simple_report_mail(&format!("seen-{i}"), 1_760_000_000),
            true,
        );
    }
}

#[test]
fn imap_dry_run_default_all_and_seen_flags() {
    let Some(d) = Dovecot::start() else { return };
    seed(&d);
    d.append("INBOX", &plain_mail("not-a-report"), false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.db");

    let flags_before = d.flags("INBOX");
    let out = run_ok(imap_cmd(&d, &db).arg("--dry-run"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("report=unseen-")
            .count(),
        4
    );
    assert_eq!(d.flags("INBOX"), flags_before, "dry run changed a flag");
    assert_eq!(stored(&db), 0);

    let out = run_ok(imap_cmd(&d, &db));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("4 new report(s)"), "{stdout}");
    assert!(stdout.contains("1 not a report"), "{stdout}");
    assert_eq!(stored(&db), 4);
    assert_eq!(d.seen_count("INBOX"), 7, "every message is seen afterwards");

    run_ok(imap_cmd(&d, &db).arg("--all"));
    assert_eq!(stored(&db), 6);
}

#[test]
fn imap_move_to_archive_empties_inbox() {
    let Some(d) = Dovecot::start() else { return };
    seed(&d);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    run_ok(imap_cmd(&d, &db).args(["--all", "--move-to", "Archive"]));
    assert_eq!(stored(&db), 6);
    assert_eq!(d.count("INBOX"), 0);
    assert_eq!(d.count("Archive"), 6);
}

#[test]
fn imap_certificate_that_does_not_verify_is_refused() {
    let Some(d) = Dovecot::start() else { return };
    seed(&d);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let mut c = Command::cargo_bin("dmarcdb").unwrap();
    for (k, v) in d.env() {
        c.env(k, v);
    }
    let out = c
        .arg("--db")
        .arg(common::cli::db_arg(&db))
        .arg("imap")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(!stderr.contains(d.password()), "password leaked: {stderr}");
    assert_eq!(d.seen_count("INBOX"), 2, "nothing marked");
    // The same server is accepted with its CA.
    imap_cmd(&d, &db).assert().success();
}

#[test]
fn imap_password_file_instead_of_env() {
    let Some(d) = Dovecot::start() else { return };
    seed(&d);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    run_ok(
        imap_cmd(&d, &db)
            .env_remove("DMARC_IMAP_PASS")
            .arg("--password-file")
            .arg(d.write_password_file()),
    );
    assert_eq!(stored(&db), 4);
    let out = imap_cmd(&d, &db)
        .env_remove("DMARC_IMAP_PASS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DMARC_IMAP_PASS"));
}

/// SIGKILL at several points; each time, every seen message has its report
/// stored; finally everything is stored exactly once.
#[test]
fn imap_run_killed_midway_loses_and_repeats_nothing() {
    let Some(d) = Dovecot::start() else { return };
    let n = 150;
    for i in 0..n {
        d.append(
            "INBOX",
            &simple_report_mail(&format!("k{i:04}"), 1_760_000_000),
            false,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let bin = assert_cmd::cargo::cargo_bin("dmarcdb");
    let mut partway = 0;
    for target in [1i64, 40, 90] {
        let mut cmd = std::process::Command::new(&bin);
        for (k, v) in d.env() {
            cmd.env(k, v);
        }
        let mut child = cmd
            .arg("--db")
            .arg(common::cli::db_arg(&db))
            .args(["imap", "--batch", "10", "--ca-file"])
            .arg(d.ca_pem_path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while stored(&db) < target && std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
        let now = stored(&db);
        if now < n {
            partway += 1;
        }
        // No message is seen whose report is not stored.
        let seen = d.seen_count("INBOX") as i64;
        assert!(
            seen <= now,
            "target {target}: {seen} seen but only {now} stored"
        );
    }
    assert!(partway > 0, "no run was killed part-way");
    imap_cmd(&d, &db).assert().success();
    assert_eq!(stored(&db), n);
    assert_eq!(d.seen_count("INBOX"), n as usize);
    let ids = common::cli::stored_report_ids(&db);
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len() as i64, n);
}

/// `imap --alert` checks the window after ingesting, as the seed's
/// `--alert` did: a stranger failing 25 messages yesterday is reported and
/// the run exits 1.
#[test]
fn imap_alert_reports_spoofing_after_ingest() {
    let Some(d) = Dovecot::start() else { return };
    let yesterday = chrono::Utc::now().timestamp() - 86_400;
    let xml = report_xml(
        "reporter.example",
        "alert-1",
        yesterday,
        &[Rec {
            ip: "198.51.100.9",
            count: 25,
            pass: false,
        }],
    );
    d.append(
        "INBOX",
        &report_mail("reporter.example", "alert-1", &xml),
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    // An empty config file: the seed's thresholds, no networks of ours.
    let config = dir.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let out = imap_cmd(&d, &db)
        .env_remove("DMARCDB_OUR_NETS")
        .args(["--alert", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("1 new report(s)"), "{stdout}");
    assert!(
        stdout.contains("198.51.100.9") && stdout.contains("possible spoofing"),
        "{stdout}"
    );
    assert_eq!(d.seen_count("INBOX"), 1);
}
