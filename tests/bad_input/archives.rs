//! Containers built for the cases: gzip and zip files, DEFLATE bombs that
//! cost the test ~1 MB however far they expand, and zips written by hand
//! for what the zip crate will not write (lying sizes, encryption).

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::{Compress, Compression, Crc, FlushCompress};

use crate::harness::{GIB, MIB};

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A zip of `(name, bytes)` members, deflated, written by the zip crate.
pub fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A raw DEFLATE stream of `prefix` then `repeat` copies of `chunk`, and
/// the CRC-32 and length of what it inflates to. The chunk is compressed
/// once and its blocks repeated: each copy starts with a literal, so its
/// back-references stay inside itself, and a sync flush ends it on a byte
/// boundary.
pub fn deflate_bomb(prefix: &[u8], chunk: &[u8], repeat: usize) -> (Vec<u8>, Crc) {
    let flushed = |data: &[u8]| {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() / 100 + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        assert_eq!(c.total_in() as usize, data.len());
        out
    };
    let mut stream = flushed(prefix);
    let body = flushed(chunk);
    let mut crc = Crc::new();
    crc.update(prefix);
    let mut chunk_crc = Crc::new();
    chunk_crc.update(chunk);
    for _ in 0..repeat {
        stream.extend_from_slice(&body);
        crc.combine(&chunk_crc);
    }
    // An empty final block.
    let mut end = Compress::new(Compression::best(), false);
    let mut tail = Vec::with_capacity(64);
    end.compress_vec(&[], &mut tail, FlushCompress::Finish)
        .unwrap();
    stream.extend_from_slice(&tail);
    (stream, crc)
}

/// A gzip file around a raw DEFLATE stream.
pub fn gzip_around(deflate: &[u8], crc: &Crc) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(deflate);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
    out
}

/// One member of a zip written by hand (for what the zip crate will not
/// write: lying sizes, encryption).
pub struct RawMember<'a> {
    pub name: &'a str,
    /// 0 stored, 8 deflated.
    pub method: u16,
    /// General purpose flags; bit 0 = encrypted.
    pub flags: u16,
    pub crc: u32,
    pub uncompressed: u32,
    pub data: Vec<u8>,
}

pub fn raw_zip(members: &[RawMember<'_>]) -> Vec<u8> {
    fn u16le(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn u32le(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let offset = out.len() as u32;
        for (v, sig) in [(&mut out, 0x0403_4b50u32), (&mut central, 0x0201_4b50)] {
            u32le(v, sig);
            if sig == 0x0201_4b50 {
                u16le(v, 20); // version made by
            }
            u16le(v, 20); // version needed
            u16le(v, m.flags);
            u16le(v, m.method);
            u16le(v, 0); // time
            u16le(v, 0x5821); // date: 2024-01-01
            u32le(v, m.crc);
            u32le(v, m.data.len() as u32);
            u32le(v, m.uncompressed);
            u16le(v, m.name.len() as u16);
            u16le(v, 0); // extra
            if sig == 0x0201_4b50 {
                u16le(v, 0); // comment
                u16le(v, 0); // disk
                u16le(v, 0); // internal attributes
                u32le(v, 0); // external attributes
                u32le(v, offset);
            }
            v.extend_from_slice(m.name.as_bytes());
        }
        out.extend_from_slice(&m.data);
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, members.len() as u16);
    u16le(&mut out, members.len() as u16);
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}

/// A zip whose only member is a 1 GiB deflate bomb. `lie` declares 1 KiB
/// instead of the real size (declared sizes are not to be trusted).
pub fn make_zip_bomb(prefix: &[u8], fill: u8, lie: bool) -> Vec<u8> {
    let (data, crc) = deflate_bomb(prefix, &vec![fill; MIB], GIB / MIB);
    raw_zip(&[RawMember {
        name: "report.xml",
        method: 8,
        flags: 0,
        crc: crc.sum(),
        uncompressed: if lie { 1024 } else { crc.amount() },
        data,
    }])
}

/// Traditional PKWARE ("ZipCrypto") encryption of one member, APPNOTE 6.1.
pub fn zipcrypto(plain: &[u8], crc: u32, password: &[u8]) -> Vec<u8> {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    let crc_byte = |c: u32, b: u8| table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    let mut keys = [0x1234_5678u32, 0x2345_6789, 0x3456_7890];
    let update = |keys: &mut [u32; 3], b: u8| {
        keys[0] = crc_byte(keys[0], b);
        keys[1] = keys[1]
            .wrapping_add(keys[0] & 0xff)
            .wrapping_mul(134_775_813)
            .wrapping_add(1);
        keys[2] = crc_byte(keys[2], (keys[1] >> 24) as u8);
    };
    let stream = |keys: &[u32; 3]| {
        let t = (keys[2] | 2) & 0xffff;
        ((t.wrapping_mul(t ^ 1)) >> 8) as u8
    };
    for &b in password {
        update(&mut keys, b);
    }
    let mut header = [0x5au8; 12];
    header[11] = (crc >> 24) as u8;
    let mut out = Vec::with_capacity(12 + plain.len());
    for &b in header.iter().chain(plain) {
        out.push(b ^ stream(&keys));
        update(&mut keys, b);
    }
    out
}

pub fn crc_of(bytes: &[u8]) -> u32 {
    let mut c = Crc::new();
    c.update(bytes);
    c.sum()
}
