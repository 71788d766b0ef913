//! PostgreSQL as the database: every view gives the same JSON as on
//! SQLite for the same reports; several ingesters at once store each
//! report once; quarantine and reparse work there; a password in the URL
//! never shows in a message; the "new sender" alert finds the same
//! senders. Sender facts, readiness and the pages: `postgres_senders.rs`;
//! the Grafana dashboard: `postgres_grafana.rs`.
//! The server is a throwaway cluster started by the tests
//! (`tests/common/postgres.rs`); without it the tests skip, unless
//! `CI=true`.

mod fixture;
#[path = "common/mail.rs"]
#[allow(dead_code)]
mod mail;

#[path = "support/pg_reports.rs"]
mod pg_reports;

use fixture::{midnight, run, Env, Rec, Report};
use pg_reports::{pg_env, reports};

const OURS: &str = "192.0.2.0/24";

fn out(env: &Env, args: &[&str]) -> String {
    let (code, out, err) = run(env.cmd().arg("--our-net").arg(OURS).args(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

#[test]
fn every_view_gives_the_same_json_on_both_backends() {
    let Some(pg) = pg_env() else { return };
    let lite = Env::on(false);
    pg.ingest(&reports());
    lite.ingest(&reports());
    let filters: [&[&str]; 6] = [
        &[],
        &["--days", "60"],
        &["--domain", "EXAMPLE.com"],
        &["--org", "GOOGLE", "--days", "60"],
        &["--external", "--limit", "2"],
        &["--ip", "192.0.2.0/25", "--ours"],
    ];
    let views = [
        "sources", "daily", "orgs", "domains", "dkim", "spf", "failures", "reports",
    ];
    for view in views {
        for f in filters {
            let mut args = vec!["query", view, "--format", "json"];
            args.extend(f);
            let (a, b) = (out(&lite, &args), out(&pg, &args));
            assert_eq!(a, b, "{args:?}");
            assert!(a.len() > 2 || f.len() > 2, "{args:?} found nothing: {a}");
        }
    }
    let alert = ["alert", "--dry-run", "--days", "60"];
    let (ca, a, _) = run(lite.cmd().arg("--our-net").arg(OURS).args(alert));
    let (cb, b, _) = run(pg.cmd().arg("--our-net").arg(OURS).args(alert));
    assert_eq!((ca, a), (cb, b));
}

#[test]
fn several_ingesters_at_once_store_each_report_once() {
    let Some(env) = pg_env() else { return };
    // 60 reports, written once, ingested by four processes at the same time.
    let reports: Vec<Report> = (0..60)
        .map(|i| {
            Report::day(
                "Parallel",
                &format!("p{i}"),
                midnight(1 + i % 5),
                (0..25)
                    .map(|k| Rec::new(&format!("198.51.100.{k}"), 1 + k, k % 3 == 0))
                    .collect(),
            )
        })
        .collect();
    let dir = env.path("reports");
    for r in &reports {
        std::fs::write(dir.join(format!("{}.xml", r.id)), r.xml()).unwrap();
    }
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| env.cmd().arg("ingest").arg(&dir).output().unwrap()))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for o in outputs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let v = fixture::json(&out(
        &env,
        &["query", "reports", "--days", "30", "--format", "json"],
    ));
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 60);
    let records: i64 = rows.iter().map(|r| r["records"].as_i64().unwrap()).sum();
    assert_eq!(records, 60 * 25);
}

