//! Parsing ahead: while this thread writes one input's reports to SQLite, a
//! second thread extracts and parses the next inputs, so the two halves of
//! the work (about equal: decompressing and parsing, and the inserts) run
//! on two cores.
//!
//! The source stays on this thread (it need not be `Send`: the mbox source
//! shares its file through an `Rc`) and hands each input to the parsing
//! thread, at most [`INPUTS_AHEAD`] ahead. The parsing thread answers, per
//! input and in order, with a stream of [`Msg`]s: what extraction found,
//! then per payload its header and its records in chunks, then
//! [`Msg::InputDone`]. Everything else is decided here as in a run without
//! it: duplicates (from the header, before any record is inserted), the
//! savepoint per report, grouped commits and acknowledgements, quarantine,
//! and the order of events.
//!
//! The parsing thread may run ahead of the writer's duplicate check: it
//! looks the header up in the committed database through a read-only
//! connection of its own and skips the records of a report stored before,
//! so re-ingesting costs little more than the headers. A report stored in
//! the open group is only found by the writer, which then discards the
//! records already parsed. Memory stays bounded: at most
//! [`BATCHES_AHEAD`] batches of about [`BATCH_RECORDS`] records wait,
//! however big the report.
//!
//! A panic on the parsing thread (a bug, or a library's on hostile bytes)
//! is caught there and re-raised here inside the writer's `isolate`, so it
//! rejects and quarantines that input exactly as a panic on this thread
//! does, and the run goes on.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::resume_unwind;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use super::{
    ack_all, isolate, note_extracted, reject, stored_event, Event, Fatal, Summary,
    ACK_WITHOUT_COMMIT,
};
use crate::extract::{self, ExtractError, Limits, Payload};
use crate::model::{Record, ReportHeader};
use crate::parse::{Guarded, ParseError, ReportReader};
use crate::source::{Input, Source, SourceError};
use crate::store::{self, Store, StoreError, CHUNK, HEADER_BUF, RECORDS_BUF};

/// Inputs handed to the parsing thread and not yet written, at most...
const INPUTS_AHEAD: usize = 16;
/// ...and their bytes, unless there is only one: a directory of huge files
/// is not read into memory sixteen at a time.
const BYTES_AHEAD: usize = 16 * 1024 * 1024;
/// Batches of messages the parsing thread may send ahead of the writer...
const BATCHES_AHEAD: usize = 8;
/// ...each sent once it holds this many records (four chunks of
/// [`CHUNK`]), or when the parsing thread has nothing more to parse. A
/// small report is five messages; sent one by one, every message woke the
/// other thread, and those wake-ups cost the writer more than a tenth of
/// its time. At most some thousand records wait, whatever the reports.
const BATCH_RECORDS: usize = 4 * CHUNK;
/// Messages in flight, at most (for the tests' sizing).
#[cfg(test)]
const MSGS_AHEAD: usize = BATCHES_AHEAD * (BATCH_RECORDS / CHUNK + 4);

/// What the parsing thread tells the writer, in order, for each input.
enum Msg {
    /// The input (handed back, for quarantine and acknowledgement) and
    /// what extraction found in it, or the message of a panic.
    Input {
        input: Input,
        found: Result<Unpacked, String>,
    },
    /// A payload and its header; `stored` when the committed database
    /// already holds it (then no records follow).
    Header {
        payload: Arc<Payload>,
        header: Box<Result<ReportHeader, ParseError>>,
        stored: bool,
    },
    /// Records of the payload; `last` ends it.
    Chunk { records: Vec<Record>, last: bool },
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

/// What comes next from the source, in its order.
enum Next {
    /// An input of this many bytes, handed to the parsing thread.
    Input(usize),
    Failed(SourceError),
}

/// Stores every input of `source`, parsing on a second thread; the
/// counterpart of `ingest::drive` for a run that writes.
pub(super) fn drive(
    source: &mut dyn Source,
    store: &mut Store,
    opts: &super::Options,
    sum: &mut Summary,
    unacked: &mut Vec<Input>,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    let db = store.path().map(str::to_string);
    let limits = &opts.limits;
    std::thread::scope(|scope| {
        let (inputs, to_parse) = mpsc::sync_channel(INPUTS_AHEAD);
        let (out, msgs) = mpsc::sync_channel(BATCHES_AHEAD);
        let msgs = Inbox::new(msgs);
        scope.spawn(move || parse_inputs(&to_parse, &out, limits, db.as_deref()));
        let mut w = Writer {
            store,
            limits,
            sum,
            unacked,
            on_event,
            msgs,
        };
        // Returning drops both channel ends, which stops the parsing thread.
        w.drive(source, inputs)
    })
}

/// The writer's side: the store and the run's bookkeeping.
struct Writer<'a> {
    store: &'a mut Store,
    limits: &'a Limits,
    sum: &'a mut Summary,
    unacked: &'a mut Vec<Input>,
    on_event: &'a mut dyn FnMut(&Event<'_>),
    msgs: Inbox,
}

