//! The pipeline, ingest's one driver: while this thread writes one input's
//! reports to the sink (the store; nothing in a dry run), parsing threads
//! extract and parse the next inputs, so decompressing and parsing (about
//! three fifths of the work) and the inserts run on every core. With two
//! cores or more there are two parsing threads, each taking the next input
//! when it is free: one alone had half as much again to do as the writer,
//! and set the pace. From their second input on they run at a lower
//! priority than the writer, whose thread is then the run's critical path
//! (`priority`).
//! It is the only place that parses reports for storing: ingest from every
//! source, dry runs and `reparse`'s retry of the quarantine all come
//! through here.
//!
//! The source stays on this thread (it need not be `Send`: the mbox source
//! shares its file through an `Rc`) and queues each input for the parsing
//! threads, at most [`INPUTS_AHEAD`] ahead ([`OPENING_AHEAD`] while a new
//! database file is being made on a thread of its own, `ingest::opening`),
//! with a channel for the answer (a [`Job`]). The parsing thread that takes it answers there with a
//! stream of [`Msg`]s: what extraction found, then per payload its header
//! and its records in chunks, then [`Msg::InputDone`]; the writer reads the
//! answers in the source's order. Everything else is
//! decided here as in a run without it: duplicates (from the header,
//! before any record is inserted), a report's all-or-nothing, grouped
//! commits and acknowledgements, quarantine, and the order of events.
//!
//! A parsing thread may run ahead of the writer's duplicate check: it
//! looks the header up in the committed database through a read-only
//! connection of its own and skips the records of a report stored before,
//! so re-ingesting costs little more than the headers. A report kept from
//! the very same gzip bytes is a duplicate the writer counts without
//! asking the store (it settles other copies itself). A gzip input that
//! is itself such bytes (the same report file again) is found by its
//! digest before anything of it is inflated or parsed ([`Msg::Same`]).
//! A report stored in the open group is only found by the writer, which
//! then discards the records already parsed. Memory stays bounded: at most
//! [`BATCHES_AHEAD`] batches of about [`BATCH_RECORDS`] records wait per
//! input, however big the report.
//!
//! A panic on a parsing thread (a bug, or a library's on hostile bytes)
//! is caught there and re-raised here inside the writer's `isolate`, so it
//! rejects and quarantines that input exactly as a panic on this thread
//! does, and the run goes on.

use std::panic::resume_unwind;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};

use self::ahead::{Ahead, Next};
use self::feed::{read_through, recv, FromParser, ReportRecords};
use super::{
    ack_all, isolate, note_extracted, reject, stored_event, Event, Fatal, Opening, Sink, Summary,
    ACK_WITHOUT_COMMIT,
};
use crate::extract::{ExtractError, Limits, Payload};
use crate::model::tls::TlsReport;
use crate::model::{Record, ReportHeader};
use crate::parse::arf::{Arf, ArfError};
use crate::parse::tls::TlsError;
use crate::parse::ParseError;
use crate::source::{Input, Source};
use crate::store::{DbError, KeptSha, Known, StoreError, Stored};

/// Records handed from the parsing thread to the writer at a time.
const CHUNK: usize = 64;
/// Read size for the header check: most headers fit (a longer one takes
/// more reads), and a duplicate is told after inflating this much...
const HEADER_BUF: usize = 1024;
/// ...then the records are read in chunks of this size. 64 KiB rather
/// than 16: zlib-rs copies the last 32 KiB of every read into its window
/// (with the CRC-32), so a bigger read copies less of it, and a report of
/// a hundred records is read at once (bench/README.md, ninth round). The
/// window keeps a buffer of this size for its next document
/// (`parse::window`'s `KEEP`).
const RECORDS_BUF: usize = 64 * 1024;

