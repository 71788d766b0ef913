//! Crash safety and concurrent runs: `dmarcdb ingest` killed with SIGKILL at
//! random moments, and two ingests over the same files on one database.
//!
//! After any number of kills and one run to the end, the database must pass
//! `PRAGMA integrity_check`, hold every report exactly once with all of its
//! rows (no record without its report, no report missing records or its
//! original bytes), and have quarantined nothing: a kill is not the input's
//! fault. The reports come from a small deterministic generator here, so
//! the expected totals are known exactly; kill times come from a seeded
//! PRNG, so a failure replays.
//!
//! Every test runs on a SQLite file and again on a PostgreSQL database of
//! the tests' throwaway cluster (`common/postgres.rs`; skipped without it
//! unless `CI=true`).

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use rusqlite::Connection;

#[path = "common/postgres.rs"]
#[allow(dead_code)]
mod postgres;

const BIN: &str = env!("CARGO_BIN_EXE_dmarcdb");

/// The database under test.
enum Db {
    File(PathBuf),
    Postgres(String),
}

impl Db {
    fn arg(&self) -> OsString {
        match self {
            Db::File(p) => p.into(),
            Db::Postgres(url) => url.into(),
        }
    }

    /// Whether a run may have created it (a PostgreSQL database is there
    /// from the start, maybe without tables).
    fn exists(&self) -> bool {
        match self {
            Db::File(p) => p.exists(),
            Db::Postgres(_) => true,
        }
    }

