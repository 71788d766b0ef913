//! Big IMAP runs against a real Dovecot: a 10,000-message backfill in
//! memory bounded by the batch, and a connection dropped in the middle of
//! a batch (the server's imap process killed).
//!
//! The mail is written into Dovecot's maildir before it starts (10,000
//! APPENDs took minutes); peak memory is the child's `VmHWM`.

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

/// A report mail padded with a text part of `pad` bytes, so that holding
/// every message at once would show in the memory used.
fn padded_mail(id: &str, pad: usize) -> Vec<u8> {
    let mail = simple_report_mail(id, 1_760_000_000);
    let text = String::from_utf8(mail).unwrap();
    let filler = "padding line of a report mail, as providers add text\r\n".repeat(pad / 55);
    text.replacen(
        "This is an aggregate report.\r\n",
        &format!("This is an aggregate report.\r\n{filler}"),
        1,
    )
    .into_bytes()
}

fn start(n: usize, pad: usize) -> Option<Dovecot> {
    Dovecot::start_with_mail(Options::default(), &|inbox| {
        for i in 0..n {
            inbox.add(&padded_mail(&format!("b{i:05}"), pad), false);
        }
    })
}

fn spawn(d: &Dovecot, db: &Path, batch: usize) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("dmarcdb"))
        .env_remove("DMARCDB_DB")
        .envs(d.env())
        .arg("--db")
        .arg(db)
        .args(["imap", "--batch", &batch.to_string(), "--ca-file"])
        .arg(d.ca_pem_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child`: its exit code and its peak RSS in MiB, read from
/// its `VmHWM` while it runs (the last reading, at most 10 ms before it
/// exits). Not `wait4`'s `ru_maxrss`: that counts the test process's own
/// memory, which the child shared until its exec.
fn wait_rss(mut child: Child) -> (i32, f64) {
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Some(done) = child.try_wait().unwrap() {
            return (done.code().unwrap_or(-1), peak_kib as f64 / 1024.0);
        }
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        let hwm = text
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        peak_kib = peak_kib.max(hwm.unwrap_or(0));
        sleep(Duration::from_millis(10));
    }
}

fn backfill(n: usize, pad: usize) -> f64 {
    let d = start(n, pad).expect("dovecot");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let started = Instant::now();
    let (code, rss) = wait_rss(spawn(&d, &db, 200));
    eprintln!(
        "{n} messages of ~{} KiB: {:?}, peak RSS {rss:.1} MiB",
        pad / 1024,
        started.elapsed()
    );
    assert_eq!(code, 0);
    assert_eq!((stored(&db), distinct(&db)), (n as i64, n as i64));
    assert_eq!(d.seen_count("INBOX"), n);
    rss
}

/// 10,000 messages of ~5 KiB (50 MB) in batches of 200: everything stored
/// and seen, and the peak memory that of a run of 1,000 (where holding
/// every message would add some 50 MiB).
#[test]
fn ten_thousand_messages_in_memory_bounded_by_the_batch() {
    if Dovecot::start().is_none() {
        return;
    }
    let small = backfill(1_000, 4 * 1024);
    let big = backfill(10_000, 4 * 1024);
    assert!(
        big < small + 16.0,
        "10,000 messages peaked at {big:.1} MiB, 1,000 at {small:.1} MiB"
    );
}

/// The server's imap process killed in the middle of a run: a clear error
/// and exit 2, no message seen whose report is not stored, and the next
/// run completes the job with each report once.
#[test]
fn connection_dropped_mid_batch_loses_nothing_and_the_next_run_completes() {
    let n = 1_000;
    let Some(d) = start(n, 0) else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let child = spawn(&d, &db, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&db) < 100 && Instant::now() < deadline {
        sleep(Duration::from_millis(2));
    }
    assert!(d.kill_sessions() >= 1, "no imap session to kill");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let now = stored(&db);
    assert!(
        now < n as i64,
        "the run ended before the kill ({now} stored)"
    );
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("connection lost"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let seen = d.seen_count("INBOX") as i64;
    assert!(seen <= now, "{seen} seen but only {now} stored");

    let (code, _) = wait_rss(spawn(&d, &db, 200));
    assert_eq!(code, 0);
    assert_eq!((stored(&db), distinct(&db)), (n as i64, n as i64));
    assert_eq!(d.seen_count("INBOX"), n);
}
