//! Record vectors given back for reuse: the pipeline's writer hands each
//! run of records ([`ReportReader::take_ready`]) back here once it has
//! stored them, emptied, and a parsing thread builds its next run into one
//! of them rather than into new memory. A document's builder takes its
//! first queue from here too, and gives it back when the document is done
//! (`Builder`'s `Drop`).
//!
//! Without it every run went into a new allocation that the writer freed
//! on its own thread: the allocator then gave the parsing threads fresh
//! pages, whose first touch (a record's `push_back`) is a page fault, ~30 %
//! of item 1's faults (bench/README.md, eleventh round). A vector kept here stays
//! touched. The pool is bounded (64 vectors of at most 512 records), and
//! it never holds more vectors than were in flight at once before: a
//! vector is taken from it before a new one is made. Item 2's peak RSS
//! fell with it (its runs of ~420 records were each new memory).
//!
//! [`ReportReader::take_ready`]: super::ReportReader::take_ready

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::model::Record;

/// Vectors kept at most. The pool never holds more than were in flight
/// at once (a vector is taken from it before a new one is made); 16 was
/// too few for item 1: the parse-ahead shrinks from 64 inputs to 32 once
/// the new file is made, and what it gave back then was freed (104 of 276
/// runs reused, against 216 with 64; bench/README.md, eleventh round).
const KEEP: usize = 64;
/// The most records a kept vector may have room for (~270 KiB): the runs
/// of item 2's 64 KiB blocks (~420 records) fit; a vector grown bigger is
/// freed.
const KEEP_ROOM: usize = 512;

/// The pool: vectors given back, the last one first out.
struct Pool(Mutex<Vec<Vec<Record>>>);

static SPARE: Pool = Pool(Mutex::new(Vec::new()));

/// Gives `run` (its records stored) back for a later run; its records, if
/// any are left, are dropped here.
pub fn give_back(run: Vec<Record>) {
    SPARE.give_back(run);
}

/// An empty queue to build the next run into: a vector given back, or a
/// new one with room for `room` records.
pub(super) fn queue(room: usize) -> VecDeque<Record> {
    SPARE.queue(room)
}

impl Pool {
    fn give_back(&self, mut run: Vec<Record>) {
        if run.capacity() == 0 || run.capacity() > KEEP_ROOM {
            return;
        }
        run.clear();
        if let Ok(mut spare) = self.0.lock() {
            if spare.len() < KEEP {
                spare.push(run);
            }
        }
    }

    fn queue(&self, room: usize) -> VecDeque<Record> {
        let kept = self.0.lock().ok().and_then(|mut spare| spare.pop());
        match kept {
            // O(1): the vector's buffer becomes the queue's.
            Some(run) => VecDeque::from(run),
            None => VecDeque::with_capacity(room),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        Pool(Mutex::new(Vec::new()))
    }

    #[test]
    fn a_vector_given_back_is_built_into_again() {
        let pool = pool();
        let mut run = Vec::with_capacity(100);
        run.push(Record::default());
        let buffer = run.as_ptr();
        pool.give_back(run);
        let q = pool.queue(7);
        assert!(q.is_empty());
        assert!(q.capacity() >= 100);
        let v = Vec::from(q);
        assert_eq!(v.as_ptr(), buffer);
        // Nothing left: a new queue.
        let new = Vec::from(pool.queue(7));
        assert_ne!(new.as_ptr(), buffer);
    }

    #[test]
    fn the_pool_is_bounded() {
        let pool = pool();
        pool.give_back(Vec::with_capacity(KEEP_ROOM + 1));
        pool.give_back(Vec::new());
        assert_eq!(pool.0.lock().unwrap().len(), 0);
        for _ in 0..KEEP + 5 {
            pool.give_back(Vec::with_capacity(KEEP_ROOM));
        }
        assert_eq!(pool.0.lock().unwrap().len(), KEEP);
    }
}
