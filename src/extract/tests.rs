//! Unit tests for extraction: the public [`super::extract`] over built
//! containers (plain, gzip, zip) and the helpers every test file here uses;
//! mail in `tests/mail.rs`, hostile inputs (bombs, damage, junk) in
//! `tests/hostile.rs`, the sample corpus in `tests/corpus.rs`.

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

mod begun;
mod corpus;
mod framing;
mod hostile;
mod mail;
