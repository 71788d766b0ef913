//! SMTP TLS reports, DMARC failure reports and report variants on
//! PostgreSQL: stored from every source as on SQLite, with the same ingest
//! summary and the same JSON from every view and the alert; each stored
//! once by several ingesters at once; `--redact` there; conflicting copies
//! kept as variants; reparse of a quarantined TLS report; a version-1
//! database migrated to the current schema. The server is the tests' own
//! throwaway cluster (`tests/common/postgres.rs`); without it the tests
//! skip, unless `CI=true`.

mod common;

use std::ffi::OsString;
use std::io::Write;

use assert_cmd::Command;
use common::mail::{arf_mail, report_mail, report_xml, tls_json, tls_mail, Rec};
use serde_json::Value;

/// A database of either backend, with a temp dir for its inputs.
struct Db {
    dir: tempfile::TempDir,
    url: Option<String>,
}

impl Db {
    fn lite() -> Db {
        Db {
            dir: tempfile::tempdir().unwrap(),
            url: None,
        }
    }

    fn pg() -> Option<Db> {
        Some(Db {
            dir: tempfile::tempdir().unwrap(),
            url: Some(common::postgres::database()?),
        })
    }

    /// A SQLite and a PostgreSQL database; `None` to skip.
    fn both() -> Option<[Db; 2]> {
        Some([Db::lite(), Db::pg()?])
    }

    fn arg(&self) -> OsString {
        match &self.url {
            Some(u) => u.into(),
            None => self.dir.path().join("x.db").into(),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("dmarcdb").unwrap();
        for k in [
            "DMARCDB_DB",
            "DATABASE_URL",
            "DMARCDB_CONFIG",
            "DMARCDB_OUR_NETS",
        ] {
            c.env_remove(k);
        }
        c.env("HOME", self.dir.path());
        c.env("XDG_CONFIG_HOME", self.path("xdg"));
        c.arg("--db").arg(self.arg());
        c
    }

    /// Runs `args`; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?} on {:?}: {err}", self.url);
        out
    }

    /// The first column of `sql`'s rows, as text.
    fn column(&self, sql: &str) -> Vec<String> {
        match &self.url {
            Some(url) => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
                let sql = format!("SELECT x::text FROM ({sql}) AS q (x)");
                c.query(&sql, &[])
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
                    .collect()
            }
            None => {
                let c = rusqlite::Connection::open(self.arg()).unwrap();
                let mut st = c.prepare(sql).unwrap();
                st.query_map([], |r| {
                    Ok(match r.get::<_, rusqlite::types::Value>(0)? {
                        rusqlite::types::Value::Integer(n) => n.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        rusqlite::types::Value::Null => String::new(),
                        v => format!("{v:?}"),
                    })
                })
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
            }
        }
    }

    fn count(&self, table: &str) -> i64 {
        self.column(&format!("SELECT count(*) FROM {table}"))[0]
            .parse()
            .unwrap()
    }
}

