//! Parser tests of what hostile or broken input must not do: expand
//! entities, pass bad values, nest or grow without bound, or leave a
//! report stored in part; and the shared corpus's plain XML read whole.

use super::*;

#[test]
fn entities_are_never_expanded() {
    let xml = MINIMAL.replace(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml version=\"1.0\"?><!DOCTYPE feedback [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\"><!ENTITY x SYSTEM \"file:///etc/passwd\">]>",
    ).replace("<org_name>google.com</org_name>", "<org_name>&b;&x;&amp;</org_name>");
    let (h, _) = parse_str(&xml).unwrap();
    assert_eq!(h.metadata.org_name, "&b;&x;&amp;");
    assert!(!h.metadata.org_name.contains("root:"));
}

#[test]
fn predefined_entities_are_decoded() {
    let xml = MINIMAL.replace(
        "<org_name>google.com</org_name>",
        "<org_name>A &amp; B</org_name>",
    );
    let (h, _) = parse_str(&xml).unwrap();
    assert_eq!(h.metadata.org_name, "A & B");
}

#[test]
fn not_a_report_is_rejected_with_reason() {
    let e = parse_str("<html><body>hi</body></html>").unwrap_err();
    assert!(e.to_string().contains("no <feedback>"), "{e}");
    let e = parse_str(&MINIMAL.replace("<report_id>123</report_id>", "")).unwrap_err();
    assert!(e.to_string().contains("report_id"), "{e}");
    let cut = &MINIMAL[..MINIMAL.find("<record>").unwrap()];
    let e = parse_str(&format!("{cut}</feedback>")).unwrap_err();
    assert!(e.to_string().contains("no <record>"), "{e}");
    let e = parse_str(&MINIMAL.replace(
        "<date_range><begin>1700000000</begin><end>1700086399</end></date_range>",
        "",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("date_range"), "{e}");
}

#[test]
fn bad_values_are_rejected() {
    for (from, to, needle) in [
        ("<count>3</count>", "<count>-1</count>", "negative"),
        ("<count>3</count>", "<count>three</count>", "count"),
        (
            "<count>3</count>",
            "<count>9223372036854775809</count>",
            "count",
        ),
        (
            "<source_ip>192.0.2.1</source_ip>",
            "<source_ip>999.1.1.1</source_ip>",
            "source_ip",
        ),
        (
            "<source_ip>192.0.2.1</source_ip>",
            "<source_ip></source_ip>",
            "source_ip",
        ),
        (
            "<begin>1700000000</begin>",
            "<begin>1800000000</begin>",
            "after end",
        ),
        ("<begin>1700000000</begin>", "<begin>-5</begin>", "1970"),
        ("<end>1700086399</end>", "<end>253402300800</end>", "9999"),
    ] {
        let e = parse_str(&MINIMAL.replace(from, to)).unwrap_err();
        assert!(e.to_string().contains(needle), "{to}: {e}");
    }
}

#[test]
fn deep_nesting_is_refused() {
    let deep = "<a>".repeat(100_000);
    let xml = MINIMAL.replace(
        "<record>",
        &format!("<extension>{deep}</extension><record>"),
    );
    let e = parse_str(&xml).unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{e}");
}

#[test]
fn huge_text_field_is_refused_in_bounded_memory() {
    let big = "a".repeat(MAX_RUN + 10);
    let xml = MINIMAL.replace("<org_name>google.com", &format!("<org_name>{big}"));
    let e = parse_str(&xml).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("without markup") || msg.contains("longer than"),
        "{msg}"
    );
}

#[test]
fn streaming_reads_header_before_records() {
    let mut rdr = ReportReader::new(MINIMAL.as_bytes());
    let h = rdr.header().unwrap();
    assert_eq!(h.metadata.report_id, "123");
    assert_eq!(rdr.records_read(), 0);
    assert!(rdr.next_record().unwrap().is_some());
    assert!(rdr.next_record().unwrap().is_none());
}

/// Every aggregate report in the shared corpus parses, with the totals an
/// independent implementation computed (records, sum of count, pass sum).
#[test]
fn shared_corpus_plain_xml_matches_expected_totals() {
    let Some(root) = crate::test_corpus::corpus_root() else {
        return;
    };
    let tsv = std::fs::read_to_string(root.join("expected-totals.tsv")).unwrap();
    let mut checked = 0;
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if !f[0].ends_with(".xml") {
            continue;
        }
        let bytes = std::fs::read(root.join(f[0])).unwrap();
        let (h, recs) = parse_all(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f[0]));
        assert_eq!(h.metadata.report_id, f[2], "{}", f[0]);
        let n: usize = f[3].parse().unwrap();
        let sum: i64 = f[4].parse().unwrap();
        let pass: i64 = f[5].parse().unwrap();
        assert_eq!(recs.len(), n, "{}", f[0]);
        assert_eq!(recs.iter().map(|r| r.count).sum::<i64>(), sum, "{}", f[0]);
        let p: i64 = recs
            .iter()
            .filter(|r| r.dmarc_pass())
            .map(|r| r.count)
            .sum();
        assert_eq!(p, pass, "{}", f[0]);
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} plain XML reports checked");
    // invalid_xml.xml is not in the TSV: we recover it (see above).
    let bytes = std::fs::read(root.join("parsedmarc/aggregate/invalid_xml.xml")).unwrap();
    let (h, recs) = parse_all(&bytes).unwrap();
    assert_eq!(h.metadata.org_name, "veeam.com");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].count, 1);
    assert!(!recs[0].dmarc_pass());
}

/// Found by the bad-input catalogue: a report cut off after a complete
/// `</record>` parsed cleanly up to EOF and was stored with the records
/// before the cut. It is refused now, wherever the cut falls.
#[test]
fn truncated_report_is_refused_not_stored_in_part() {
    let end = MINIMAL.find("</feedback>").unwrap();
    for cut in [
        end,
        MINIMAL.find("</record>").unwrap(),
        MINIMAL.find("<record>").unwrap(),
    ] {
        let e = parse_str(&MINIMAL[..cut]).unwrap_err();
        assert!(
            e.to_string().contains("truncated") || e.to_string().contains("XML error"),
            "{cut}: {e}"
        );
    }
    let e = parse_str(&MINIMAL[..end]).unwrap_err();
    assert!(e.to_string().contains("ends before </feedback>"), "{e}");
}

/// Found while reviewing for unbounded allocations: one record with
/// millions of `<dkim></dkim>` grew its Vec by ~8 bytes of memory per byte
/// of XML (52 MB of XML took 390 MB). What one record keeps is capped now.
#[test]
fn record_with_millions_of_auth_results_is_refused() {
    let many = "<dkim></dkim>".repeat(2_000_000);
    let xml = MINIMAL.replace("<auth_results>", &format!("<auth_results>{many}"));
    let e = parse_str(&xml).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("invalid report: record 1 holds more than {MAX_KEPT} bytes")
    );
}

#[test]
fn header_with_endless_errors_is_refused() {
    let many = format!("<error>{}</error>", "e".repeat(1000)).repeat(20_000);
    let xml = MINIMAL.replace("<report_id>", &format!("{many}<report_id>"));
    let e = parse_str(&xml).unwrap_err();
    assert!(
        e.to_string().contains("the report header holds more than"),
        "{e}"
    );
}
