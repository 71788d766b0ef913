//! Cases: gzip and zip containers — cut, corrupt, encrypted, nested,
//! over their limits — and decompression bombs.

use std::ffi::OsStr;
use std::fs;

use crate::archives::*;
use crate::harness::*;
use crate::inputs::*;

catalogue! {
    // --- Containers ---------------------------------------------------
    empty_file: |b| put(b, "bad-empty.xml", b"") => rejected("empty input");
    truncated_gzip: |b| {
        let whole = gz(report("bad").as_bytes());
        put(b, "bad-truncated.xml.gz", &whole[..whole.len() / 2])
    } => rejected("truncated gzip stream");
    gzip_with_wrong_checksum: |b| {
        let mut whole = gz(report("bad").as_bytes());
        let at = whole.len() - 8;
        whole[at] ^= 0xff;
        put(b, "bad-checksum.xml.gz", &whole)
    } => rejected("corrupt gzip stream");
    truncated_gzip_of_a_long_report: |b| {
        let whole = gz(&long_report());
        put(b, "bad-truncated-long.xml.gz", &whole[..whole.len() * 9 / 10])
    } => rejected("truncated gzip stream");
    long_report_gzip_with_wrong_checksum: |b| {
        let mut whole = gz(&long_report());
        let at = whole.len() - 8;
        whole[at] ^= 0xff;
        put(b, "bad-checksum-long.xml.gz", &whole)
    } => rejected("corrupt gzip stream");
    gzip_of_plain_text: |b| put(b, "bad-text.gz", &gz(b"hello, this is not a report\n"))
        => rejected("not a DMARC report: unrecognised gzip content");
    gzip_followed_by_crlf: |b| {
        // Mimecast appends CRLF after the gzip member: accepted.
        let mut bytes = gz(report("bad-crlf").as_bytes());
        bytes.extend_from_slice(b"\r\n");
        put(b, "bad-crlf.xml.gz", &bytes)
    } => Expect::Accepted { reports: 1 };
    corrupt_zip_without_end_record: |b| {
        let whole = zip_of(&[("r.xml", report("bad").as_bytes())]);
        put(b, "bad-corrupt.zip", &whole[..whole.len() - 30])
    } => rejected("corrupt zip archive");
    zip_member_with_wrong_checksum: |b| {
        let xml = report("bad");
        let zip = raw_zip(&[RawMember {
            name: "r.xml",
            method: 0,
            flags: 0,
            crc: crc_of(xml.as_bytes()) ^ 1,
            uncompressed: xml.len() as u32,
            data: xml.into_bytes(),
        }]);
        put(b, "bad-crc.zip", &zip)
    } => rejected("zip member");
    encrypted_zip: |b| {
        let xml = report("bad");
        let crc = crc_of(xml.as_bytes());
        let zip = raw_zip(&[RawMember {
            name: "r.xml",
            method: 0,
            flags: 1,
            crc,
            uncompressed: xml.len() as u32,
            data: zipcrypto(xml.as_bytes(), crc, b"secret"),
        }]);
        put(b, "bad-encrypted.zip", &zip)
    } => rejected("encrypted zip member (password required)");
    empty_zip: |b| put(b, "bad-empty.zip", b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")
        => rejected("zip archive has no report member");
    zip_without_report_member: |b| put(b, "bad-readme.zip", &zip_of(&[("README.txt", b"hello")]))
        => rejected("zip archive has no report member");
    zip_with_10001_members: |b| {
        let xml = report("bad");
        let names: Vec<String> = (0..10_001).map(|i| format!("r{i}.xml")).collect();
        let members: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), xml.as_bytes())).collect();
        put(b, "bad-many.zip", &zip_of(&members))
    } => rejected("zip has 10001 members, more than the limit 10000");
    zip_in_zip_in_zip: |b| {
        let inner = zip_of(&[("r.xml", report("bad-nested").as_bytes())]);
        let middle = zip_of(&[("inner.zip", &inner)]);
        put(b, "bad-nested.zip", &zip_of(&[("middle.zip", &middle)]))
    } => Expect::Accepted { reports: 1 };
    containers_nested_deeper_than_8: |b| {
        let mut blob = report("bad").into_bytes();
        for i in 0..10 {
            blob = if i % 2 == 0 { gz(&blob) } else { zip_of(&[("r.gz", &blob)]) };
        }
        put(b, "bad-deep.zip", &blob)
    } => rejected("nested containers deeper than 8");
    zip_bomb: |b| put(b, "bad-bomb.zip", &make_zip_bomb(b"", 0, false))
        => rejected("exceeds the limit");
    zip_bomb_with_lying_size: |b| put(b, "bad-bomb-lying.zip", &make_zip_bomb(b"", 0, true))
        => rejected("not a DMARC report: unrecognised content (first bytes 00 00");
    zip_bomb_of_xml_with_lying_size: |b| {
        let prefix = b"<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>";
        put(b, "bad-bomb-xml.zip", &make_zip_bomb(prefix, b' ', true))
    } => rejected("without markup");
    gzip_bomb: |b| {
        let (deflate, crc) = deflate_bomb(b"", &vec![0; MIB], GIB / MIB);
        put(b, "bad-bomb.gz", &gzip_around(&deflate, &crc))
    } => rejected("not a DMARC report: unrecognised gzip content (first bytes 00 00");
    gzip_bomb_of_xml: |b| {
        let prefix = b"<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>";
        let (deflate, crc) = deflate_bomb(prefix, &vec![b' '; MIB], GIB / MIB);
        put(b, "bad-bomb.xml.gz", &gzip_around(&deflate, &crc))
    } => rejected("without markup");
    gzip_bomb_of_auth_results: |b| {
        // Each `<dkim></dkim>` costs more memory than its 13 bytes of XML.
        let xml = report("bad");
        let head = &xml[..xml.find("<auth_results>").unwrap() + "<auth_results>".len()];
        let chunk = "<dkim></dkim>".repeat(MIB / 13);
        let (deflate, crc) = deflate_bomb(head.as_bytes(), chunk.as_bytes(), GIB / MIB);
        put(b, "bad-bomb-dkim.xml.gz", &gzip_around(&deflate, &crc))
    } => rejected("record 1 holds more than 16777216 bytes");
}

/// A bomb of markup (no long text run for the run guard to catch) is
/// stopped by the decompression cap alone. Run with a small `--max-size`:
/// at the default 512 MiB the debug build would parse for minutes.
#[test]
fn decompression_cap_stops_a_bomb_of_markup() {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    fs::create_dir(&batch).unwrap();
    let head = report("bad");
    let head = &head[..head.find("<record>").unwrap()];
    let chunk = "<x/>".repeat(MIB / 4);
    let (deflate, crc) = deflate_bomb(head.as_bytes(), chunk.as_bytes(), GIB / MIB);
    put(&batch, "bad-elements.xml.gz", &gzip_around(&deflate, &crc));
    let db = dir.path().join("x.db");
    let args = [OsStr::new("--max-size"), OsStr::new("8"), batch.as_os_str()];
    let r = run(dir.path(), &db, &args);
    assert!(r.max_rss_kib < MAX_RSS_KIB, "{} KiB", r.max_rss_kib);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("bad-elements.xml.gz: decompressed size exceeds the limit of 8388608 bytes"),
        "{}",
        r.stderr
    );
}
