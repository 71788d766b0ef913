//! `dmarcdb imap --watch` against a real Dovecot: new mail stored within
//! seconds (IDLE, and polling where the server has no IDLE), SIGTERM ending
//! it with exit 0 and nothing lost, and a server restart survived.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::cli::reports_in_file as stored;
use common::dovecot::{Dovecot, Options};
use common::mail::simple_report_mail;
use rusqlite::Connection;

fn distinct(db: &Path) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT count(DISTINCT report_id) FROM report", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// `dmarcdb --db DB imap --watch ARGS`, output captured to files in `dir`.
fn watch(d: &Dovecot, db: &Path, args: &[&str]) -> Child {
    let dir = db.parent().unwrap();
    Command::new(assert_cmd::cargo::cargo_bin("dmarcdb"))
        .env_remove("DMARCDB_DB")
        .envs(d.env())
        .arg("--db")
        .arg(db)
        .args(["imap", "--watch", "--ca-file"])
        .arg(d.ca_pem_path())
        .args(args)
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn stderr_of(db: &Path) -> String {
    std::fs::read_to_string(db.parent().unwrap().join("stderr")).unwrap_or_default()
}

/// Wait until `db` holds `n` reports; panics after `secs` seconds.
fn wait_stored(db: &Path, n: i64, secs: u64, child: &mut Child) -> Duration {
    let start = Instant::now();
    while stored(db) < n {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("watch exited ({status}): {}", stderr_of(db));
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{} of {n} stored after {secs} s: {}",
            stored(db),
            stderr_of(db)
        );
        sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Exit status after a signal, waiting at most `secs`.
fn exit_code(child: &mut Child, secs: u64, db: &Path) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("watch did not stop within {secs} s: {}", stderr_of(db));
        }
        sleep(Duration::from_millis(20));
    }
}

fn mail(id: &str) -> Vec<u8> {
    simple_report_mail(id, 1_760_000_000)
}

#[test]
fn new_mail_is_stored_within_seconds_and_sigterm_exits_0() {
    let Some(d) = Dovecot::start() else { return };
    d.append("INBOX", &mail("before-0"), false);
    d.append("INBOX", &mail("before-1"), false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut child = watch(&d, &db, &[]);
    wait_stored(&db, 2, 30, &mut child);
    // Now idle: new mail arrives.
    sleep(Duration::from_millis(300));
    for i in 0..3 {
        d.append("INBOX", &mail(&format!("new-{i}")), false);
    }
    let took = wait_stored(&db, 5, 10, &mut child);
    eprintln!("new mail stored {took:?} after it arrived");
    // Acknowledged right after the commit: all seen soon after.
    let start = Instant::now();
    while d.seen_count("INBOX") < 5 && start.elapsed() < Duration::from_secs(5) {
        sleep(Duration::from_millis(20));
    }
    assert_eq!(d.seen_count("INBOX"), 5);
    sigterm(&child);
    assert_eq!(exit_code(&mut child, 10, &db), 0, "{}", stderr_of(&db));
    assert!(stderr_of(&db).contains("IDLE"), "{}", stderr_of(&db));
    assert_eq!(distinct(&db), 5);
}

#[test]
fn without_idle_the_watch_polls() {
    let Some(d) = Dovecot::start_with(Options {
        hide_idle: true,
        ..Options::default()
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let mut child = watch(&d, &db, &["--poll-interval", "1"]);
    sleep(Duration::from_millis(500));
    d.append("INBOX", &mail("polled"), false);
    wait_stored(&db, 1, 10, &mut child);
    sigterm(&child);
    assert_eq!(exit_code(&mut child, 10, &db), 0, "{}", stderr_of(&db));
    assert!(stderr_of(&db).contains("polling"), "{}", stderr_of(&db));
}

/// SIGTERM in the middle of a big first round: the run stops after its
/// current commit, exit 0, every seen message stored; the next run
/// stores the rest, each report once.
#[test]
fn sigterm_mid_round_exits_0_and_loses_nothing() {
    let n = 600;
    let Some(d) = Dovecot::start_with_mail(Options::default(), &|inbox| {
        for i in 0..n {
            inbox.add(&mail(&format!("t{i:04}")), false);
        }
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut child = watch(&d, &db, &["--batch", "50"]);
    wait_stored(&db, 1, 30, &mut child);
    sigterm(&child);
    assert_eq!(exit_code(&mut child, 20, &db), 0, "{}", stderr_of(&db));
    let (now, seen) = (stored(&db), d.seen_count("INBOX") as i64);
    eprintln!("stopped with {now} stored, {seen} seen");
    assert!(seen <= now, "{seen} seen but {now} stored");
    assert!(now < n, "SIGTERM came after the whole round ({now} stored)");

    let out = Command::new(assert_cmd::cargo::cargo_bin("dmarcdb"))
        .env_remove("DMARCDB_DB")
        .envs(d.env())
        .arg("--db")
        .arg(&db)
        .args(["imap", "--ca-file"])
        .arg(d.ca_pem_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!((stored(&db), distinct(&db)), (n, n));
    assert_eq!(d.seen_count("INBOX"), n as usize);
}

#[test]
fn a_server_restart_under_watch_reconnects_and_continues() {
    let Some(mut d) = Dovecot::start() else {
        return;
    };
    d.append("INBOX", &mail("first"), false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let mut child = watch(&d, &db, &[]);
    wait_stored(&db, 1, 30, &mut child);
    sleep(Duration::from_millis(300));
    d.restart();
    d.append("INBOX", &mail("after-restart"), false);
    let took = wait_stored(&db, 2, 30, &mut child);
    eprintln!("stored {took:?} after the restart");
    sigterm(&child);
    assert_eq!(exit_code(&mut child, 10, &db), 0, "{}", stderr_of(&db));
    let err = stderr_of(&db);
    assert!(err.contains("reconnecting"), "{err}\n{}", d.log());
    assert_eq!(d.seen_count("INBOX"), 2);
    assert_eq!(distinct(&db), 2);
}

/// `--watch --alert`: each round that stores something runs the alert; a
/// problem found is printed and the watch goes on (exit 0 when stopped).
#[test]
fn watch_runs_the_alert_after_each_round() {
    let Some(d) = Dovecot::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("al.db");
    let config = dir.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let config = config.display().to_string();
    let mut child = watch(&d, &db, &["--alert", "--config", &config]);
    let stdout = || std::fs::read_to_string(dir.path().join("stdout")).unwrap_or_default();
    let yesterday = chrono::Utc::now().timestamp() - 86_400;
    for (round, ip) in [(1, "198.51.100.9"), (2, "198.51.100.77")] {
        let id = format!("spoof-{round}");
        let xml = common::mail::report_xml(
            "reporter.example",
            &id,
            yesterday,
            &[common::mail::Rec {
                ip,
                count: 25,
                pass: false,
            }],
        );
        d.append(
            "INBOX",
            &common::mail::report_mail("reporter.example", &id, &xml),
            false,
        );
        wait_stored(&db, round, 20, &mut child);
        let start = Instant::now();
        while !stdout().contains(ip) && start.elapsed() < Duration::from_secs(10) {
            sleep(Duration::from_millis(20));
        }
        assert!(stdout().contains(ip), "round {round}: {}", stdout());
    }
    assert_eq!(stdout().matches("new report(s)").count(), 2, "{}", stdout());
    sigterm(&child);
    assert_eq!(exit_code(&mut child, 10, &db), 0, "{}", stderr_of(&db));
}
