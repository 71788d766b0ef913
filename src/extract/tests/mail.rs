//! Extraction from mail: attachments as real reporters send them (Google's
//! base64 zip, Mimecast's single-part gzip, nested messages), text parts
//! kept byte for byte, SMTP TLS reports and ARF told apart; and inputs that
//! are no report at all.

use super::*;

#[test]
fn google_mail_with_base64_zip_attachment() {
    let zip = zip_of(&[("google.com!example.com!1!2.xml", XML)]);
    let eml = mail(&format!(
        "From: noreply-dmarc-support@google.com\n\
         Subject: Report domain: example.com\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\
         \n\
         --b1\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         This is an aggregate report from google.com.\n\
         --b1\n\
         Content-Type: application/zip; name=\"r.zip\"\n\
         Content-Disposition: attachment; filename=\"r.zip\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n\
         --b1--\n",
        base64(&zip)
    ));
    let x = run(&eml);
    assert!(x.is_mail);
    let p = single(&x);
    assert_eq!(p.name, "in::r.zip::google.com!example.com!1!2.xml");
    assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
}

#[test]
fn mimecast_single_part_gzip_body() {
    let gzip = [gz(XML), b"\r\n".to_vec()].concat();
    let eml = mail(&format!(
        "From: dmarc@mimecast.example\n\
         Subject: report\n\
         MIME-Version: 1.0\n\
         Content-Type: application/gzip\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n",
        base64(&gzip)
    ));
    let x = run(&eml);
    let p = single(&x);
    assert!(x.is_mail && p.gzip);
    assert_eq!(p.name, "in::part 0");
    assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
}

#[test]
fn octet_stream_attachment_without_filename() {
    let eml = mail(&format!(
        "From: a@example.org\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\
         \n\
         --b\n\
         Content-Type: text/html\n\
         \n\
         <html><body>Your DMARC feedback report</body></html>\n\
         --b\n\
         Content-Type: application/octet-stream\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n\
         --b--\n",
        base64(&gz(XML))
    ));
    let x = run(&eml);
    assert_eq!(single(&x).name, "in::part 2");
}

#[test]
fn nested_rfc822_with_gzip_attachment() {
    let eml = mail(&format!(
        "From: forwarder@example.org\n\
         Subject: Fwd: report\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\n\
         \n\
         --outer\n\
         Content-Type: text/plain\n\
         \n\
         Forwarded report below.\n\
         --outer\n\
         Content-Type: message/rfc822\n\
         \n\
         From: reporter@example.net\n\
         Subject: Report domain: example.org\n\
         Content-Type: multipart/mixed; boundary=\"inner\"\n\
         \n\
         --inner\n\
         Content-Type: application/gzip\n\
         Content-Disposition: attachment; filename=\"r.xml.gz\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n\
         --inner--\n\
         \n\
         --outer--\n",
        base64(&gz(XML))
    ));
    let x = run(&eml);
    let p = single(&x);
    assert_eq!(p.name, "in::part 2::r.xml.gz");
    assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
}

#[test]
fn mail_with_only_prose_is_no_report_and_no_error() {
    let eml = mail(
        "From: someone@example.org\n\
         Subject: hello\n\
         Content-Type: multipart/alternative; boundary=\"b\"\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         Thanks for the <feedback> on our report.\n\
         --b\n\
         Content-Type: text/html\n\
         \n\
         <p>Thanks for the feedback</p>\n\
         --b--\n",
    );
    let x = run(&eml);
    assert!(x.is_mail);
    assert!(x.payloads.is_empty() && x.errors.is_empty(), "{x:?}");
}

#[test]
fn mbox_from_line_and_latin1_text_xml_keep_raw_bytes() {
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n\
        <feedback><report_metadata><org_name>Caf\xe9</org_name></report_metadata></feedback>\n";
    let eml = mail(&format!(
        "From dmarc@example.net Tue Apr 30 02:09:16 2019\n\
         From: dmarc@example.net\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\
         \n\
         --b\n\
         Content-Type: text/xml; charset=iso-8859-1\n\
         Content-Disposition: attachment; filename=\"r.xml\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n\
         --b--\n",
        base64(latin1)
    ));
    let x = run(&eml);
    assert!(x.is_mail);
    let p = single(&x);
    assert_eq!(p.name, "in::r.xml");
    assert_eq!(p.data.as_slice(), latin1);
}

#[test]
fn quoted_printable_latin1_text_xml_keeps_raw_bytes() {
    let eml = mail(
        "From: dmarc@example.net\n\
         Content-Type: text/xml; charset=iso-8859-1\n\
         Content-Transfer-Encoding: quoted-printable\n\
         \n\
         <?xml version=3D\"1.0\" encoding=3D\"ISO-8859-1\"?>\n\
         <feedback><report_metadata><org_name>Caf=E9</org_name></report_=\n\
         metadata></feedback>\n",
    );
    let p = single(&run(&eml)).clone();
    let expected = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\r\n\
        <feedback><report_metadata><org_name>Caf\xe9</org_name></report_metadata></feedback>";
    assert_eq!(p.data.trim_ascii(), expected);
}

