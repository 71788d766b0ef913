//! A report of a group failing half-way (`undo.rs`): nothing of it stays,
//! not even the auth sets it was the first to use, and a failed undo keeps
//! the whole group from being committed.

use super::*;
use crate::extract::{Limits, Payload};
use crate::generate::{report_xml, write_gz, ReportSpec};

/// Every table a report writes to, with its row count.
const TABLES: &[&str] = &[
    "report",
    "record",
    "override_reason",
    "report_ips",
    "report_blob",
    "auth_set",
    "dkim_result",
    "spf_result",
];

fn gz(seed: u64, records: usize) -> Payload {
    let mut data = Vec::new();
    write_gz(&ReportSpec::new(seed, records), &mut data).unwrap();
    Payload {
        name: format!("r{seed}.xml.gz"),
        data: data.into(),
        gzip: true,
        kind: crate::extract::PayloadKind::Aggregate,
    }
}

/// Report `seed` with a record that does not parse after all the others.
fn bad(seed: u64, records: usize) -> Payload {
    let xml = report_xml(&ReportSpec::new(seed, records)).replace(
        "</feedback>",
        "<record><row><source_ip>x</source_ip><count>1</count></row></record></feedback>",
    );
    Payload {
        name: "bad.xml".into(),
        data: xml.into_bytes().into(),
        gzip: false,
        kind: crate::extract::PayloadKind::Aggregate,
    }
}

fn counts(s: &Store) -> Vec<(&'static str, i64)> {
    TABLES.iter().map(|&t| (t, s.count_rows(t))).collect()
}

/// Reports 1 and 3 alone, in one group.
fn reference() -> Vec<(&'static str, i64)> {
    let mut s = Store::open_in_memory().unwrap();
    s.set_batching(true).unwrap();
    for seed in [1, 3] {
        s.store_report(&gz(seed, 300), &Limits::default(), "r")
            .unwrap();
    }
    s.set_batching(false).unwrap();
    counts(&s)
}

#[test]
fn a_report_failing_half_way_in_a_group_leaves_no_row_and_no_new_auth_set() {
    let want = reference();
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    s.set_batching(true).unwrap();
    s.store_report(&gz(1, 300), &l, "r").unwrap();
    // Seed 2 brings auth sets that seed 1 did not have.
    let e = s.store_report(&bad(2, 300), &l, "r").unwrap_err();
    assert!(matches!(e, StoreError::Parse(_)), "{e}");
    s.store_report(&gz(3, 300), &l, "r").unwrap();
    s.set_batching(false).unwrap();
    assert_eq!(counts(&s), want);
    // The sets forgotten are stored again when a good report needs them.
    s.store_report(&gz(2, 300), &l, "r").unwrap();
    let check: i64 = s
        .conn
        .query_row(
            "SELECT count(*) FROM record r WHERE r.auth IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM auth_set a WHERE a.id = r.auth)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(check, 0);
}

#[test]
fn a_panic_half_way_through_a_report_in_a_group_leaves_nothing_of_it() {
    let want = reference();
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    s.set_batching(true).unwrap();
    s.store_report(&gz(1, 300), &l, "r").unwrap();
    let p = gz(2, 300);
    let mut reader = crate::parse::ReportReader::new(p.reader(&l));
    let header = reader.header().unwrap();
    let mut n = 0;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.store_parsed(&p, &l, "r", header, &mut |out| {
            // Chunks of 64: the fourth comes after 192 of 300 records.
            n += 1;
            assert!(n < 4, "a bug half-way");
            reader.read_records(out, 64)?;
            Ok(())
        })
    }));
    assert!(caught.is_err());
    s.store_report(&gz(3, 300), &l, "r").unwrap();
    s.set_batching(false).unwrap();
    assert_eq!(counts(&s), want);
}

#[test]
fn a_failed_undo_keeps_the_group_from_being_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let mut s = Store::open(&path).unwrap();
    let l = Limits::default();
    s.set_batching(true).unwrap();
    s.store_report(&gz(1, 10), &l, "r").unwrap();
    // The undo of the next report then fails on its last table.
    s.conn.execute_batch("DROP TABLE report_blob").unwrap();
    let e = s.store_report(&bad(2, 10), &l, "r").unwrap_err();
    assert!(matches!(e, StoreError::Parse(_)), "{e}");
    assert!(s.set_batching(false).is_err(), "the commit must fail");
    // Nothing of the group was committed: report 1 neither, and the
    // table dropped inside it is back.
    let file = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = file
        .query_row("SELECT count(*) FROM report_blob", [], |r| r.get(0))
        .unwrap();
    let reports: i64 = file
        .query_row("SELECT count(*) FROM report", [], |r| r.get(0))
        .unwrap();
    assert_eq!((n, reports), (0, 0));
}
