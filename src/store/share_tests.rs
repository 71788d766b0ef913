//! A shared read's readers see what its main connection sees, with and
//! without a snapshot to open, and the per-IP fold read in parts totals
//! what one statement does.

use rusqlite::Connection;

use super::super::views::{Filter, Scope, Window};
use super::super::{Backend, Store};
use super::Lite;
use crate::config::{parse_net, OurNets};
use crate::extract::{Limits, Payload};
use crate::generate::CorpusSpec;

/// Six reports of 400 records from three reporters over four days: a
/// window over the unit tests' threshold for reading in parts.
fn reports() -> Vec<Payload> {
    CorpusSpec::for_tests(9, 6, 400, 4).payloads()
}

fn lite(s: &Store) -> &Lite {
    match &s.backend {
        Backend::Sqlite(lite) => lite,
        Backend::Postgres(_) => unreachable!(),
    }
}

fn reports_in(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM report", [], |r| r.get(0))
        .unwrap()
}

/// What another process commits meanwhile: a report's row (`id` its
/// report id).
fn commit_a_report(path: &std::path::Path, id: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute(
        "INSERT INTO report (org_name, report_id, date_begin, date_end, policy_domain,
           source, ingested_at) VALUES ('o', ?1, 1, 2, 'd.example', 't', 0)",
        [id],
    )
    .unwrap();
}

#[test]
fn a_window_read_in_parts_totals_what_one_statement_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    let mut file = Store::open(&path).unwrap();
    let mut memory = Store::open_in_memory().unwrap();
    for p in reports() {
        file.store_report(&p, &Limits::default(), "t").unwrap();
        memory.store_report(&p, &Limits::default(), "t").unwrap();
    }
    let none = OurNets::new(vec![]);
    let ours = OurNets::new(vec![parse_net("203.0.113.0/24").unwrap()]);
    let filter = Filter::default();
    let check = |file: &Store| {
        for nets in [&none, &ours] {
            let q = Scope {
                window: Window {
                    since: None,
                    until: None,
                },
                filter: &filter,
                nets,
                limit: None,
            };
            // A database in memory is read in one statement.
            let one = memory.ip_totals(&q).unwrap();
            assert!(one.len() > 100, "{} sources", one.len());
            assert!(one.iter().any(|t| t.ours) || nets.is_empty());
            assert_eq!(file.ip_totals(&q).unwrap(), one);
        }
        // Each part but the main connection's was read by a reader, kept
        // for the next read.
        let parts = super::super::senders::connections();
        assert_eq!(lite(file).readers.borrow().len(), parts - 1);
    };
    // The WAL holds this connection's commits: the readers open the main
    // connection's snapshot.
    let shared = lite(&file).share().unwrap().unwrap();
    assert!(shared.snapshot.is_some());
    drop(shared);
    check(&file);
    // All copied into the file and the WAL emptied, then opened again: no
    // snapshot to take, each connection reads the file.
    file.execute_for_test("PRAGMA wal_checkpoint(TRUNCATE)");
    drop(file);
    let file = Store::open(&path).unwrap();
    let shared = lite(&file).share().unwrap().unwrap();
    assert!(shared.snapshot.is_none());
    drop(shared);
    check(&file);
}

#[test]
fn a_reader_sees_the_main_connections_data_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    let mut file = Store::open(&path).unwrap();
    let one = &reports()[0];
    file.store_report(one, &Limits::default(), "t").unwrap();

    // With a snapshot: a report committed after the read began is not in
    // the reader's part.
    let l = lite(&file);
    let shared = l.share().unwrap().unwrap();
    assert!(shared.snapshot.is_some());
    commit_a_report(&path, "first");
    let reader = l.reader().unwrap();
    assert!(shared.open_on(&reader));
    assert_eq!(reports_in(&reader), 1);
    assert_eq!(reports_in(&l.conn), 1);
    reader.execute_batch("COMMIT").unwrap();
    shared.end().unwrap();
    assert_eq!(reports_in(&l.conn), 2);
    drop(reader);

    // Without one (the WAL emptied, the file opened again by the only
    // connection, which finds no commit in it): a reader whose
    // read begins after a commit does not take a part; one before it does.
    file.execute_for_test("PRAGMA wal_checkpoint(TRUNCATE)");
    drop(file);
    let file = Store::open(&path).unwrap();
    let l = lite(&file);
    let shared = l.share().unwrap().unwrap();
    assert!(shared.snapshot.is_none());
    let early = l.reader().unwrap();
    assert!(shared.open_on(&early));
    commit_a_report(&path, "second");
    let late = l.reader().unwrap();
    assert!(!shared.open_on(&late));
    assert!(late.is_autocommit(), "no transaction left open");
    assert_eq!(reports_in(&early), 2);
    assert_eq!(reports_in(&l.conn), 2);
    early.execute_batch("COMMIT").unwrap();
    drop(shared);
    assert!(
        l.conn.is_autocommit(),
        "the read ended as the share dropped"
    );
    assert_eq!(reports_in(&l.conn), 3);
}
