//! Running one case of the catalogue: the built `dmarcdb ingest` over a
//! batch directory holding the bad input and one good report, in a fresh
//! database, and the checks of the catalogue's promises (see `main.rs`).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use rusqlite::{params, Connection};

use crate::common::cli::{db_arg, on_postgres};
use crate::inputs::report;

pub const BIN: &str = env!("CARGO_BIN_EXE_dmarcdb");
pub const MIB: usize = 1024 * 1024;
pub const GIB: usize = 1024 * MIB;
/// Peak RSS allowed for one `dmarcdb ingest` over a case, in KiB.
pub const MAX_RSS_KIB: i64 = 256 * 1024;

/// What a case must do.
pub enum Expect {
    /// Exit 3; `lines` rejection lines, each naming the input, one of them
    /// containing `reason`; nothing stored from the input; quarantined when
    /// `quarantined`.
    Rejected {
        reason: &'static str,
        lines: usize,
        quarantined: bool,
    },
    /// Exit 0, no rejection, `reports` reports stored from the input.
    Accepted { reports: i64 },
}

pub fn rejected(reason: &'static str) -> Expect {
    Expect::Rejected {
        reason,
        lines: 1,
        quarantined: true,
    }
}

/// Rejected by the source before any byte was read: nothing to keep.
pub fn unreadable(reason: &'static str) -> Expect {
    Expect::Rejected {
        reason,
        lines: 1,
        quarantined: false,
    }
}

/// The outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub max_rss_kib: i64,
    pub secs: f64,
}

/// Runs `dmarcdb --db DB ARGS` and reaps it with `wait4`, which reports
/// the peak RSS of that child alone. Linux counts in it the high-water mark
/// of the memory the child was spawned from (this test process, recorded at
/// `exec`), so the figure is an upper bound, and the cases build their
/// inputs by streaming to keep this process small.
// The child is reaped by `wait4` below, not by std.
#[allow(clippy::zombie_processes)]
pub fn run(dir: &Path, db: &Path, args: &[&OsStr]) -> Run {
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let start = Instant::now();
    let child = Command::new(BIN)
        .env_remove("DMARCDB_DB")
        .env_remove("DATABASE_URL")
        .arg("--db")
        .arg(db_arg(db))
        .arg("ingest")
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain FFI call with valid pointers; `child` is never waited on by std.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    let secs = start.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Run {
        code,
        stdout: fs::read_to_string(out_path).unwrap(),
        stderr: fs::read_to_string(err_path).unwrap(),
        max_rss_kib: usage.ru_maxrss,
        secs,
    }
}

pub fn count(db: &Path, sql: &str, arg: &str) -> i64 {
    if on_postgres() {
        // `?1` is SQLite's spelling; the sums of counts are bigint there.
        let sql = format!("SELECT CAST(({}) AS bigint)", sql.replace("?1", "$1::text"));
        let url = db_arg(db).into_string().unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        return c.query_one(&sql, &[&arg]).unwrap().get(0);
    }
    Connection::open(db)
        .unwrap()
        .query_row(sql, params![arg], |r| r.get(0))
        .unwrap()
}

/// Builds the bad input inside the batch directory and returns the name
/// that identifies it in messages and in the `source` columns.
pub type Build = fn(&Path) -> String;

pub fn check(case: &str, build: Build, expect: Expect) {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    fs::create_dir(&batch).unwrap();
    fs::write(batch.join("good.xml"), report("good-report")).unwrap();
    let bad = build(&batch);
    let db = dir.path().join("catalogue.db");
    let r = run(dir.path(), &db, &[batch.as_os_str()]);
    eprintln!(
        "{case}: exit {}, {} KiB peak RSS, {:.2} s",
        r.code, r.max_rss_kib, r.secs
    );
    let context = format!("{case}\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.max_rss_kib < MAX_RSS_KIB,
        "{}: {} KiB",
        case,
        r.max_rss_kib
    );
    assert!(!r.stderr.contains("panicked"), "{context}");
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("dmarcdb: rejected "))
        .collect();
    // Anything else on stderr would be a message that is not one line per input.
    assert_eq!(lines.len(), r.stderr.lines().count(), "{context}");

    let good = "SELECT count(*) FROM report WHERE report_id = ?1";
    assert_eq!(count(&db, good, "good-report"), 1, "good report: {context}");
    // Reports of every kind (aggregate, SMTP TLS, failure) from the input.
    let from_bad = "SELECT (SELECT count(*) FROM report WHERE source LIKE '%' || ?1 || '%')
        + (SELECT count(*) FROM tls_report WHERE source LIKE '%' || ?1 || '%')
        + (SELECT count(*) FROM failure_report WHERE source LIKE '%' || ?1 || '%')";
    // Nothing half-stored: no policy or failure detail without its report.
    let orphans = "SELECT (SELECT count(*) FROM tls_policy WHERE report NOT IN (SELECT id FROM tls_report))
        + (SELECT count(*) FROM tls_failure WHERE report NOT IN (SELECT id FROM tls_report))
        + (SELECT count(*) FROM tls_report_blob WHERE report NOT IN (SELECT id FROM tls_report))
        + (SELECT count(*) FROM failure_report_blob WHERE report NOT IN (SELECT id FROM failure_report))
        + (SELECT count(*) FROM tls_report WHERE id NOT IN (SELECT report FROM tls_report_blob))
        WHERE ?1 = ?1";
    assert_eq!(count(&db, orphans, ""), 0, "half-stored: {context}");
    let quarantined = "SELECT count(*) FROM quarantine WHERE source LIKE '%' || ?1 || '%'";
    let all_quarantined = "SELECT count(*) FROM quarantine WHERE ?1 = ?1";
    match expect {
        Expect::Rejected {
            reason,
            lines: n,
            quarantined: kept,
        } => {
            assert_eq!(r.code, 3, "{context}");
            assert_eq!(lines.len(), n, "{context}");
            for l in &lines {
                assert!(l.contains(&bad), "line does not name {bad}: {context}");
            }
            assert!(
                lines.iter().any(|l| l.contains(reason)),
                "no line says {reason:?}: {context}"
            );
            assert_eq!(count(&db, from_bad, &bad), 0, "stored: {context}");
            assert_eq!(
                count(&db, "SELECT count(*) FROM report WHERE ?1 = ?1", ""),
                1
            );
            let q = count(&db, quarantined, &bad);
            if kept {
                assert!(q >= 1, "not quarantined: {context}");
            } else {
                assert_eq!(q, 0, "{context}");
            }
            assert_eq!(count(&db, all_quarantined, ""), q, "{context}");
        }
        Expect::Accepted { reports } => {
            assert_eq!(r.code, 0, "{context}");
            assert_eq!(count(&db, from_bad, &bad), reports, "{context}");
            let every_kind =
                "SELECT (SELECT count(*) FROM report) + (SELECT count(*) FROM tls_report)
                + (SELECT count(*) FROM failure_report) WHERE ?1 = ?1";
            assert_eq!(count(&db, every_kind, ""), reports + 1, "{context}");
            assert_eq!(count(&db, all_quarantined, ""), 0, "{context}");
        }
    }
}