/// Parsing threads, at most: with two, the writer's share of the work
/// is the bigger one (bench/README.md).
const MAX_PARSERS: usize = 2;
/// Inputs handed to the parsing threads and not yet written, at most...
/// (32 rather than 16 since the parsing threads run below the writer's
/// priority: parsing further ahead no longer takes the writer's core,
/// and item 1 was 1-3 ms faster; bench/README.md, tenth round.)
const INPUTS_AHEAD: usize = 32;
/// ...or this many while a new database file is being made (`Opening`):
/// the parsing threads would have nothing else to do, and every input
/// parsed then is work the writer's core does not share later. (Raised
/// for the whole run, it was worse: more parsed reports alive at once
/// fault in more fresh memory while both cores are busy; bench/README.md.)
const OPENING_AHEAD: usize = 64;
/// ...handed out this many at a time once the parsing threads are under
/// way (see `Ahead::refill`)...
const HAND_OUT_AT_ONCE: usize = 8;
/// ...and their bytes, unless there is only one: a directory of huge files
/// is not read into memory 32 at a time.
const BYTES_AHEAD: usize = 16 * 1024 * 1024;
/// Batches of messages a parsing thread may send ahead of the writer, per
/// input...
const BATCHES_AHEAD: usize = 4;
/// ...each sent once it holds this many records (sixteen chunks of
/// [`CHUNK`]), or when the input is done. A
/// small report is five messages; sent one by one, every message woke the
/// other thread, and those wake-ups cost the writer more than a tenth of
/// its time. A big report's batches are bigger than a small report for the
/// same reason: the thread ahead waits for room and is woken per batch
/// (bench/README.md, tenth round). At most some thousand records wait (about
/// 2 MiB), whatever the reports.
const BATCH_RECORDS: usize = 16 * CHUNK;
/// Messages in flight, at most (for the tests' sizing).
#[cfg(test)]
const MSGS_AHEAD: usize = BATCHES_AHEAD * (BATCH_RECORDS / CHUNK + 4);

/// An input for a parsing thread, and where its [`Msg`]s go.
struct Job {
    input: Input,
    answer: SyncSender<Vec<Msg>>,
}

/// What the parsing thread tells the writer, in order, for each input.
enum Msg {
    /// The input (handed back, for quarantine and acknowledgement) and
    /// what extraction found in it, or the message of a panic.
    Input {
        input: Input,
        found: Result<Unpacked, String>,
    },
    /// The input is the very bytes kept with a committed report (their
    /// SHA-256 `sha`), as the parsing thread's lookup found: nothing of it
    /// was extracted or parsed ([`Msg::InputDone`] follows).
    Same { input: Input, sha: [u8; 32] },
    /// A payload and its header, and what the committed database holds
    /// of it (unless [`Known::Absent`], no records follow).
    Header {
        payload: Arc<Payload>,
        header: Box<Result<ReportHeader, ParseError>>,
        stored: Known,
        /// The SHA-256 of the payload's kept bytes, made by the parsing
        /// thread before it sends the records (unless it does not).
        sha: Arc<KeptSha>,
    },
    /// Records of the payload; `last` ends it.
    Chunk { records: Vec<Record>, last: bool },
    /// An SMTP TLS report, parsed whole (nothing follows).
    Tls {
        payload: Arc<Payload>,
        report: Box<Result<TlsReport, TlsError>>,
    },
    /// A failure report mail, parsed whole (nothing follows).
    Failure {
        payload: Arc<Payload>,
        report: Box<Result<Arf, ArfError>>,
    },
    /// A record could not be parsed; ends the payload.
    Failed(ParseError),
    /// Parsing the payload panicked; ends the payload.
    Panicked(String),
    /// Nothing more for this input.
    InputDone,
}

/// Extraction's findings, the payloads themselves following one by one.
struct Unpacked {
    errors: Vec<ExtractError>,
    is_mail: bool,
    payloads: usize,
}

/// Stores every input of `source` in `sink`, parsing on other threads.
/// With an `opening` (a store being made; `sink` is `Nowhere` until then),
/// the first inputs are handed out before it is waited for, and it becomes
/// the sink before anything is written.
pub(super) fn drive<'s>(
    source: &mut dyn Source,
    sink: &mut Sink<'s>,
    opening: Option<&'s mut Opening>,
    opts: &super::Options,
    sum: &mut Summary,
    unacked: &mut Vec<Input>,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    let parsers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parsers = parsers.clamp(1, MAX_PARSERS);
    let limits = &opts.limits;
    // Room for every input handed out: sending a job never blocks.
    let (jobs, to_parse) = mpsc::sync_channel(OPENING_AHEAD);
    let to_parse = &Mutex::new(to_parse);
    let shared = &lookups::Shared::default();
    std::thread::scope(|scope| {
        for _ in 0..parsers {
            // Only a hint (see the module doc): without it, everything is
            // parsed. A store still being made holds nothing to find.
            let known = shared.opener(match sink {
                Sink::Store(store) => store.lookup_opener(),
                Sink::Nowhere => None,
            });
            scope.spawn(move || parser::parse_inputs(to_parse, limits, known));
        }
        let mut w = Writer {
            sink,
            limits,
            redact: opts.redact,
            sum,
            unacked,
            on_event,
            msgs: FromParser::new(mpsc::sync_channel(0).1),
            opening,
            conflicted: false,
        };
        // The channel is closed once the source has ended (or the writer
        // returns), which stops the parsing threads.
        w.drive(source, jobs)
    })
}

