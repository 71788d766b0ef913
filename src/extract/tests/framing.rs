//! The gzip framing around the deflate data (RFC 1952 §2.3): header fields
//! and flags, and the trailer's CRC-32 and size, each checked whether the
//! damage is met by the sniff (a short report) or only by the parser's
//! read (a long one), in the words flate2's `GzDecoder` used.

use super::*;

/// A report of `kib` KiB: the sniff inflates only its first KiB.
fn long_xml(kib: usize) -> Vec<u8> {
    let mut xml = XML.strip_suffix(b"</feedback>\n").unwrap().to_vec();
    while xml.len() < kib * 1024 {
        xml.extend_from_slice(b"<!-- padding -->\n");
    }
    xml.extend_from_slice(b"</feedback>\n");
    xml
}

/// The one error of extracting `data` and reading its payload through.
fn failure(data: &[u8]) -> String {
    let x = run(data);
    if !x.errors.is_empty() {
        return single_error(&x);
    }
    match read_all(single(&x), &Limits::default()) {
        Ok(_) => panic!("read without an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_wrong_size_in_the_trailer_is_an_error_early_or_late() {
    for xml in [XML.to_vec(), long_xml(64)] {
        let mut data = gz(&xml);
        let n = data.len();
        data[n - 4] ^= 0x01; // ISIZE; the CRC-32 stays right
        let e = failure(&data);
        assert!(
            e.contains(
                "corrupt gzip stream: corrupt gzip stream does not have a matching checksum"
            ),
            "{} bytes: {e}",
            xml.len()
        );
    }
}

#[test]
fn a_wrong_crc_of_a_long_report_is_found_by_the_read() {
    let mut data = gz(&long_xml(64));
    let n = data.len();
    data[n - 8] ^= 0x01;
    let x = run(&data);
    let e = read_all(single(&x), &Limits::default()).unwrap_err();
    assert!(
        e.to_string().contains("does not have a matching checksum"),
        "{e}"
    );
}

#[test]
fn reserved_flags_or_another_method_are_an_invalid_header() {
    for (at, bits) in [(3, 0x20), (3, 0x80), (2, 0x01)] {
        let mut data = gz(XML);
        data[at] ^= bits;
        let e = failure(&data);
        assert!(
            e.contains("corrupt gzip stream: invalid gzip header"),
            "byte {at} ^ {bits:#x}: {e}"
        );
    }
}

/// `gz(XML)` with the optional header fields (FEXTRA, FNAME, FCOMMENT and
/// FHCRC), the header CRC right or not.
fn with_header_fields(right_crc: bool) -> Vec<u8> {
    let plain = gz(XML);
    let mut head = plain[..10].to_vec();
    head[3] = 0x04 | 0x08 | 0x10 | 0x02;
    head.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
    head.extend_from_slice(b"report.xml\0a comment\0");
    let crc = crc32(&head) as u16 ^ u16::from(!right_crc);
    head.extend_from_slice(&crc.to_le_bytes());
    [head, plain[10..].to_vec()].concat()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

#[test]
fn optional_header_fields_are_read_and_the_header_crc_checked() {
    let x = run(&with_header_fields(true));
    assert_eq!(read_all(single(&x), &Limits::default()).unwrap(), XML);
    let e = failure(&with_header_fields(false));
    assert!(e.contains("does not have a matching checksum"), "{e}");
}

#[test]
fn a_second_member_cut_short_or_damaged_is_an_error() {
    let whole = gz(XML);
    for second in [&whole[..2], &whole[..12], &whole[..whole.len() - 1]] {
        let data = [whole.as_slice(), second].concat();
        let e = failure(&data);
        assert!(e.contains("truncated gzip stream"), "{}: {e}", second.len());
    }
    let mut bad = whole.clone();
    bad[12] ^= 0xff;
    let e = failure(&[whole.as_slice(), &bad].concat());
    assert!(e.contains("corrupt gzip stream"), "{e}");
}
