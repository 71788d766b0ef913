//! SMTP TLS reports and DMARC failure reports on PostgreSQL: stored from
//! every source as on SQLite, with the same ingest summary and the same
//! JSON from every view and the alert; each stored once by several
//! ingesters at once; `--redact` there; reparse of a quarantined TLS
//! report (variants, the NUL rule and the migration:
//! `postgres_variants.rs`). The server is the tests' own throwaway cluster
//! (`tests/common/postgres.rs`); without it the tests skip, unless
//! `CI=true`.

mod common;

use common::both::{mails, mbox, summary, Db};
use common::mail::{arf_mail, gzip, tls_json};
use serde_json::Value;

/// Every view over TLS and failure reports and the alert, as JSON.
fn views(db: &Db) -> Vec<String> {
    let mut all: Vec<String> = ["tls-reports", "tls", "tls-failures", "failure-reports"]
        .iter()
        .map(|v| db.ok(&["query", v, "--days", "60", "--format", "json"]))
        .collect();
    let (code, alert, err) = db.run(&["alert", "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    // The window starts at the run's time: not compared.
    let mut alert: Value = serde_json::from_str(&alert).unwrap();
    alert["window"].take();
    all.push(alert.to_string());
    all
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
    let gz = gzip(json.as_bytes());
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
