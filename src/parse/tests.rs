//! Parser tests: one per quirk real reporters produce.

use super::*;
use crate::model::{AuthResult, Disposition};

const MINIMAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <report_id>123</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
  </report_metadata>
  <policy_published><domain>Example.com</domain><p>reject</p><pct>100</pct></policy_published>
  <record>
    <row><source_ip>192.0.2.1</source_ip><count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.com</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.com</domain><selector>s1</selector><result>pass</result></dkim>
      <dkim><domain>esp.example</domain><selector>s2</selector><result>fail</result></dkim>
      <spf><domain>example.com</domain><scope>mfrom</scope><result>softfail</result></spf>
    </auth_results>
  </record>
</feedback>"#;

fn parse_str(s: &str) -> Result<(ReportHeader, Vec<Record>)> {
    parse_all(s.as_bytes())
}

#[test]
fn minimal_report_keeps_every_auth_result() {
    let (h, recs) = parse_str(MINIMAL).unwrap();
    assert_eq!(h.metadata.org_name, "google.com");
    assert_eq!(h.metadata.report_id, "123");
    assert_eq!(h.metadata.date_begin, 1_700_000_000);
    assert_eq!(h.policy.domain, "example.com");
    assert_eq!(h.policy.pct, Some(100));
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.count, 3);
    assert!(r.dmarc_pass());
    assert_eq!(r.dkim.len(), 2);
    assert_eq!(r.dkim[1].domain, "esp.example");
    assert_eq!(r.dkim[1].result, AuthResult::Fail);
    assert_eq!(r.spf[0].result, AuthResult::SoftFail);
    assert_eq!(r.spf[0].scope.as_deref(), Some("mfrom"));
}

#[test]
fn rfc9990_default_namespace_and_new_fields() {
    let xml = r#"<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">
  <version>2.0</version>
  <report_metadata><org_name>Sample</org_name><email>a@b.example</email>
    <report_id>x1</report_id><date_range><begin>302832000</begin><end>302918399</end></date_range>
    <generator>Example Reporter v1</generator></report_metadata>
  <policy_published><domain>example.com</domain><p>reject</p><np>none</np><testing>n</testing>
    <discovery_method>treewalk</discovery_method></policy_published>
  <record><row><source_ip>2001:db8::1</source_ip><count>123</count>
    <policy_evaluated><disposition>pass</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>example.com</header_from></identifiers>
    <auth_results><dkim><domain>example.com</domain><selector>k</selector><result>pass</result></dkim></auth_results>
  </record></feedback>"#;
    let (h, recs) = parse_str(xml).unwrap();
    assert_eq!(
        h.namespace.as_deref(),
        Some("urn:ietf:params:xml:ns:dmarc-2.0")
    );
    assert_eq!(h.version.as_deref(), Some("2.0"));
    assert_eq!(h.metadata.generator.as_deref(), Some("Example Reporter v1"));
    assert_eq!(h.policy.np.as_deref(), Some("none"));
    assert_eq!(h.policy.testing.as_deref(), Some("n"));
    assert_eq!(h.policy.discovery_method.as_deref(), Some("treewalk"));
    assert_eq!(recs[0].policy_evaluated.disposition, Disposition::Pass);
}

#[test]
fn prefixed_namespace_dmarc_org_0_2() {
    let xml = MINIMAL
        .replace(
            "<feedback>",
            r#"<d:feedback xmlns:d="http://dmarc.org/dmarc-xml/0.2">"#,
        )
        .replace("</feedback>", "</d:feedback>")
        .replace("<record>", "<d:record>")
        .replace("</record>", "</d:record>");
    let (h, recs) = parse_str(&xml).unwrap();
    assert_eq!(
        h.namespace.as_deref(),
        Some("http://dmarc.org/dmarc-xml/0.2")
    );
    assert_eq!(recs.len(), 1);
}

#[test]
fn pre_rfc_draft_without_version() {
    let (h, _) = parse_str(MINIMAL).unwrap();
    assert_eq!(h.version, None);
}

#[test]
fn upper_case_words_are_normalised() {
    let xml = MINIMAL
        .replace(
            "<dkim>pass</dkim><spf>fail</spf>",
            "<dkim>Pass</dkim><spf> FAIL </spf>",
        )
        .replace(
            "<disposition>none</disposition>",
            "<disposition>None</disposition>",
        );
    let (_, recs) = parse_str(&xml).unwrap();
    let pe = &recs[0].policy_evaluated;
    assert_eq!(pe.dkim, AuthResult::Pass);
    assert_eq!(pe.spf, AuthResult::Fail);
    assert_eq!(pe.disposition, Disposition::None);
    assert!(recs[0].dmarc_pass());
}

