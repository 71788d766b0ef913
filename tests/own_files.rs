//! A directory ingest never reads the files the run writes itself: the
//! database in use (kept inside the folder of reports) and its `-wal`,
//! `-shm` and `-journal` companions, under any name that reaches them.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::cli::{dmarcdb, run_ok};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn copy_samples(to: &Path) {
    fs::create_dir_all(to).unwrap();
    for f in fs::read_dir(samples()).unwrap() {
        let f = f.unwrap().path();
        fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
}

fn quarantined(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn database_inside_the_ingested_folder_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    copy_samples(&reports);
    let db = reports.join("dmarc.sqlite");
    // A journal left by an older rollback-mode run is ours too.
    fs::write(reports.join("dmarc.sqlite-journal"), b"").unwrap();

    for run in 0..2 {
        let out = run_ok(dmarcdb(&db).arg("ingest").arg(&reports));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("rejected"), "run {run}: {stderr}");
        assert!(stdout.contains("0 rejected"), "run {run}: {stdout}");
        // Every sample is new on the first run (samples/ holds all three
        // kinds), none on the second.
        let summary = stdout
            .lines()
            .find(|l| l.contains(" new report(s)"))
            .unwrap_or_default();
        assert_eq!(
            summary.starts_with("0 new "),
            run == 1,
            "run {run}: {stdout}"
        );
        // The database (and whichever companions exist now) were met and
        // skipped; said once.
        let line = stdout
            .lines()
            .filter(|l| l.starts_with("Skipped "))
            .collect::<Vec<_>>();
        assert_eq!(line.len(), 1, "run {run}: {stdout}");
        assert!(
            line[0].contains("this run writes itself"),
            "run {run}: {stdout}"
        );
    }
    assert_eq!(quarantined(&db), 0);
}

#[test]
fn relative_db_path_and_links_to_the_database_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    copy_samples(&reports);
    run_ok(
        dmarcdb(Path::new("reports/db.sqlite"))
            .current_dir(dir.path())
            .arg("ingest")
            .arg("reports"),
    );
    std::os::unix::fs::symlink(reports.join("db.sqlite"), reports.join("zz-link.xml")).unwrap();
    fs::hard_link(reports.join("db.sqlite"), dir.path().join("hard.xml")).unwrap();
    let out = run_ok(
        dmarcdb(Path::new("./reports/../reports/db.sqlite"))
            .current_dir(dir.path())
            .arg("ingest")
            .arg(".")
            .arg("hard.xml"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 new report(s)"), "{stdout}");
    assert!(stdout.contains("0 rejected"), "{stdout}");
    assert_eq!(quarantined(&dir.path().join("reports/db.sqlite")), 0);
}

#[test]
fn a_dry_run_skips_the_database_too() {
    let dir = tempfile::tempdir().unwrap();
    copy_samples(dir.path());
    let db = dir.path().join("dmarc.sqlite");
    run_ok(dmarcdb(&db).arg("ingest").arg(dir.path()));
    let out = run_ok(dmarcdb(&db).args(["ingest", "--dry-run"]).arg(dir.path()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 rejected"), "{stdout}");
    assert!(stdout.contains("Skipped "), "{stdout}");
}

#[test]
fn other_sqlite_files_are_still_inputs() {
    // Only the database in use is skipped: another SQLite file in the
    // folder is an input like any other (and not a report).
    let dir = tempfile::tempdir().unwrap();
    copy_samples(dir.path());
    let other = dir.path().join("other.sqlite");
    run_ok(dmarcdb(&other).arg("ingest").arg(samples()));
    let db = dir.path().join("sub/dmarc.sqlite");
    let out = dmarcdb(&db).arg("ingest").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("other.sqlite"), "{stderr}");
}
