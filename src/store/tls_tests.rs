//! Store tests for TLS reports: every field of every corpus report in a
//! real SQLite file, duplicates, atomicity, the views' rows.

use std::path::{Path, PathBuf};

use super::*;
use crate::extract::{extract, Limits, PayloadKind};
use crate::parse::tls::read_tls;
use crate::store::Window;

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    p.join("expected-tls.tsv").is_file().then_some(p)
}

fn tls_payloads(path: &Path) -> Vec<Payload> {
    let bytes = std::fs::read(path).unwrap();
    let x = extract(&path.display().to_string(), &bytes, &Limits::default());
    x.payloads
        .into_iter()
        .filter(|p| p.kind == PayloadKind::Tls)
        .collect()
}

fn json_payload(json: &str) -> Payload {
    Payload {
        name: "t.json".into(),
        data: json.as_bytes().to_vec().into(),
        gzip: false,
        kind: PayloadKind::Tls,
    }
}

fn count(s: &Store, table: &str) -> i64 {
    s.count_rows(table)
}

/// Parses `p` as ingest does, and stores it.
fn put(s: &mut Store, p: &Payload, source: &str) -> TlsStored {
    let report = read_tls(p.reader(&Limits::default())).unwrap();
    s.store_tls(p, source, report).unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("t.db")).unwrap();
    (dir, s)
}

#[test]
fn corpus_reports_stored_once_with_expected_sums() {
    let Some(root) = corpus() else { return };
    let (_dir, mut s) = open();
    let mut payloads = Vec::new();
    for e in std::fs::read_dir(root.join("parsedmarc/smtp_tls")).unwrap() {
        payloads.extend(tls_payloads(&e.unwrap().path()));
    }
    for p in &payloads {
        assert!(matches!(put(&mut s, p, &p.name), TlsStored::New { .. }));
    }
    for p in &payloads {
        assert!(matches!(
            put(&mut s, p, &p.name),
            TlsStored::Duplicate { .. }
        ));
    }
    let rows = s.tls_reports(&Window::default()).unwrap();
    let tsv = std::fs::read_to_string(root.join("expected-tls.tsv")).unwrap();
    assert_eq!(rows.len(), tsv.lines().count());
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let r = rows
            .iter()
            .find(|r| r.org_name == f[0] && r.report_id == f[1])
            .unwrap();
        assert_eq!(
            [r.policies, r.sessions_success, r.sessions_failure].map(|n| n.to_string()),
            [f[2], f[3], f[4]],
            "{line}"
        );
    }
    assert_eq!(count(&s, "tls_report_blob"), rows.len() as i64);
    // 3 + 2 + 2 failure details (Google's report has none).
    assert_eq!(count(&s, "tls_failure"), 7);
    let fk: i64 = s
        .conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
}

#[test]
fn every_field_of_the_rfc_example_is_in_the_file() {
    let Some(root) = corpus() else { return };
    let (_dir, mut s) = open();
    let p = &tls_payloads(&root.join("parsedmarc/smtp_tls/rfc8460.json"))[0];
    put(&mut s, p, "rfc");
    let (contact, policy_string, mx): (String, String, String) = s
        .conn
        .query_row(
            "SELECT contact_info, policy_string, mx_host FROM tls_report JOIN tls_policy ON report = id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(contact, "sts-reporting@company-x.example");
    assert_eq!(
        policy_string,
        r#"["version: STSv1","mode: testing","mx: *.mail.company-y.example","max_age: 86400"]"#
    );
    assert_eq!(mx, r#"["*.mail.company-y.example"]"#);
    let detail: String = s
        .conn
        .query_row(
            "SELECT json_array(result_type, sending_mta_ip, receiving_mx_hostname, receiving_ip,
                    failed_session_count, additional_information, failure_reason_code)
             FROM tls_failure WHERE seq = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        detail,
        r#"["starttls-not-supported","2001:db8:abcd:0013::1","mx2.mail.company-y.example","203.0.113.56",200,"https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported",null]"#
    );
    // The raw bytes come back.
    let gz: Vec<u8> = s
        .conn
        .query_row("SELECT gzip FROM tls_report_blob", [], |r| r.get(0))
        .unwrap();
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
    assert_eq!(back, *p.data);
}

#[test]
fn grouped_with_aggregate_reports_and_committed_together() {
    let (_dir, mut s) = open();
    s.set_batching(true).unwrap();
    let p = json_payload(r#"{"organization-name":"o","report-id":"g","policies":[]}"#);
    put(&mut s, &p, "g");
    s.commit().unwrap();
    assert_eq!(count(&s, "tls_report"), 1);
}

#[test]
fn policy_and_failure_views_sum_over_the_window() {
    let (_dir, mut s) = open();
    let doc = |id: &str, day: &str, fail: i64| {
        json_payload(&format!(
            r#"{{"organization-name":"o","report-id":"{id}",
                "date-range":{{"start-datetime":"{day}T00:00:00Z","end-datetime":"{day}T23:59:59Z"}},
                "policies":[{{"policy":{{"policy-type":"sts","policy-domain":"example.org"}},
                  "summary":{{"total-successful-session-count":90,"total-failure-session-count":{fail}}},
                  "failure-details":[
                    {{"result-type":"certificate-expired","receiving-mx-hostname":"mx1","sending-mta-ip":"192.0.2.1","failed-session-count":{a}}},
                    {{"result-type":"starttls-not-supported","receiving-mx-hostname":"mx2","sending-mta-ip":"192.0.2.1","failed-session-count":{b}}}]}}]}}"#,
            a = fail - 1,
            b = 1
        ))
    };
    put(&mut s, &doc("1", "2026-11-01", 10), "a");
    put(&mut s, &doc("2", "2026-11-02", 20), "b");
    let all = s.tls_policies(&Window::default()).unwrap();
    assert_eq!(all.len(), 1);
    let p = &all[0];
    assert_eq!((p.sessions, p.sessions_failure), (210, 30));
    assert_eq!(p.failure_pct, Some(14.3));
    assert_eq!(
        p.result_types,
        vec![
            ("certificate-expired".to_string(), 28),
            ("starttls-not-supported".to_string(), 2)
        ]
    );
    // Only the second day.
    let since = Some(1_793_577_600);
    let day2 = s.tls_policies(&Window { since, until: None }).unwrap();
    assert_eq!(day2[0].sessions_failure, 20);
    let f = s.tls_failures(&Window::default()).unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(
        (
            f[0].result_type.as_str(),
            f[0].receiving_mx_hostname.as_str(),
            f[0].failed_sessions,
            f[0].reports
        ),
        ("certificate-expired", "mx1", 28, 2)
    );
    assert_eq!(f[0].policy_domains, vec!["example.org".to_string()]);
    assert_eq!(
        s.tls_reports(&Window { since, until: None }).unwrap().len(),
        1
    );
}
