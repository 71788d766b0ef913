//! Pipeline tests: duplicates, big and bad reports across the two threads.

use super::*;
use crate::generate::{report_xml, write_gz, ReportSpec};
use crate::ingest::{run, Options, Target};
use crate::parse::ReportReader;
use crate::source::{InputKind, SourceError};
use crate::store::{gzip, Store};

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
            opened: None,
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
    // The same bytes again: told from the stored bytes, before any
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

/// Hands out `inputs` as mail messages (token = position + 1); before each
/// one, checks that the database is not write-locked when `probe` is set,
/// and on every acknowledgement that the input's report is committed (at
/// least `committed[token - 1]` reports, as another connection sees).
struct Checked {
    inputs: std::vec::IntoIter<Vec<u8>>,
    next: u64,
    db: std::path::PathBuf,
    probe: Option<Store>,
    committed: Vec<i64>,
    acked: Vec<u64>,
}

impl Source for Checked {
    fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
        if let Some(other) = &mut self.probe {
            // Fails at once ("database is locked") while a write
            // transaction is open.
            other.quarantine("probe", "probe", b"probe").unwrap();
        }
        let bytes = self.inputs.next()?;
        self.next += 1;
        Some(Ok(Input {
            name: format!("m{}", self.next),
            bytes: bytes.into(),
            kind: InputKind::Mail,
            token: self.next,
            opened: None,
        }))
    }

    fn ack(&mut self, input: &Input) -> Result<(), SourceError> {
        let now = Store::open(&self.db).unwrap().report_count().unwrap();
        let want = self.committed[input.token as usize - 1];
        assert!(
            now >= want,
            "input {} acknowledged with {now} reports committed",
            input.token
        );
        self.acked.push(input.token);
        Ok(())
    }
}

fn checked(db: &std::path::Path, inputs: Vec<Vec<u8>>, committed: Vec<i64>) -> Checked {
    Checked {
        inputs: inputs.into_iter(),
        next: 0,
        db: db.to_path_buf(),
        probe: None,
        committed,
        acked: Vec::new(),
    }
}

fn run_checked(store: &mut Store, src: &mut Checked) -> Summary {
    run(src, Target::Store(store), &Options::default(), &mut |_| {}).unwrap()
}

/// Files stored before, met again: duplicates told by the parsing threads
/// from the same bytes, which the writer counts without a transaction, so
/// another process may write meanwhile; each is acknowledged.
#[test]
fn the_same_files_again_are_duplicates_counted_without_a_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let files: Vec<_> = (0..40).map(|i| gz(100 + i, 3)).collect();
    let mut store = Store::open(&db).unwrap();
    let mut src = checked(&db, files.clone(), vec![40; 40]);
    assert_eq!(run_checked(&mut store, &mut src).new, 40);
    let mut src = checked(&db, files, vec![40; 40]);
    src.probe = Some(Store::open_waiting(&db, std::time::Duration::ZERO).unwrap());
    let sum = run_checked(&mut store, &mut src);
    assert_eq!((sum.new, sum.duplicate, sum.records), (0, 40, 0));
    assert!(sum.rejected.is_empty(), "{:?}", sum.rejected);
    assert_eq!(src.acked, (1..=40).collect::<Vec<_>>());
    assert_eq!(count(&store, "report"), 40);
}

/// Duplicates and new reports in turn: counted as before, and every input
/// acknowledged in order, only once its report is committed.
#[test]
fn duplicates_between_new_reports_are_acknowledged_in_order_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let mut store = Store::open(&db).unwrap();
    let old: Vec<_> = (0..30).map(|i| gz(200 + i, 2)).collect();
    let mut src = checked(&db, old.clone(), vec![30; 30]);
    run_checked(&mut store, &mut src);
    // Even positions: a stored file again; odd ones: a new report.
    let (mut inputs, mut committed) = (Vec::new(), Vec::new());
    for i in 0..60 {
        if i % 2 == 0 {
            inputs.push(old[i / 2].clone());
        } else {
            inputs.push(gz(300 + i as u64, 2));
        }
        committed.push(30 + (i as i64 + 1) / 2);
    }
    let mut src = checked(&db, inputs, committed);
    let sum = run_checked(&mut store, &mut src);
    assert_eq!((sum.new, sum.duplicate, sum.records), (30, 30, 60));
    assert_eq!(src.acked, (1..=60).collect::<Vec<_>>());
    assert_eq!(count(&store, "report"), 60);
}

