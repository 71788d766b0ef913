//! The inputs handed to the parsing threads ahead of the writer: read from
//! the source on the writer's thread, queued in the source's order with
//! the channel each one's answer comes on, and sent to the parsing threads
//! as [`Job`]s, within the limits of how many and how many bytes wait.

use std::collections::VecDeque;
use std::sync::mpsc::{self, SyncSender};

use super::feed::FromParser;
use super::{Job, BATCHES_AHEAD, BYTES_AHEAD, HAND_OUT_AT_ONCE};
use crate::source::{Source, SourceError};

/// The inputs handed to the parsing threads and not yet written, in the
/// source's order.
pub(super) struct Ahead {
    /// The parsing threads' queue; dropped once the source has ended (or
    /// failed fatally), so that they stop as soon as they are done, while
    /// the writer still writes, rather than after it.
    pub(super) jobs: Option<SyncSender<Job>>,
    /// The source has ended (or failed fatally): `jobs` goes with the
    /// last held job.
    pub(super) ended: bool,
    /// Inputs read and queued here, their jobs not yet sent (see
    /// [`Ahead::refill`]).
    pub(super) held: Vec<Job>,
    pub(super) queue: VecDeque<Next>,
    pub(super) in_flight: usize,
    pub(super) bytes: usize,
}

impl Ahead {
    /// Nothing read yet; jobs go to `jobs`.
    pub(super) fn new(jobs: SyncSender<Job>) -> Ahead {
        Ahead {
            jobs: Some(jobs),
            ended: false,
            held: Vec::new(),
            queue: VecDeque::new(),
            in_flight: 0,
            bytes: 0,
        }
    }

    /// Hands out inputs one by one until `cap` (or [`BYTES_AHEAD`]) wait.
    pub(super) fn fill(&mut self, source: &mut dyn Source, cap: usize) {
        while self.hand_out_now(source, cap) {}
    }

    /// Hands out the next input at once (see [`Ahead::hand_out`]).
    pub(super) fn hand_out_now(&mut self, source: &mut dyn Source, cap: usize) -> bool {
        let more = self.hand_out(source, cap);
        self.send_held();
        more
    }

    /// Once the parsing threads are under way: hands out inputs up to
    /// `cap` only when [`HAND_OUT_AT_ONCE`] may go, and sends them
    /// together. One by one, each job woke a sleeping parsing thread (and
    /// it the other one, waiting for the queue): a run of duplicates,
    /// whose parsing threads are soon done with what they hold, paid
    /// those wake-ups for every input (bench/README.md, tenth round).
    pub(super) fn refill(&mut self, source: &mut dyn Source, cap: usize) {
        if self.in_flight + HAND_OUT_AT_ONCE > cap {
            return;
        }
        while self.hand_out(source, cap) {}
        self.send_held();
    }

    /// Sends the jobs held; drops the queue once the source has ended.
    fn send_held(&mut self) {
        if let Some(jobs) = &self.jobs {
            for job in self.held.drain(..) {
                // Never blocks: the channel holds OPENING_AHEAD, the most
                // handed out at once.
                if jobs.send(job).is_err() {
                    panic!("the parsing thread stopped");
                }
            }
        }
        if self.ended {
            self.jobs = None;
        }
    }

    /// Reads the next input and queues it, its job held for
    /// [`Ahead::send_held`], unless `cap` (or [`BYTES_AHEAD`]) wait or the
    /// source has ended; returns whether it may go on.
    fn hand_out(&mut self, source: &mut dyn Source, cap: usize) -> bool {
        if self.jobs.is_none() || self.ended {
            return false;
        }
        if self.in_flight >= cap || (self.in_flight > 0 && self.bytes >= BYTES_AHEAD) {
            return false;
        }
        match source.next_input() {
            None => self.ended = true,
            Some(Ok(input)) => {
                let len = input.bytes.len();
                let (answer, answers) = mpsc::sync_channel(BATCHES_AHEAD);
                self.held.push(Job { input, answer });
                self.in_flight += 1;
                self.bytes += len;
                self.queue
                    .push_back(Next::Input(len, FromParser::new(answers)));
            }
            Some(Err(e)) => {
                self.ended |= e.fatal;
                self.queue.push_back(Next::Failed(e));
            }
        }
        !self.ended
    }
}

/// What comes next from the source, in its order.
pub(super) enum Next {
    /// An input of this many bytes, queued for parsing, and its answer.
    Input(usize, FromParser),
    Failed(SourceError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Input, InputKind};

    /// `n` inputs of one byte, counting how many were read.
    struct Counted {
        left: usize,
        read: usize,
    }

    impl Source for Counted {
        fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
            self.left = self.left.checked_sub(1)?;
            self.read += 1;
            Some(Ok(Input {
                name: format!("in{}", self.read),
                bytes: vec![0u8].into(),
                kind: InputKind::File,
                token: 0,
                opened: None,
            }))
        }
    }

    /// The writer's side of taking one input off the queue.
    fn take(ahead: &mut Ahead) {
        let Some(Next::Input(len, _)) = ahead.queue.pop_front() else {
            panic!("no input queued");
        };
        ahead.in_flight -= 1;
        ahead.bytes -= len;
    }

    #[test]
    fn inputs_are_handed_out_several_at_once_in_order_and_the_queue_closes_at_the_end() {
        let (jobs, parsers) = mpsc::sync_channel(64);
        let mut ahead = Ahead::new(jobs);
        let mut source = Counted { left: 45, read: 0 };
        let cap = 32;
        ahead.fill(&mut source, cap);
        assert_eq!((source.read, parsers.try_iter().count()), (32, 32));
        // Until HAND_OUT_AT_ONCE have been written, nothing more is read...
        for taken in 1..HAND_OUT_AT_ONCE {
            take(&mut ahead);
            ahead.refill(&mut source, cap);
            assert_eq!(source.read, 32, "after {taken} taken");
            assert!(parsers.try_recv().is_err());
        }
        // ...then that many are read and sent together, in order.
        take(&mut ahead);
        ahead.refill(&mut source, cap);
        assert_eq!(source.read, 32 + HAND_OUT_AT_ONCE);
        let names: Vec<String> = parsers.try_iter().map(|j| j.input.name).collect();
        let want: Vec<String> = (33..=32 + HAND_OUT_AT_ONCE)
            .map(|i| format!("in{i}"))
            .collect();
        assert_eq!(names, want);
        assert_eq!(ahead.in_flight, cap);
        // The source ends: what is left goes out and the queue closes, so
        // the parsing threads stop once done.
        while !ahead.queue.is_empty() {
            take(&mut ahead);
            ahead.refill(&mut source, cap);
        }
        assert_eq!(source.read, 45);
        assert_eq!(parsers.try_iter().count(), 45 - 32 - HAND_OUT_AT_ONCE);
        assert!(ahead.jobs.is_none());
        assert!(matches!(parsers.recv(), Err(mpsc::RecvError)));
    }
}