#[test]
fn unencoded_text_xml_part_is_taken() {
    let text = std::str::from_utf8(XML).unwrap();
    let eml = mail(&format!(
        "From: dmarc@example.net\n\
         Content-Type: text/xml; charset=utf-8\n\
         \n\
         {text}"
    ));
    let p = single(&run(&eml)).clone();
    assert_eq!(p.data.trim_ascii(), mail(text).trim_ascii());
}

/// mail-parser keeps offsets relative to the outer message for a plain
/// `message/rfc822` part, and relative to the decoded bytes for a base64
/// one (NetEase base64-encodes `message/*` parts); both must give back
/// the undecoded charset.
#[test]
fn latin1_text_xml_inside_nested_messages_keeps_raw_bytes() {
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><feedback>\xe9</feedback>";
    let inner = mail(&format!(
        "From: reporter@example.net\n\
         Content-Type: multipart/mixed; boundary=\"inner\"\n\
         \n\
         --inner\n\
         Content-Type: text/xml; charset=iso-8859-1\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n\
         --inner--\n",
        base64(latin1)
    ));
    let inner = String::from_utf8(inner).unwrap();
    for (encoding, body) in [
        ("7bit", inner.clone()),
        ("base64", base64(inner.as_bytes())),
    ] {
        let eml = mail(&format!(
            "From: forwarder@example.org\n\
             Content-Type: multipart/mixed; boundary=\"outer\"\n\
             \n\
             --outer\n\
             Content-Type: message/rfc822\n\
             Content-Transfer-Encoding: {encoding}\n\
             \n\
             {body}\n\
             --outer--\n"
        ));
        let x = run(&eml);
        assert_eq!(single(&x).data.as_slice(), latin1, "{encoding}");
    }
}

#[test]
fn part_declared_as_gzip_with_broken_content_is_an_error() {
    let eml = mail(
        "From: a@example.org\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\
         \n\
         --b\n\
         Content-Type: application/gzip; name=\"r.xml.gz\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         !!!! this is not base64 ????\n\
         --b--\n",
    );
    let reason = single_error(&run(&eml));
    assert!(
        reason.starts_with("in::r.xml.gz: not a DMARC report"),
        "{reason}"
    );
    assert!(
        reason.ends_with("(declared as application/gzip)"),
        "{reason}"
    );
}

#[test]
fn tlsrpt_gzip_part_is_a_tls_payload_kept_compressed() {
    let json = br#"{"organization-name":"Google Inc.","policies":[]}"#;
    let eml = mail(&format!(
        "From: noreply-smtp-tls-reporting@google.com\n\
         Content-Type: multipart/report; boundary=\"b\"; report-type=tlsrpt\n\
         \n\
         --b\n\
         Content-Type: application/tlsrpt+gzip; name=\"r.json.gz\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n\
         --b--\n",
        base64(&gz(json))
    ));
    let x = run(&eml);
    let p = single(&x);
    assert_eq!(
        (p.name.as_str(), p.kind, p.gzip),
        ("in::r.json.gz", PayloadKind::Tls, true)
    );
    assert_eq!(read_all(p, &Limits::default()).unwrap(), json);
}

#[test]
fn tlsrpt_json_part_without_name_is_a_tls_payload() {
    let eml = mail(
        "From: tlsrpt@example.net\n\
         Content-Type: multipart/report; boundary=\"b\"; report-type=tlsrpt\n\
         \n\
         --b\n\
         Content-Type: text/plain\n\
         \n\
         {\"note\": \"prose that happens to be JSON is skipped\"}\n\
         --b\n\
         Content-Type: application/tlsrpt+json\n\
         \n\
         {\"organization-name\":\"X\",\"report-id\":\"1\"}\n\
         --b--\n",
    );
    let x = run(&eml);
    let p = single(&x);
    assert_eq!((p.kind, p.gzip), (PayloadKind::Tls, false));
}

#[test]
fn abuse_arf_and_dsn_are_told_apart() {
    let arf = |report_type: &str, part: &str| {
        mail(&format!(
            "From: a@example.net\nSubject: report\n\
             Content-Type: multipart/report; boundary=\"b\"; report-type={report_type}\n\n\
             --b\nContent-Type: text/plain\n\nhello\n\
             --b\nContent-Type: {part}\n\nFeedback-Type: abuse\n\
             --b--\n"
        ))
    };
    let x = run(&arf("feedback-report", "message/feedback-report"));
    assert_eq!(single(&x).kind, PayloadKind::Failure);
    let dsn = run(&arf("delivery-status", "message/delivery-status"));
    assert!(
        dsn.payloads.is_empty() && dsn.errors.is_empty(),
        "{:?}",
        dsn.payloads
    );
}
