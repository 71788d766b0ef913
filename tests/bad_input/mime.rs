//! Cases: mail — many parts, attachments cut off, broken MIME.

use crate::archives::*;
use crate::harness::*;
use crate::inputs::*;

catalogue! {
    // --- Mail ---------------------------------------------------------
    mail_with_1000_attachments: |b| {
        let parts: Vec<(&str, String, Vec<u8>)> = (0..1000)
            .map(|i| ("application/gzip", format!("r{i}.xml.gz"), gz(report(&format!("bad-mail-{i}")).as_bytes())))
            .collect();
        put(b, "bad-1000.eml", &mail("; boundary=\"B\"", &parts, true))
    } => Expect::Accepted { reports: 1000 };
    mail_with_10001_parts: |b| {
        let parts: Vec<(&str, String, Vec<u8>)> = (0..10_001)
            .map(|i| ("application/octet-stream", format!("x{i}.bin"), vec![b'x']))
            .collect();
        put(b, "bad-10001.eml", &mail("; boundary=\"B\"", &parts, true))
    } => rejected("parts, more than the limit 10000");
    mime_part_cut_off_in_base64: |b| {
        let att = gz(report("bad").as_bytes());
        let m = mail("; boundary=\"B\"", &[("application/gzip", "r.xml.gz".into(), att)], true);
        let text = String::from_utf8(m).unwrap();
        let start = text.find("H4sI").unwrap();
        let cut = format!("{}{}", &text[..start + 40], "\r\n--B--\r\n");
        put(b, "bad-cut.eml", cut.as_bytes())
    } => rejected("truncated gzip stream");

    mime_without_closing_boundary: |b| {
        // Complete but for `--B--`: the attachment is decoded and stored.
        let att = gz(report("bad-open").as_bytes());
        put(b, "bad-open.eml", &mail("; boundary=\"B\"", &[("application/gzip", "r.xml.gz".into(), att)], false))
    } => Expect::Accepted { reports: 1 };
    mime_multipart_without_boundary_parameter: |b| {
        let att = gz(report("bad").as_bytes());
        put(b, "bad-noboundary.eml", &mail("", &[("application/gzip", "r.xml.gz".into(), att)], true))
    } => rejected("malformed MIME: multipart without a usable boundary");
    mime_boundary_that_never_appears: |b| {
        let att = gz(report("bad").as_bytes());
        put(b, "bad-wrongboundary.eml", &mail("; boundary=\"Z\"", &[("application/gzip", "r.xml.gz".into(), att)], true))
    } => rejected("malformed MIME: multipart without a usable boundary");
}
