//! Unit tests for extraction: the public [`super::extract`] over built
//! containers, hostile inputs (bombs, damage), and the sample corpus.

use super::sniff::{contains, ZIP_EMPTY};
use super::*;
use ::zip::write::SimpleFileOptions;
use ::zip::{CompressionMethod, ZipWriter};
use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::Compression;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};

const XML: &[u8] = b"<?xml version=\"1.0\"?>\n<feedback><report_metadata>\
    <org_name>example.net</org_name><report_id>1</report_id></report_metadata></feedback>\n";
const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// MIME base64 (RFC 2045 §6.8), 76 characters a line.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A mail from `text` written with LF, sent with CRLF as on the wire.
fn mail(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

fn run(bytes: &[u8]) -> Extracted {
    extract("in", bytes, &Limits::default())
}

fn reasons(x: &Extracted) -> Vec<String> {
    x.errors.iter().map(|e| e.to_string()).collect()
}

fn read_all(p: &Payload, limits: &Limits) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    p.reader(limits).read_to_end(&mut out)?;
    Ok(out)
}

/// The one payload of `x`, which must have no errors.
fn single(x: &Extracted) -> &Payload {
    assert!(x.errors.is_empty(), "errors: {:?}", reasons(x));
    assert_eq!(x.payloads.len(), 1, "payloads: {:?}", x.payloads);
    &x.payloads[0]
}

fn single_error(x: &Extracted) -> String {
    assert!(x.payloads.is_empty(), "payloads: {:?}", x.payloads);
    assert_eq!(x.errors.len(), 1, "errors: {:?}", reasons(x));
    x.errors[0].to_string()
}

#[test]
fn plain_xml_is_taken_as_is() {
    let x = run(XML);
    let p = single(&x);
    assert!(!p.gzip && !x.is_mail);
    assert_eq!((p.name.as_str(), p.data.as_slice()), ("in", XML));
    assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
}

#[test]
fn xml_behind_utf16_bom_is_recognised() {
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend("\n<feedback/>".encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(*single(&run(&utf16)).data, utf16);
}

#[test]
fn gzip_xml_stays_compressed() {
    let data = gz(XML);
    let x = run(&data);
    let p = single(&x);
    assert!(p.gzip);
    assert_eq!(*p.data, data);
    assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
}

#[test]
fn gzip_inside_gzip_is_unwrapped_once() {
    let inner = gz(XML);
    let p = single(&run(&gz(&inner))).clone();
    assert!(p.gzip);
    assert_eq!(*p.data, inner);
    assert_eq!(read_all(&p, &Limits::default()).unwrap(), XML);
}

#[test]
fn multi_member_gzip_reads_every_member() {
    let (a, b) = XML.split_at(40);
    let data = [gz(a), gz(b)].concat();
    assert_eq!(
        read_all(single(&run(&data)), &Limits::default()).unwrap(),
        XML
    );
}

#[test]
fn mimecast_gzip_followed_by_crlf_is_accepted() {
    let data = [gz(XML), b"\r\n".to_vec()].concat();
    assert_eq!(
        read_all(single(&run(&data)), &Limits::default()).unwrap(),
        XML
    );
}

#[test]
fn truncated_gzip_is_an_error() {
    let data = gz(XML);
    for cut in [data.len() - 4, data.len() / 2, 12] {
        let reason = single_error(&run(&data[..cut]));
        assert!(reason.contains("truncated gzip stream"), "{cut}: {reason}");
    }
}

#[test]
fn corrupt_gzip_is_an_error() {
    let mut data = gz(XML);
    let n = data.len();
    data[n - 6] ^= 0xff; // the CRC-32 in the trailer
    assert!(single_error(&run(&data)).contains("corrupt gzip stream"));
}

#[test]
fn zip_skips_macos_forks_and_directories() {
    let data = zip_of(&[
        ("reports/", b""),
        ("reports/a.xml", XML),
        ("__MACOSX/._a.xml", b"\x00\x05\x16\x07 AppleDouble"),
        ("reports/._b.xml", b"\x00\x05\x16\x07 AppleDouble"),
        ("b.xml", XML),
    ]);
    let x = run(&data);
    assert!(x.errors.is_empty(), "{:?}", reasons(&x));
    let names: Vec<&str> = x.payloads.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["in::reports/a.xml", "in::b.xml"]);
    // Deflated report members stay compressed (re-wrapped as gzip).
    assert!(x
        .payloads
        .iter()
        .all(|p| p.gzip && read_all(p, &Limits::default()).unwrap() == XML));
}

