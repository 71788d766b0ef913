//! `parse::arf` against every failure report of the shared corpus (values
//! from `expected-failure.tsv`), the repository's sample, and odd mails.

use std::path::{Path, PathBuf};

use super::*;

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    p.join("expected-failure.tsv").is_file().then_some(p)
}

fn failure(bytes: &[u8]) -> FailureReport {
    match parse_arf(bytes) {
        Ok(Arf::Failure(r)) => *r,
        other => panic!("{other:?}"),
    }
}

fn corpus_file(name: &str) -> Option<FailureReport> {
    let root = corpus()?;
    Some(failure(
        &std::fs::read(root.join("parsedmarc/failure").join(name)).unwrap(),
    ))
}

#[test]
fn every_corpus_failure_report_matches_expected_values() {
    let Some(root) = corpus() else { return };
    let tsv = std::fs::read_to_string(root.join("expected-failure.tsv")).unwrap();
    let mut n = 0;
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let bytes = std::fs::read(root.join("parsedmarc/failure").join(f[0])).unwrap();
        let r = failure(&bytes);
        assert_eq!(r.feedback_type.as_str(), f[1], "{line}");
        assert_eq!(r.source_ip.as_deref(), Some(f[2]), "{line}");
        assert_eq!(r.reported_domain(), f[3], "{line}");
        n += 1;
    }
    let files = std::fs::read_dir(root.join("parsedmarc/failure"))
        .unwrap()
        .count();
    assert_eq!(n, files);
}

#[test]
fn linkedin_every_field_and_the_reported_headers() {
    let Some(r) = corpus_file("dmarc_ruf_report_linkedin.eml") else {
        return;
    };
    assert_eq!(r.origin, Origin::Arf);
    assert_eq!(r.user_agent.as_deref(), Some("Lua/1.0"));
    assert_eq!(r.version.as_deref(), Some("1.0"));
    // `Original-Mail-From:` is empty: absent, not "".
    assert_eq!(r.original_mail_from, None);
    assert_eq!(
        r.original_rcpt_to,
        vec!["recipient@linkedin.com".to_string()]
    );
    assert_eq!(r.arrival_date, Some(1_556_590_140));
    assert_eq!(r.auth_failure, Some(AuthFailure::Dmarc));
    assert_eq!(r.delivery_result, Some(DeliveryResult::Delivered));
    assert_eq!(
        r.authentication_results,
        vec!["dmarc=fail (p=none; dis=none) header.from=example.com".to_string()]
    );
    assert_eq!(
        r.reported.from_text().as_deref(),
        Some("Sender <sender@example.com>")
    );
    assert_eq!(
        r.reported.to_text().as_deref(),
        Some("LinkedIn <recipient@linkedin.com>")
    );
    assert_eq!(
        r.reported.subject.as_deref(),
        Some("Subject line, could be UTF8 encoded")
    );
    assert_eq!(
        r.reported.date.as_deref(),
        Some("Tue, 30 Apr 2019 02:09:09 +0000")
    );
    assert_eq!(
        r.reported.message_id.as_deref(),
        Some("01010101010101010101010101010101@ABAB01MS0016.someserver.loc")
    );
    assert!(r
        .fields
        .iter()
        .any(|(n, v)| n == "Message-ID" && v.starts_with("<0101")));
}

#[test]
fn crlf_twin_reads_the_same() {
    let (Some(lf), Some(crlf)) = (
        corpus_file("dmarc_ruf_report_linkedin.eml"),
        corpus_file("dmarc_ruf_report_linkedin.crlf.eml"),
    ) else {
        return;
    };
    assert_eq!(lf, crlf);
}

#[test]
fn netease_base64_feedback_part_under_multipart_mixed() {
    let Some(r) = corpus_file("[Netease DMARC Failure Report] Rent Reminder.eml") else {
        return;
    };
    assert_eq!(r.user_agent.as_deref(), Some("NtesDmarcReporter/1.0"));
    assert_eq!(
        r.original_mail_from.as_deref(),
        Some("<bounces+1137616-c1ad-xsj399=163.com@email.entrata.com>")
    );
    assert_eq!(
        r.original_envelope_id.as_deref(),
        Some("N8CowEApcUPo6q1bnXlMAA--.44392S3")
    );
    assert_eq!(r.dkim_domain.as_deref(), Some("entrata.com"));
    assert_eq!(r.identity_alignment.as_deref(), Some("spf,dkim"));
    assert_eq!(r.auth_failure, None);
    assert_eq!(r.reported.subject.as_deref(), Some("Rent Reminder"));
    assert_eq!(
        r.reported.from_text().as_deref(),
        Some("700 on Washington <info@cardinal.com>")
    );
}

