//! SMTP TLS and failure reports from every source through the built
//! binary: files, a directory, stdin, an mbox, a Maildir and IMAP (a real
//! Dovecot), each report stored once and its mail marked seen.

mod common;
#[path = "support/kinds.rs"]
mod kinds;

use std::path::Path;

use common::cli::{dmarcdb, run_ok};
use kinds::{json_view, mails, mbox, stdout};

fn assert_one_of_each(db: &Path, tag: &str) {
    let tls = json_view(db, &["tls-reports"]);
    assert!(
        tls.iter().any(|r| r["report_id"] == format!("tls-{tag}")),
        "{tls:?}"
    );
    let f = json_view(db, &["failure-reports"]);
    assert!(
        f.iter()
            .any(|r| r["subject"] == format!("Invoice arf-{tag}")),
        "{f:?}"
    );
}

#[test]
fn every_source_reads_tls_and_failure_reports() {
    let dir = tempfile::tempdir().unwrap();
    // Files in a directory.
    let m = mails("files");
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("tls.eml"), &m.tls).unwrap();
    std::fs::write(files.join("arf.eml"), &m.arf).unwrap();
    let db = dir.path().join("files.db");
    let out = run_ok(dmarcdb(&db).arg("ingest").arg(&files));
    assert!(
        stdout(&out).starts_with("2 new report(s) (0 aggregate with 0 records, 1 TLS, 1 failure)"),
        "{}",
        stdout(&out)
    );
    assert_one_of_each(&db, "files");

    // An mbox file, and the same mbox on stdin.
    let m = mails("mbox");
    let path = dir.path().join("box.mbox");
    std::fs::write(&path, mbox(&[&m.tls, &m.arf, &m.aggregate])).unwrap();
    let db = dir.path().join("mbox.db");
    let out = run_ok(dmarcdb(&db).arg("ingest").arg(&path));
    assert!(
        stdout(&out).starts_with("3 new report(s) (1 aggregate with 1 records, 1 TLS, 1 failure)"),
        "{}",
        stdout(&out)
    );
    assert_one_of_each(&db, "mbox");
    let db = dir.path().join("stdin.db");
    let out = run_ok(
        dmarcdb(&db)
            .args(["ingest", "-"])
            .write_stdin(mbox(&[&m.tls, &m.arf])),
    );
    assert!(
        stdout(&out).starts_with("2 new report(s)"),
        "{}",
        stdout(&out)
    );
    assert_one_of_each(&db, "mbox");

    // A Maildir: both marked seen after the commit.
    let m = mails("maildir");
    let md = dir.path().join("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    std::fs::write(md.join("new/1.tls"), &m.tls).unwrap();
    std::fs::write(md.join("new/2.arf"), &m.arf).unwrap();
    let db = dir.path().join("maildir.db");
    run_ok(dmarcdb(&db).arg("ingest").arg(&md));
    assert_one_of_each(&db, "maildir");
    assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(md.join("cur")).unwrap().count(), 2);
}

#[test]
fn imap_reads_tls_and_failure_reports_and_marks_them_seen() {
    let Some(d) = common::dovecot::Dovecot::start() else {
        return;
    };
    let m = mails("imap");
    d.append("INBOX", &m.tls, false);
    d.append("INBOX", &m.arf, false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("imap.db");
    let mut cmd = dmarcdb(&db);
    for (k, v) in d.env() {
        cmd.env(k, v);
    }
    let out = run_ok(cmd.arg("imap").arg("--ca-file").arg(d.ca_pem_path()));
    assert!(
        stdout(&out).starts_with("2 new report(s)"),
        "{}",
        stdout(&out)
    );
    assert_one_of_each(&db, "imap");
    assert_eq!(d.seen_count("INBOX"), 2);
}
