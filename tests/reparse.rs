//! `dmarcdb reparse`: a no-op on a database built by this version, a
//! repair after stored rows went wrong, and a second chance for inputs
//! quarantined under handling that has since changed.

mod common;

use common::cli::{dmarcdb, execute, on_postgres, one, rows, run_ok};
use std::io::Write;
use std::path::{Path, PathBuf};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// Every stored row, row ids and timestamps left out: what reparse may not
/// change when nothing changed.
fn dump(db: &Path) -> Vec<String> {
    let queries = [
        "SELECT org_name, email, extra_contact_info, report_id, date_begin, date_end, errors,
           generator, version, xml_namespace, policy_domain, policy_adkim, policy_aspf,
           policy_p, policy_sp, policy_np, policy_pct, policy_fo, policy_testing,
           policy_discovery_method, record_count, message_count, pass_count, source, id
         FROM report ORDER BY id",
        "SELECT report, sha256, gzip FROM report_blob ORDER BY report",
        "SELECT * FROM record ORDER BY report, seq",
        "SELECT * FROM auth_set ORDER BY id",
        "SELECT * FROM dkim_result ORDER BY auth_set, seq",
        "SELECT * FROM spf_result ORDER BY auth_set, seq",
        "SELECT * FROM override_reason ORDER BY report, record, seq",
        "SELECT sha256, source, reason, gzip FROM quarantine ORDER BY id",
    ];
    queries.iter().flat_map(|sql| rows(db, sql)).collect()
}

/// The content of every report and record: each record with its auth
/// results, in document order.
fn content(db: &Path) -> Vec<String> {
    let list = |table: &str| match on_postgres() {
        true => format!(
            "(SELECT string_agg(seq || ':' || domain || ':' || result, ',' ORDER BY seq)
              FROM {table} WHERE auth_set = c.auth)"
        ),
        false => format!(
            "(SELECT group_concat(seq || ':' || domain || ':' || result, ',') FROM {table}
              WHERE auth_set = c.auth)"
        ),
    };
    let sql = format!(
        "SELECT r.org_name, r.report_id, r.policy_p, r.record_count, r.message_count,
           r.pass_count, c.source_ip, c.count, c.disposition, c.dkim, c.spf, c.dmarc_pass,
           c.header_from, {}, {}
         FROM report r JOIN record c ON c.report = r.id ORDER BY r.id, c.seq",
        list("dkim_result"),
        list("spf_result")
    );
    rows(db, &sql)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn reparse_of_a_current_database_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    dmarcdb(&db).arg("ingest").arg(samples()).assert().code(0);
    let before = dump(&db);
    for _ in 0..2 {
        let out = run_ok(dmarcdb(&db).arg("reparse"));
        assert_eq!(
            stdout(&out),
            "aggregate reports: 0 changed, 3 unchanged, 0 could not be re-parsed; \
             TLS reports: 0 changed, 3 unchanged, 0 could not be re-parsed; \
             failure reports: 0 changed, 1 unchanged, 0 could not be re-parsed, \
             0 redacted (no mail kept); \
             quarantine: 0 now stored, 0 still failing.\n"
        );
        assert_eq!(dump(&db), before);
    }
}

#[test]
fn reparse_rebuilds_rows_that_no_longer_match_the_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    dmarcdb(&db).arg("ingest").arg(samples()).assert().code(0);
    let content_before = content(&db);
    // What an old parser bug would have left: wrong values, missing rows.
    execute(
        &db,
        "UPDATE record SET count = 0, auth = NULL WHERE report = 1 AND seq = 0;
         UPDATE report SET pass_count = -1, policy_p = NULL WHERE id = 3;",
    );
    let out = dmarcdb(&db).arg("reparse").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("aggregate reports: 2 changed, 1 unchanged"),
        "{text}"
    );
    assert_eq!(text.matches("rebuilt report ").count(), 2, "{text}");
    assert_eq!(content(&db), content_before);
    assert_eq!(
        one(
            &db,
            "SELECT count(*) FROM record c JOIN dkim_result d ON d.auth_set = c.auth"
        ),
        6
    );
    let again = dmarcdb(&db).arg("reparse").output().unwrap();
    assert!(stdout(&again).starts_with("aggregate reports: 0 changed, 3 unchanged"));
}

/// A report of `records` records, about 300 bytes of XML each.
fn big_report(records: usize) -> Vec<u8> {
    let mut xml = String::from(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>big.example</org_name>\
         <email>d@big.example</email><report_id>big-1</report_id><date_range>\
         <begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>\
         <policy_published><domain>example.com</domain></policy_published>\n",
    );
    for i in 0..records {
        xml.push_str(&format!(
            "<record><row><source_ip>10.{}.{}.{}</source_ip><count>2</count><policy_evaluated>\
             <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>\
             </row><identifiers><header_from>example.com</header_from></identifiers>\
             <auth_results><spf><domain>example.com</domain><result>pass</result></spf>\
             </auth_results></record>\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    xml.push_str("</feedback>\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(xml.as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[test]
fn reparse_stores_what_was_quarantined_under_a_smaller_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let input = dir.path().join("big.xml.gz");
    let gz = big_report(8000); // ~2.5 MB of XML, well under 1 MiB compressed
    assert!(gz.len() < 1 << 20);
    std::fs::write(&input, &gz).unwrap();

    // Handled with a 1 MiB limit, it is refused and kept.
    let out = dmarcdb(&db)
        .args(["ingest", "--max-size", "1"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("decompressed size exceeds the limit of 1048576 bytes"),
        "{stderr}"
    );
    assert_eq!(one(&db, "SELECT count(*) FROM quarantine"), 1);
    assert_eq!(one(&db, "SELECT count(*) FROM report"), 0);

    // A reparse with the same limit still fails, and says so.
    let out = dmarcdb(&db)
        .args(["reparse", "--max-size", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("quarantine: 0 now stored, 1 still failing."));
    assert!(String::from_utf8_lossy(&out.stderr).contains("big.xml.gz"));
    assert_eq!(one(&db, "SELECT attempts FROM quarantine"), 2);

    // Under the default limit the same bytes are stored, once.
    let out = run_ok(dmarcdb(&db).arg("reparse"));
    let text = stdout(&out);
    assert!(text.contains("stored from quarantine: "), "{text}");
    assert!(
        text.contains("quarantine: 1 now stored, 0 still failing."),
        "{text}"
    );
    assert_eq!(one(&db, "SELECT count(*) FROM quarantine"), 0);
    assert_eq!(one(&db, "SELECT count(*) FROM record"), 8000);
    assert_eq!(one(&db, "SELECT message_count FROM report"), 16000);
    let source = rows(&db, "SELECT source FROM report").remove(0);
    assert!(source.ends_with("big.xml.gz"), "{source}");

    // And nothing more happens after that.
    let before = dump(&db);
    let out = dmarcdb(&db).arg("reparse").output().unwrap();
    assert_eq!(
        stdout(&out),
        "aggregate reports: 0 changed, 1 unchanged, 0 could not be re-parsed; \
         TLS reports: 0 changed, 0 unchanged, 0 could not be re-parsed; \
         failure reports: 0 changed, 0 unchanged, 0 could not be re-parsed, \
         0 redacted (no mail kept); \
         quarantine: 0 now stored, 0 still failing.\n"
    );
    assert_eq!(dump(&db), before);
}
