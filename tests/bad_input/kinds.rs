//! Cases: SMTP TLS reports (RFC 8460 JSON) and DMARC failure reports
//! (RFC 6591 ARF).

use crate::archives::*;
use crate::harness::*;
use crate::inputs::*;

catalogue! {
    // --- SMTP TLS reports (RFC 8460 JSON) ------------------------------
    tls_nested_100000_deep: |b| {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        put(b, "bad-tls-deep.json", tls_with("\"x\":0", &format!("\"x\":{deep}")).as_bytes())
    } => rejected("JSON nested deeper than 16 levels");
    tls_array_of_a_million_policies: |b| {
        let policies = vec!["{}"; 1_000_000].join(",");
        put(b, "bad-tls-wide.json", tls_with("\"x\":0", &format!("\"x\":[{policies}]")).as_bytes())
    } => rejected("an array has more than 100000 elements");
    tls_string_of_10_mb: |b| {
        let long = "A".repeat(10 * MIB);
        put(b, "bad-tls-string.json", tls_with("\"x\":0", &format!("\"x\":\"{long}\"")).as_bytes())
    } => rejected("longer than 65536 bytes");
    tls_gzip_bomb: |b| {
        // 1 GiB of `0,` in the policies array: refused once the parser has
        // read the 16 MiB it takes at most, never inflated further.
        let prefix = br#"{"organization-name":"o","report-id":"bomb","policies":["#;
        let (deflate, crc) = deflate_bomb(prefix, &b"0,".repeat(MIB / 2), GIB / MIB);
        put(b, "bad-tls-bomb.json.gz", &gzip_around(&deflate, &crc))
    } => rejected("document larger than 16777216 bytes");
    tls_negative_count: |b| put(b, "bad-tls-negative.json",
        tls_with("\"total-failure-session-count\":3", "\"total-failure-session-count\":-3").as_bytes())
        => rejected("policy 1: total-failure-session-count is negative (-3)");
    tls_non_numeric_count: |b| put(b, "bad-tls-nan.json",
        tls_with("\"failed-session-count\":3", "\"failed-session-count\":\"three\"").as_bytes())
        => rejected("failed-session-count is not a number (\"three\")");
    tls_truncated_gzip: |b| {
        let z = gz(tls_with("", "").as_bytes());
        put(b, "bad-tls-cut.json.gz", &z[..z.len() - 12])
    } => rejected("truncated gzip stream");
    tls_invalid_utf8: |b| {
        let mut json = tls_with("bad-tls", "bad-tls\u{1}").into_bytes();
        let at = json.iter().position(|&c| c == 1).unwrap();
        json[at] = 0xff;
        put(b, "bad-tls-utf8.json", &json)
    } => rejected("invalid UTF-8 at byte");
    tls_report_in_a_mail_as_tlsrpt_json: |b| {
        let parts = [("application/tlsrpt+json", "r.json".to_string(), tls_with("", "").into_bytes())];
        put(b, "bad-tls-mail.eml", &mail("; boundary=\"B\"", &parts, true))
    } => Expect::Accepted { reports: 1 };

    // --- Failure reports (RFC 6591 ARF) --------------------------------
    arf_without_source_ip: |b| put(b, "bad-arf-noip.eml", arf("Source-IP: 192.0.2.7\r\n", "").as_bytes())
        => Expect::Accepted { reports: 1 };
    arf_with_a_source_ip_that_is_not_one: |b| put(b, "bad-arf-ip.eml",
        arf("Source-IP: 192.0.2.7", "Source-IP: 192.0.2.777").as_bytes())
        => rejected("Source-IP is not an IP address (\"192.0.2.777\")");
    arf_of_another_feedback_type: |b| put(b, "bad-arf-abuse.eml",
        arf("Feedback-Type: auth-failure", "Feedback-Type: abuse").as_bytes())
        => Expect::Accepted { reports: 0 };
    arf_with_invalid_utf8: |b| {
        let mut m = arf("Reported-Domain: example.com", "Reported-Domain: ex\u{1}mple.com").into_bytes();
        let at = m.iter().position(|&c| c == 1).unwrap();
        m[at] = 0xe9;
        put(b, "bad-arf-utf8.eml", &m)
    } => Expect::Accepted { reports: 1 };
    arf_field_of_1_mb: |b| {
        let long = format!("Authentication-Results: {}", "a".repeat(MIB));
        put(b, "bad-arf-long.eml", arf("Auth-Failure: dmarc", &long).as_bytes())
    } => rejected("field \"Authentication-Results\" longer than 65536 bytes");
}