/// Ingest with a broken input, list the quarantine, reparse, drop: the
/// exit codes and what is listed and stored after each step.
fn quarantine_flow(env: &Env) -> Vec<String> {
    let mut seen = Vec::new();
    env.ingest(&reports());
    let bad = env.path("bad.xml");
    std::fs::write(&bad, "<feedback><report_metadata>").unwrap();
    let (code, _, err) = run(env.cmd().arg("ingest").arg(&bad));
    assert_eq!(code, 3, "{err}");
    let list = fixture::json(&out(env, &["quarantine", "list", "--format", "json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["bytes"], 27);
    assert_eq!(list[0]["attempts"], 1);
    seen.push(list[0]["reason"].to_string());
    let (code, _, _) = run(env.cmd().arg("reparse"));
    seen.push(code.to_string());
    seen.push(out(
        env,
        &["query", "reports", "--days", "60", "--format", "json"],
    ));
    let (code, _, err) = run(env.cmd().args(["quarantine", "drop", "--all"]));
    assert_eq!(code, 0, "{err}");
    seen.push(out(env, &["quarantine", "list", "--format", "json"]));
    seen
}

#[test]
fn quarantine_and_reparse_work_alike_on_both_backends() {
    let Some(pg) = pg_env() else { return };
    let on_pg = quarantine_flow(&pg);
    assert_eq!(on_pg, quarantine_flow(&Env::on(false)));
    assert_eq!(fixture::json(&on_pg[2]).as_array().unwrap().len(), 4);
    assert_eq!(on_pg[3].trim(), "[]");
}

#[test]
fn a_password_in_the_url_never_shows_in_an_error() {
    let mut env = Env::on(false);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://me:s3cret@127.0.0.1:{port}/dmarc?sslmode=disable");
    env.url = Some(url);
    let (code, _, err) = run(env.cmd().args(["query", "sources"]));
    assert_ne!(code, 0);
    assert!(err.contains("me:***@127.0.0.1"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

/// Every view and the quarantine, as JSON, for comparing two databases.
fn everything(env: &Env) -> Vec<String> {
    let mut all: Vec<String> = [
        "sources",
        "daily",
        "orgs",
        "domains",
        "dkim",
        "spf",
        "failures",
        "reports",
        "tls-reports",
        "tls",
        "tls-failures",
        "failure-reports",
    ]
    .iter()
    .map(|v| out(env, &["query", v, "--days", "60", "--format", "json"]))
    .collect();
    all.push(out(env, &["quarantine", "list", "--format", "json"]));
    all
}

/// The original bytes of every report of each kind, the kept variants
/// and the redaction key, from a SQLite file.
fn blobs(db: &std::path::Path) -> Vec<(String, String, Vec<u8>)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut all = Vec::new();
    for sql in [
        "SELECT r.org_name, r.report_id, b.gzip FROM report r
         JOIN report_blob b ON b.report = r.id ORDER BY 1, 2",
        "SELECT r.org_name, r.report_id, b.gzip FROM tls_report r
         JOIN tls_report_blob b ON b.report = r.id ORDER BY 1, 2",
        "SELECT hex(r.identity), r.redacted, coalesce(b.gzip, x'') FROM failure_report r
         LEFT JOIN failure_report_blob b ON b.report = r.id ORDER BY 1",
        "SELECT r.report_id, v.source || ' ' || coalesce(v.repair, ''), v.gzip
         FROM report_variant v JOIN report r ON r.id = v.report ORDER BY v.sha256",
        "SELECT name, '', value FROM secret",
    ] {
        let mut st = c.prepare(sql).unwrap();
        all.extend(
            st.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, rusqlite::types::Value>(1)
                        .map(|v| format!("{v:?}"))?,
                    r.get(2)?,
                ))
            })
            .unwrap()
            .map(|r| r.unwrap()),
        );
    }
    all
}

/// Adds to `env` an SMTP TLS report, a failure report, a redacted one and
/// a conflicting copy of one of [`reports`] (kept as a variant).
fn other_kinds(env: &Env) {
    let day = midnight(2);
    let json = mail::tls_json(
        "tls.example",
        "t1",
        day,
        "example.com",
        90,
        &[("certificate-expired", 10)],
    );
    let inputs = [
        ("t.eml", mail::tls_mail("tls.example", "t1", &json), false),
        (
            "f.eml",
            mail::arf_mail("f1", "203.0.113.5", "example.com", day),
            false,
        ),
        (
            "r.eml",
            mail::arf_mail("f2", "203.0.113.5", "example.com", day + 60),
            true,
        ),
    ];
    for (name, bytes, redact) in inputs {
        let path = env.path(name);
        std::fs::write(&path, bytes).unwrap();
        let mut cmd = env.cmd();
        cmd.arg("ingest");
        if redact {
            cmd.arg("--redact");
        }
        let (code, _, err) = run(cmd.arg(&path));
        assert_eq!(code, 0, "{name}: {err}");
    }
    let other = reports()[0]
        .xml()
        .replace("<count>90</count>", "<count>91</count>");
    let path = env.path("other.xml");
    std::fs::write(&path, other).unwrap();
    let (code, out, err) = run(env.cmd().arg("ingest").arg(&path));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 conflicting"), "{out}");
}

#[test]
fn copy_round_trips_sqlite_to_postgres_and_back_without_a_difference() {
    let Some(pg) = pg_env() else { return };
    let a = Env::on(false);
    a.ingest(&reports());
    let bad = a.path("bad.xml");
    std::fs::write(&bad, "<feedback><report_metadata>").unwrap();
    assert_eq!(run(a.cmd().arg("ingest").arg(&bad)).0, 3);
    other_kinds(&a);
    let b = Env::on(false);
    let url = pg.url.clone().unwrap();
    let copy = |from: &std::ffi::OsStr, to: &std::ffi::OsStr| {
        let (code, stdout, err) = run(a
            .cmd()
            .arg("copy")
            .arg("--from")
            .arg(from)
            .arg("--to")
            .arg(to));
        assert_eq!(code, 0, "{err}");
        stdout
    };
    let first = copy(a.db().as_os_str(), url.as_ref());
    assert!(first.starts_with("4 report(s) copied"), "{first}");
    assert!(first.contains("quarantine: 1 copied"), "{first}");
    for kind in [
        "SMTP TLS reports: 1 copied, 0 already there.",
        "failure reports: 2 copied, 0 already there.",
        "report variants: 1 copied, 0 already there.",
    ] {
        assert!(first.contains(kind), "{first}");
    }
    let again = copy(a.db().as_os_str(), url.as_ref());
    assert!(
        again.starts_with("0 report(s) copied (0 records), 4 already there"),
        "{again}"
    );
    assert!(
        again.contains("quarantine: 0 copied, 1 already there"),
        "{again}"
    );
    for kind in [
        "SMTP TLS reports: 0 copied, 1 already there.",
        "failure reports: 0 copied, 2 already there.",
        "report variants: 0 copied, 1 already there.",
    ] {
        assert!(again.contains(kind), "{again}");
    }
    copy(url.as_ref(), b.db().as_os_str());
    let want = everything(&a);
    for view in &want[8..12] {
        assert_ne!(view.trim(), "[]", "{want:?}");
    }
    assert_eq!(everything(&pg), want);
    assert_eq!(everything(&b), want);
    assert_eq!(blobs(&b.db()), blobs(&a.db()));
}

#[test]
fn a_report_bigger_than_one_copy_is_stored_whole_or_not_at_all() {
    let Some(env) = pg_env() else { return };
    // More records than the load buffer holds (8192): loaded in several.
    let recs = |n: i64| {
        (0..n)
            .map(|k| {
                Rec::new(
                    &format!("198.51.{}.{}", k / 250, k % 250),
                    1 + k % 7,
                    k % 2 == 0,
                )
            })
            .collect::<Vec<_>>()
    };
    let big = Report::day("Big", "b1", midnight(1), recs(20000));
    let broken = Report::day("Big", "b2", midnight(1), recs(20000));
    let xml = broken.xml();
    std::fs::write(env.path("broken.xml"), &xml[..xml.len() * 9 / 10]).unwrap();
    let (code, _, err) = run(env.cmd().arg("ingest").arg(env.path("broken.xml")));
    assert_eq!(code, 3, "{err}");
    env.ingest(&[big]);
    let v = fixture::json(&out(&env, &["query", "reports", "--format", "json"]));
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0]["report_id"], "b1");
    assert_eq!(rows[0]["records"], 20000);
    let url = env.url.clone().unwrap();
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let records: i64 = c
        .query_one("SELECT count(*) FROM record", &[])
        .unwrap()
        .get(0);
    assert_eq!(records, 20000, "nothing of the broken report is left");
    // Its report_ips row, written with its totals: 20000 distinct IPs.
    let hashes: Vec<i32> = c
        .query("SELECT length(hashes) FROM report_ips", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hashes, [20000 * 8]);
}