/// Runs `inputs` into `store`; returns the summary and, for every
/// duplicate, its name and whether its header was parsed (`false`: told
/// from its bytes alone, `Lookup::same_bytes`).
fn ingest_seen(store: &mut Store, inputs: Vec<(&str, Vec<u8>)>) -> (Summary, Vec<(String, bool)>) {
    let inputs: Vec<_> = inputs.into_iter().map(|(n, b)| (n.into(), b)).collect();
    let mut src = Inputs(inputs.into_iter());
    let mut seen = Vec::new();
    let sum = run(
        &mut src,
        Target::Store(store),
        &Options::default(),
        &mut |e| {
            if let Event::Stored {
                name,
                outcome: Stored::Duplicate { header },
            } = e
            {
                seen.push((name.to_string(), header.is_some()));
            }
        },
    )
    .unwrap();
    (sum, seen)
}

/// The very gzip bytes of a committed report are a duplicate told from
/// the bytes alone, their header never parsed; the same report in plain
/// XML is looked up by its header, as before.
#[test]
fn the_same_gzip_bytes_again_are_told_without_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("x.db")).unwrap();
    let first = ingest(
        &mut store,
        vec![("a.xml.gz", gz(1, 20)), ("b.xml.gz", gz(2, 20))],
    );
    assert_eq!(first.new, 2);
    let xml = report_xml(&ReportSpec::new(2, 20)).into_bytes();
    let (sum, seen) = ingest_seen(
        &mut store,
        vec![
            ("a.xml.gz", gz(1, 20)),
            ("b.xml", xml),
            ("c.xml.gz", gz(3, 20)),
        ],
    );
    assert_eq!((sum.inputs, sum.new, sum.duplicate), (3, 1, 2));
    assert_eq!(
        seen,
        [("a.xml.gz".to_string(), false), ("b.xml".to_string(), true)]
    );
    assert_eq!(count(&store, "record"), 60);
}

/// A stored copy that needed repair is replaced by a clean one in the
/// same run as its own bytes come again: the parsing thread's lookup may
/// still see those bytes kept with the report, the writer no longer does,
/// and parses them after all (a copy kept as a variant: already stored).
/// The next run finds the clean copy's bytes kept, the damaged ones not.
#[test]
fn bytes_a_run_displaced_are_parsed_again_not_taken_on_trust() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("x.db")).unwrap();
    let xml = report_xml(&ReportSpec::new(7, 5));
    let damaged = xml.replacen("<header_from>", "<header_from>x<", 1);
    assert_ne!(damaged, xml);
    let (clean, damaged) = (gzip(xml.as_bytes()), gzip(damaged.as_bytes()));
    assert_eq!(
        ingest(&mut store, vec![("damaged", damaged.clone())]).new,
        1
    );
    let (sum, seen) = ingest_seen(
        &mut store,
        vec![("clean", clean.clone()), ("damaged again", damaged.clone())],
    );
    assert_eq!((sum.new, sum.conflicting, sum.duplicate), (0, 1, 1));
    assert_eq!(seen, [("damaged again".to_string(), true)]);
    let (sum, seen) = ingest_seen(&mut store, vec![("damaged 3", damaged), ("clean 3", clean)]);
    assert_eq!((sum.new, sum.conflicting, sum.duplicate), (0, 0, 2));
    assert_eq!(
        seen,
        [
            ("damaged 3".to_string(), true),
            ("clean 3".to_string(), false)
        ]
    );
    assert_eq!(count(&store, "report_variant"), 1);
}
