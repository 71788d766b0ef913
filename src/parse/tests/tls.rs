//! `parse::tls` against every TLS report of the shared corpus (values from
//! `expected-tls.tsv`), the repository's samples, and hostile documents.

use std::path::{Path, PathBuf};

use super::*;
use crate::extract::{extract, Limits, PayloadKind};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    p.join("expected-tls.tsv").is_file().then_some(p)
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// Every TLS payload extracted from a file, parsed.
fn parse_file(path: &Path) -> Vec<TlsReport> {
    let bytes = std::fs::read(path).unwrap();
    let limits = Limits::default();
    let x = extract(&path.display().to_string(), &bytes, &limits);
    assert!(x.errors.is_empty(), "{}: {:?}", path.display(), x.errors);
    x.payloads
        .iter()
        .filter(|p| p.kind == PayloadKind::Tls)
        .map(|p| read_tls(p.reader(&limits)).unwrap())
        .collect()
}

#[test]
fn every_corpus_tls_report_matches_expected_values() {
    let Some(root) = corpus() else { return };
    let tsv = std::fs::read_to_string(root.join("expected-tls.tsv")).unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root.join("parsedmarc/smtp_tls")).unwrap() {
        found.extend(parse_file(&entry.unwrap().path()));
    }
    assert_eq!(found.len(), tsv.lines().count());
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let r = found
            .iter()
            .find(|r| r.organization_name == f[0] && r.report_id == f[1])
            .unwrap_or_else(|| panic!("no report for {line}"));
        assert_eq!(r.policies.len().to_string(), f[2], "{line}");
        assert_eq!(r.sessions_success().to_string(), f[3], "{line}");
        assert_eq!(r.sessions_failure().to_string(), f[4], "{line}");
    }
}

#[test]
fn rfc8460_example_every_field() {
    let Some(root) = corpus() else { return };
    let r = &parse_file(&root.join("parsedmarc/smtp_tls/rfc8460.json"))[0];
    assert_eq!(r.date_begin, 1_459_468_800);
    assert_eq!(r.date_end, 1_459_468_800 + 86_399);
    assert_eq!(
        r.contact_info.as_deref(),
        Some("sts-reporting@company-x.example")
    );
    let p = &r.policies[0];
    assert_eq!(p.policy_type, PolicyType::Sts);
    assert_eq!(p.policy_string.len(), 4);
    assert_eq!(p.policy_string[1], "mode: testing");
    assert_eq!(p.policy_domain, "company-y.example");
    assert_eq!(p.mx_host, vec!["*.mail.company-y.example".to_string()]);
    let d = &p.failure_details[1];
    assert_eq!(d.result_type, ResultType::StarttlsNotSupported);
    assert_eq!(d.sending_mta_ip.as_deref(), Some("2001:db8:abcd:0013::1"));
    assert_eq!(d.receiving_ip.as_deref(), Some("203.0.113.56"));
    assert_eq!(d.failed_session_count, 200);
    assert!(d
        .additional_information
        .as_deref()
        .unwrap()
        .ends_with("#StarttlsNotSupported"));
    assert_eq!(
        p.failure_details[2].failure_reason_code.as_deref(),
        Some("X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED")
    );
    assert_eq!(p.failure_details[0].receiving_ip, None);
}

#[test]
fn mail_ru_details_without_ips_or_policy_string() {
    let Some(root) = corpus() else { return };
    let r = &parse_file(&root.join("parsedmarc/smtp_tls/mail.ru.json"))[0];
    let p = &r.policies[0];
    assert!(p.policy_string.is_empty() && p.mx_host.is_empty());
    assert_eq!(p.failure_details.len(), 2);
    assert_eq!(
        p.failure_details[1].result_type,
        ResultType::StsPolicyFetchError
    );
    assert_eq!(
        p.failure_details[1].failure_reason_code.as_deref(),
        Some("bad https response code: 500")
    );
}

#[test]
fn google_mail_gzip_attachment() {
    let Some(root) = corpus() else { return };
    let r = &parse_file(&root.join("parsedmarc/smtp_tls/google.com_smtp_tls_report.eml"))[0];
    assert_eq!(r.policies[0].policy_type, PolicyType::NoPolicyFound);
    assert_eq!(r.policies[0].policy_domain, "cardinalhealth.ca");
}

#[test]
fn samples_plain_and_gzip() {
    let plain = &parse_file(&samples().join("tls-example.org!2026-11-01.json"))[0];
    assert_eq!(plain.organization_name, "Example Mail Ltd");
    assert_eq!(plain.policies.len(), 2);
    assert_eq!(
        (plain.sessions_success(), plain.sessions_failure()),
        (1500, 24)
    );
    assert_eq!(plain.policies[1].policy_type, PolicyType::Tlsa);
    assert_eq!(
        plain.policies[0].failure_details[0]
            .receiving_mx_helo
            .as_deref(),
        Some("mx2.example.org")
    );
    let gz = &parse_file(&samples().join("tls-gzip-sender!example.org.json.gz"))[0];
    assert_eq!(gz.organization_name, "Example Gzip Sender");
    assert_eq!(gz.report_id, "gz-2026-11-01");
    assert_eq!(gz.sessions_failure(), 24);
}

