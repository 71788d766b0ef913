//! What storing one report writes: every child row, all or nothing (big
//! reports streamed in chunks too), a copy judged by its content, the
//! quarantine, and the `report_ips` row.

use super::*;

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
    assert_references_hold(&s);
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
        .conn
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
fn a_copy_with_a_stored_identity_is_judged_by_its_content() {
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    s.store_report(&payload(XML), &l, "t").unwrap();
    let again = s.store_report(&payload(XML), &l, "t").unwrap();
    assert!(matches!(again, Stored::Duplicate { .. }));
    // Same identity, records that do not parse: a bad input like any
    // other (rejected), and the stored report stays as it was.
    let cut = XML.find("<record>").unwrap();
    let broken = format!("{}<record><row><source_ip>x</source_ip>", &XML[..cut]);
    let e = s.store_report(&payload(&broken), &l, "t").unwrap_err();
    assert!(matches!(e, StoreError::Parse(_)), "{e}");
    assert_eq!(count(&s, "report"), 1);
    assert_eq!(count(&s, "report_variant"), 0);
}

#[test]
fn quarantine_keeps_one_row_per_content() {
    let mut s = Store::open_in_memory().unwrap();
    s.quarantine("a", "bad", b"xyz").unwrap();
    s.quarantine("b", "bad again", b"xyz").unwrap();
    assert_eq!(count(&s, "quarantine"), 1);
    let attempts: i64 = s
        .conn
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
fn report_ips_are_written_with_each_report_and_refilled_when_missing() {
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    // SHARED begins at 100 and holds 192.0.2.1, 192.0.2.2 and 198.51.100.7.
    s.store_report(&payload(SHARED), &l, "t").unwrap();
    assert_eq!(count(&s, "report_ips"), 1);
    let hashes: Vec<u8> = s
        .conn
        .query_row("SELECT hashes FROM report_ips", [], |r| r.get(0))
        .unwrap();
    assert_eq!(hashes.len(), 3 * 8);
    let seen = |s: &Store, before: i64, ips: &[&str]| s.seen_before(before, ips).unwrap();
    let ips = ["192.0.2.1", " 198.51.100.7 ", "203.0.113.99"];
    assert_eq!(seen(&s, 101, &ips), [true, true, false]);
    assert_eq!(seen(&s, 100, &ips), [false, false, false]);
    // A report stored by an older version (no row) is filled when asked.
    s.store_report(&payload(XML), &l, "t").unwrap();
    s.conn.execute("DELETE FROM report_ips", []).unwrap();
    assert_eq!(seen(&s, 2, &["192.0.2.1"]), [true]);
    assert_eq!(count(&s, "report_ips"), 2);
    s.conn
        .execute("DELETE FROM report_ips WHERE report = 1", [])
        .unwrap();
    s.fill_report_ips().unwrap();
    assert_eq!(count(&s, "report_ips"), 2);
    assert_eq!(ip_hash("192.0.2.1"), ip_hash(" 192.0.2.1"));
    assert_ne!(ip_hash("192.0.2.1"), ip_hash("192.0.2.10"));
    // Stored, so it must never change: the FNV-1a 64 test vector.
    assert_eq!(ip_hash("a"), 0xaf63_dc4c_8601_ec8c);
}
