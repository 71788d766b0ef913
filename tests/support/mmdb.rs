//! A small MaxMind DB writer for tests: builds databases in the layouts
//! dmarcdb reads (GeoLite2, IPinfo Lite, DB-IP Lite) from JSON values, at
//! test time, so no third-party database is shipped with the tests.
//!
//! It follows the public format spec (MaxMind DB File Format 2.0): a binary
//! search tree over the address bits (24-bit records), 16 zero bytes, the
//! data section, then `\xAB\xCD\xEFMaxMind.com` and the metadata map. The
//! tree is IPv6 (IPv4 networks sit at `::a.b.c.d/96+n`, where readers look
//! IPv4 addresses up) unless `ip_version` is 4. Networks must not overlap.
//! Used by the library's unit tests (`#[path]`) and by integration tests.

#![allow(dead_code)]

use std::net::IpAddr;

use serde_json::Value;

/// One tree record: another node, nothing, or data item `n`.
#[derive(Clone, Copy)]
enum Rec {
    Node(usize),
    Empty,
    Data(usize),
}

/// Builds an MMDB file: `networks` are CIDR strings with their data.
pub fn build(db_type: &str, ip_version: u16, networks: &[(&str, Value)]) -> Vec<u8> {
    let bits = if ip_version == 4 { 32 } else { 128 };
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for (i, (net, value)) in networks.iter().enumerate() {
        offsets.push(data.len());
        encode(value, &mut data);
        let (addr, len) = parse(net, bits);
        insert(&mut nodes, &addr, len, i);
    }
    let node_count = nodes.len();
    let mut out = Vec::new();
    let value = |r: Rec| -> u32 {
        match r {
            Rec::Node(n) => n as u32,
            Rec::Empty => node_count as u32,
            Rec::Data(i) => (node_count + 16 + offsets[i]) as u32,
        }
    };
    for n in &nodes {
        for r in n {
            out.extend_from_slice(&value(*r).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let meta = serde_json::json!({
        "node_count": node_count,
        "record_size": 24,
        "ip_version": ip_version,
        "database_type": db_type,
        "languages": ["en"],
        "binary_format_major_version": 2,
        "binary_format_minor_version": 0,
        "build_epoch": 1_700_000_000u64,
        "description": {"en": "dmarcdb test database"},
    });
    encode_meta(&meta, &mut out);
    out
}

/// The metadata needs uint16 for some keys; the rest as [`encode`].
fn encode_meta(meta: &Value, out: &mut Vec<u8>) {
    let Value::Object(m) = meta else { return };
    head(7, m.len(), out);
    for (k, v) in m {
        encode(&Value::String(k.clone()), out);
        match (k.as_str(), v) {
            (
                "record_size"
                | "ip_version"
                | "binary_format_major_version"
                | "binary_format_minor_version",
                Value::Number(n),
            ) => uint(5, n.as_u64().unwrap_or(0), out),
            ("build_epoch", Value::Number(n)) => uint(9, n.as_u64().unwrap_or(0), out),
            _ => encode(v, out),
        }
    }
}

fn parse(net: &str, bits: u8) -> (Vec<u8>, u8) {
    let (a, len) = net.split_once('/').expect("CIDR");
    let len: u8 = len.parse().expect("prefix length");
    let addr: IpAddr = a.parse().expect("address");
    match addr {
        IpAddr::V4(v4) if bits == 32 => (v4.octets().to_vec(), len),
        IpAddr::V4(v4) => {
            let mut b = vec![0u8; 12];
            b.extend_from_slice(&v4.octets());
            (b, len + 96)
        }
        IpAddr::V6(v6) => (v6.octets().to_vec(), len),
    }
}

fn insert(nodes: &mut Vec<[Rec; 2]>, addr: &[u8], len: u8, item: usize) {
    let mut node = 0;
    for i in 0..len as usize {
        let bit = ((addr[i / 8] >> (7 - i % 8)) & 1) as usize;
        if i + 1 == len as usize {
            nodes[node][bit] = Rec::Data(item);
            return;
        }
        node = match nodes[node][bit] {
            Rec::Node(n) => n,
            _ => {
                nodes.push([Rec::Empty, Rec::Empty]);
                let n = nodes.len() - 1;
                nodes[node][bit] = Rec::Node(n);
                n
            }
        };
    }
}

/// The control byte(s) of a field of `kind` (extended kinds > 7) and `size`.
fn head(kind: u8, size: usize, out: &mut Vec<u8>) {
    let t = if kind > 7 { 0 } else { kind };
    let (low, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65821) as u32).to_be_bytes()[1..].to_vec()),
    };
    out.push((t << 5) | low);
    if kind > 7 {
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

fn uint(kind: u8, v: u64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    head(kind, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

/// JSON as MMDB data: strings, maps, arrays, booleans, doubles; integers
/// as uint32 (uint64 when larger, int32 when negative).
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::String(s) => {
            head(2, s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                uint(if u <= u64::from(u32::MAX) { 6 } else { 9 }, u, out);
            } else if let Some(i) = n.as_i64() {
                head(8, 4, out);
                out.extend_from_slice(&(i as i32).to_be_bytes());
            } else {
                head(3, 8, out);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
            }
        }
        Value::Object(m) => {
            head(7, m.len(), out);
            for (k, v) in m {
                encode(&Value::String(k.clone()), out);
                encode(v, out);
            }
        }
        Value::Array(a) => {
            head(11, a.len(), out);
            for v in a {
                encode(v, out);
            }
        }
        Value::Bool(b) => head(14, usize::from(*b), out),
        Value::Null => head(2, 0, out),
    }
}