#[test]
fn odd_case_keys_string_counts_and_unknown_words_are_read() {
    let r = &parse_file(&samples().join("tls-odd-case.json"))[0];
    assert_eq!(r.organization_name, "Sloppy Reporter");
    assert_eq!(r.report_id, "sloppy-1");
    assert_eq!(r.date_begin, 1_793_577_600);
    assert_eq!(r.date_end, 1_793_577_600);
    let p = &r.policies[0];
    assert_eq!(p.policy_type, PolicyType::Sts);
    assert_eq!((p.sessions_success, p.sessions_failure), (7, 0));
    assert_eq!(
        p.failure_details[0].result_type,
        ResultType::ValidationFailure
    );
    assert_eq!(p.failure_details[0].failed_session_count, 0);
    assert_eq!(
        p.failure_details[1].result_type.as_str(),
        "x-private-reason"
    );
    assert_eq!(r.policies[1].policy_type.as_str(), "custom-Type");
}

#[test]
fn missing_report_id_gets_a_content_hash() {
    let a = parse_tls(br#"{"organization-name":"X","policies":[]}"#).unwrap();
    let b = parse_tls(br#"{"organization-name":"X","policies":[ ]}"#).unwrap();
    assert!(a.report_id.starts_with("sha256:"), "{}", a.report_id);
    assert_eq!(a.report_id.len(), 7 + 32);
    assert_ne!(a.report_id, b.report_id);
    assert_eq!((a.date_begin, a.date_end), (0, 0));
}

fn err(json: &[u8]) -> String {
    parse_tls(json).unwrap_err().to_string()
}

#[test]
fn bad_counts_are_one_clear_error() {
    let doc = |c: &str| {
        format!(
            r#"{{"report-id":"r","policies":[{{"summary":{{"total-failure-session-count":{c}}}}}]}}"#
        )
    };
    assert_eq!(
        err(doc("-3").as_bytes()),
        "invalid SMTP TLS report: policy 1: total-failure-session-count is negative (-3)"
    );
    assert!(err(doc("\"many\"").as_bytes()).ends_with("is not a number (\"many\")"));
    assert!(err(doc("1.5").as_bytes()).ends_with("is not a whole number (1.5)"));
    assert!(err(doc("99999999999999999999").as_bytes()).contains("too large"));
    assert!(err(doc("true").as_bytes()).contains("is not a number"));
    let whole = parse_tls(doc("5.0").as_bytes()).unwrap();
    assert_eq!(whole.policies[0].sessions_failure, 5);
    let d = br#"{"report-id":"r","policies":[{"failure-details":[{"failed-session-count":-1}]}]}"#;
    assert_eq!(
        err(d),
        "invalid SMTP TLS report: policy 1: failure detail 1: failed-session-count is negative (-1)"
    );
}

#[test]
fn bombs_are_refused_before_parsing() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        err(deep.as_bytes()),
        "invalid SMTP TLS report: JSON nested deeper than 16 levels"
    );
    let wide = format!(
        r#"{{"report-id":"r","policies":[{}0]}}"#,
        "0,".repeat(MAX_ITEMS)
    );
    assert!(err(wide.as_bytes()).contains("more than 100000 elements"));
    let long = format!(r#"{{"report-id":"{}"}}"#, "a".repeat(MAX_STRING + 1));
    assert!(err(long.as_bytes()).contains("longer than 65536 bytes"));
    let big = vec![b' '; MAX_JSON + 1];
    assert!(err(&big).contains("larger than"));
}

#[test]
fn invalid_utf8_and_broken_json_and_non_reports() {
    assert_eq!(
        err(b"{\"report-id\":\"r\xff\"}"),
        "invalid SMTP TLS report: invalid UTF-8 at byte 15"
    );
    assert!(err(br#"{"report-id": "r", "policies": [ "#).starts_with("JSON error: EOF"));
    assert_eq!(
        err(br#"{"hello":"world"}"#),
        "not an SMTP TLS report: JSON without organization-name, report-id, date-range or policies"
    );
    assert_eq!(
        err(b"[1,2]"),
        "not an SMTP TLS report: the JSON is not an object"
    );
    assert!(
        err(br#"{"report-id":"r","date-range":{"start-datetime":"yesterday"}}"#)
            .contains("start-datetime is not a date (\"yesterday\")")
    );
    // A BOM is fine.
    assert!(parse_tls(b"\xef\xbb\xbf{\"report-id\":\"r\"}").is_ok());
}