#[test]
fn zip_member_with_empty_name_is_sniffed() {
    let p = single(&run(&zip_of(&[("", XML)]))).clone();
    assert_eq!(p.name, "in::<member #1>");
    assert_eq!(read_all(&p, &Limits::default()).unwrap(), XML);
}

#[test]
fn zip_containing_gzip_is_unpacked() {
    let x = run(&zip_of(&[("r.xml.gz", &gz(XML)), ("README.txt", b"hello")]));
    let p = single(&x);
    assert_eq!(p.name, "in::r.xml.gz");
    assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
}

#[test]
fn encrypted_zip_member_is_an_error() {
    let mut data = zip_of(&[("r.xml", XML)]);
    // Set "encrypted" (general purpose bit 0) in the local and central headers.
    data[6] |= 1;
    let central = data.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    data[central + 8] |= 1;
    let reason = single_error(&run(&data));
    assert!(
        reason.starts_with("in::r.xml: encrypted zip member"),
        "{reason}"
    );
}

#[test]
fn corrupt_zip_is_an_error() {
    let data = zip_of(&[("r.xml", XML)]);
    let reason = single_error(&run(&data[..data.len() - 10]));
    assert!(reason.contains("corrupt zip archive"), "{reason}");

    let mut flipped = data.clone();
    flipped[45] ^= 0x55; // inside r.xml's deflate data
    let reason = single_error(&run(&flipped));
    assert!(
        reason.starts_with("in::r.xml: corrupt zip member"),
        "{reason}"
    );
}

#[test]
fn empty_zip_is_an_error() {
    let data = zip_of(&[]);
    assert!(data.starts_with(ZIP_EMPTY));
    assert_eq!(
        single_error(&run(&data)),
        "in: zip archive has no report member"
    );
    let only_text = zip_of(&[("README.txt", b"no report here")]);
    assert_eq!(
        single_error(&run(&only_text)),
        "in: zip archive has no report member"
    );
}

#[test]
fn zip_with_too_many_members_is_refused_once() {
    let names: Vec<String> = (0..5).map(|i| format!("r{i}.xml")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), XML)).collect();
    let limits = Limits {
        max_members: 4,
        ..Limits::default()
    };
    let x = extract("in", &zip_of(&entries), &limits);
    assert_eq!(
        single_error(&x),
        "in: zip has 5 members, more than the limit 4"
    );
}

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

#[test]
fn nesting_beyond_max_depth_is_an_error() {
    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    let twice = gz(&gz(XML));
    assert!(single(&extract("in", &twice, &limits)).gzip);
    let x = extract("in", &gz(&twice), &limits);
    assert_eq!(single_error(&x), "in: nested containers deeper than 2");
}

#[test]
fn empty_input_is_an_error() {
    assert_eq!(single_error(&run(b"")), "in: empty input");
}

#[test]
fn random_bytes_are_an_error() {
    let bytes: Vec<u8> = lcg(7).take(4096).collect();
    let reason = single_error(&run(&bytes));
    assert!(
        reason.starts_with("in: not a DMARC report: unrecognised input (first bytes "),
        "{reason}"
    );
    assert!(!reason.contains('\n'));
}

fn lcg(seed: u64) -> impl Iterator<Item = u8> {
    let mut state = seed;
    std::iter::repeat_with(move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u8
    })
}

