//! Marking on a second connection, off the writer's path.
//!
//! One connection does one command at a time, each waiting a round trip for
//! its answer; the writer would wait for every `UID STORE` (40 of them for
//! 2,000 mails, so 4 s at a 100 ms round trip). So [`Source::ack_group`]
//! hands the group's UIDs to a thread with a session of its own on the same
//! folder and returns at once: its STOREs (and MOVEs) overlap the fetching
//! and the writing, and groups that queue up while one is in flight are
//! marked together, so the slower the server the fewer the commands.
//!
//! The rule is unchanged: a UID reaches this thread only after its group is
//! committed, so nothing is marked before it is stored; a run killed
//! before the thread sent its STORE leaves those messages unseen, and the
//! next run finds them stored already and marks them. `finish` (and a drop,
//! after an aborted run) waits until everything handed over is marked.
//! Errors come back with the next group, or from `finish`: a lost
//! connection is fatal as on the main session.
//!
//! [`Source::ack_group`]: crate::source::Source::ack_group

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use super::{open, ImapOptions};
use crate::source::{Source, SourceError, SourceReason};

/// The marking thread and its two channels.
pub(super) struct Acker {
    uids: Option<Sender<Vec<u32>>>,
    errors: Receiver<SourceError>,
    thread: Option<JoinHandle<()>>,
}

impl Acker {
    /// Starts the thread; it connects while the caller goes on.
    pub(super) fn start(opts: ImapOptions) -> Acker {
        let (uids, to_mark) = mpsc::channel::<Vec<u32>>();
        let (report, errors) = mpsc::channel();
        let thread = std::thread::spawn(move || mark(opts, &to_mark, &report));
        Acker {
            uids: Some(uids),
            errors,
            thread: Some(thread),
        }
    }

    /// Queues committed UIDs for marking.
    pub(super) fn send(&self, uids: Vec<u32>) {
        if let Some(tx) = &self.uids {
            // A closed channel means the thread ended on an error, which
            // `errors` then holds.
            let _ = tx.send(uids);
        }
    }

    /// The errors reported so far.
    pub(super) fn errors(&self) -> Vec<SourceError> {
        self.errors.try_iter().collect()
    }

    /// Waits until everything queued is marked; every error not yet taken.
    pub(super) fn finish(&mut self) -> Vec<SourceError> {
        self.uids = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                return vec![SourceError {
                    name: "imap".to_owned(),
                    reason: SourceReason::MarkingPanicked,
                    fatal: true,
                }];
            }
        }
        self.errors()
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The thread: connect, then mark whatever is queued, as one set each time.
fn mark(opts: ImapOptions, to_mark: &Receiver<Vec<u32>>, report: &Sender<SourceError>) {
    let mut source = match open(opts) {
        Ok(source) => source,
        Err(e) => {
            let _ = report.send(e);
            return;
        }
    };
    while let Ok(mut uids) = to_mark.recv() {
        uids.extend(to_mark.try_iter().flatten());
        uids.sort_unstable();
        uids.dedup();
        if let Err(e) = source.mark_done(&uids) {
            let fatal = e.fatal;
            let _ = report.send(e);
            if fatal {
                return;
            }
        }
    }
    // Expunges what needs it (COPY without UIDPLUS) and logs out.
    if let Err(e) = source.finish() {
        let _ = report.send(e);
    }
}
