//! Cases: documents that are not aggregate reports, XML entities, and
//! values a report may not hold.

use std::fs::{self, File};
use std::io::Write;

use crate::harness::*;
use crate::inputs::*;

catalogue! {
    // --- Not a report -------------------------------------------------
    xml_that_is_not_a_report: |b| put(b, "bad-html.xml", b"<html><body>hi</body></html>")
        => rejected("no <feedback> element");
    smtp_tls_report_is_stored: |b| put(b, "bad-tlsrpt.json",
        br#"{"organization-name":"Example","policies":[]}"#)
        => Expect::Accepted { reports: 1 };
    json_that_is_not_a_tls_report: |b| put(b, "bad-other.json", br#"{"hello": "world"}"#)
        => rejected("not an SMTP TLS report: JSON without organization-name");
    binary_garbage: |b| put(b, "bad-garbage.bin", &[0x89, b'P', b'N', b'G', 0, 1, 2, 3, 255])
        => rejected("not a DMARC report: unrecognised input");
    truncated_xml: |b| {
        let xml = report("bad");
        put(b, "bad-truncated.xml", &xml.as_bytes()[..xml.find("</feedback>").unwrap()])
    } => rejected("ends before </feedback>");
    no_report_id: |b| put(b, "bad-no-id.xml", &report_with("<report_id>bad</report_id>", ""))
        => rejected("no report_metadata/report_id");
    no_date_range: |b| put(b, "bad-no-range.xml", &report_with(
        "<date_range><begin>1700000000</begin><end>1700086399</end></date_range>", ""))
        => rejected("no report_metadata/date_range");
    no_records: |b| {
        let xml = report("bad");
        let (start, end) = (xml.find("<record>").unwrap(), xml.find("</feedback>").unwrap());
        put(b, "bad-no-records.xml", format!("{}{}", &xml[..start], &xml[end..]).as_bytes())
    } => rejected("no <record> elements");

    // --- Entities -----------------------------------------------------
    billion_laughs: |b| put(b, "bad-lolz.xml", lolz_dtd("<lolz>&lol9;</lolz>").as_bytes())
        => rejected("no <feedback> element");
    billion_laughs_inside_a_report: |b| {
        // The DTD is skipped, the reference stays literal text: stored.
        let xml = report("bad-lolz").replace("<org_name>catalogue.example", "<org_name>&lol9;");
        let doc = lolz_dtd(xml.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#));
        put(b, "bad-lolz-report.xml", doc.as_bytes())
    } => Expect::Accepted { reports: 1 };
    external_entity: |b| {
        let xml = report("bad-xxe").replace("<org_name>catalogue.example", "<org_name>&xxe;");
        let doc = xml.replace(
            "<feedback>",
            "<!DOCTYPE feedback [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<feedback>",
        );
        put(b, "bad-xxe.xml", doc.as_bytes())
    } => Expect::Accepted { reports: 1 };

    // --- Values -------------------------------------------------------
    negative_count: |b| put(b, "bad-negative.xml", &report_with("<count>3</count>", "<count>-5</count>"))
        => rejected("negative count -5");
    non_numeric_count: |b| put(b, "bad-nan.xml", &report_with("<count>3</count>", "<count>many</count>"))
        => rejected("count \"many\" is not a non-negative 64-bit integer");
    count_of_2_pow_63_plus_1: |b| put(b, "bad-huge-count.xml",
        &report_with("<count>3</count>", "<count>9223372036854775809</count>"))
        => rejected("count \"9223372036854775809\" is not a non-negative 64-bit integer");
    counts_that_overflow_when_summed: |b| {
        // Each fits in i64; their sum does not. Totals saturate: stored.
        let xml = String::from_utf8(report_with("<count>3</count>", "<count>9223372036854775807</count>")).unwrap();
        let (start, end) = (xml.find("<record>").unwrap(), xml.find("</feedback>").unwrap());
        let doubled = format!("{}{}{}", &xml[..end], &xml[start..end], &xml[end..]);
        put(b, "bad-sum.xml", doubled.replace("<report_id>bad<", "<report_id>bad-sum<").as_bytes())
    } => Expect::Accepted { reports: 1 };
    invalid_source_ip: |b| put(b, "bad-ip.xml",
        &report_with("<source_ip>192.0.2.1</source_ip>", "<source_ip>192.0.2.999</source_ip>"))
        => rejected("source_ip \"192.0.2.999\" is not an IP address");
    empty_source_ip: |b| put(b, "bad-empty-ip.xml",
        &report_with("<source_ip>192.0.2.1</source_ip>", "<source_ip></source_ip>"))
        => rejected("empty source_ip");
    begin_after_end: |b| put(b, "bad-range.xml",
        &report_with("<begin>1700000000</begin>", "<begin>1800000000</begin>"))
        => rejected("date_range begin 1800000000 is after end 1700086399");
    date_before_1970: |b| put(b, "bad-1969.xml",
        &report_with("<begin>1700000000</begin>", "<begin>-86400</begin>"))
        => rejected("date_range begin -86400 is outside 1970..9999");
    date_after_9999: |b| put(b, "bad-10000.xml",
        &report_with("<end>1700086399</end>", "<end>253402300800</end>"))
        => rejected("date_range end 253402300800 is outside 1970..9999");
    text_field_of_100_mb: |b| {
        // Streamed to the file: the test process must stay small (see `run`).
        let xml = report("bad");
        let at = xml.find("catalogue.example</org_name>").unwrap();
        let mut f = std::io::BufWriter::new(File::create(b.join("bad-huge-field.xml")).unwrap());
        f.write_all(&xml.as_bytes()[..at]).unwrap();
        let chunk = vec![b'A'; MIB];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(&xml.as_bytes()[at..]).unwrap();
        f.flush().unwrap();
        "bad-huge-field.xml".to_string()
    } => rejected("without markup");
    nesting_100000_levels: |b| {
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        put(b, "bad-deep.xml", &report_with("<policy_published>", &format!("{deep}<policy_published>")))
    } => rejected("elements nested deeper than 256");
}

/// The literal-entity cases store the reference, never what it names.
#[test]
fn entities_are_stored_as_literal_text() {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    fs::create_dir(&batch).unwrap();
    let xml = report("xxe").replace("<org_name>catalogue.example", "<org_name>&xxe;");
    let doc = xml.replace(
        "<feedback>",
        "<!DOCTYPE feedback [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<feedback>",
    );
    fs::write(batch.join("xxe.xml"), doc).unwrap();
    let db = dir.path().join("x.db");
    assert_eq!(run(dir.path(), &db, &[batch.as_os_str()]).code, 0);
    let org = "SELECT count(*) FROM report WHERE org_name = ?1";
    assert_eq!(count(&db, org, "&xxe;"), 1);
}