impl Writer<'_> {
    fn drive(&mut self, source: &mut dyn Source, inputs: SyncSender<Input>) -> Result<(), Fatal> {
        let mut queue = VecDeque::new();
        let (mut in_flight, mut bytes, mut ended) = (0, 0, false);
        loop {
            while !ended && in_flight < INPUTS_AHEAD && (in_flight == 0 || bytes < BYTES_AHEAD) {
                match source.next_input() {
                    None => ended = true,
                    Some(Ok(input)) => {
                        let len = input.bytes.len();
                        // Never blocks: the channel holds INPUTS_AHEAD.
                        if inputs.send(input).is_err() {
                            panic!("the parsing thread stopped");
                        }
                        in_flight += 1;
                        bytes += len;
                        queue.push_back(Next::Input(len));
                    }
                    Some(Err(e)) => {
                        ended = e.fatal;
                        queue.push_back(Next::Failed(e));
                    }
                }
            }
            match queue.pop_front() {
                None => return Ok(()),
                Some(Next::Failed(e)) if e.fatal => return Err(Fatal::Source(e)),
                Some(Next::Failed(e)) => reject(self.sum, self.on_event, e.name, e.reason),
                Some(Next::Input(len)) => {
                    in_flight -= 1;
                    bytes -= len;
                    self.input(source)?;
                    (self.on_event)(&Event::InputDone);
                }
            }
        }
    }

    /// Stores the next input, then commits and acknowledges when due.
    fn input(&mut self, source: &mut dyn Source) -> Result<(), Fatal> {
        let Msg::Input { input, found } = self.recv() else {
            panic!("the parsing thread is out of step");
        };
        self.sum.inputs += 1;
        match isolate(|| self.store_input(&input, found)) {
            Ok(done) => done?,
            Err(bug) => {
                let reason = format!("internal error, please report: {bug}");
                self.store.quarantine(&input.name, &reason, &input.bytes)?;
                reject(self.sum, self.on_event, input.name.clone(), reason);
            }
        }
        // After a panic, what was parsed of the rest of the input.
        while !matches!(self.recv(), Msg::InputDone) {}
        self.unacked.push(Input {
            bytes: Arc::default(),
            ..input
        });
        // A group is acknowledged as a whole once committed; inputs that
        // opened no group wait for the next one (or for ACK_WITHOUT_COMMIT).
        let open = !self.store.conn().is_autocommit();
        if self.store.commit_due()? && (open || self.unacked.len() >= ACK_WITHOUT_COMMIT) {
            ack_all(source, self.unacked, self.sum)?;
        }
        Ok(())
    }

    /// `ingest::ingest_input` with the parsing done ahead.
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
            self.store.quarantine(&input.name, &reason, &input.bytes)?;
        }
        for _ in 0..found.payloads {
            let (payload, header, stored) = match self.recv() {
                Msg::Header {
                    payload,
                    header,
                    stored,
                } => (payload, header, stored),
                Msg::Panicked(bug) => resume_unwind(Box::new(bug)),
                _ => panic!("the parsing thread is out of step"),
            };
            let outcome = match *header {
                Ok(header) => self.store_payload(&payload, header, stored),
                Err(e) => Err(StoreError::Parse(e)),
            };
            match outcome {
                Ok(outcome) => stored_event(self.sum, self.on_event, &payload.name, &outcome),
                Err(StoreError::Parse(e)) => {
                    let reason = e.to_string();
                    self.store
                        .quarantine(&payload.name, &reason, &payload.data)?;
                    reject(self.sum, self.on_event, payload.name.clone(), reason);
                }
                Err(StoreError::Db(e)) => return Err(Fatal::Db(e)),
            }
        }
        Ok(())
    }

    /// Stores one payload from its header and the records that follow it.
    fn store_payload(
        &mut self,
        payload: &Payload,
        header: ReportHeader,
        stored: bool,
    ) -> Result<store::Stored, StoreError> {
        let mut feed = Feed {
            msgs: &self.msgs,
            payload,
            limits: self.limits,
            skipped: stored,
            ended: stored,
            chunk: Vec::new().into_iter(),
            last: false,
            own: None,
        };
        let outcome = self
            .store
            .store_parsed(payload, &payload.name, header, &mut || feed.next());
        // A duplicate found here, or an error: the rest is not needed.
        feed.discard();
        outcome
    }

    fn recv(&self) -> Msg {
        recv(&self.msgs)
    }
}