/// Cut and bit-flipped versions of every kind of container: errors are
/// fine, panics are not.
#[test]
fn damaged_containers_never_panic() {
    let zip = zip_of(&[("a/", b""), ("r.xml", XML), ("r.gz", &gz(XML))]);
    let eml = mail(&format!(
        "From x\nFrom: a@b\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
         Content-Type: application/zip\nContent-Transfer-Encoding: base64\n\n{}\n--b--\n",
        base64(&zip)
    ));
    let samples = [
        gz(XML),
        [gz(XML), gz(XML), b"\r\n".to_vec()].concat(),
        zip,
        eml,
    ];
    let limits = Limits::default();
    let mut noise = lcg(1);
    for sample in &samples {
        for cut in 0..=sample.len() {
            let mut damaged = sample[..cut].to_vec();
            if let (Some(at), Some(bits)) = (noise.next(), noise.next()) {
                if let Some(b) = damaged.get_mut(usize::from(at) * cut / 256) {
                    *b ^= bits;
                }
            }
            for bytes in [&sample[..cut], &damaged[..]] {
                for p in extract("in", bytes, &limits).payloads {
                    let _ = read_all(&p, &limits);
                }
            }
        }
    }
}

#[test]
fn payload_reader_fails_past_the_limit() {
    let p = single(&run(&gz(XML))).clone();
    let limits = Limits {
        max_decompressed: XML.len() as u64,
        ..Limits::default()
    };
    assert_eq!(read_all(&p, &limits).unwrap(), XML);
    let limits = Limits {
        max_decompressed: XML.len() as u64 - 1,
        ..Limits::default()
    };
    let err = read_all(&p, &limits).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err
        .to_string()
        .contains(&format!("limit of {} bytes", XML.len() - 1)));
}

/// Raw deflate data that inflates to `prefix` then `chunk` `times` times,
/// made without compressing it all (a GiB through the compressor is slow
/// in a debug build): each sync-flushed block from a fresh encoder refers
/// back only within itself, so copies can be chained.
fn deflate_repeated(prefix: &[u8], chunk: &[u8], times: u64) -> Vec<u8> {
    let block = |data: &[u8]| {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).unwrap();
        e.flush().unwrap();
        e.get_ref().clone()
    };
    let mut out = if prefix.is_empty() {
        Vec::new()
    } else {
        block(prefix)
    };
    let repeated = block(chunk);
    for _ in 0..times {
        out.extend_from_slice(&repeated);
    }
    out.extend_from_slice(&[0x03, 0x00]); // empty final block
    out
}

/// A gzip member around raw deflate data; the trailer is not computed
/// (the bombs are never read to their end).
fn gzip_around(deflated: &[u8]) -> Vec<u8> {
    let header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    [&header[..], deflated, &[0; 8]].concat()
}

/// A one-member zip around raw deflate data, declaring `size`.
fn zip_around(name: &str, deflated: &[u8], size: u32) -> Vec<u8> {
    let (n, c) = (name.len() as u16, deflated.len() as u32);
    let common = |z: &mut Vec<u8>| {
        for v in [0u16, 8, 0, 0x21] {
            z.extend(v.to_le_bytes()); // flags, method, time, date
        }
        z.extend([0u32, c, size].iter().flat_map(|v| v.to_le_bytes())); // crc, sizes
        z.extend(n.to_le_bytes());
        z.extend(0u16.to_le_bytes()); // extra length
    };
    let mut z = b"PK\x03\x04\x14\x00".to_vec();
    common(&mut z);
    z.extend(name.as_bytes());
    z.extend(deflated);
    let central = z.len() as u32;
    z.extend(b"PK\x01\x02\x14\x00\x14\x00");
    common(&mut z);
    z.extend([0u8; 14]); // comment length, disk, attributes, local header offset 0
    z.extend(name.as_bytes());
    let size_cd = z.len() as u32 - central;
    z.extend(b"PK\x05\x06\0\0\0\0\x01\x00\x01\x00");
    z.extend(size_cd.to_le_bytes());
    z.extend(central.to_le_bytes());
    z.extend(0u16.to_le_bytes());
    z
}

