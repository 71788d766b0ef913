//! Reports grouped into one transaction: committed together, a bad one
//! left out, and when a group is due.

use super::*;

#[test]
fn grouped_reports_are_committed_together_and_a_bad_one_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let mut s = Store::open(&path).unwrap();
    let l = Limits::default();
    s.set_batching(true).unwrap();
    s.store_report(&generated(1, 50), &l, "a").unwrap();
    let bad = payload(&XML.replace("192.0.2.1", "not-an-ip"));
    assert!(matches!(
        s.store_report(&bad, &l, "b"),
        Err(StoreError::Parse(_))
    ));
    s.store_report(&generated(2, 60), &l, "c").unwrap();
    s.quarantine("b", "bad", &bad.data).unwrap();
    // Nothing is visible to another connection before the commit.
    assert_eq!(committed(&path, "report"), 0);
    assert!(!s.commit_due().unwrap(), "neither big nor old yet");
    s.set_batching(false).unwrap();
    assert_eq!(committed(&path, "report"), 2);
    assert_eq!(committed(&path, "record"), 110);
    assert_eq!(committed(&path, "quarantine"), 1);
    // Ungrouped again: each report is committed by itself.
    s.store_report(&generated(3, 5), &l, "d").unwrap();
    assert_eq!(committed(&path, "report"), 3);
}

#[test]
fn a_group_is_due_once_it_holds_enough_reports() {
    let mut s = Store::open_in_memory().unwrap();
    // Made before the group opens, so that only storing counts towards
    // its age (a loaded machine builds a debug-mode report slowly).
    let reports: Vec<Payload> = (0..BATCH_REPORTS).map(|seed| generated(seed, 1)).collect();
    s.set_batching(true).unwrap();
    for (seed, report) in (0..BATCH_REPORTS).zip(&reports) {
        // Only the count is under test: the group's age is kept young, so
        // that a slow (debug, loaded) machine does not make it due by age.
        if let Some(g) = s.batch.as_mut() {
            g.since = std::time::Instant::now();
        }
        assert!(!s.commit_due().unwrap() || seed == 0);
        s.store_report(report, &Limits::default(), "a").unwrap();
    }
    assert!(s.commit_due().unwrap());
    assert!(s.batch.is_none());
}

#[test]
fn a_group_is_due_once_old_enough() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let mut s = Store::open(&path).unwrap();
    s.set_batching(true).unwrap();
    assert!(s.commit_due().unwrap(), "nothing open: all committed");
    s.store_report(&generated(1, 3), &Limits::default(), "a")
        .unwrap();
    assert!(!s.commit_due().unwrap());
    std::thread::sleep(BATCH_AGE);
    assert!(s.commit_due().unwrap());
    assert_eq!(committed(&path, "report"), 1);
}
