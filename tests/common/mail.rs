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
