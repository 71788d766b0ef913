//! The documents the cases start from: a valid aggregate report, SMTP TLS
//! report and failure report mail with one thing changed, mail around
//! attachments, and writing a case's input into the batch.

use std::fs;
use std::path::Path;

/// A valid report; `{ID}` is its report_id.
pub const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>catalogue.example</org_name>
    <email>dmarc@catalogue.example</email>
    <report_id>{ID}</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
  </report_metadata>
  <policy_published><domain>example.com</domain><p>reject</p></policy_published>
  <record>
    <row><source_ip>192.0.2.1</source_ip><count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.com</header_from></identifiers>
    <auth_results><dkim><domain>example.com</domain><result>pass</result></dkim></auth_results>
  </record>
</feedback>
"#;

pub fn report(id: &str) -> String {
    REPORT.replace("{ID}", id)
}

/// The report `bad` with 300 records: far more XML than extraction
/// inflates to tell a gzip's content (4 KiB), so damage near the end of
/// its gzip is found by the parser.
pub fn long_report() -> Vec<u8> {
    let xml = report("bad");
    let (start, end) = (
        xml.find("<record>").unwrap(),
        xml.find("</feedback>").unwrap(),
    );
    let records: String = (0..300)
        .map(|i| xml[start..end].replace("192.0.2.1", &format!("192.0.2.{}", i % 250)))
        .collect();
    format!("{}{records}{}", &xml[..start], &xml[end..]).into_bytes()
}

/// The report `bad` with `from` replaced by `to` (which must occur).
pub fn report_with(from: &str, to: &str) -> Vec<u8> {
    let xml = report("bad");
    assert!(xml.contains(from), "{from}");
    xml.replace(from, to).into_bytes()
}

/// A valid SMTP TLS report (report-id `bad-tls`) with `from` replaced by
/// `to` (`from` empty: unchanged).
pub fn tls_with(from: &str, to: &str) -> String {
    let json = r#"{"organization-name":"catalogue.example","report-id":"bad-tls","x":0,
      "date-range":{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},
      "policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},
        "summary":{"total-successful-session-count":10,"total-failure-session-count":3},
        "failure-details":[{"result-type":"certificate-expired","failed-session-count":3}]}]}"#;
    if from.is_empty() {
        return json.to_string();
    }
    assert!(json.contains(from), "{from}");
    json.replacen(from, to, 1)
}

/// A failure report mail (RFC 6591) with `from` replaced by `to` in it.
pub fn arf(from: &str, to: &str) -> String {
    let m = "From: ruf@receiver.example\r\nSubject: failure report\r\n\
        Content-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\r\n\r\n\
        --B\r\nContent-Type: text/plain\r\n\r\nA failure report.\r\n\
        --B\r\nContent-Type: message/feedback-report\r\n\r\n\
        Feedback-Type: auth-failure\r\nVersion: 1\r\nSource-IP: 192.0.2.7\r\n\
        Reported-Domain: example.com\r\nAuth-Failure: dmarc\r\n\
        Arrival-Date: Sun, 01 Nov 2026 10:00:00 +0000\r\n\
        --B\r\nContent-Type: text/rfc822-headers\r\n\r\n\
        From: someone@example.com\r\nSubject: hello\r\nMessage-ID: <m1@example.com>\r\n\
        --B--\r\n";
    assert!(m.contains(from), "{from}");
    m.replacen(from, to, 1)
}

/// Writes `bytes` as `batch/name` and returns `name`.
pub fn put(batch: &Path, name: &str, bytes: &[u8]) -> String {
    fs::write(batch.join(name), bytes).unwrap();
    name.to_string()
}

pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for (i, c) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A multipart/mixed mail with `parts` (content type, file name, bytes),
/// base64-encoded, after `boundary_param` in the Content-Type header.
pub fn mail(boundary_param: &str, parts: &[(&str, String, Vec<u8>)], close: bool) -> Vec<u8> {
    let mut m = format!(
        "From: dmarc@catalogue.example\r\nTo: rua@example.com\r\nSubject: Report\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed{boundary_param}\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nReports attached.\r\n"
    );
    for (ctype, file, bytes) in parts {
        m.push_str(&format!(
            "--B\r\nContent-Type: {ctype}; name=\"{file}\"\r\n\
             Content-Disposition: attachment; filename=\"{file}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(bytes)
        ));
    }
    if close {
        m.push_str("--B--\r\n");
    }
    m.into_bytes()
}

pub fn lolz_dtd(body: &str) -> String {
    let mut dtd = String::from("<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    format!("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n{dtd}]>\n{body}")
}