/// The writer's end of the messages, which the parsing thread sends in
/// batches ([`Outbox`]): handed out one at a time.
struct Inbox {
    batches: Receiver<Vec<Msg>>,
    batch: RefCell<std::vec::IntoIter<Msg>>,
}

impl Inbox {
    fn new(batches: Receiver<Vec<Msg>>) -> Self {
        Inbox {
            batches,
            batch: RefCell::new(Vec::new().into_iter()),
        }
    }
}

fn recv(msgs: &Inbox) -> Msg {
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
struct Feed<'a> {
    msgs: &'a Inbox,
    payload: &'a Payload,
    limits: &'a Limits,
    /// The parsing thread found the report stored and sent no records.
    skipped: bool,
    /// The payload's last message was received.
    ended: bool,
    chunk: std::vec::IntoIter<Record>,
    last: bool,
    /// Parsing on this thread, when the parsing thread skipped a report
    /// that turns out not to be stored (deleted meanwhile).
    own: Option<ReportReader<Guarded<Box<dyn std::io::BufRead + 'a>>>>,
}

impl Feed<'_> {
    fn next(&mut self) -> Result<Option<Record>, StoreError> {
        if self.skipped {
            if self.own.is_none() {
                let mut own = ReportReader::new(self.payload.reader(self.limits));
                own.header()?;
                self.own = Some(own);
            }
            return match self.own.as_mut() {
                Some(own) => Ok(own.next_record()?),
                None => Ok(None),
            };
        }
        loop {
            if let Some(rec) = self.chunk.next() {
                return Ok(Some(rec));
            }
            if self.last || self.ended {
                self.ended = true;
                return Ok(None);
            }
            match recv(self.msgs) {
                Msg::Chunk { records, last } => {
                    self.chunk = records.into_iter();
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
    }

    /// Reads and drops what is left of the payload's records.
    fn discard(&mut self) {
        while !self.ended && !self.last {
            match recv(self.msgs) {
                Msg::Chunk { last, .. } => self.last = last,
                Msg::Failed(_) | Msg::Panicked(_) => self.ended = true,
                _ => panic!("the parsing thread is out of step"),
            }
        }
    }
}

/// The parsing thread: every input until the writer hangs up.
fn parse_inputs(
    inputs: &Receiver<Input>,
    out: &SyncSender<Vec<Msg>>,
    limits: &Limits,
    db: Option<&str>,
) {
    // Only a hint (see the module doc): without it, everything is parsed.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let known = db.and_then(|db| Connection::open_with_flags(db, flags).ok());
    let mut out = Outbox {
        out,
        batch: Vec::new(),
        records: 0,
    };
    loop {
        let input = match inputs.try_recv() {
            Ok(input) => input,
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                // Nothing to parse until the writer asks for more: what
                // is parsed must reach it first.
                if out.flush().is_err() {
                    return;
                }
                match inputs.recv() {
                    Ok(input) => input,
                    Err(_) => return,
                }
            }
        };
        if parse_input(input, &mut out, limits, known.as_ref()).is_err() {
            return;
        }
    }
}

/// The writer hung up (it failed, or the run ended).
struct HungUp;

/// The parsing thread's end of the messages: collected into batches, see
/// [`BATCH_RECORDS`].
struct Outbox<'a> {
    out: &'a SyncSender<Vec<Msg>>,
    batch: Vec<Msg>,
    /// Records in `batch`.
    records: usize,
}

impl Outbox<'_> {
    fn flush(&mut self) -> Result<(), HungUp> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.records = 0;
        let batch = std::mem::take(&mut self.batch);
        self.out.send(batch).map_err(|_| HungUp)
    }
}

