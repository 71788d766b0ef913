//! Store tests: atomicity, idempotence, grouping, big reports.
use std::path::Path;

use rusqlite::{params, Connection};

use super::sqlite::VERSION;
use super::*;
use crate::extract::{Limits, Payload};

/// Sizes the tests keep big reports above: from 64 KiB, reports used to be
/// parsed on a second thread here (ingest's pipeline does that now), in
/// chunks of 64 records, at most 8 chunks ahead of the writer.
const THREAD_MIN: usize = 64 * 1024;
const CHUNK: usize = 64;
const CHUNKS_AHEAD: usize = 8;

fn payload(xml: &str) -> Payload {
    Payload {
        name: "t.xml".into(),
        data: xml.as_bytes().to_vec().into(),
        gzip: false,
        kind: crate::extract::PayloadKind::Aggregate,
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
    s.conn
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Every foreign key points at a row (SQLite does not check them on
/// insert, see schema.sql).
fn assert_references_hold(s: &Store) {
    let dangling: i64 = s
        .conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0, "references to missing rows");
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

/// A generated report of `records` records, gzip-compressed as
/// Microsoft sends it.
fn generated(seed: u64, records: usize) -> Payload {
    let mut data = Vec::new();
    crate::generate::write_gz(&crate::generate::ReportSpec::new(seed, records), &mut data).unwrap();
    Payload {
        name: format!("r{seed}.xml.gz"),
        data: data.into(),
        gzip: true,
        kind: crate::extract::PayloadKind::Aggregate,
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
    // Made before the group opens, so that only storing counts towards
    // its age (a loaded machine builds a debug-mode report slowly).
    let reports: Vec<Payload> = (0..BATCH_REPORTS).map(|seed| generated(seed, 1)).collect();
    s.set_batching(true).unwrap();
    for (seed, report) in (0..BATCH_REPORTS).zip(&reports) {
        assert!(!s.commit_due().unwrap() || seed == 0);
        s.store_report(report, &Limits::default(), "a").unwrap();
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
fn new_file_is_private_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let s = Store::open(&path).unwrap();
    let v: i64 = s
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, VERSION);
    let page: i64 = s
        .conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap();
    assert_eq!(page, 8192);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}

/// A report with three records: two with the same auth results, one with
/// none, and strings JSON must escape.
const SHARED: &str = r#"<feedback><report_metadata><org_name>o</org_name><email>a@o</email>
  <report_id>r2</report_id><date_range><begin>100</begin><end>200</end></date_range></report_metadata>
  <policy_published><domain>d.example</domain></policy_published>
  <record><row><source_ip>192.0.2.1</source_ip><count>4</count><policy_evaluated>
  <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
  <identifiers><header_from>d.example</header_from></identifiers>
  <auth_results><dkim><domain>a</domain><selector>s"1\</selector><result>pass</result>
  <human_result>tab&#9;nl&#10;cr&#13;umläut &lt;ok&gt; &#x1F600;</human_result></dkim>
  <spf><domain>d.example</domain><scope>mfrom</scope><result>pass</result></spf></auth_results></record>
  <record><row><source_ip>192.0.2.2</source_ip><count>1</count><policy_evaluated>
  <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>
  <reason><type>local_policy</type><comment>c</comment></reason>
  <reason><type>forwarded</type></reason></policy_evaluated></row>
  <identifiers><header_from>d.example</header_from></identifiers>
  <auth_results><dkim><domain>a</domain><selector>s"1\</selector><result>pass</result>
  <human_result>tab&#9;nl&#10;cr&#13;umläut &lt;ok&gt; &#x1F600;</human_result></dkim>
  <spf><domain>d.example</domain><scope>mfrom</scope><result>pass</result></spf></auth_results></record>
  <record><row><source_ip>198.51.100.7</source_ip><count>9</count><policy_evaluated>
  <disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
  <identifiers><header_from>d.example</header_from></identifiers></record>
  </feedback>"#;

#[test]
fn records_with_the_same_auth_results_share_one_set() {
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    s.store_report(&payload(XML), &l, "t").unwrap();
    s.store_report(&payload(SHARED), &l, "t").unwrap();
    assert_eq!(count(&s, "record"), 4);
    assert_eq!(count(&s, "auth_set"), 2);
    assert_eq!(count(&s, "dkim_result"), 3);
    assert_eq!(count(&s, "spf_result"), 2);
    let sets: Vec<Option<i64>> = s
        .conn
        .prepare(
            "SELECT auth FROM record r JOIN report p ON p.id = r.report
             WHERE p.report_id = 'r2' ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sets.len(), 3);
    assert!(sets[0].is_some());
    assert_eq!(sets[0], sets[1]);
    assert_eq!(sets[2], None);
    assert_eq!(count(&s, "override_reason"), 3);
    assert_references_hold(&s);
}

#[test]
fn auth_keys_are_what_sqlite_json_array_writes() {
    let (_, records) = crate::parse::parse_all(SHARED.as_bytes()).unwrap();
    let mut key = String::new();
    auth_key(&records[0], &mut key);
    let d = &records[0].dkim[0];
    assert!(d.human_result.as_deref().unwrap().contains('\t'), "{d:?}");
    let sp = &records[0].spf[0];
    let conn = Connection::open_in_memory().unwrap();
    let expected: String = conn
        .query_row(
            "SELECT json_array(json_array('dkim', ?1, ?2, ?3, ?4),
                               json_array('spf', ?5, ?6, ?7, NULL))",
            params![
                d.domain,
                d.selector,
                d.result.as_str(),
                d.human_result,
                sp.domain,
                sp.scope,
                sp.result.as_str()
            ],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(key, expected);
    // Every control character, one by one.
    for c in (0u8..0x20).chain([0x7f]) {
        let mut rec = records[0].clone();
        rec.spf.clear();
        rec.dkim[0].human_result = Some(format!("a{}b", c as char));
        auth_key(&rec, &mut key);
        let expected: String = conn
            .query_row(
                "SELECT json_array(json_array('dkim', ?1, ?2, ?3, ?4))",
                params![
                    d.domain,
                    d.selector,
                    d.result.as_str(),
                    rec.dkim[0].human_result
                ],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(key, expected, "character {c:#x}");
    }
}

#[test]
fn a_set_first_stored_by_a_report_rolled_back_is_stored_again() {
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    s.set_batching(true).unwrap();
    // The new set is inserted, then a bad record rolls the report back.
    let bad = SHARED.replace(
        "</feedback>",
        "<record><row><source_ip>x</source_ip><count>1</count></row></record></feedback>",
    );
    assert!(s.store_report(&payload(&bad), &l, "bad").is_err());
    assert_eq!(count(&s, "auth_set"), 0);
    // The same set again, in the same open group, then committed.
    s.store_report(&payload(SHARED), &l, "good").unwrap();
    s.set_batching(false).unwrap();
    assert_eq!(count(&s, "auth_set"), 1);
    let dangling: i64 = s
        .conn
        .query_row(
            "SELECT count(*) FROM record WHERE auth IS NOT NULL
             AND auth NOT IN (SELECT id FROM auth_set)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dangling, 0);
    assert_references_hold(&s);
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

/// Writes what `from` holds into a new file laid out as schema version 1
/// (the first release's), as that version stored it.
fn as_version_1(from: &Store, path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(include_str!("migrations/v1.sql"))
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    let src = from.path().unwrap().to_string();
    conn.execute("ATTACH ?1 AS v2", params![src]).unwrap();
    conn.execute_batch(
        "INSERT INTO report SELECT * FROM v2.report;
         INSERT INTO report_blob SELECT * FROM v2.report_blob;
         CREATE TEMP TABLE ids AS
           SELECT report, seq, row_number() OVER (ORDER BY report, seq) AS id FROM v2.record;
         INSERT INTO record (id, report, source_ip, ip_bin, count, disposition, dkim, spf,
                             dmarc_pass, header_from, envelope_from, envelope_to)
           SELECT i.id, c.report, c.source_ip, c.ip_bin, c.count, c.disposition, c.dkim,
                  c.spf, c.dmarc_pass, c.header_from, c.envelope_from, c.envelope_to
           FROM v2.record c JOIN ids i USING (report, seq);
         INSERT INTO dkim_result
           SELECT i.id, d.seq, d.domain, d.selector, d.result, d.human_result
           FROM v2.record c JOIN ids i USING (report, seq)
           JOIN v2.dkim_result d ON d.auth_set = c.auth;
         INSERT INTO spf_result
           SELECT i.id, d.seq, d.domain, d.scope, d.result, d.human_result
           FROM v2.record c JOIN ids i USING (report, seq)
           JOIN v2.spf_result d ON d.auth_set = c.auth;
         INSERT INTO override_reason
           SELECT i.id, o.seq, o.type, o.comment
           FROM v2.override_reason o JOIN ids i ON i.report = o.report AND i.seq = o.record;",
    )
    .unwrap();
}

fn schema_of(conn: &Connection) -> Vec<(String, String)> {
    conn.prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_1_file_is_migrated_to_what_this_version_stores() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.db");
    let old = dir.path().join("old.db");
    {
        let mut s = Store::open(&fresh).unwrap();
        let l = Limits::default();
        s.store_report(&payload(XML), &l, "a").unwrap();
        s.store_report(&payload(SHARED), &l, "b").unwrap();
        s.store_report(&generated(3, 300), &l, "c").unwrap();
        as_version_1(&s, &old);
    }
    let mut migrated = Store::open(&old).unwrap();
    let fresh = Store::open(&fresh).unwrap();
    let v: i64 = migrated
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, VERSION);
    assert_eq!(schema_of(&migrated.conn), schema_of(&fresh.conn));
    for table in [
        "record",
        "auth_set",
        "dkim_result",
        "spf_result",
        "override_reason",
    ] {
        assert_eq!(count(&migrated, table), count(&fresh, table), "{table}");
    }
    // Re-parsing every report from its bytes finds nothing to change (as
    // `reparse` does it): the migrated rows are what this version stores.
    let ids = migrated.report_ids().unwrap();
    assert_eq!(ids.len(), 3);
    for id in ids {
        let payload = migrated.report_bytes(id).unwrap().unwrap();
        let mut reader = crate::parse::ReportReader::new(payload.reader(&Limits::default()));
        let header = reader.header().unwrap();
        let mut next = || reader.next_record();
        let rebuilt = migrated.rebuild_report(id, &header, &mut next).unwrap();
        assert_eq!(rebuilt, Rebuilt::Unchanged, "report {id}");
    }
    // And the same auth-set keys, so later inserts find the migrated sets.
    let keys = |s: &Store| -> Vec<String> {
        s.conn
            .prepare("SELECT key FROM auth_set ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(keys(&migrated), keys(&fresh));
    assert_references_hold(&migrated);
}
