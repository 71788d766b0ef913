//! Store tests: atomicity, idempotence, grouping, big reports, shared
//! auth-result sets, the schema and its migrations, in real SQLite files
//! (or in memory). The reports and helpers every group of them uses are
//! here; the tests sit in `tests/` by concern: `writes.rs` (one report's
//! rows, all or nothing, big reports, quarantine, `report_ips`),
//! `groups.rs` (reports committed together), `auth_sets.rs` (shared
//! auth-result sets and their keys), `schema.rs` (a new file, migrating
//! a version 1 file).
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

mod auth_sets;
mod groups;
mod schema;
mod writes;