/// Every view over TLS and failure reports and the alert, as JSON.
fn views(db: &Db) -> Vec<String> {
    let mut all: Vec<String> = ["tls-reports", "tls", "tls-failures", "failure-reports"]
        .iter()
        .map(|v| db.ok(&["query", v, "--days", "60", "--format", "json"]))
        .collect();
    let (code, alert, err) = db.run(&["alert", "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    all.push(alert);
    all
}

/// A TLS report mail, a failure report mail and an aggregate report mail
/// about one failing source, made distinct by `tag`.
fn mails(tag: &str) -> [Vec<u8>; 3] {
    let now = chrono::Utc::now().timestamp();
    let day = now - now % 86_400 - 86_400;
    let json = tls_json(
        "tls.example",
        &format!("tls-{tag}"),
        day,
        "example.org",
        900,
        &[("certificate-expired", 100), ("starttls-not-supported", 7)],
    );
    let xml = report_xml(
        "agg.example",
        &format!("agg-{tag}"),
        day,
        &[Rec {
            ip: "198.51.100.66",
            count: 30,
            pass: false,
        }],
    );
    [
        tls_mail("tls.example", &format!("tls-{tag}"), &json),
        arf_mail(
            &format!("arf-{tag}"),
            "198.51.100.66",
            "example.org",
            day + 3600,
        ),
        report_mail("agg.example", &format!("agg-{tag}"), &xml),
    ]
}

fn mbox(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(b"From dmarc@reporter.example Mon Nov  3 00:00:00 2025\r\n");
        out.extend_from_slice(m);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Ingests from a folder, an mbox, stdin and a Maildir; the summaries.
fn every_source(db: &Db) -> Vec<String> {
    let mut said = Vec::new();
    let [tls, arf, agg] = mails("files");
    let files = db.path("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("tls.eml"), &tls).unwrap();
    std::fs::write(files.join("arf.eml"), &arf).unwrap();
    std::fs::write(files.join("agg.eml"), &agg).unwrap();
    said.push(db.ok(&["ingest", files.to_str().unwrap()]));
    said.push(db.ok(&["ingest", files.to_str().unwrap()]));
    let [tls, arf, agg] = mails("mbox");
    let path = db.path("box.mbox");
    std::fs::write(&path, mbox(&[&tls, &arf, &agg])).unwrap();
    said.push(db.ok(&["ingest", path.to_str().unwrap()]));
    let [tls, arf, _] = mails("stdin");
    let out = db
        .cmd()
        .args(["ingest", "-"])
        .write_stdin(mbox(&[&tls, &arf]))
        .output()
        .unwrap();
    assert!(out.status.success());
    said.push(String::from_utf8_lossy(&out.stdout).into_owned());
    let [tls, arf, _] = mails("maildir");
    let md = db.path("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    std::fs::write(md.join("new/1.tls"), &tls).unwrap();
    std::fs::write(md.join("new/2.arf"), &arf).unwrap();
    said.push(db.ok(&["ingest", md.to_str().unwrap()]));
    // Both marked seen (moved to cur) after the commit.
    assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(md.join("cur")).unwrap().count(), 2);
    said
}

/// The summary line of an ingest, without its timing.
fn summary(out: &str) -> String {
    out.lines()
        .next()
        .unwrap_or_default()
        .split(" in ")
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn every_source_stores_tls_and_failure_reports_alike_on_both_backends() {
    let Some([lite, pg]) = Db::both() else { return };
    let (a, b) = (every_source(&lite), every_source(&pg));
    let (a, b): (Vec<_>, Vec<_>) = (
        a.iter().map(|s| summary(s)).collect(),
        b.iter().map(|s| summary(s)).collect(),
    );
    assert_eq!(a, b);
    assert!(
        a[0].starts_with("3 new report(s) (1 aggregate with 1 records, 1 TLS, 1 failure)"),
        "{a:?}"
    );
    assert!(a[1].starts_with("0 new report(s)"), "{a:?}");
    let (va, vb) = (views(&lite), views(&pg));
    assert_eq!(va, vb);
    let reports: Value = serde_json::from_str(&vb[0]).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 4, "{reports}");
    let failures: Value = serde_json::from_str(&vb[3]).unwrap();
    assert_eq!(failures.as_array().unwrap().len(), 4, "{failures}");
    let alert: Value = serde_json::from_str(&vb[4]).unwrap();
    let kinds: Vec<&str> = alert["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"tls_failures"), "{alert}");
    let spoof = alert["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "possible_spoofing")
        .unwrap_or_else(|| panic!("{alert}"));
    assert_eq!(spoof["failure_reports"], 4, "{alert}");
    assert_eq!(pg.count("tls_policy"), 4);
    assert_eq!(pg.count("tls_failure"), 8);
    assert_eq!(pg.count("failure_report_blob"), 4);
}

#[test]
fn imap_on_postgres_stores_tls_and_failure_reports_and_marks_them_seen() {
    let Some(pg) = Db::pg() else { return };
    let Some(d) = common::dovecot::Dovecot::start() else {
        return;
    };
    let [tls, arf, _] = mails("imap");
    d.append("INBOX", &tls, false);
    d.append("INBOX", &arf, false);
    let mut cmd = pg.cmd();
    for (k, v) in d.env() {
        cmd.env(k, v);
    }
    let out = cmd
        .arg("imap")
        .arg("--ca-file")
        .arg(d.ca_pem_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("2 new report(s)"), "{text}");
    assert_eq!(pg.count("tls_report"), 1);
    assert_eq!(pg.count("failure_report"), 1);
    assert_eq!(d.seen_count("INBOX"), 2);
}

#[test]
fn the_corpus_tls_and_failure_reports_give_the_same_json_on_both_backends() {
    let Some(root) = common::corpus::corpus_root() else {
        return;
    };
    let Some([lite, pg]) = Db::both() else { return };
    let dirs = [
        root.join("parsedmarc/smtp_tls"),
        root.join("parsedmarc/failure"),
    ];
    let mut said = Vec::new();
    for db in [&lite, &pg] {
        let (_, out, _) = db
            .cmd()
            .arg("ingest")
            .args(&dirs)
            .output()
            .map(|o| {
                (
                    o.status.code(),
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                    (),
                )
            })
            .unwrap();
        said.push(summary(&out));
    }
    assert_eq!(said[0], said[1]);
    let all = |db: &Db| -> Vec<String> {
        ["tls-reports", "tls", "tls-failures", "failure-reports"]
            .iter()
            .map(|v| db.ok(&["query", v, "--since", "2000-01-01", "--format", "json"]))
            .collect()
    };
    let (a, b) = (all(&lite), all(&pg));
    assert_eq!(a, b);
    assert!(a.iter().all(|v| v.len() > 2), "{a:?}");
}

#[test]
fn redact_on_postgres_hashes_local_parts_under_one_key_and_keeps_no_mail() {
    let Some(pg) = Db::pg() else { return };
    let day = chrono::Utc::now().timestamp() - 86_400;
    for i in 0..2 {
        let path = pg.path(&format!("arf{i}.eml"));
        std::fs::write(
            &path,
            arf_mail(&format!("r{i}"), "198.51.100.9", "example.org", day),
        )
        .unwrap();
        pg.ok(&["ingest", "--redact", path.to_str().unwrap()]);
    }
    let v: Value =
        serde_json::from_str(&pg.ok(&["query", "failure-reports", "--format", "json"])).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let from = rows[0]["original_mail_from"].as_str().unwrap();
    assert!(
        from.ends_with("@example.org>") && !from.contains("alice"),
        "{from}"
    );
    // One key per database: the same address hashes alike.
    assert_eq!(rows[0]["original_mail_from"], rows[1]["original_mail_from"]);
    assert_eq!(rows[0]["redacted"], true);
    assert_eq!(pg.count("failure_report_blob"), 0);
    assert_eq!(pg.column("SELECT length(value) FROM secret"), ["32"]);
    let all = pg.column(
        "SELECT concat_ws('|', original_rcpt_to, fields, reported_from, reported_to)
         FROM failure_report",
    );
    assert!(
        all.iter()
            .all(|s| !s.contains("bob.jones") && !s.contains("alice.smith")),
        "{all:?}"
    );
}

#[test]
fn several_ingesters_at_once_store_each_tls_and_failure_report_once() {
    let Some(pg) = Db::pg() else { return };
    let dir = pg.path("in");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..20 {
        let [tls, arf, _] = mails(&format!("p{i}"));
        std::fs::write(dir.join(format!("{i}.tls.eml")), tls).unwrap();
        std::fs::write(dir.join(format!("{i}.arf.eml")), arf).unwrap();
    }
    let outputs: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| pg.cmd().arg("ingest").arg(&dir).output().unwrap()))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for o in outputs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(pg.count("tls_report"), 20);
    assert_eq!(pg.count("tls_policy"), 20);
    assert_eq!(pg.count("failure_report"), 20);
}

/// An aggregate report whose second record's header_from is damaged (it
/// parses by markup repair) or clean.
fn variant_xml(damaged: bool) -> String {
    let begin = chrono::Utc::now().timestamp() / 86_400 * 86_400 - 3 * 86_400;
    let xml = report_xml(
        "Reporter",
        "dup-1",
        begin,
        &[
            Rec {
                ip: "192.0.2.1",
                count: 10,
                pass: true,
            },
            Rec {
                ip: "198.51.100.1",
                count: 4,
                pass: false,
            },
        ],
    );
    if damaged {
        xml.replacen("<header_from>", "<header_from>exa<", 1)
    } else {
        xml
    }
}

/// Damaged, then clean (replaces it), then the damaged again (kept
/// already), then other content (kept beside): what each ingest said.
fn variant_flow(db: &Db) -> Vec<String> {
    let mut said = Vec::new();
    let other = variant_xml(false).replace("<count>10</count>", "<count>11</count>");
    for (name, xml) in [
        ("damaged.xml", variant_xml(true)),
        ("clean.xml", variant_xml(false)),
        ("damaged-again.xml", variant_xml(true)),
        ("other.xml", other),
    ] {
        let path = db.path(name);
        std::fs::write(&path, xml).unwrap();
        let (code, out, err) = db.run(&["ingest", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        said.push(summary(&out));
        said.push(err.replace(db.dir.path().to_str().unwrap(), "DIR"));
    }
    said.push(db.ok(&["query", "reports", "--format", "json"]));
    said.push(db.ok(&["query", "sources", "--format", "json"]));
    let dir = db.dir.path().to_str().unwrap();
    said.extend(
        db.column("SELECT source FROM report_variant ORDER BY id")
            .iter()
            .map(|s| s.replace(dir, "DIR")),
    );
    said
}

#[test]
fn conflicting_copies_are_kept_as_variants_alike_on_both_backends() {
    let Some([lite, pg]) = Db::both() else { return };
    let (a, b) = (variant_flow(&lite), variant_flow(&pg));
    assert_eq!(a, b);
    assert!(a[2].contains("0 already stored, 1 conflicting"), "{a:?}");
    assert!(a[3].contains("it replaced the stored copy"), "{a:?}");
    assert!(a[4].contains("1 already stored"), "{a:?}");
    assert!(a[6].contains("1 conflicting"), "{a:?}");
    assert_eq!(pg.count("report_variant"), 2);
    assert_eq!(pg.count("record"), 2);
}

#[test]
fn reparse_on_postgres_moves_a_quarantined_tls_report_into_the_store() {
    let Some(pg) = Db::pg() else { return };
    let json = tls_json(
        "old.example",
        "quarantined-tls",
        1_760_000_000,
        "example.org",
        5,
        &[],
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    pg.ok(&["quarantine", "list"]);
    let mut c = postgres::Client::connect(pg.url.as_ref().unwrap(), postgres::NoTls).unwrap();
    c.execute(
        "INSERT INTO quarantine (sha256, source, reason, gzip, first_seen, last_seen)
         VALUES ($1, 'old/tls.json', 'not a DMARC aggregate report', $2, 1, 1)",
        &[&vec![7u8; 32], &gz],
    )
    .unwrap();
    pg.ok(&["reparse"]);
    assert_eq!(pg.count("quarantine"), 0);
    let v: Value = serde_json::from_str(&pg.ok(&[
        "query",
        "tls-reports",
        "--since",
        "2020-01-01",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v[0]["report_id"], "quarantined-tls", "{v}");
}

/// Every column of the public schema: table, column, type, nullability.
fn columns(db: &Db) -> Vec<String> {
    db.column(
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
         FROM information_schema.columns WHERE table_schema = 'public'
         ORDER BY table_name, column_name",
    )
}

#[test]
fn a_version_1_database_is_migrated_to_the_current_schema() {
    let Some(fresh) = Db::pg() else { return };
    let old = Db::pg().unwrap();
    fresh.ok(&["query", "reports"]);
    old.ok(&["query", "reports"]);
    // Back to version 1: the tables version 2 added are not there yet.
    let mut c = postgres::Client::connect(old.url.as_ref().unwrap(), postgres::NoTls).unwrap();
    c.batch_execute(
        "DROP TABLE report_variant, tls_failure, tls_policy, tls_report_blob, tls_report,
           failure_report_blob, failure_report, secret;
         UPDATE dmarcdb_schema SET version = 1",
    )
    .unwrap();
    assert!(columns(&old).len() < columns(&fresh).len());
    let [tls, arf, _] = mails("migrated");
    std::fs::write(old.path("t.eml"), tls).unwrap();
    std::fs::write(old.path("a.eml"), arf).unwrap();
    let out = old.ok(&[
        "ingest",
        old.path("t.eml").to_str().unwrap(),
        old.path("a.eml").to_str().unwrap(),
    ]);
    assert!(out.starts_with("2 new report(s)"), "{out}");
    assert_eq!(columns(&old), columns(&fresh));
    assert_eq!(old.column("SELECT version FROM dmarcdb_schema"), ["2"]);
}

/// A NUL character, which PostgreSQL cannot store in text, in a TLS report
/// and in a failure report: both refused and quarantined alike on both
/// backends, and the batch goes on.
#[test]
fn a_nul_character_in_a_report_is_refused_alike_on_both_backends() {
    let Some([lite, pg]) = Db::both() else { return };
    let mut said = Vec::new();
    for db in [&lite, &pg] {
        let dir = db.path("in");
        std::fs::create_dir(&dir).unwrap();
        let json = tls_json("nul.example", "nul-1", 1_760_000_000, "example.org", 5, &[])
            .replace("\"nul.example\"", "\"nul\\u0000.example\"");
        std::fs::write(dir.join("a.json"), json).unwrap();
        let arf = String::from_utf8(arf_mail("n1", "198.51.100.9", "example.org", 1_760_000_000))
            .unwrap()
            .replace("Subject: Invoice n1", "Subject: =?utf-8?q?Invoice=00n1?=");
        std::fs::write(dir.join("b.eml"), arf).unwrap();
        let [tls, _, _] = mails("fine");
        std::fs::write(dir.join("c.eml"), tls).unwrap();
        let (code, out, err) = db.run(&["ingest", dir.to_str().unwrap()]);
        assert_eq!(code, 3, "{out}{err}");
        assert_eq!(err.matches("NUL character").count(), 2, "{err}");
        said.push((
            summary(&out),
            err.replace(db.dir.path().to_str().unwrap(), "DIR"),
            db.count("quarantine"),
            db.count("tls_report"),
            db.count("failure_report"),
        ));
    }
    assert_eq!(said[0], said[1]);
    assert_eq!((said[0].2, said[0].3, said[0].4), (2, 1, 0), "{said:?}");
}
