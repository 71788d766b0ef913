//! Faults of the database under a Maildir ingest, each with real parts: a
//! disk that fills up (a 512 KiB tmpfs), a read-only database file, and a
//! database another process keeps locked longer than `--busy-timeout`.
//! Each must give one clear line and exit 2, mark no message seen whose
//! report is not stored, and let the next run — space, permission or lock
//! back — finish the job with every report stored once.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::mail::{report_mail, report_xml, simple_report_mail, Rec};
use rusqlite::Connection;

/// `nobody`: who runs dmarcdb when the test is root and root's
/// permissions would hide the fault.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `dmarcdb --db DB ingest MAILDIR`, with a private HOME (no user config).
fn ingest(db: &Path, md: &Path, home: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("dmarcdb"));
    for k in ["DMARCDB_DB", "DMARCDB_CONFIG", "DMARCDB_BUSY_TIMEOUT"] {
        c.env_remove(k);
    }
    c.env("HOME", home)
        .arg("--db")
        .arg(db)
        .arg("ingest")
        .arg(md);
    c
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn new_maildir(root: &Path) -> PathBuf {
    let md = root.join("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    md
}

/// Report ids of the messages marked seen (`cur/ID.host:2,S`).
fn seen(md: &Path) -> BTreeSet<String> {
    std::fs::read_dir(md.join("cur"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let (base, flags) = name.rsplit_once(":2,")?;
            flags
                .contains('S')
                .then(|| base.trim_end_matches(".host").to_owned())
        })
        .collect()
}

/// Report ids stored, and the number of records.
fn stored(db: &Path) -> (BTreeSet<String>, i64) {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare("SELECT report_id FROM report").unwrap();
    let ids = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let records = c
        .query_row("SELECT count(*) FROM record", [], |r| r.get(0))
        .unwrap();
    (ids, records)
}

/// The rule of every fault: whatever is seen is stored.
fn assert_nothing_lost(md: &Path, db: &Path) {
    let (ids, _) = stored(db);
    let lost: Vec<_> = seen(md).difference(&ids).cloned().collect();
    assert!(lost.is_empty(), "marked seen but not stored: {lost:?}");
}

/// One line on stderr, exit 2, and the words expected.
fn assert_fatal(out: &Output, words: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for w in words {
        assert!(err.contains(w), "{w:?} missing: {err}");
    }
}

/// A report mail with `n` records from distinct addresses, so that its
/// rows take room.
fn big_report_mail(id: &str, n: usize) -> Vec<u8> {
    let ips: Vec<String> = (0..n)
        .map(|j| format!("10.{}.{}.{}", j % 200, (j / 200) % 250, 1 + j % 250))
        .collect();
    let recs: Vec<Rec<'_>> = ips
        .iter()
        .enumerate()
        .map(|(j, ip)| Rec {
            ip,
            count: 1 + j as i64,
            pass: j % 3 != 0,
        })
        .collect();
    report_mail(
        "big.example",
        id,
        &report_xml("big.example", id, 1_760_000_000, &recs),
    )
}

/// A tmpfs mounted for one test, unmounted (lazily, so a straggling
/// process cannot keep it) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount tmpfs: {}", stderr(&out));
        Tmpfs(dir.to_owned())
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .arg("-o")
            .arg(format!("remount,size={size}"))
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "remount: {}", stderr(&out));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn disk_full_during_ingest_loses_nothing_and_the_next_run_finishes() {
    if !is_root() {
        assert!(
            !in_ci(),
            "CI=true: the disk-full test needs root (mount tmpfs)"
        );
        eprintln!("NOTICE: not root, cannot mount a small tmpfs: disk-full test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let md = new_maildir(dir.path());
    const REPORTS: usize = 60;
    const RECORDS: usize = 150;
    for i in 0..REPORTS {
        let id = format!("full-{i:03}");
        std::fs::write(
            md.join(format!("new/{id}.host")),
            big_report_mail(&id, RECORDS),
        )
        .unwrap();
    }
    let fs = Tmpfs::mount(&dir.path().join("small"), "512k");
    let db = fs.0.join("dmarc.db");

    let out = ingest(&db, &md, dir.path()).output().unwrap();
    assert_fatal(&out, &["disk is full", "dmarc.db"]);
    assert_nothing_lost(&md, &db);
    let (ids, _) = stored(&db);
    assert!(
        ids.len() < REPORTS,
        "everything fit in 512 KiB; the test proves nothing"
    );
    let unseen = std::fs::read_dir(md.join("new")).unwrap().count();
    assert!(unseen > 0, "every message was marked seen");

    // Space back: the next run stores the rest, each report once.
    fs.resize("64m");
    let out = ingest(&db, &md, dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (ids, records) = stored(&db);
    assert_eq!(ids.len(), REPORTS);
    assert_eq!(records, (REPORTS * RECORDS) as i64);
    assert_eq!(seen(&md).len(), REPORTS);
}

#[test]
fn read_only_database_file_loses_nothing_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let md = new_maildir(dir.path());
    let db_dir = dir.path().join("db");
    std::fs::create_dir(&db_dir).unwrap();
    let db = db_dir.join("dmarc.db");
    // A database with one report, made by this user.
    std::fs::write(
        md.join("new/first.host"),
        simple_report_mail("first", 1_760_000_000),
    )
    .unwrap();
    let out = ingest(&db, &md, dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for i in 0..5 {
        let id = format!("ro-{i}");
        std::fs::write(
            md.join(format!("new/{id}.host")),
            simple_report_mail(&id, 1_760_000_000),
        )
        .unwrap();
    }

    // Read-only to whoever runs dmarcdb: mode 0444 for a normal user; for
    // root, who writes anyway, the run is made as `nobody`, to whom the
    // root-owned 0644 file is read-only (the directory stays writable, as
    // SQLite needs for its -wal and -shm files).
    let as_nobody = is_root();
    let chown_r = |path: &Path| {
        let status = Command::new("chown")
            .args(["-R", &format!("{NOBODY}:{NOBODY}")])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    };
    if as_nobody {
        chown_r(&md);
        chown_r(&db_dir);
        std::os::unix::fs::chown(&db, Some(0), Some(0)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    } else {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let run = || {
        let mut c = ingest(&db, &md, dir.path());
        if as_nobody {
            std::os::unix::process::CommandExt::uid(&mut c, NOBODY);
            std::os::unix::process::CommandExt::gid(&mut c, NOBODY);
        }
        c.output().unwrap()
    };
    let out = run();
    assert_fatal(&out, &["read-only", "dmarc.db"]);
    assert_nothing_lost(&md, &db);
    assert_eq!(seen(&md).len(), 1, "a message was marked seen");

    // Writable again (the file and the -wal and -shm files that readers,
    // this test's own included, leave next to it): the next run stores the
    // five.
    if as_nobody {
        chown_r(&db_dir);
    } else {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stored(&db).0.len(), 6);
    assert_eq!(seen(&md).len(), 6);
}

#[test]
fn database_locked_past_the_busy_timeout_loses_nothing_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let md = new_maildir(dir.path());
    let db = dir.path().join("dmarc.db");
    std::fs::write(
        md.join("new/first.host"),
        simple_report_mail("first", 1_760_000_000),
    )
    .unwrap();
    let out = ingest(&db, &md, dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for i in 0..5 {
        let id = format!("busy-{i}");
        std::fs::write(
            md.join(format!("new/{id}.host")),
            simple_report_mail(&id, 1_760_000_000),
        )
        .unwrap();
    }

    // Another writer holds the lock (as a long ingest or a stuck process
    // would) for longer than the 1 s this run is willing to wait.
    let holder = Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let out = ingest(&db, &md, dir.path())
        .args(["--busy-timeout", "1"])
        .output()
        .unwrap();
    let waited = started.elapsed();
    assert_fatal(&out, &["locked", "--busy-timeout", "dmarc.db"]);
    assert!(
        waited >= Duration::from_millis(900),
        "gave up after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(30),
        "waited {waited:?}, not 1 s"
    );
    assert_nothing_lost(&md, &db);
    assert_eq!(seen(&md).len(), 1, "a message was marked seen");

    // The same through the environment, and the default stays 60 s.
    let out = ingest(&db, &md, dir.path())
        .env("DMARCDB_BUSY_TIMEOUT", "1")
        .output()
        .unwrap();
    assert_fatal(&out, &["locked"]);
    let help = Command::new(assert_cmd::cargo::cargo_bin("dmarcdb"))
        .args(["ingest", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("[default: 60]"));

    // Lock released: the next run finishes.
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let out = ingest(&db, &md, dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stored(&db).0.len(), 6);
    assert_eq!(seen(&md).len(), 6);
}