#[test]
fn gzip_bomb_of_zeros_is_refused_by_its_head() {
    let bomb = gzip_around(&deflate_repeated(b"", &[0; 1 << 20], GIB >> 20));
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let reason = single_error(&run(&bomb));
    assert!(
        reason.contains("unrecognised gzip content (first bytes 00 00"),
        "{reason}"
    );
}

#[test]
fn gzip_bomb_of_xml_fails_when_read_past_the_limit() {
    let prefix = b"<?xml version=\"1.0\"?><feedback>";
    let bomb = gzip_around(&deflate_repeated(prefix, &[b' '; 1 << 20], GIB >> 20));
    let limits = Limits {
        max_decompressed: 16 * MIB,
        ..Limits::default()
    };
    let x = extract("in", &bomb, &limits);
    let err = read_all(single(&x), &limits).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("limit of 16777216 bytes"), "{err}");
}

#[test]
fn gzip_bomb_inside_gzip_is_refused_while_unpacking() {
    let inner = gzip_around(&deflate_repeated(b"", &[0; 1 << 20], GIB >> 20));
    let limits = Limits {
        max_decompressed: 256 * 1024,
        ..Limits::default()
    };
    let reason = single_error(&extract("in", &gz(&inner), &limits));
    assert_eq!(
        reason,
        "in: decompressed size exceeds the limit of 262144 bytes"
    );
}

#[test]
fn zip_bomb_declaring_its_size_is_refused_without_inflating() {
    let bomb = zip_around(
        "r.xml",
        &deflate_repeated(b"", &[0; 1 << 20], GIB >> 20),
        GIB as u32,
    );
    let reason = single_error(&run(&bomb));
    assert_eq!(
        reason,
        "in::r.xml: decompressed size exceeds the limit of 536870912 bytes"
    );
}

/// Found by the bad-input catalogue: a zip member that declares a small
/// size was inflated into memory up to the cap (512 MiB by default) before
/// anything looked at it. A report member is now re-wrapped as gzip without
/// inflating, and the cap stops it while it is read.
#[test]
fn zip_bomb_of_xml_lying_about_its_size_stays_compressed_until_read() {
    let bomb = zip_around("r.xml", &deflate_repeated(XML, &[b' '; 1 << 20], 64), 100);
    let limits = Limits {
        max_decompressed: 16 * MIB,
        ..Limits::default()
    };
    let x = extract("in", &bomb, &limits);
    let p = single(&x);
    assert!(p.gzip && p.data.len() < bomb.len() + 64, "{}", p.data.len());
    let err = read_all(p, &limits).unwrap_err();
    assert!(err.to_string().contains("limit of 16777216 bytes"), "{err}");
}

/// Found by the bad-input catalogue, as above: a member that is not a
/// report is judged by its first 64 KiB; the rest is never inflated.
#[test]
fn zip_bomb_of_zeros_lying_about_its_size_is_judged_by_its_head() {
    let bomb = zip_around(
        "r.xml",
        &deflate_repeated(b"", &[0; 1 << 20], GIB >> 20),
        1024,
    );
    let reason = single_error(&run(&bomb));
    assert!(
        reason
            .starts_with("in::r.xml: not a DMARC report: unrecognised content (first bytes 00 00"),
        "{reason}"
    );
}

#[test]
fn deflated_zip_report_is_rewrapped_as_gzip() {
    let x = run(&zip_of(&[("r.xml", XML)]));
    let p = single(&x);
    assert!(p.gzip);
    assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
}

#[test]
fn deflated_zip_report_with_wrong_crc_is_an_error() {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(XML).unwrap();
    // zip_around declares CRC 0. A small member is checked whole while its
    // head is read; a big one fails the same check when the parser reads it.
    let x = run(&zip_around("r.xml", &e.finish().unwrap(), XML.len() as u32));
    assert_eq!(
        single_error(&x),
        "in::r.xml: corrupt zip member: Invalid checksum"
    );
}