#[test]
fn domain_de_reporter_words_kept() {
    let Some(r) = corpus_file(
        "DMARC Failure Report for domain.de (mail-from=sharepoint@domain.de, ip=10.10.10.10).eml",
    ) else {
        return;
    };
    assert_eq!(
        r.delivery_result.as_ref().map(DeliveryResult::as_str),
        Some("smg-policy-action")
    );
    assert_eq!(r.original_rcpt_to, vec!["peter.pan@domain.de".to_string()]);
    assert_eq!(r.reported.subject.as_deref(), Some("Subject"));
    assert_eq!(
        r.reported.from_text().as_deref(),
        Some("Interaktive Wettbewerber-Übersicht <sharepoint@domain.de>")
    );
}

#[test]
fn exim_text_only_report_is_read_from_its_text() {
    let Some(r) = corpus_file("exim_plain_text_only_no_arf_part.eml") else {
        return;
    };
    assert_eq!(r.origin, Origin::Text);
    assert_eq!(r.auth_failure, Some(AuthFailure::Dmarc));
    assert_eq!(r.arrival_date, Some(1_744_060_569));
    assert_eq!(
        r.reported.subject.as_deref(),
        Some("Payment from your account.")
    );
    assert_eq!(r.reported.from_text().as_deref(), Some("user@example.com"));
    assert_eq!(
        r.reported.message_id.as_deref(),
        Some("134117F8-2145-AECE-9CCA-25FC98731341@example.com")
    );
    assert!(r
        .fields
        .iter()
        .any(|(n, v)| n == "SPF Alignment" && v == "no"));
}

#[test]
fn sample_with_dkim_fields_and_rfc822_headers_part() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/failure-example.org-dkim.eml");
    let r = failure(&std::fs::read(path).unwrap());
    assert_eq!(r.source_ip.as_deref(), Some("192.0.2.77"));
    assert_eq!(r.original_rcpt_to.len(), 2);
    assert_eq!(r.auth_failure, Some(AuthFailure::Signature));
    assert_eq!(r.delivery_result, Some(DeliveryResult::Reject));
    assert_eq!(r.dkim_selector.as_deref(), Some("sel2026"));
    assert_eq!(r.dkim_identity.as_deref(), Some("@example.org"));
    assert!(r.spf_dns.as_deref().unwrap().contains("v=spf1"));
    assert_eq!(
        r.reporting_mta.as_deref(),
        Some("dns; mx1.receiver.example.net")
    );
    assert!(
        r.authentication_results[0].contains("dkim=fail")
            && r.authentication_results[0].contains("dmarc=fail")
    );
    assert_eq!(
        r.reported.subject.as_deref(),
        Some("Your invoice – November")
    );
    assert_eq!(
        r.reported.to_text().as_deref(),
        Some("Alice <alice@receiver.example.net>, bob@receiver.example.net")
    );
    assert_eq!(
        r.reported.message_id.as_deref(),
        Some("invoice-2026-11@mailer.example.com")
    );
}

fn arf(fields: &str) -> Vec<u8> {
    format!(
        "From: r@example.net\nDate: Sun, 01 Nov 2026 10:00:00 +0000\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\n\n\
         --b\nContent-Type: message/feedback-report\n\n{fields}\n--b--\n"
    )
    .into_bytes()
}

#[test]
fn other_feedback_types_are_not_failure_reports() {
    let out = parse_arf(&arf("Feedback-Type: abuse\nSource-IP: 192.0.2.1\n")).unwrap();
    assert_eq!(out, Arf::OtherFeedback(FeedbackType::Abuse));
}

#[test]
fn part_without_source_ip_is_kept_without_one() {
    let r = failure(&arf(
        "Feedback-Type: auth-failure\nReported-Domain: example.org\n",
    ));
    assert_eq!(r.source_ip, None);
    assert_eq!(r.reported_domain(), "example.org");
    // No Arrival-Date: the report mail's Date.
    assert_eq!(r.arrival_date, Some(1_793_527_200));
}

#[test]
fn missing_feedback_type_with_auth_fields_is_auth_failure() {
    let r = failure(&arf("Source-IP: [2001:db8::1]\nAuth-Failure: spf\n"));
    assert_eq!(r.source_ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(r.auth_failure, Some(AuthFailure::Spf));
}

#[test]
fn bad_source_ip_and_non_reports_are_one_line_errors() {
    let e = parse_arf(&arf("Feedback-Type: auth-failure\nSource-IP: 10.0.0.999\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid DMARC failure report: Source-IP is not an IP address (\"10.0.0.999\")"
    );
    let plain = b"From: a@example.net\nSubject: DMARC\n\nhello there\n";
    assert_eq!(
        parse_arf(plain).unwrap_err().to_string(),
        "not a DMARC failure report: mail without a feedback-report part or a sender IP or domain in its text"
    );
}

#[test]
fn invalid_utf8_in_fields_does_not_panic() {
    let mut bytes = arf(
        "Feedback-Type: auth-failure\nSource-IP: 192.0.2.1\nReported-Domain: ex\u{0}ample.org\n",
    );
    let at = bytes.windows(4).position(|w| w == b"ex\0a").unwrap();
    bytes[at + 2] = 0xff;
    let r = failure(&bytes);
    assert_eq!(r.source_ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(r.reported_domain(), "exÿample.org");
}