/// The writer's side: the sink and the run's bookkeeping.
struct Writer<'a, 's> {
    /// A store still being made, to become `sink` (see [`drive`]).
    opening: Option<&'s mut Opening>,
    sink: &'a mut Sink<'s>,
    limits: &'a Limits,
    /// Store failure reports redacted.
    redact: bool,
    sum: &'a mut Summary,
    unacked: &'a mut Vec<Input>,
    on_event: &'a mut dyn FnMut(&Event<'_>),
    /// The answer of the input being written.
    msgs: FromParser,
    /// A stored report met another copy in this run (which may have
    /// replaced its bytes unseen by the parsing threads): from then on,
    /// the writer settles every copy of a stored report itself.
    conflicted: bool,
}

impl Writer<'_, '_> {
    fn drive(&mut self, source: &mut dyn Source, jobs: SyncSender<Job>) -> Result<(), Fatal> {
        let mut ahead = Ahead::new(jobs);
        ahead.fill(source, INPUTS_AHEAD);
        // The first inputs are being parsed: the store being made, if any,
        // is waited for now (its disk syncs overlap with them), and while
        // it is not there the parsing threads may go further ahead.
        while self.opening.as_ref().is_some_and(|o| !o.is_ready())
            && ahead.hand_out_now(source, OPENING_AHEAD)
        {}
        self.wait_for_store()?;
        loop {
            ahead.refill(source, INPUTS_AHEAD);
            match ahead.queue.pop_front() {
                None => return Ok(()),
                Some(Next::Failed(e)) if e.fatal => return Err(Fatal::Source(e)),
                Some(Next::Failed(e)) => {
                    reject(self.sum, self.on_event, e.name, e.reason.to_string())
                }
                Some(Next::Input(len, msgs)) => {
                    ahead.in_flight -= 1;
                    ahead.bytes -= len;
                    self.msgs = msgs;
                    self.input(source)?;
                    (self.on_event)(&Event::InputDone);
                }
            }
        }
    }

    /// Makes the store being opened the sink, grouping reports as
    /// `ingest::run` does for an open one.
    fn wait_for_store(&mut self) -> Result<(), Fatal> {
        if let Some(opening) = self.opening.take() {
            let store = opening.wait().map_err(Fatal::Open)?;
            store.set_batching(true)?;
            *self.sink = Sink::Store(store);
        }
        Ok(())
    }

    /// Stores the next input, then commits and acknowledges when due.
    fn input(&mut self, source: &mut dyn Source) -> Result<(), Fatal> {
        let (input, found) = match self.recv() {
            Msg::Input { input, found } => (input, found),
            Msg::Same { input, sha } => return self.same(source, input, sha),
            _ => panic!("the parsing thread is out of step"),
        };
        self.sum.inputs += 1;
        match isolate(|| self.store_input(&input, found)) {
            Ok(done) => done?,
            Err(bug) => {
                let reason = format!("internal error, please report: {bug}");
                self.quarantine(&input.name, &reason, &input.bytes)?;
                reject(self.sum, self.on_event, input.name.clone(), reason);
            }
        }
        // After a panic, what was parsed of the rest of the input.
        while !matches!(self.recv(), Msg::InputDone) {}
        self.done(source, input)
    }

    /// An input a parsing thread found to be the very bytes kept with a
    /// committed report: a duplicate, counted as one (its header unread),
    /// unless this run changed a stored report's copy, which the lookup's
    /// snapshot may not show: then the writer asks its own view, and if
    /// no report keeps those bytes now, the input is parsed after all, on
    /// a thread of its own, and stored as any other.
    fn same(&mut self, source: &mut dyn Source, input: Input, sha: [u8; 32]) -> Result<(), Fatal> {
        while !matches!(self.recv(), Msg::InputDone) {}
        let same = !self.conflicted
            || match self.sink {
                Sink::Store(store) => store.holds_kept(&sha, &input.bytes)?,
                Sink::Nowhere => false,
            };
        if same {
            self.sum.inputs += 1;
            let outcome = Stored::Duplicate { header: None };
            stored_event(self.sum, self.on_event, &input.name, &outcome);
            return self.done(source, input);
        }
        let limits = self.limits;
        std::thread::scope(|scope| {
            let (answer, answers) = mpsc::sync_channel(BATCHES_AHEAD);
            scope.spawn(move || parser::parse_alone(input, &answer, limits));
            self.msgs = FromParser::new(answers);
            self.input(source)
        })
    }