/// Members inflated into memory (containers, stored reports) share one
/// budget per input.
#[test]
fn zip_members_share_one_budget() {
    let big = vec![b' '; 3000];
    let member = [XML, &big[..]].concat();
    let limits = Limits {
        max_decompressed: 5000,
        ..Limits::default()
    };
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for name in ["a.xml", "b.xml"] {
        w.start_file(name, stored).unwrap();
        w.write_all(&member).unwrap();
    }
    let x = extract("in", &w.finish().unwrap().into_inner(), &limits);
    assert_eq!(x.payloads.len(), 1);
    assert_eq!(
        reasons(&x),
        ["in::b.xml: decompressed size of this input exceeds the limit of 5000 bytes"]
    );
}

fn corpus() -> Option<PathBuf> {
    crate::test_corpus::corpus_dir("parsedmarc")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn extract_file(path: &Path) -> Extracted {
    let name = path.file_name().unwrap().to_string_lossy();
    extract(&name, &std::fs::read(path).unwrap(), &Limits::default())
}

#[test]
fn corpus_aggregate_reports_yield_one_payload_each() {
    let Some(root) = corpus() else { return };
    let mut seen = 0;
    for sub in ["aggregate", "aggregate_invalid", "extract_report"] {
        for path in files_in(&root.join(sub)) {
            let x = extract_file(&path);
            assert!(x.errors.is_empty(), "{}: {:?}", path.display(), reasons(&x));
            assert_eq!(x.payloads.len(), 1, "{}", path.display());
            let xml = read_all(&x.payloads[0], &Limits::default()).unwrap();
            assert!(contains(&xml, b"feedback"), "{}", path.display());
            seen += 1;
        }
    }
    assert_eq!(seen, 24);
    assert_eq!(
        single_error(&extract_file(&root.join("empty.xml"))),
        "empty.xml: empty input"
    );
}

/// The inner payload hashes listed in the corpus README, computed there
/// by an independent Python unpacker.
#[test]
fn corpus_containers_unpack_to_the_documented_payloads() {
    use sha2::{Digest, Sha256};
    let Some(root) = corpus() else { return };
    let expected = [
        ("aggregate/mimecast-weird-gzip.eml", "72514b3544cf"),
        ("aggregate/twilight.eml", "ea6ae16a16b7"),
        (
            "aggregate/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml",
            "0d7c79c23645",
        ),
        (
            "aggregate/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz",
            "83cc27733031",
        ),
        (
            "aggregate/estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip",
            "fb1e6fc9f8d0",
        ),
        ("extract_report/nice-input.xml.gz", "7005e63ffe94"),
        ("extract_report/nice-input.xml.zip", "7005e63ffe94"),
    ];
    for (file, sha) in expected {
        let x = extract_file(&root.join(file));
        let xml = read_all(single(&x), &Limits::default()).unwrap();
        let hex: String = Sha256::digest(&xml)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&hex[..12], sha, "{file}");
    }
}

#[test]
fn report_mail_typed_multipart_report_with_dmarc_subject_keeps_its_attachment() {
    let eml = mail(&format!(
        "From: dmarc@example.net\nSubject: DMARC Aggregate Report for example.org\n\
         Content-Type: multipart/report; boundary=\"b\"\n\n\
         --b\nContent-Type: application/gzip; name=\"r.xml.gz\"\n\
         Content-Transfer-Encoding: base64\n\n{}\n--b--\n",
        base64(&gz(XML))
    ));
    let x = run(&eml);
    assert_eq!(single(&x).kind, PayloadKind::Aggregate);
}