#[test]
fn hardfail_kept_as_reported_but_classed_as_fail() {
    let xml = MINIMAL.replace("<result>softfail</result>", "<result>hardfail</result>");
    let (_, recs) = parse_str(&xml).unwrap();
    assert_eq!(recs[0].spf[0].result.as_str(), "hardfail");
    assert!(recs[0].spf[0].result.is_fail());
}

#[test]
fn whitespace_is_trimmed_and_fractional_epochs_truncated() {
    let xml = MINIMAL
        .replace(
            "<org_name>google.com</org_name>",
            "<org_name>\n  google.com  </org_name>",
        )
        .replace(
            "<begin>1700000000</begin>",
            "<begin> 1700000000.25 </begin>",
        );
    let (h, _) = parse_str(&xml).unwrap();
    assert_eq!(h.metadata.org_name, "google.com");
    assert_eq!(h.metadata.date_begin, 1_700_000_000);
}

#[test]
fn empty_org_name_falls_back_to_email_domain() {
    let xml = MINIMAL.replace("<org_name>google.com</org_name>", "<org_name></org_name>");
    let (h, _) = parse_str(&xml).unwrap();
    assert_eq!(h.metadata.org_name, "google.com");
}

#[test]
fn unknown_elements_and_extensions_are_skipped() {
    let xml = MINIMAL.replace(
        "<record>",
        "<extension><x:foo xmlns:x=\"urn:x\"><bar>1</bar></x:foo></extension><record><whatever>1</whatever>",
    );
    let (_, recs) = parse_str(&xml).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].count, 3);
}

#[test]
fn every_override_reason_kept() {
    let xml = MINIMAL.replace(
        "<spf>fail</spf></policy_evaluated>",
        "<spf>fail</spf><reason><type>forwarded</type><comment>list</comment></reason>\
         <reason><type></type><comment></comment></reason></policy_evaluated>",
    );
    let (_, recs) = parse_str(&xml).unwrap();
    let reasons = &recs[0].policy_evaluated.reasons;
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0].kind, "forwarded");
    assert_eq!(reasons[0].comment.as_deref(), Some("list"));
    assert_eq!(reasons[1].kind, "");
}

#[test]
fn invalid_utf8_byte_decoded_as_windows_1252() {
    let mut bytes = MINIMAL.as_bytes().to_vec();
    let at = MINIMAL.find("<header_from>example.com").unwrap() + "<header_from>".len();
    bytes.insert(at, 0x91);
    let (_, recs) = parse_all(&bytes).unwrap();
    assert_eq!(recs[0].identifiers.header_from, "\u{2018}example.com");
}

#[test]
fn declared_iso_8859_1_is_honoured() {
    let xml = MINIMAL
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
        .replace("<org_name>google.com", "<org_name>M\u{fc}ller");
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(&xml);
    let (h, _) = parse_all(&latin1).unwrap();
    assert_eq!(h.metadata.org_name, "M\u{fc}ller");
}

#[test]
fn leading_bom_and_whitespace() {
    let mut bytes = b"\xEF\xBB\xBF\n  ".to_vec();
    bytes.extend_from_slice(MINIMAL.as_bytes());
    assert!(parse_all(&bytes).is_ok());
}

#[test]
fn unclosed_wrapper_before_feedback() {
    let xml = MINIMAL.replace(
        "<feedback>",
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://dmarc.org/dmarc-xml/0.1"><feedback>"#,
    );
    let (_, recs) = parse_str(&xml).unwrap();
    assert_eq!(recs.len(), 1);
}

/// Decision: broken markup inside one text field is recovered (as
/// parsedmarc does with lxml's recover mode); the broken field keeps the
/// text before the stray `<`.
#[test]
fn broken_markup_in_text_fields_is_recovered() {
    let xml = MINIMAL
        .replace(
            "<email>noreply-dmarc-support@google.com</email>",
            "<email><bad-xml@bad-xml.net></email>",
        )
        .replace(
            "<header_from>example.com</header_from>",
            "<header_from>bad<xml.net</header_from>",
        );
    let (h, recs) = parse_str(&xml).unwrap();
    assert_eq!(h.metadata.report_id, "123");
    assert_eq!(h.metadata.email, "");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].identifiers.header_from, "bad");
    assert_eq!(recs[0].dkim.len(), 2);
}

