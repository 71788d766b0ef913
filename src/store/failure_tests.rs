//! Store tests for failure reports: the corpus in a real SQLite file,
//! identity across transports, redaction, other feedback types.

use std::path::{Path, PathBuf};

use super::*;
use crate::extract::{extract, Limits, PayloadKind};
use crate::parse::arf::{parse_arf, Arf};
use crate::store::Window;

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    p.join("expected-failure.tsv").is_file().then_some(p)
}

fn failure_payload(path: &Path) -> Payload {
    let bytes = std::fs::read(path).unwrap();
    let mut x = extract(&path.display().to_string(), &bytes, &Limits::default());
    assert_eq!(x.payloads.len(), 1, "{}", path.display());
    let p = x.payloads.remove(0);
    assert_eq!(p.kind, PayloadKind::Failure);
    p
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("t.db")).unwrap();
    (dir, s)
}

fn count(s: &Store, table: &str) -> i64 {
    s.count_rows(table)
}

/// Parses `p` as ingest does, and stores it.
fn put(s: &mut Store, p: &Payload, source: &str, redact: bool) -> FailureStored {
    let Ok(Arf::Failure(report)) = parse_arf(&p.data) else {
        panic!("{}", p.name)
    };
    s.store_failure(p, source, *report, redact).unwrap()
}

#[test]
fn corpus_reports_stored_and_the_crlf_twin_is_the_same_report() {
    let Some(root) = corpus() else { return };
    let (_dir, mut s) = open();
    let tsv = std::fs::read_to_string(root.join("expected-failure.tsv")).unwrap();
    let mut new = 0;
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let p = failure_payload(&root.join("parsedmarc/failure").join(f[0]));
        match put(&mut s, &p, f[0], false) {
            FailureStored::New { .. } => new += 1,
            FailureStored::Duplicate { report } => {
                assert!(f[0].starts_with("dmarc_ruf_report_linkedin"), "{line}");
                assert_eq!(report.source_ip.as_deref(), Some(f[2]));
            }
        }
        let (t, ip, domain): (String, String, String) = s
            .conn
            .query_row(
                "SELECT feedback_type, source_ip, reported_domain FROM failure_report
                 WHERE source_ip = ?1 AND reported_domain = ?2",
                [f[2], f[3]],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            [t.as_str(), ip.as_str(), domain.as_str()],
            [f[1], f[2], f[3]]
        );
    }
    assert_eq!(new, 4);
    assert_eq!(count(&s, "failure_report_blob"), 4);
    // Again: nothing new.
    for e in std::fs::read_dir(root.join("parsedmarc/failure")).unwrap() {
        let p = failure_payload(&e.unwrap().path());
        assert!(matches!(
            put(&mut s, &p, "again", false),
            FailureStored::Duplicate { .. }
        ));
    }
    let rows = s.failure_reports(&Window::default()).unwrap();
    assert_eq!(rows.len(), 4);
    let exim = rows.iter().find(|r| r.origin == "text").unwrap();
    assert_eq!(exim.subject.as_deref(), Some("Payment from your account."));
    let per_ip = s.failure_reports_per_ip(&Window::default()).unwrap();
    assert!(
        per_ip.contains(&("10.10.10.10".to_string(), 2)),
        "{per_ip:?}"
    );
}

#[test]
fn redacted_reports_hash_local_parts_with_one_key_and_keep_no_mail() {
    let Some(root) = corpus() else { return };
    let (_dir, mut s) = open();
    let dir = root.join("parsedmarc/failure");
    let p = failure_payload(&dir.join("[Netease DMARC Failure Report] Rent Reminder.eml"));
    let FailureStored::New { report, .. } = put(&mut s, &p, "n", true) else {
        panic!()
    };
    let from = report.original_mail_from.clone().unwrap();
    assert!(from.ends_with("@email.entrata.com>"), "{from}");
    assert!(!from.contains("bounces"), "{from}");
    assert_eq!(
        report.reported.from_text().map(|f| f.contains("info@")),
        Some(false)
    );
    assert!(!report.reported.from_text().unwrap().contains("Washington"));
    assert_eq!(count(&s, "failure_report_blob"), 0);
    let everything: String = s
        .conn
        .query_row(
            "SELECT concat_ws('|', original_mail_from, original_rcpt_to, fields, reported_from,
                    reported_to, authentication_results) FROM failure_report",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !everything.contains("redacted@163.com") && !everything.contains("bounces+"),
        "{everything}"
    );
    // The same report again, redacted or not: a duplicate.
    assert!(matches!(
        put(&mut s, &p, "n", false),
        FailureStored::Duplicate { .. }
    ));
    // One key per file, generated once: the same address hashes the same.
    let p2 = failure_payload(&dir.join("dmarc_ruf_report_linkedin.eml"));
    put(&mut s, &p2, "l", true);
    assert_eq!(count(&s, "secret"), 1);
    let key: Vec<u8> = s
        .conn
        .query_row("SELECT value FROM secret", [], |r| r.get(0))
        .unwrap();
    assert_eq!(key.len(), 32);
    let redacted: i64 = s
        .conn
        .query_row("SELECT sum(redacted) FROM failure_report", [], |r| r.get(0))
        .unwrap();
    assert_eq!(redacted, 2);
}