#[test]
fn corpus_failure_reports_are_one_failure_payload_each() {
    let Some(root) = corpus() else { return };
    for path in files_in(&root.join("failure")) {
        let x = extract_file(&path);
        assert!(x.is_mail, "{}", path.display());
        let p = single(&x);
        assert_eq!(p.kind, PayloadKind::Failure, "{}", path.display());
        assert!(!p.gzip);
        assert!(
            p.data.starts_with(b"Received:")
                || p.data.starts_with(b"MIME")
                || p.data.starts_with(b"Auth")
                || p.data.starts_with(b"Return"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn corpus_smtp_tls_reports_are_tls_payloads() {
    let Some(root) = corpus() else { return };
    for path in files_in(&root.join("smtp_tls")) {
        let x = extract_file(&path);
        assert_eq!(single(&x).kind, PayloadKind::Tls, "{}", path.display());
    }
    let x = extract_file(&root.join("smtp_tls/google.com_smtp_tls_report.eml"));
    assert!(x.is_mail && single(&x).gzip);
}

/// A Google-style mail whose boundary lines are given by `boundary_param`
/// and whose closing boundary is there only when `close`.
fn gzip_report_mail(content_type: &str, close: bool) -> Vec<u8> {
    mail(&format!(
        "From: noreply-dmarc-support@google.com\n\
         MIME-Version: 1.0\n\
         Content-Type: {content_type}\n\
         \n\
         --b1\n\
         Content-Type: text/plain\n\
         \n\
         Report attached.\n\
         --b1\n\
         Content-Type: application/gzip; name=\"r.xml.gz\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         {}\n{}",
        base64(&gz(XML)),
        if close { "--b1--\n" } else { "" }
    ))
}

/// Found by the bad-input catalogue: without its closing boundary, the
/// last part came back from mail-parser as undecoded base64 text, and a
/// complete report was rejected as "unrecognised content (first bytes 48
/// 34 73 49 ...)", i.e. `H4sI`.
#[test]
fn last_part_without_closing_boundary_is_still_decoded() {
    let x = run(&gzip_report_mail("multipart/mixed; boundary=\"b1\"", false));
    assert!(x.errors.is_empty(), "{:?}", reasons(&x));
    assert_eq!(read_all(single(&x), &Limits::default()).unwrap(), XML);
}

/// Found by the bad-input catalogue: a multipart without a boundary
/// parameter, or with one that never appears, was one opaque body and the
/// mail silently counted as "no report". It is an error now (the mail is
/// quarantined), since a report may be inside.
#[test]
fn multipart_without_a_usable_boundary_is_an_error() {
    for ct in ["multipart/mixed", "multipart/mixed; boundary=\"other\""] {
        let reason = single_error(&run(&gzip_report_mail(ct, true)));
        assert_eq!(
            reason, "in::part 0: malformed MIME: multipart without a usable boundary",
            "{ct}"
        );
    }
}

/// Found by the `mail` fuzz target (minimized): a multipart whose boundary
/// line runs on (`...45y`) around nested `message/rfc822` parts sends
/// mail-parser 0.11 down a recovery path guarded by `debug_assert!`, which
/// panicked in debug builds (and killed the whole ingest run). Release
/// builds recover; Cargo.toml turns that assertion off in debug builds too.
#[test]
fn broken_nested_rfc822_recovers_without_panicking() {
    let mail =
        b"X-Fuzz: 1\r\nContent-Type: multipart;boundary=\"=_dmarcdb_b8b4c2977eabce45\"\n\r\n\
--=_dmarcdb_b8b4c2977eabce45y\nContent-Type: message/rfc822\n\r\n\
Content-Type: message/rfc822 \r\n\n\n--=_dmarcdb_b8b4c2977eabce45--\r";
    let x = run(mail);
    assert!(x.is_mail);
    assert!(x.payloads.is_empty(), "{:?}", x.payloads);
}

#[test]
fn a_payload_that_is_the_whole_input_shares_its_bytes() {
    let limits = Limits::default();
    for input in [XML.to_vec(), gz(XML)] {
        let input = std::sync::Arc::new(input);
        let x = extract_input("in", &input, &limits);
        assert!(std::sync::Arc::ptr_eq(&single(&x).data, &input));
    }
    // A payload inside a container is its own copy.
    let input = std::sync::Arc::new(zip_of(&[("r.xml", XML)]));
    let x = extract_input("in", &input, &limits);
    assert!(!std::sync::Arc::ptr_eq(&single(&x).data, &input));
    assert_eq!(read_all(single(&x), &limits).unwrap(), XML);
}