    /// The one integer `sql` answers; an error (no tables yet) as `Err`.
    fn one(&self, sql: &str) -> Result<i64, String> {
        match self {
            Db::File(p) => Connection::open(p)
                .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
                .map_err(|e| e.to_string()),
            Db::Postgres(url) => {
                let mut c = ::postgres::Client::connect(url, ::postgres::NoTls)
                    .map_err(|e| e.to_string())?;
                c.query_one(&format!("SELECT ({sql})::bigint"), &[])
                    .map(|r| r.get(0))
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// xorshift64*: small, deterministic, good enough to pick kill times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the generated corpus adds up to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    reports: i64,
    records: i64,
    messages: i64,
    dkim: i64,
}

const ORGS: &[&str] = &["google.com", "Yahoo", "Mail.Ru", "Enterprise Outlook"];

/// One report: 1 to 4 records, each with one or two DKIM results and one SPF.
fn report(i: usize, rng: &mut Rng, totals: &mut Totals) -> String {
    let begin = 1_700_000_000 + (i as i64 % 60) * 86_400;
    let mut xml = format!(
        "<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>{}</org_name>\
         <email>dmarc@reporter.example</email><report_id>crash-{i}</report_id>\
         <date_range><begin>{begin}</begin><end>{}</end></date_range></report_metadata>\
         <policy_published><domain>example.com</domain><p>reject</p></policy_published>\n",
        ORGS[i % ORGS.len()],
        begin + 86_399
    );
    for k in 0..1 + rng.below(4) {
        let count = 1 + rng.below(500) as i64;
        let pass = if rng.below(3) == 0 { "fail" } else { "pass" };
        let dkims = 1 + rng.below(2) as i64;
        xml.push_str(&format!(
            "<record><row><source_ip>198.51.{}.{k}</source_ip><count>{count}</count>\
             <policy_evaluated><disposition>none</disposition><dkim>{pass}</dkim><spf>fail</spf>\
             </policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers>\
             <auth_results>",
            i % 250
        ));
        for d in 0..dkims {
            xml.push_str(&format!(
                "<dkim><domain>d{d}.example.com</domain><result>{pass}</result></dkim>"
            ));
        }
        xml.push_str("<spf><domain>example.com</domain><result>fail</result></spf></auth_results></record>\n");
        totals.records += 1;
        totals.messages += count;
        totals.dkim += dkims;
    }
    xml.push_str("</feedback>\n");
    totals.reports += 1;
    xml
}

/// Writes `n` reports into `dir`, every third one gzip-compressed, spread
/// over a few sub-directories.
fn corpus(dir: &Path, n: usize, seed: u64) -> Totals {
    let mut rng = Rng(seed);
    let mut totals = Totals::default();
    for i in 0..n {
        let sub = dir.join(format!("batch-{}", i % 7));
        fs::create_dir_all(&sub).unwrap();
        let xml = report(i, &mut rng, &mut totals);
        if i % 3 == 0 {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(xml.as_bytes()).unwrap();
            fs::write(sub.join(format!("r{i}.xml.gz")), gz.finish().unwrap()).unwrap();
        } else {
            fs::write(sub.join(format!("r{i}.xml")), xml).unwrap();
        }
    }
    totals
}

fn ingest(db: &Db, dir: &Path) -> Child {
    Command::new(BIN)
        .env_remove("DATABASE_URL")
        .env_remove("DMARCDB_DB")
        .arg("--db")
        .arg(db.arg())
        .arg("ingest")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn one(db: &Db, sql: &str) -> i64 {
    db.one(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The checks that must hold after any kill: an intact file, and no row
/// of a report that was not committed whole.
fn assert_consistent(db: &Db) {
    if let Db::File(path) = db {
        let conn = Connection::open(path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let dangling: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(dangling, 0, "references to missing rows");
    }
    let partial = [
        ("records without their report", "SELECT count(*) FROM record WHERE report NOT IN (SELECT id FROM report)"),
        (
            "records pointing at no auth set",
            "SELECT count(*) FROM record WHERE auth IS NOT NULL AND auth NOT IN (SELECT id FROM auth_set)",
        ),
        (
            "auth sets without their rows",
            "SELECT count(*) FROM auth_set a WHERE NOT EXISTS (SELECT 1 FROM dkim_result WHERE auth_set = a.id)
               AND NOT EXISTS (SELECT 1 FROM spf_result WHERE auth_set = a.id)",
        ),
        (
            "override reasons without their record",
            "SELECT count(*) FROM override_reason o
             WHERE NOT EXISTS (SELECT 1 FROM record WHERE report = o.report AND seq = o.record)",
        ),
        ("blobs without their report", "SELECT count(*) FROM report_blob WHERE report NOT IN (SELECT id FROM report)"),
        ("reports without their bytes", "SELECT count(*) FROM report WHERE id NOT IN (SELECT report FROM report_blob)"),
        (
            "reports missing records",
            "SELECT count(*) FROM report r WHERE record_count != (SELECT count(*) FROM record WHERE report = r.id)",
        ),
        ("reports stored twice", "SELECT count(*) FROM (SELECT 1 FROM report GROUP BY report_id HAVING count(*) > 1) AS twice"),
        ("quarantined inputs", "SELECT count(*) FROM quarantine"),
    ];
    for (what, sql) in partial {
        assert_eq!(one(db, sql), 0, "{what}");
    }
}

fn stored(db: &Db) -> Totals {
    Totals {
        reports: one(db, "SELECT count(*) FROM report"),
        records: one(db, "SELECT count(*) FROM record"),
        messages: one(db, "SELECT coalesce(sum(count), 0) FROM record"),
        dkim: one(
            db,
            "SELECT count(*) FROM record c JOIN dkim_result d ON d.auth_set = c.auth",
        ),
    }
}

fn finished(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    sigkill_trials(4, |path| Db::File(path.to_owned()));
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing_on_postgres() {
    if postgres::cluster().is_none() {
        return;
    }
    // Fewer trials: each starts a server-side database and runs slower.
    sigkill_trials(2, |_| Db::Postgres(postgres::database().unwrap()));
}

/// `trials` kill trials on databases made by `new_db` (given a file path
/// to use).
fn sigkill_trials(trials: u64, new_db: impl Fn(&Path) -> Db) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    let expected = corpus(&inputs, 2500, 0x5eed_0001);

    // An uninterrupted run, for the totals (and its time, for the log).
    let start = Instant::now();
    let probe_db = new_db(&dir.path().join("probe.db"));
    let out = ingest(&probe_db, &inputs).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", finished(&out));
    let full = start.elapsed();
    assert_eq!(stored(&probe_db), expected);

    // Each trial: a fresh database, two runs killed at random moments (the
    // second resumes where the first stopped), then a run to the end. A
    // moment is chosen by progress, not by time (a run's speed varies with
    // the machine's load by more than the run lasts): the run is killed
    // once it has committed a random share of what is left, plus a few
    // random milliseconds, so the kill lands inside the next open group.
    let mut rng = Rng(0xdead_beef);
    let mut partial = Vec::new();
    for trial in 0..trials {
        let db = new_db(&dir.path().join(format!("crash-{trial}.db")));
        for _kill in 0..2 {
            let done = stored_reports(&db);
            let left = (expected.reports - done) as u64;
            let target = done + 1 + rng.below((left * 8 / 10).max(1)) as i64;
            let mut child = ingest(&db, &inputs);
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().unwrap().is_none()
                && Instant::now() < deadline
                && (!db.exists() || stored_reports(&db) < target)
            {
                sleep(Duration::from_millis(2));
            }
            sleep(Duration::from_millis(rng.below(10)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
            }
            child.wait().unwrap();
            assert_consistent(&db);
            partial.push(stored(&db).reports);
        }
        let out = ingest(&db, &inputs).wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", finished(&out));
        assert_consistent(&db);
        assert_eq!(stored(&db), expected, "trial {trial}");
    }
    eprintln!("uninterrupted run {full:?}; reports stored when killed: {partial:?}");
    let mid_run = partial
        .iter()
        .filter(|&&n| n > 0 && n < expected.reports)
        .count();
    assert!(
        mid_run as u64 >= trials,
        "too few kills landed mid-run: {partial:?}"
    );
}

/// Reports committed so far; 0 while the run has not created the tables.
fn stored_reports(db: &Db) -> i64 {
    db.one("SELECT count(*) FROM report").unwrap_or(0)
}

/// `N new report(s) (...), M already stored, ...` → (N, M).
fn new_and_duplicate(stdout: &[u8]) -> (i64, i64) {
    let text = String::from_utf8_lossy(stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    let new = words[0].parse().unwrap();
    let at = words.iter().position(|w| *w == "already").unwrap();
    let dup = words[at - 1].trim_end_matches(',').parse().unwrap();
    (new, dup)
}

#[test]
fn two_concurrent_ingests_store_each_report_once() {
    let dir = tempfile::tempdir().unwrap();
    concurrent(dir.path(), Db::File(dir.path().join("both.db")));
}

#[test]
fn two_concurrent_ingests_store_each_report_once_on_postgres() {
    if postgres::cluster().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    concurrent(dir.path(), Db::Postgres(postgres::database().unwrap()));
}

fn concurrent(dir: &Path, db: Db) {
    let inputs = dir.join("in");
    let expected = corpus(&inputs, 1500, 0x5eed_0002);
    // Both start on a database without tables (a file that does not exist
    // yet, an empty PostgreSQL database).
    let a = ingest(&db, &inputs);
    let b = ingest(&db, &inputs);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "{}", finished(&a));
    assert_eq!(b.status.code(), Some(0), "{}", finished(&b));
    assert_consistent(&db);
    assert_eq!(stored(&db), expected);
    let (new_a, dup_a) = new_and_duplicate(&a.stdout);
    let (new_b, dup_b) = new_and_duplicate(&b.stdout);
    assert_eq!(
        new_a + new_b,
        expected.reports,
        "{}\n{}",
        finished(&a),
        finished(&b)
    );
    assert_eq!(dup_a + dup_b, expected.reports);
}
