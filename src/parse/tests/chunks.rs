//! `ReportReader::read_records` and `take_ready` hand out what
//! `next_record` does: the same records in the same order, then the same
//! end or error, whatever the number asked for at a time and the read
//! buffer; and a record's
//! address is read as `model::ip_bin` reads it.

use super::*;
use crate::model::ip_bin;

/// A report of `records`, each given as its `<record>` markup.
fn doc(records: &[&str]) -> String {
    let head = MINIMAL.split("<record>").next().unwrap_or_default();
    format!("{head}{}</feedback>", records.concat())
}

fn record(ip: &str, from: &str) -> String {
    format!(
        "<record><row><source_ip>{ip}</source_ip><count>2</count></row>\
         <identifiers><header_from>{from}</header_from></identifiers>\
         <auth_results><dkim><domain>{from}</domain><result>pass</result></dkim>\
         <spf><domain>{from}</domain><result>pass</result></spf></auth_results></record>"
    )
}

/// Each record `next_record` hands out, then its end or error.
fn one_by_one(xml: &str, capacity: usize) -> Vec<String> {
    let mut rdr = ReportReader::with_capacity(xml.as_bytes(), capacity);
    let mut out = vec![format!("{:?}", rdr.header())];
    loop {
        match rdr.next_record() {
            Ok(Some(r)) => out.push(format!("{r:?}")),
            other => {
                out.push(format!("{other:?}"));
                return out;
            }
        }
    }
}

/// The same through `read_records`, `max` at a time.
fn in_chunks(xml: &str, capacity: usize, max: usize) -> Vec<String> {
    let mut rdr = ReportReader::with_capacity(xml.as_bytes(), capacity);
    let mut out = vec![format!("{:?}", rdr.header())];
    loop {
        let mut chunk = Vec::new();
        let got = rdr.read_records(&mut chunk, max);
        assert!(chunk.len() <= max);
        out.extend(chunk.iter().map(|r| format!("{r:?}")));
        match got {
            Ok(true) => assert_eq!(chunk.len(), max, "a chunk not full before the end"),
            Ok(false) => {
                out.push(format!("{:?}", Ok::<_, ParseError>(None::<Record>)));
                return out;
            }
            Err(e) => {
                out.push(format!("{:?}", Err::<Option<Record>, _>(e)));
                return out;
            }
        }
    }
}

/// The same through `take_ready`; an error drops the records of its run
/// (`one_by_one`'s are cut to those of the runs before it).
fn in_runs(xml: &str, capacity: usize) -> (Vec<String>, usize) {
    let mut rdr = ReportReader::with_capacity(xml.as_bytes(), capacity);
    let mut out = vec![format!("{:?}", rdr.header())];
    let mut runs = 0;
    loop {
        match rdr.take_ready() {
            Ok((chunk, more)) => {
                runs += 1;
                assert!(!chunk.is_empty() || !more, "an empty run before the end");
                out.extend(chunk.iter().map(|r| format!("{r:?}")));
                if !more {
                    out.push(format!("{:?}", Ok::<_, ParseError>(None::<Record>)));
                    return (out, runs);
                }
            }
            Err(e) => {
                out.push(format!("{:?}", Err::<Option<Record>, _>(e)));
                return (out, runs);
            }
        }
    }
}

/// 150 records of IPv6 senders, a good one and one with a bad address.
fn samples() -> (Vec<String>, String, String) {
    let many = (0..150)
        .map(|i| record(&format!("2001:db8::{i:x}"), &format!("d{i}.example")))
        .collect();
    let good = record("192.0.2.1", "Example.COM");
    let bad_ip = record("192.0.2.300", "bad.example");
    (many, good, bad_ip)
}

#[test]
fn runs_hand_out_what_records_one_by_one_do() {
    let (many, good, bad_ip) = samples();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    for capacity in [64, 4096, 64 * 1024] {
        let xml = doc(&many);
        let (got, runs) = in_runs(&xml, capacity);
        assert_eq!(got, one_by_one(&xml, capacity), "capacity {capacity}");
        // A 64 KiB buffer holds the whole document: one run, the end
        // told with it.
        if capacity == 64 * 1024 {
            assert_eq!(runs, 1);
        } else {
            assert!(runs > 1);
        }
        let xml = doc(&[]);
        assert_eq!(in_runs(&xml, capacity).0, one_by_one(&xml, capacity));
        // The bad record's error comes instead of its run's records.
        let xml = doc(&[&good, &bad_ip, &good]);
        let (got, _) = in_runs(&xml, capacity);
        let want = one_by_one(&xml, capacity);
        assert_eq!(got.last(), want.last());
        assert!(want[1..want.len() - 1].starts_with(&got[1..got.len() - 1]));
    }
}

#[test]
fn chunks_hand_out_what_records_one_by_one_do() {
    let (many, good, bad_ip) = samples();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let docs = [
        doc(&many),
        doc(&[&good, &bad_ip, &good]),
        // A `<record>` left open around another one left open: the end
        // tag that closes both keeps neither.
        doc(&[&good, "<record>", &good.replace("</record>", "")]),
        // A `<record>` inside an open one starts over; the outer one's end
        // tag then closes nothing that is filled.
        doc(&[&good, "<record>", &good, "</record>", &good]),
        // A count that is not one, after a good record.
        doc(&[&good, &good.replace("<count>2<", "<count>-1<"), &good]),
        doc(&[]),
    ];
    for xml in &docs {
        for capacity in [64, 4096, 64 * 1024] {
            let want = one_by_one(xml, capacity);
            for max in [1, 2, 3, 64] {
                assert_eq!(
                    in_chunks(xml, capacity, max),
                    want,
                    "max {max}, capacity {capacity}"
                );
            }
        }
    }
    let ends: Vec<(usize, String)> = docs
        .iter()
        .map(|xml| {
            let o = one_by_one(xml, 4096);
            (o.len() - 2, o[o.len() - 1].clone())
        })
        .collect();
    let done = "Ok(None)".to_string();
    assert_eq!(ends[0], (150, done.clone()));
    assert_eq!(ends[1].0, 1);
    assert!(
        ends[1]
            .1
            .contains("record 2: source_ip \\\"192.0.2.300\\\""),
        "{ends:?}"
    );
    assert_eq!(ends[2], (1, done.clone()));
    assert_eq!(ends[3], (3, done.clone()));
    assert_eq!(ends[4].0, 1);
    assert!(
        ends[4].1.starts_with("Err(Invalid(\"negative count"),
        "{ends:?}"
    );
    assert_eq!(ends[5], (0, done));
}

#[test]
fn a_records_address_is_read_once_as_ip_bin_reads_it() {
    let ips = [
        "192.0.2.1",
        "2001:db8::1",
        "::ffff:192.0.2.1",
        "2001:DB8:0:0:0:0:0:1",
    ];
    let recs: Vec<String> = ips.iter().map(|ip| record(ip, "a.example")).collect();
    let recs: Vec<&str> = recs.iter().map(String::as_str).collect();
    let (_, got) = parse_all(doc(&recs).as_bytes()).unwrap();
    for (r, ip) in got.iter().zip(ips) {
        assert_eq!(r.source_ip.as_str(), ip);
        assert_eq!(r.source_ip.bin(), ip_bin(ip));
        assert!(r.source_ip.bin().is_some());
    }
    assert_eq!(got[0].source_ip.bin(), got[2].source_ip.bin());
}