#[test]
fn a_new_sender_is_found_alike_on_both_backends() {
    let Some(pg) = pg_env() else { return };
    let lite = Env::on(false);
    let history = || {
        Report::day(
            "Google",
            "old",
            midnight(20),
            vec![
                Rec::new("192.0.2.1", 50, true),
                Rec::new("198.51.100.50", 12, true),
            ],
        )
    };
    let now = || {
        Report::day(
            "Google",
            "new",
            midnight(2),
            vec![
                Rec::new("192.0.2.1", 50, true),
                Rec::new("198.51.100.50", 12, true),
                Rec::new("203.0.113.9", 12, true),
            ],
        )
    };
    let mut answers = Vec::new();
    for env in [&lite, &pg] {
        env.ingest(&[history(), now()]);
        let (code, out, err) =
            run(env
                .cmd()
                .args(["--our-net", OURS, "alert", "--format", "json"]));
        assert_eq!(code, 1, "{err}");
        let problems = fixture::json(&out)["problems"].clone();
        let ips: Vec<_> = problems
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] == "new_sender")
            .map(|p| p["source_ip"].clone())
            .collect();
        // 198.51.100.50 was in a report before the window; 203.0.113.9 was not.
        assert_eq!(ips, [serde_json::json!("203.0.113.9")], "{out}");
        answers.push(problems);
    }
    assert_eq!(answers[0], answers[1]);
}
