//! Store tests: atomicity, idempotence, grouping, the second parsing thread.
use super::*;

fn payload(xml: &str) -> Payload {
    Payload {
        name: "t.xml".into(),
        data: xml.as_bytes().to_vec(),
        gzip: false,
    }
}

const XML: &str = r#"<feedback><report_metadata><org_name>o</org_name><email>a@o</email>
  <report_id>r1</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>
  <policy_published><domain>d.example</domain></policy_published>
  <record><row><source_ip>192.0.2.1</source_ip><count>4</count><policy_evaluated>
  <disposition>none</disposition><dkim>fail</dkim><spf>pass</spf>
  <reason><type>forwarded</type></reason></policy_evaluated></row>
  <identifiers><header_from>d.example</header_from></identifiers>
  <auth_results><dkim><domain>a</domain><result>fail</result></dkim>
  <dkim><domain>b</domain><result>pass</result></dkim>
  <spf><domain>d.example</domain><result>pass</result></spf></auth_results></record>
  </feedback>"#;

fn count(s: &Store, table: &str) -> i64 {
    s.conn()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn stores_once_with_every_child_row() {
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    let first = s.store_report(&payload(XML), &l, "t").unwrap();
    assert!(matches!(
        first,
        Stored::New {
            records: 1,
            messages: 4,
            messages_fail: 0,
            ..
        }
    ));
    let again = s.store_report(&payload(XML), &l, "t").unwrap();
    assert!(matches!(again, Stored::Duplicate { .. }));
    assert_eq!(count(&s, "report"), 1);
    assert_eq!(count(&s, "record"), 1);
    assert_eq!(count(&s, "dkim_result"), 2);
    assert_eq!(count(&s, "spf_result"), 1);
    assert_eq!(count(&s, "override_reason"), 1);
    assert_eq!(count(&s, "report_blob"), 1);
}

#[test]
fn a_bad_record_leaves_nothing_behind() {
    let mut s = Store::open_in_memory().unwrap();
    let bad = XML.replace(
        "</record>",
        "</record><record><row><source_ip>x</source_ip><count>1</count></row></record>",
    );
    let e = s
        .store_report(&payload(&bad), &Limits::default(), "t")
        .unwrap_err();
    assert!(matches!(e, StoreError::Parse(_)), "{e}");
    assert_eq!(count(&s, "report"), 0);
    assert_eq!(count(&s, "record"), 0);
}

/// A generated report of `records` records, gzip-compressed as
/// Microsoft sends it.
fn generated(seed: u64, records: usize) -> Payload {
    let mut data = Vec::new();
    crate::generate::write_gz(&crate::generate::ReportSpec::new(seed, records), &mut data).unwrap();
    Payload {
        name: format!("r{seed}.xml.gz"),
        data,
        gzip: true,
    }
}

fn committed(path: &Path, table: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_report_bigger_than_the_chunks_in_flight_is_stored_whole() {
    let mut s = Store::open_in_memory().unwrap();
    let n = CHUNK * CHUNKS_AHEAD * 3 + 7;
    let spec = crate::generate::ReportSpec::new(1, n);
    let big = payload(&crate::generate::report_xml(&spec));
    assert!(big.data.len() >= THREAD_MIN, "parsed on the second thread");
    let stored = s.store_report(&big, &Limits::default(), "t").unwrap();
    assert!(matches!(stored, Stored::New { records, .. } if records == n as u64));
    assert_eq!(count(&s, "record"), n as i64);
    let kept: i64 = s
        .conn()
        .query_row("SELECT record_count FROM report", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, n as i64);
}

#[test]
fn a_big_gzip_report_is_inflated_on_the_second_thread() {
    let mut s = Store::open_in_memory().unwrap();
    let big = generated(7, 8000);
    assert!(big.data.len() >= THREAD_MIN, "parsed on the second thread");
    let stored = s.store_report(&big, &Limits::default(), "t").unwrap();
    assert!(matches!(stored, Stored::New { records: 8000, .. }));
    assert_eq!(count(&s, "record"), 8000);
}

#[test]
fn a_bad_record_after_many_chunks_leaves_nothing_behind() {
    let mut s = Store::open_in_memory().unwrap();
    let spec = crate::generate::ReportSpec::new(2, CHUNK * CHUNKS_AHEAD * 2);
    let xml = crate::generate::report_xml(&spec).replace(
        "</feedback>",
        "<record><row><source_ip>x</source_ip><count>1</count></row></record></feedback>",
    );
    assert!(xml.len() >= THREAD_MIN, "parsed on the second thread");
    let e = s
        .store_report(&payload(&xml), &Limits::default(), "t")
        .unwrap_err();
    assert!(matches!(e, StoreError::Parse(_)), "{e}");
    assert_eq!(count(&s, "report"), 0);
    assert_eq!(count(&s, "record"), 0);
    assert_eq!(count(&s, "dkim_result"), 0);
}

#[test]
fn a_duplicate_is_decided_from_the_header_alone() {
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    s.store_report(&payload(XML), &l, "t").unwrap();
    // Same identity, records that would not even parse: never read.
    let cut = XML.find("<record>").unwrap();
    let broken = format!("{}<record><row><source_ip>x</source_ip>", &XML[..cut]);
    let again = s.store_report(&payload(&broken), &l, "t").unwrap();
    assert!(matches!(again, Stored::Duplicate { .. }));
}

#[test]
fn grouped_reports_are_committed_together_and_a_bad_one_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let mut s = Store::open(&path).unwrap();
    let l = Limits::default();
    s.set_batching(true).unwrap();
    s.store_report(&generated(1, 50), &l, "a").unwrap();
    let bad = payload(&XML.replace("192.0.2.1", "not-an-ip"));
    assert!(matches!(
        s.store_report(&bad, &l, "b"),
        Err(StoreError::Parse(_))
    ));
    s.store_report(&generated(2, 60), &l, "c").unwrap();
    s.quarantine("b", "bad", &bad.data).unwrap();
    // Nothing is visible to another connection before the commit.
    assert_eq!(committed(&path, "report"), 0);
    assert!(!s.commit_due().unwrap(), "neither big nor old yet");
    s.set_batching(false).unwrap();
    assert_eq!(committed(&path, "report"), 2);
    assert_eq!(committed(&path, "record"), 110);
    assert_eq!(committed(&path, "quarantine"), 1);
    // Ungrouped again: each report is committed by itself.
    s.store_report(&generated(3, 5), &l, "d").unwrap();
    assert_eq!(committed(&path, "report"), 3);
}

#[test]
fn a_group_is_due_once_it_holds_enough_reports() {
    let mut s = Store::open_in_memory().unwrap();
    s.set_batching(true).unwrap();
    for seed in 0..BATCH_REPORTS {
        assert!(!s.commit_due().unwrap() || seed == 0);
        s.store_report(&generated(seed, 1), &Limits::default(), "a")
            .unwrap();
    }
    assert!(s.commit_due().unwrap());
    assert!(s.batch.is_none());
}

#[test]
fn a_group_is_due_once_old_enough() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let mut s = Store::open(&path).unwrap();
    s.set_batching(true).unwrap();
    assert!(s.commit_due().unwrap(), "nothing open: all committed");
    s.store_report(&generated(1, 3), &Limits::default(), "a")
        .unwrap();
    assert!(!s.commit_due().unwrap());
    std::thread::sleep(BATCH_AGE);
    assert!(s.commit_due().unwrap());
    assert_eq!(committed(&path, "report"), 1);
}

#[test]
fn quarantine_keeps_one_row_per_content() {
    let s = Store::open_in_memory().unwrap();
    s.quarantine("a", "bad", b"xyz").unwrap();
    s.quarantine("b", "bad again", b"xyz").unwrap();
    assert_eq!(count(&s, "quarantine"), 1);
    let attempts: i64 = s
        .conn()
        .query_row("SELECT attempts FROM quarantine", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attempts, 2);
}

#[test]
fn ipv4_mapped_equals_ipv4() {
    assert_eq!(ip_bin("192.0.2.1"), ip_bin("::ffff:192.0.2.1"));
    assert_eq!(ip_bin("nope"), None);
}

#[test]
fn new_file_is_private_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let s = Store::open(&path).unwrap();
    let v: i64 = s
        .conn()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, MIGRATIONS.len() as i64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}
