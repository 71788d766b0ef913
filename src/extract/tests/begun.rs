//! A gzip input inflated once: its payload is read on from the decoder the
//! sniff started ([`Extracted::begun`], [`Payload::reader_from`]), with
//! the same bytes, the same cap and the same error words as a fresh read,
//! and never from another payload's decoder. A zip's first deflated
//! report member is read on from the decoder that inflated its head.

use super::*;

/// A report document of about `kib` KiB, told apart by `org`: longer than
/// the sniff's 1 KiB, so that the handed-on decoder has more to inflate.
fn doc(org: &str, kib: usize) -> Vec<u8> {
    let mut s =
        format!("<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>{org}</org_name>");
    while s.len() < kib * 1024 {
        s.push_str(
            "<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row></record>\n",
        );
    }
    s.push_str("</report_metadata></feedback>\n");
    s.into_bytes()
}

fn read_from(p: &Payload, begun: Option<Begun>, limits: &Limits) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    p.reader_from(begun, limits).read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn a_gzip_input_is_read_on_from_its_sniffs_decoder() {
    let xml = doc("a.example", 64);
    let input = Arc::new(gz(&xml));
    let l = Limits::default();
    let mut x = extract_input("in", &input, &l);
    let begun = x.begun.take();
    assert!(begun.is_some(), "the sniff's decoder is handed on");
    let p = single(&x);
    assert_eq!(read_from(p, begun, &l).unwrap(), xml);
    assert_eq!(read_all(p, &l).unwrap(), xml, "a fresh read agrees");
}

#[test]
fn another_payloads_decoder_is_not_used() {
    let (a, b) = (doc("a.example", 8), doc("b.example", 8));
    let l = Limits::default();
    let mut xa = extract_input("a", &Arc::new(gz(&a)), &l);
    let xb = extract_input("b", &Arc::new(gz(&b)), &l);
    let begun = xa.begun.take();
    assert!(begun.is_some());
    assert_eq!(read_from(single(&xb), begun, &l).unwrap(), b);
}

#[test]
fn the_cap_holds_on_a_decoder_handed_on() {
    let xml = doc("a.example", 16);
    let input = Arc::new(gz(&xml));
    let limits = Limits {
        max_decompressed: 4096,
        ..Limits::default()
    };
    let mut x = extract_input("in", &input, &limits);
    let begun = x.begun.take();
    assert!(begun.is_some());
    let err = read_from(single(&x), begun, &limits).unwrap_err();
    let fresh = read_all(single(&x), &limits).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(err.to_string(), fresh.to_string());
    assert!(err.to_string().contains("limit of 4096 bytes"), "{err}");
}

#[test]
fn a_zips_first_report_is_read_on_from_its_heads_decoder() {
    let (a, b) = (doc("a.example", 96), doc("b.example", 8));
    let l = Limits::default();
    let input = Arc::new(zip_of(&[("a.xml", &a), ("b.xml", &b)]));
    let mut x = extract_input("in.zip", &input, &l);
    let begun = x.begun.take();
    assert!(begun.is_some(), "the first member's decoder is handed on");
    assert!(x.errors.is_empty(), "{:?}", reasons(&x));
    assert_eq!(x.payloads.len(), 2);
    assert_eq!(read_from(&x.payloads[0], begun, &l).unwrap(), a);
    assert_eq!(
        read_all(&x.payloads[0], &l).unwrap(),
        a,
        "a fresh read agrees"
    );
    assert_eq!(read_all(&x.payloads[1], &l).unwrap(), b);
}

#[test]
fn a_small_zip_member_with_a_wrong_crc_is_found_whole_in_the_zips_words() {
    let mut zip = zip_of(&[("r.xml", XML)]);
    // The CRC-32 in the local header and in the central directory.
    let crc = crc32(XML).to_le_bytes();
    let mut n = 0;
    for at in 0..zip.len() - 4 {
        if zip[at..at + 4] == crc {
            zip[at] ^= 1;
            n += 1;
        }
    }
    assert_eq!(n, 2);
    let x = extract_input("in", &Arc::new(zip), &Limits::default());
    assert!(x.begun.is_none());
    assert_eq!(
        single_error(&x),
        "in::r.xml: corrupt zip member: Invalid checksum"
    );
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}
