//! Report XML and report mails built by the tests, so mail-source tests do
//! not depend on files they cannot vary.

use std::io::Write;

use base64::Engine;

/// One `<record>`: source IP, count, whether policy_evaluated passes.
pub struct Rec<'a> {
    pub ip: &'a str,
    pub count: i64,
    pub pass: bool,
}

/// A minimal but complete aggregate report.
pub fn report_xml(org: &str, report_id: &str, begin: i64, recs: &[Rec<'_>]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\"?>\n<feedback>\n<report_metadata><org_name>{org}</org_name>\
         <email>dmarc@{org}</email><report_id>{report_id}</report_id>\
         <date_range><begin>{begin}</begin><end>{end}</end></date_range></report_metadata>\n\
         <policy_published><domain>example.org</domain><adkim>r</adkim><aspf>r</aspf>\
         <p>reject</p></policy_published>\n",
        end = begin + 86_399
    );
    for r in recs {
        let v = if r.pass { "pass" } else { "fail" };
        s.push_str(&format!(
            "<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated>\
             <disposition>none</disposition><dkim>{v}</dkim><spf>{v}</spf></policy_evaluated></row>\
             <identifiers><header_from>example.org</header_from></identifiers>\
             <auth_results><dkim><domain>example.org</domain><selector>s</selector><result>{v}</result></dkim>\
             <spf><domain>example.org</domain><result>{v}</result></spf></auth_results></record>\n",
            ip = r.ip,
            n = r.count
        ));
    }
    s.push_str("</feedback>\n");
    s
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A report mail as Google sends it: multipart, gzip attachment, base64.
pub fn report_mail(org: &str, report_id: &str, xml: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(gzip(xml.as_bytes()));
    let mut body = String::new();
    for chunk in b64.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(chunk).unwrap());
        body.push_str("\r\n");
    }
    format!(
        "From: noreply-dmarc@{org}\r\nTo: dmarc@example.org\r\n\
         Subject: Report domain: example.org Submitter: {org} Report-ID: {report_id}\r\n\
         Message-ID: <{report_id}@{org}>\r\nDate: Mon, 03 Nov 2025 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate report.\r\n\
         --b1\r\nContent-Type: application/gzip; name=\"{report_id}.xml.gz\"\r\n\
         Content-Disposition: attachment; filename=\"{report_id}.xml.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{body}--b1--\r\n"
    )
    .into_bytes()
}

/// A mail with no report in it.
pub fn plain_mail(subject: &str) -> Vec<u8> {
    format!(
        "From: someone@example.net\r\nTo: dmarc@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.net>\r\n\r\nJust a note, no report.\r\n"
    )
    .into_bytes()
}

/// A report mail with one record whose report id is `id`, dated `begin`.
pub fn simple_report_mail(id: &str, begin: i64) -> Vec<u8> {
    let xml = report_xml(
        "reporter.example",
        id,
        begin,
        &[Rec {
            ip: "192.0.2.1",
            count: 1,
            pass: true,
        }],
    );
    report_mail("reporter.example", id, &xml)
}

/// An SMTP TLS report (RFC 8460) for `domain` over the day starting at
/// `begin`: `success` good sessions and one failure detail per
/// `(result type, failed sessions)`.
pub fn tls_json(
    org: &str,
    id: &str,
    begin: i64,
    domain: &str,
    success: i64,
    failures: &[(&str, i64)],
) -> String {
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let failed: i64 = failures.iter().map(|(_, n)| n).sum();
    let details: Vec<String> = failures
        .iter()
        .map(|(t, n)| {
            format!(
                r#"{{"result-type":"{t}","sending-mta-ip":"192.0.2.25","receiving-mx-hostname":"mx1.{domain}","receiving-ip":"198.51.100.25","failed-session-count":{n}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"organization-name":"{org}","date-range":{{"start-datetime":"{}","end-datetime":"{}"}},
"contact-info":"tlsrpt@{org}","report-id":"{id}","policies":[{{"policy":{{"policy-type":"sts",
"policy-string":["version: STSv1","mode: enforce","mx: mx1.{domain}","max_age: 86400"],
"policy-domain":"{domain}","mx-host":["mx1.{domain}"]}},"summary":{{"total-successful-session-count":{success},
"total-failure-session-count":{failed}}},"failure-details":[{}]}}]}}"#,
        day(begin),
        day(begin + 86_399),
        details.join(",")
    )
}

/// An SMTP TLS report mail as Google sends it: `multipart/report;
/// report-type=tlsrpt`, the JSON gzipped as `application/tlsrpt+gzip`.
pub fn tls_mail(org: &str, id: &str, json: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(gzip(json.as_bytes()));
    format!(
        "From: tlsrpt@{org}\r\nTo: tls@example.org\r\nSubject: Report Domain: example.org Submitter: {org} Report-ID: <{id}>\r\n\
         Message-ID: <{id}@{org}>\r\nDate: Mon, 03 Nov 2025 00:00:00 +0000\r\nTLS-Report-Domain: example.org\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt; boundary=\"t1\"\r\n\r\n\
         --t1\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate TLS report.\r\n\
         --t1\r\nContent-Type: application/tlsrpt+gzip; name=\"{id}.json.gz\"\r\n\
         Content-Disposition: attachment; filename=\"{id}.json.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--t1--\r\n"
    )
    .into_bytes()
}

/// A DMARC failure report (RFC 6591 ARF) naming `source_ip`, arrived at
/// `arrival` (epoch seconds); `id` makes it distinct.
pub fn arf_mail(id: &str, source_ip: &str, domain: &str, arrival: i64) -> Vec<u8> {
    let date = chrono::DateTime::from_timestamp(arrival, 0)
        .unwrap()
        .to_rfc2822();
    format!(
        "From: ruf@receiver.example\r\nTo: ruf@{domain}\r\nSubject: DMARC failure report for {domain}\r\n\
         Message-ID: <{id}@receiver.example>\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"f1\"\r\n\r\n\
         --f1\r\nContent-Type: text/plain\r\n\r\nA message from {source_ip} failed DMARC.\r\n\
         --f1\r\nContent-Type: message/feedback-report\r\n\r\n\
         Feedback-Type: auth-failure\r\nVersion: 1\r\nUser-Agent: test/1\r\n\
         Original-Mail-From: <alice.smith@{domain}>\r\nOriginal-Rcpt-To: <bob.jones@receiver.example>\r\n\
         Arrival-Date: {date}\r\nSource-IP: {source_ip}\r\nReported-Domain: {domain}\r\n\
         Auth-Failure: dmarc\r\nDelivery-Result: reject\r\n\
         Authentication-Results: receiver.example; dmarc=fail header.from={domain}\r\n\r\n\
         --f1\r\nContent-Type: message/rfc822\r\n\r\n\
         From: Alice Smith <alice.smith@{domain}>\r\nTo: bob.jones@receiver.example\r\n\
         Subject: Invoice {id}\r\nDate: {date}\r\nMessage-ID: <orig-{id}@{domain}>\r\n\r\n\
         Please pay.\r\n--f1--\r\n"
    )
    .into_bytes()
}
