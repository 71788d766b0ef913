//! Pipeline tests: duplicates, big and bad reports across the two threads.

use super::*;
use crate::generate::{report_xml, write_gz, ReportSpec};
use crate::ingest::{run, Options, Target};
use crate::parse::ReportReader;
use crate::source::InputKind;
use crate::store::Store;

/// Hands out the given inputs in order; acknowledges everything.
struct Inputs(std::vec::IntoIter<(String, Vec<u8>)>);

impl Source for Inputs {
    fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
        let (name, bytes) = self.0.next()?;
        Some(Ok(Input {
            name,
            bytes: bytes.into(),
            kind: InputKind::File,
            token: 0,
        }))
    }
}

fn gz(seed: u64, records: usize) -> Vec<u8> {
    let mut out = Vec::new();
    write_gz(&ReportSpec::new(seed, records), &mut out).unwrap();
    out
}

fn ingest(store: &mut Store, inputs: Vec<(&str, Vec<u8>)>) -> Summary {
    let inputs: Vec<_> = inputs.into_iter().map(|(n, b)| (n.into(), b)).collect();
    let mut src = Inputs(inputs.into_iter());
    run(
        &mut src,
        Target::Store(store),
        &Options::default(),
        &mut |_| {},
    )
    .unwrap()
}

fn count(store: &Store, table: &str) -> i64 {
    store.count_rows(table)
}

#[test]
fn a_duplicate_in_the_open_group_has_its_parsed_records_discarded() {
    let mut store = Store::open_in_memory().unwrap();
    let big = CHUNK * MSGS_AHEAD * 2 + 3;
    let sum = ingest(
        &mut store,
        vec![("a", gz(1, big)), ("again", gz(1, big)), ("b", gz(2, 10))],
    );
    assert_eq!(
        (sum.new, sum.duplicate, sum.records),
        (2, 1, big as u64 + 10)
    );
    assert_eq!(count(&store, "record"), big as i64 + 10);
}

#[test]
fn reports_committed_before_are_duplicates_and_a_cut_copy_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let inputs = || vec![("a", gz(1, 50)), ("b", gz(2, 50))];
    let mut store = Store::open(&path).unwrap();
    assert_eq!(ingest(&mut store, inputs()).new, 2);
    // The same bytes again: told from the stored digest, before any
    // record is parsed.
    let sum = ingest(&mut store, inputs());
    assert_eq!((sum.new, sum.duplicate), (0, 2));
    assert!(sum.rejected.is_empty(), "{:?}", sum.rejected);
    // A cut copy of a stored report is a bad input (see store::variant),
    // not a duplicate; the stored one is untouched.
    let mut xml = report_xml(&ReportSpec::new(1, 50));
    xml.truncate(xml.rfind("</record>").unwrap());
    let sum = ingest(&mut store, vec![("a-cut", xml.into_bytes())]);
    assert_eq!((sum.new, sum.duplicate, sum.rejected.len()), (0, 0, 1));
    assert_eq!(count(&store, "record"), 100);
}

#[test]
fn a_bad_record_far_into_a_report_leaves_nothing_and_the_run_goes_on() {
    let mut store = Store::open_in_memory().unwrap();
    let spec = ReportSpec::new(3, CHUNK * MSGS_AHEAD * 2);
    let bad = report_xml(&spec).replace(
        "</feedback>",
        "<record><row><source_ip>x</source_ip><count>1</count></row></record></feedback>",
    );
    let sum = ingest(
        &mut store,
        vec![("bad.xml", bad.into_bytes()), ("good", gz(4, 7))],
    );
    assert_eq!((sum.new, sum.records, sum.rejected.len()), (1, 7, 1));
    assert_eq!(sum.rejected[0].name, "bad.xml");
    assert_eq!(count(&store, "record"), 7);
    assert_eq!(count(&store, "quarantine"), 1);
}

#[test]
fn a_report_skipped_by_the_parsing_thread_is_parsed_here_if_needed() {
    let payload = Payload {
        name: "r.xml".into(),
        data: report_xml(&ReportSpec::new(5, 9)).into_bytes().into(),
        gzip: false,
        kind: crate::extract::PayloadKind::Aggregate,
    };
    let (_out, msgs) = mpsc::sync_channel(1);
    let msgs = FromParser::new(msgs);
    let limits = Limits::default();
    let mut feed = ReportRecords::new(&msgs, &payload, &limits, true);
    let (mut n, mut chunk) = (0, Vec::new());
    loop {
        feed.next_chunk(&mut chunk).unwrap();
        if chunk.is_empty() {
            break;
        }
        n += chunk.len();
        chunk.clear();
    }
    assert_eq!(n, 9);
    feed.discard();
}

#[test]
fn a_big_gzip_inflated_apart_stores_whole_and_fails_as_it_would_inline() {
    let good = gz(6, 400);
    assert!(good.len() >= super::inflate::INFLATE_APART);
    let mut store = Store::open_in_memory().unwrap();
    let sum = ingest(&mut store, vec![("good.gz", good.clone())]);
    assert_eq!((sum.new, sum.records), (1, 400));
    // The CRC in the trailer damaged: the same words as when the parsing
    // thread inflates it itself.
    let mut bad = gz(7, 400);
    let at = bad.len() - 6;
    bad[at] ^= 0xff;
    let payload = Payload {
        name: "bad.gz".into(),
        data: bad.clone().into(),
        gzip: true,
        kind: crate::extract::PayloadKind::Aggregate,
    };
    let limits = Limits::default();
    let mut inline = ReportReader::new(payload.reader(&limits));
    inline.header().unwrap();
    let inline = loop {
        match inline.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the damaged trailer went unnoticed"),
            Err(e) => break e.to_string(),
        }
    };
    let sum = ingest(&mut store, vec![("bad.gz", bad)]);
    assert_eq!(sum.rejected.len(), 1, "{:?}", sum.rejected);
    assert_eq!(sum.rejected[0].reason, inline);
    assert_eq!(count(&store, "record"), 400);
}

#[test]
fn the_kept_bytes_hash_is_theirs_whichever_thread_makes_it() {
    use sha2::{Digest, Sha256};
    // A small gzip (hashed on the parsing thread), a big one (on its
    // inflating thread) and plain XML (compressed and hashed by the writer).
    let (small, big) = (gz(8, 5), gz(9, 400));
    assert!(big.len() >= super::inflate::INFLATE_APART);
    let plain = report_xml(&ReportSpec::new(10, 3)).into_bytes();
    let mut store = Store::open_in_memory().unwrap();
    let sum = ingest(
        &mut store,
        vec![
            ("small.gz", small.clone()),
            ("big.gz", big.clone()),
            ("plain.xml", plain),
        ],
    );
    assert_eq!(sum.new, 3, "{:?}", sum.rejected);
    let blobs = store.blobs_for_test();
    assert_eq!(blobs.len(), 3);
    assert_eq!(blobs[0].1, small);
    assert_eq!(blobs[1].1, big);
    for (sha, gzip) in blobs {
        assert_eq!(sha, Sha256::digest(&gzip).to_vec());
    }
}
