//! Reparse's tests: rows damaged by hand (through the store's test-only
//! access, `store/for_tests.rs`) are rebuilt from the stored bytes, and
//! quarantined inputs get another try.

use super::{run, Summary};
use crate::extract::{Limits, Payload};
use crate::ingest;
use crate::store::Store;

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
  <record><row><source_ip>2001:db8::1</source_ip><count>1</count><policy_evaluated>
  <disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
  <identifiers><header_from>d.example</header_from></identifiers>
  <auth_results><spf><domain>x</domain><result>fail</result></spf></auth_results></record>
  </feedback>"#;

fn stored() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    let p = Payload {
        name: "t.xml".into(),
        data: XML.as_bytes().to_vec().into(),
        gzip: false,
        kind: crate::extract::PayloadKind::Aggregate,
    };
    s.store_report(&p, &Limits::default(), "t.xml").unwrap();
    s
}

fn reparse(s: &mut Store) -> Summary {
    run(s, &ingest::Options::default(), &mut |_| {}).unwrap()
}

fn one(s: &Store, sql: &str) -> i64 {
    s.number_for_test(sql)
}

#[test]
fn current_rows_are_left_alone() {
    let mut s = stored();
    s.execute_for_test("UPDATE report_ips SET hashes = x'00'");
    let sum = reparse(&mut s);
    assert_eq!((sum.changed, sum.unchanged), (0, 1));
    // Rolled back: not even the IP hashes were written again.
    assert_eq!(one(&s, "SELECT length(hashes) FROM report_ips"), 1);
    assert_eq!(one(&s, "SELECT count(*) FROM auth_set"), 2);
}

#[test]
fn damaged_rows_are_rebuilt_from_the_bytes() {
    let mut s = stored();
    s.execute_for_test(
        "UPDATE report SET message_count = 0, org_name = 'wrong';
         UPDATE record SET auth = NULL, dkim = 'none';
         DELETE FROM override_reason;
         DELETE FROM record WHERE source_ip = '2001:db8::1';
         DELETE FROM report_ips;",
    );
    let sum = reparse(&mut s);
    assert_eq!((sum.changed, sum.unchanged), (1, 0));
    assert_eq!(one(&s, "SELECT message_count FROM report"), 5);
    assert_eq!(one(&s, "SELECT count(*) FROM record"), 2);
    assert_eq!(one(&s, "SELECT count(*) FROM record WHERE auth IS NULL"), 0);
    assert_eq!(
        one(&s, "SELECT count(*) FROM record WHERE dkim = 'fail'"),
        2
    );
    assert_eq!(one(&s, "SELECT count(*) FROM override_reason"), 1);
    assert_eq!(one(&s, "SELECT count(*) FROM dkim_result"), 2);
    // The records' addresses may have changed: their hashes are written again.
    assert_eq!(one(&s, "SELECT length(hashes) FROM report_ips"), 2 * 8);
    assert_eq!(
        one(&s, "SELECT count(*) FROM report WHERE org_name = 'o'"),
        1
    );
    let again = reparse(&mut s);
    assert_eq!((again.changed, again.unchanged), (0, 1));
    // The old records' override reasons went with them.
    let dangling = "SELECT count(*) FROM pragma_foreign_key_check";
    assert_eq!(one(&s, dangling), 0);
}

#[test]
fn a_child_row_moved_to_another_record_is_a_change() {
    for damage in [
        "UPDATE record SET auth = (SELECT max(auth) FROM record) WHERE seq = 0",
        "UPDATE override_reason SET record = 1",
    ] {
        let mut s = stored();
        s.execute_for_test(damage);
        assert_eq!(reparse(&mut s).changed, 1, "{damage}");
    }
}

#[test]
fn unparseable_stored_bytes_keep_the_report() {
    let mut s = stored();
    s.replace_report_bytes_for_test(b"<feedback>");
    let sum = reparse(&mut s);
    assert_eq!(sum.failed.len(), 1, "{sum:?}");
    assert!(sum.failed[0].reason.contains("kept as it was"), "{sum:?}");
    assert_eq!(one(&s, "SELECT count(*) FROM record"), 2);
}

#[test]
fn quarantine_that_now_stores_is_cleared_and_the_rest_stays() {
    let mut s = Store::open_in_memory().unwrap();
    s.quarantine("good.xml", "some old reason", XML.as_bytes())
        .unwrap();
    s.quarantine("bad.xml", "not a report", b"<html/>").unwrap();
    let sum = reparse(&mut s);
    assert_eq!((sum.recovered, sum.still_failing), (1, 1), "{sum:?}");
    assert_eq!(one(&s, "SELECT count(*) FROM report"), 1);
    assert_eq!(one(&s, "SELECT count(*) FROM quarantine"), 1);
    assert_eq!(one(&s, "SELECT attempts FROM quarantine"), 2);
    let again = reparse(&mut s);
    assert_eq!((again.recovered, again.still_failing), (0, 1));
    assert_eq!(one(&s, "SELECT count(*) FROM report"), 1);
}