    /// An input is written: acknowledged with its group once committed.
    fn done(&mut self, source: &mut dyn Source, input: Input) -> Result<(), Fatal> {
        self.unacked.push(Input {
            bytes: Arc::default(),
            ..input
        });
        // A group is acknowledged as a whole once committed; inputs that
        // opened no group wait for the next one (or for ACK_WITHOUT_COMMIT).
        let committed = match self.sink {
            Sink::Store(store) => {
                let open = store.in_group();
                store.commit_due()? && (open || self.unacked.len() >= ACK_WITHOUT_COMMIT)
            }
            Sink::Nowhere => false,
        };
        if committed {
            ack_all(source, self.unacked, self.sum)?;
        }
        Ok(())
    }

    /// Keeps an input that could not be stored (not in a dry run).
    fn quarantine(&mut self, name: &str, reason: &str, bytes: &[u8]) -> Result<(), DbError> {
        match self.sink {
            Sink::Store(store) => store.quarantine(name, reason, bytes),
            Sink::Nowhere => Ok(()),
        }
    }

    /// Stores what was found in one input, or quarantines it.
    fn store_input(&mut self, input: &Input, found: Result<Unpacked, String>) -> Result<(), Fatal> {
        let found = found.unwrap_or_else(|bug| resume_unwind(Box::new(bug)));
        let failed = note_extracted(
            input,
            found.errors,
            found.is_mail,
            found.payloads,
            self.sum,
            self.on_event,
        );
        if failed {
            let reason = self.sum.rejected.last().map(|r| r.reason.clone());
            let reason = reason.unwrap_or_default();
            self.quarantine(&input.name, &reason, &input.bytes)?;
        }
        for _ in 0..found.payloads {
            let (payload, header, stored, sha) = match self.recv() {
                Msg::Header {
                    payload,
                    header,
                    stored,
                    sha,
                } => (payload, header, stored, sha),
                Msg::Tls { payload, report } => {
                    self.store_tls(&payload, *report)?;
                    continue;
                }
                Msg::Failure { payload, report } => {
                    self.store_failure(&payload, *report)?;
                    continue;
                }
                Msg::Panicked(bug) => resume_unwind(Box::new(bug)),
                _ => panic!("the parsing thread is out of step"),
            };
            let outcome = match *header {
                // The same bytes as a committed report: nothing to look
                // at, unless this run changed a stored report's copy.
                Ok(header) if stored == Known::SameBytes && !self.conflicted => {
                    let header = Some(Box::new(header));
                    Ok(Outcome::Stored(Stored::Duplicate { header }))
                }
                Ok(header) => self.store_payload(&payload, &sha, header, stored != Known::Absent),
                Err(e) => Err(StoreError::Parse(e)),
            };
            match outcome {
                Ok(Outcome::Stored(outcome)) => {
                    self.conflicted |= matches!(outcome, Stored::Conflicting { .. });
                    stored_event(self.sum, self.on_event, &payload.name, &outcome)
                }
                Ok(Outcome::Parsed {
                    header,
                    records,
                    messages_fail,
                }) => {
                    self.sum.parsed += 1;
                    (self.on_event)(&Event::DryRun {
                        name: &payload.name,
                        org_name: &header.metadata.org_name,
                        report_id: &header.metadata.report_id,
                        records,
                        messages_fail,
                    });
                }
                Err(StoreError::Parse(e)) => {
                    let reason = e.to_string();
                    self.quarantine(&payload.name, &reason, &payload.data)?;
                    reject(self.sum, self.on_event, payload.name.clone(), reason);
                }
                Err(StoreError::Db(e)) => return Err(Fatal::Db(e)),
            }
        }
        Ok(())
    }

    /// Stores one payload from its header and the records that follow it
    /// (in a dry run, reads them through).
    fn store_payload(
        &mut self,
        payload: &Payload,
        sha: &KeptSha,
        header: ReportHeader,
        stored: bool,
    ) -> Result<Outcome, StoreError> {
        let mut feed = ReportRecords::new(&self.msgs, payload, self.limits, stored);
        let outcome = match self.sink {
            Sink::Store(store) => store
                .store_parsed_hashed(
                    payload,
                    sha,
                    self.limits,
                    &payload.name,
                    header,
                    &mut |out| feed.next_chunk(out),
                )
                .map(Outcome::Stored),
            Sink::Nowhere => read_through(header, &mut feed),
        };
        // A duplicate found here, or an error: the rest is not needed.
        feed.discard();
        outcome
    }

    fn recv(&self) -> Msg {
        recv(&self.msgs)
    }
}

/// What became of one payload.
enum Outcome {
    Stored(Stored),
    /// Dry run: parsed whole, with this many records and failing messages.
    Parsed {
        header: Box<ReportHeader>,
        records: u64,
        messages_fail: i64,
    },
}

mod ahead;
mod feed;
mod inflate;
mod lookups;
mod other;
mod parser;
mod priority;

#[cfg(test)]
mod tests;
