//! The writer's end of a parsing thread's messages: an input's batches
//! handed out one message at a time, and a payload's records as the store
//! asks for them (or, in a dry run, read through and counted). Should the
//! parsing thread have skipped a report the store does not hold after all,
//! its records are parsed here.

use std::cell::RefCell;
use std::panic::resume_unwind;
use std::sync::mpsc::Receiver;

use super::{Msg, Outcome, CHUNK};
use crate::extract::{Limits, Payload};
use crate::model::{Record, ReportHeader};
use crate::parse::{Guarded, ParseError, ReportReader};
use crate::store::StoreError;

/// A dry run's "store": reads every record, counting, as the store would.
pub(super) fn read_through(
    header: ReportHeader,
    feed: &mut ReportRecords<'_>,
) -> Result<Outcome, StoreError> {
    let (mut records, mut messages_fail) = (0u64, 0i64);
    let mut chunk = Vec::new();
    loop {
        feed.next_chunk(&mut chunk)?;
        if chunk.is_empty() {
            break;
        }
        for r in chunk.drain(..) {
            records += 1;
            if !r.dmarc_pass() {
                messages_fail = messages_fail.saturating_add(r.count);
            }
        }
    }
    if records == 0 {
        return Err(ParseError::NotAReport("no <record> elements".into()).into());
    }
    Ok(Outcome::Parsed {
        header: Box::new(header),
        records,
        messages_fail,
    })
}

/// The writer's end of the messages, which the parsing thread sends in
/// batches ([`ToWriter`]): handed out one at a time.
pub(super) struct FromParser {
    batches: Receiver<Vec<Msg>>,
    batch: RefCell<std::vec::IntoIter<Msg>>,
}

impl FromParser {
    pub(super) fn new(batches: Receiver<Vec<Msg>>) -> Self {
        FromParser {
            batches,
            batch: RefCell::new(Vec::new().into_iter()),
        }
    }
}

pub(super) fn recv(msgs: &FromParser) -> Msg {
    loop {
        if let Some(msg) = msgs.batch.borrow_mut().next() {
            return msg;
        }
        match msgs.batches.recv() {
            Ok(batch) => *msgs.batch.borrow_mut() = batch.into_iter(),
            Err(_) => panic!("the parsing thread stopped"),
        }
    }
}

/// The records of one payload, as the writer asks for them.
pub(super) struct ReportRecords<'a> {
    msgs: &'a FromParser,
    payload: &'a Payload,
    limits: &'a Limits,
    /// The parsing thread found the report stored and sent no records.
    skipped: bool,
    /// The payload's last message was received.
    ended: bool,
    last: bool,
    /// Parsing on this thread, when the parsing thread skipped a report
    /// that turns out not to be stored (deleted meanwhile).
    own: Option<ReportReader<Guarded<Box<dyn std::io::BufRead + 'a>>>>,
}

impl<'a> ReportRecords<'a> {
    /// The records that follow a payload's header in `msgs`; none when the
    /// parsing thread found the report `stored` (see [`Self::next`]).
    pub(super) fn new(
        msgs: &'a FromParser,
        payload: &'a Payload,
        limits: &'a Limits,
        stored: bool,
    ) -> Self {
        ReportRecords {
            msgs,
            payload,
            limits,
            skipped: stored,
            ended: stored,
            last: false,
            own: None,
        }
    }

    /// Fills `out` (empty) with the payload's next records, as the
    /// parsing thread sent them (its chunk's vector is handed over whole,
    /// the records are not moved one by one); leaves it empty at the end.
    pub(super) fn next_chunk(&mut self, out: &mut Vec<Record>) -> Result<(), StoreError> {
        if self.skipped {
            if self.own.is_none() {
                let mut own = ReportReader::new(self.payload.reader(self.limits));
                own.header()?;
                self.own = Some(own);
            }
            if let Some(own) = self.own.as_mut() {
                own.read_records(out, CHUNK)?;
            }
            return Ok(());
        }
        while out.is_empty() {
            if self.last || self.ended {
                self.ended = true;
                // The last chunk's vector, emptied, for the next runs.
                crate::parse::give_back(std::mem::take(out));
                return Ok(());
            }
            match recv(self.msgs) {
                Msg::Chunk { records, last } => {
                    // The chunk before, emptied by the store, is built
                    // into again by a parsing thread (`parse::give_back`).
                    crate::parse::give_back(std::mem::replace(out, records));
                    self.last = last;
                }
                Msg::Failed(e) => {
                    self.ended = true;
                    return Err(e.into());
                }
                Msg::Panicked(bug) => {
                    self.ended = true;
                    resume_unwind(Box::new(bug));
                }
                _ => panic!("the parsing thread is out of step"),
            }
        }
        Ok(())
    }

    /// Reads and drops what is left of the payload's records.
    pub(super) fn discard(&mut self) {
        while !self.ended && !self.last {
            match recv(self.msgs) {
                Msg::Chunk { last, .. } => self.last = last,
                Msg::Failed(_) | Msg::Panicked(_) => self.ended = true,
                _ => panic!("the parsing thread is out of step"),
            }
        }
    }
}