fn send(out: &mut Outbox<'_>, msg: Msg) -> Result<(), HungUp> {
    if let Msg::Chunk { records, .. } = &msg {
        out.records += records.len();
    }
    out.batch.push(msg);
    if out.records >= BATCH_RECORDS {
        out.flush()?;
    }
    Ok(())
}

/// Extracts one input and parses every payload in it.
fn parse_input(
    input: Input,
    out: &mut Outbox<'_>,
    limits: &Limits,
    known: Option<&Connection>,
) -> Result<(), HungUp> {
    let found = isolate(|| extract::extract_input(&input.name, &input.bytes, limits));
    let (payloads, found) = match found {
        Ok(found) => {
            let unpacked = Unpacked {
                errors: found.errors,
                is_mail: found.is_mail,
                payloads: found.payloads.len(),
            };
            (found.payloads, Ok(unpacked))
        }
        Err(bug) => (Vec::new(), Err(bug)),
    };
    send(out, Msg::Input { input, found })?;
    for payload in payloads {
        let payload = Arc::new(payload);
        match isolate(|| parse_payload(&payload, &mut *out, limits, known)) {
            Ok(sent) => sent?,
            Err(bug) => send(out, Msg::Panicked(bug))?,
        }
    }
    send(out, Msg::InputDone)
}

/// Sends a payload's header, then (unless it is stored) its records.
fn parse_payload(
    payload: &Arc<Payload>,
    out: &mut Outbox<'_>,
    limits: &Limits,
    known: Option<&Connection>,
) -> Result<(), HungUp> {
    // The header through a small buffer, so a duplicate costs a KiB or two
    // of inflating; the records in bigger chunks.
    let mut reader = ReportReader::with_capacity(payload.reader(limits), HEADER_BUF);
    let header = reader.header();
    reader.set_chunk(RECORDS_BUF);
    let stored = match (&header, known) {
        (Ok(h), Some(db)) => store::is_stored(db, h).unwrap_or(false),
        _ => false,
    };
    let more = header.is_ok() && !stored;
    let payload = Arc::clone(payload);
    let header = Box::new(header);
    send(
        out,
        Msg::Header {
            payload,
            header,
            stored,
        },
    )?;
    if !more {
        return Ok(());
    }
    let mut records = Vec::with_capacity(CHUNK);
    loop {
        match reader.next_record() {
            Ok(Some(r)) => {
                records.push(r);
                if records.len() == CHUNK {
                    let records = std::mem::replace(&mut records, Vec::with_capacity(CHUNK));
                    send(
                        out,
                        Msg::Chunk {
                            records,
                            last: false,
                        },
                    )?;
                }
            }
            Ok(None) => {
                return send(
                    out,
                    Msg::Chunk {
                        records,
                        last: true,
                    },
                )
            }
            Err(e) => return send(out, Msg::Failed(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{report_xml, write_gz, ReportSpec};
    use crate::ingest::{run, Options};
    use crate::source::InputKind;

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
        run(&mut src, Some(store), &Options::default(), &mut |_| {}).unwrap()
    }

    fn count(store: &Store, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        store.conn().query_row(&sql, [], |r| r.get(0)).unwrap()
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
    fn reports_committed_before_are_duplicates_without_their_records_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let inputs = || vec![("a", gz(1, 50)), ("b", gz(2, 50))];
        let mut store = Store::open(&path).unwrap();
        assert_eq!(ingest(&mut store, inputs()).new, 2);
        // A stored report whose records would no longer parse: the
        // duplicate is decided from the header alone.
        let mut xml = report_xml(&ReportSpec::new(1, 50));
        xml.truncate(xml.rfind("</record>").unwrap());
        let sum = ingest(
            &mut store,
            vec![("a-cut", xml.into_bytes()), ("b", gz(2, 50))],
        );
        assert_eq!((sum.new, sum.duplicate), (0, 2));
        assert!(sum.rejected.is_empty(), "{:?}", sum.rejected);
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
        };
        let (_out, msgs) = mpsc::sync_channel(1);
        let msgs = Inbox::new(msgs);
        let limits = Limits::default();
        let mut feed = Feed {
            msgs: &msgs,
            payload: &payload,
            limits: &limits,
            skipped: true,
            ended: true,
            chunk: Vec::new().into_iter(),
            last: false,
            own: None,
        };
        let mut n = 0;
        while feed.next().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 9);
        feed.discard();
    }
}