/// What the store needs to prefer a clean copy of a report over a damaged
/// one: whether the markup needed repair, found however it was read.
fn repair_of(xml: &str) -> Option<String> {
    let mut rdr = ReportReader::with_capacity(xml.as_bytes(), 64);
    rdr.header().unwrap();
    while rdr.next_record().unwrap().is_some() {}
    rdr.repair().map(str::to_string)
}

#[test]
fn repaired_markup_is_noted_and_clean_markup_is_not() {
    assert_eq!(repair_of(MINIMAL), None);
    // Leniency that is a reporter's habit, not damage.
    let ikea = MINIMAL.replace("<feedback>", "<xs:schema xmlns:xs=\"x\"><feedback>");
    assert_eq!(repair_of(&ikea), None);
    let extension = MINIMAL.replace(
        "</feedback>",
        "<extension><a><b>x</b></a><c/></extension></feedback>",
    );
    assert_eq!(repair_of(&extension), None);

    let header_from = MINIMAL.replace(
        "<header_from>example.com</header_from>",
        "<header_from>bad<xml.net</header_from>",
    );
    let note = repair_of(&header_from).unwrap();
    assert!(note.contains("record 1"), "{note}");
    let email = MINIMAL.replace(
        "<email>noreply-dmarc-support@google.com</email>",
        "<email><bad-xml@bad-xml.net></email>",
    );
    let note = repair_of(&email).unwrap();
    assert!(
        note.contains("unclosed") && note.contains("header"),
        "{note}"
    );
    let stray = MINIMAL.replace("</report_id>", "</report_id></policy_published>");
    assert!(repair_of(&stray)
        .unwrap()
        .contains("closes no open element"));
}

#[test]
fn a_small_read_buffer_reads_the_same_report() {
    let spec = crate::generate::ReportSpec::new(4, 300);
    let xml = crate::generate::report_xml(&spec);
    let (h, recs) = parse_all(xml.as_bytes()).unwrap();
    let mut rdr = ReportReader::with_capacity(xml.as_bytes(), 64);
    assert_eq!(rdr.header().unwrap(), h);
    let mut again = Vec::new();
    while let Some(r) = rdr.next_record().unwrap() {
        again.push(r);
    }
    assert_eq!(again, recs);
}

#[test]
fn verdict_words_read_alike_in_any_case() {
    let xml = MINIMAL
        .replace(
            "<disposition>none</disposition>",
            "<disposition>Reject</disposition>",
        )
        .replace("<dkim>pass</dkim>", "<dkim>PASS</dkim>")
        .replace("<result>fail</result>", "<result>HardFail</result>");
    let (_, recs) = parse_str(&xml).unwrap();
    let r = &recs[0];
    assert_eq!(r.policy_evaluated.disposition, Disposition::Reject);
    assert_eq!(r.policy_evaluated.dkim, AuthResult::Pass);
    assert_eq!(r.dkim[0].result, AuthResult::Pass);
    assert_eq!(r.dkim[1].result, AuthResult::Other("hardfail".into()));
    let (_, plain) = parse_str(MINIMAL).unwrap();
    assert_eq!(plain[0].policy_evaluated.disposition, Disposition::None);
    assert_eq!(plain[0].dkim[1].result, AuthResult::Fail);
}

#[test]
fn whitespace_between_cdata_sections_is_kept() {
    // Leading whitespace is skipped unread; whitespace inside a value is not.
    let xml = MINIMAL.replace(
        "<selector>s1</selector>",
        "<selector>\n  <![CDATA[a]]> <![CDATA[b]]>\n</selector>",
    );
    let (_, recs) = parse_str(&xml).unwrap();
    assert_eq!(recs[0].dkim[0].selector.as_deref(), Some("a b"));
}

mod chain;
mod chunks;
mod limits;
mod window;

/// The bytes of `doc`, then a read error (a damaged gzip trailer).
struct FailsAtEnd<'a>(&'a [u8]);

impl std::io::Read for FailsAtEnd<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "corrupt gzip stream: checksum mismatch",
            ));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn the_input_is_read_to_its_end_after_the_document() {
    let doc = format!("{MINIMAL}\n\n  \n");
    let mut r = ReportReader::new(FailsAtEnd(doc.as_bytes()));
    r.header().unwrap();
    assert!(r.next_record().unwrap().is_some());
    let err = r.next_record().unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    // Whitespace (or anything) after the document is read, not parsed.
    let (_, records) = parse_str(&format!("{MINIMAL}\n\n  trailing words <x>\n")).unwrap();
    assert_eq!(records.len(), 1);
}
