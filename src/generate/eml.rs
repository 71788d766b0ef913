//! The mail form of a generated report: RFC 5322 with the report attached
//! in base64, as the big reporters send it.

use std::fmt::Write as _;
use std::io;

use chrono::DateTime;

use super::{write_gz, write_zip, ReportSpec, Reporter};

/// The report as a mail, the way its reporter sends it: a multipart/mixed
/// message with a short text part and the report attached in base64
/// (zip for Google, gzip for the others), CRLF line ends.
pub fn report_eml(spec: &ReportSpec) -> io::Result<Vec<u8>> {
    let stem = spec.file_stem();
    let (ctype, fname, bytes) = if spec.reporter == Reporter::Google {
        let mut c = io::Cursor::new(Vec::new());
        write_zip(spec, &mut c)?;
        ("application/zip", format!("{stem}.zip"), c.into_inner())
    } else {
        let mut v = Vec::new();
        write_gz(spec, &mut v)?;
        ("application/gzip", format!("{stem}.xml.gz"), v)
    };
    let sent = DateTime::from_timestamp(spec.date_end() + 3 * 3600, 0).unwrap_or_default();
    let boundary = format!("=_dmarcdb_{:016x}", spec.seed);
    let (org, id, dom) = (
        spec.reporter.org_name(),
        &spec.report_id,
        &spec.policy_domain,
    );
    let mut m = String::with_capacity(bytes.len() * 4 / 3 + 2048);
    let _ = write!(
        m,
        "From: {org} <{from}>\r\nTo: dmarc-reports@{dom}\r\n\
         Subject: Report Domain: {dom} Submitter: {org} Report-ID: <{id}>\r\n\
         Date: {date}\r\nMessage-ID: <{id}.{idx}@dmarcdb.invalid>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n\
         This is an aggregate report from {org}.\r\n\r\n\
         --{boundary}\r\nContent-Type: {ctype}; name=\"{fname}\"\r\n\
         Content-Disposition: attachment; filename=\"{fname}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
        from = spec.reporter.email(),
        date = sent.format("%a, %d %b %Y %H:%M:%S +0000"),
        idx = spec.index,
    );
    base64_lines(&bytes, &mut m);
    let _ = write!(m, "\r\n--{boundary}--\r\n");
    Ok(m.into_bytes())
}

/// Base64 (RFC 2045 §6.8) in lines of 76 characters.
pub(super) fn base64_lines(data: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |n: u32, shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
    for line in data.chunks(57) {
        for c in line.chunks(3) {
            let b = |i: usize| u32::from(c.get(i).copied().unwrap_or(0));
            let n = (b(0) << 16) | (b(1) << 8) | b(2);
            out.push(sym(n, 18));
            out.push(sym(n, 12));
            out.push(if c.len() > 1 { sym(n, 6) } else { '=' });
            out.push(if c.len() > 2 { sym(n, 0) } else { '=' });
        }
        out.push_str("\r\n");
    }
}
