//! Hostile inputs: too deep, empty or random input is an error, damaged
//! containers never panic, and bombs (gzip, zip,
//! nested, lying about their size) are refused by their head or when read
//! past the limit, never inflated whole.

use super::*;

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
