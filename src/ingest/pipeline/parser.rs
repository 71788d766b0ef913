//! The pipeline's parsing threads: each asks the store's lookup whether a
//! gzip input is the very bytes of a stored report (then it is done), or
//! extracts the input, parses its
//! payloads (header first, asking the store's [`Lookup`](crate::store::Lookup) whether the report
//! is already committed, and from the same bytes; then, unless it is, the
//! records in chunks) and sends it all to
//! the writer in batches. SMTP TLS reports and failure report mails are
//! parsed whole and sent as one message each.

use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};

use super::inflate::{self, INFLATE_APART};
use super::lookups::{Opener, ThreadLookup};
use super::{Job, Msg, Unpacked, BATCH_RECORDS, HEADER_BUF, RECORDS_BUF};
use crate::extract::{self, Begun, Limits, Payload, PayloadKind};
use crate::ingest::isolate;
use crate::parse::arf::parse_arf;
use crate::parse::tls::read_tls;
use crate::parse::ReportReader;
use crate::source::Input;
use crate::store::{hash_kept, KeptSha, Known};
use sha2::{Digest, Sha256};

/// A parsing thread: the next input queued, until the writer hangs up.
/// Inputs are taken one at a time, whichever thread is free, so a big
/// report does not hold up the small ones queued behind it on another
/// thread. Its lookup (a SQLite file's is one for every thread: `lookups`)
/// is opened here, first thing, while the writer walks the source and
/// reads the first inputs (opened with the first input, it came after
/// them: a re-ingest was 0.1-0.3 ms slower; a run without inputs now opens
/// it for nothing, about 0.8 ms; bench/README.md, eleventh round).
pub(super) fn parse_inputs(jobs: &Mutex<Receiver<Job>>, limits: &Limits, opener: Opener<'_>) {
    let known = opener.open();
    let mut lowered = false;
    loop {
        let Ok(jobs) = jobs.lock() else {
            return;
        };
        let job = match jobs.try_recv() {
            Err(TryRecvError::Empty) => {
                // No work queued: the lookups' read transaction ends
                // before the wait (see `Lookup::rest`).
                if let Some(known) = &known {
                    known.rest();
                }
                jobs.recv().map_err(|_| TryRecvError::Disconnected)
            }
            job => job,
        };
        drop(jobs);
        let Ok(Job { input, answer }) = job else {
            return;
        };
        let mut out = ToWriter {
            out: &answer,
            batch: Vec::new(),
            records: 0,
        };
        if parse_input(input, &mut out, limits, known.as_ref()).is_err() || out.flush().is_err() {
            return;
        }
        if !lowered {
            super::priority::below_writer();
            lowered = true;
        }
    }
}

/// One input parsed on a thread of its own, without a lookup: the
/// writer's second look at an input told from its bytes alone
/// (`Writer::same`).
pub(super) fn parse_alone(input: Input, answer: &SyncSender<Vec<Msg>>, limits: &Limits) {
    let mut out = ToWriter {
        out: answer,
        batch: Vec::new(),
        records: 0,
    };
    if parse_input(input, &mut out, limits, None).is_ok() {
        let _ = out.flush();
    }
}

/// The writer hung up (it failed, or the run ended).
struct HungUp;

/// A parsing thread's end of one input's messages: collected into batches,
/// see [`BATCH_RECORDS`].
struct ToWriter<'a> {
    out: &'a SyncSender<Vec<Msg>>,
    batch: Vec<Msg>,
    /// Records in `batch`.
    records: usize,
}

impl ToWriter<'_> {
    fn flush(&mut self) -> Result<(), HungUp> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.records = 0;
        let batch = std::mem::take(&mut self.batch);
        self.out.send(batch).map_err(|_| HungUp)
    }
}

fn send(out: &mut ToWriter<'_>, msg: Msg) -> Result<(), HungUp> {
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
    mut input: Input,
    out: &mut ToWriter<'_>,
    limits: &Limits,
    known: Option<&ThreadLookup<'_>>,
) -> Result<(), HungUp> {
    // Closed here, after the rest is sent (see `Input::opened`).
    let opened = input.opened.take();
    // A gzip input may be the very bytes of a stored report: then nothing
    // of it is inflated or parsed. Its digest serves its report otherwise.
    let input_sha = match known {
        Some(db) if extract::is_gzip(&input.bytes) => {
            let sha: [u8; 32] = Sha256::digest(&input.bytes[..]).into();
            if db.same_bytes(&sha, &input.bytes).unwrap_or(false) {
                send(out, Msg::Same { input, sha })?;
                let sent = send(out, Msg::InputDone);
                drop(opened);
                return sent;
            }
            Some(sha)
        }
        _ => None,
    };
    let found = isolate(|| extract::extract_input(&input.name, &input.bytes, limits));
    let input_data = Arc::as_ptr(&input.bytes);
    let (payloads, mut begun, found) = match found {
        Ok(found) => {
            let unpacked = Unpacked {
                errors: found.errors,
                is_mail: found.is_mail,
                payloads: found.payloads.len(),
            };
            (found.payloads, found.begun, Ok(unpacked))
        }
        Err(bug) => (Vec::new(), None, Err(bug)),
    };
    send(out, Msg::Input { input, found })?;
    for payload in payloads {
        let payload = Arc::new(payload);
        // Inflating goes on where extraction stopped (for the payload that
        // is the input itself; `reader_from` checks).
        let begun = begun.take();
        // The input's digest is the payload's when the payload is the input.
        let sha = input_sha.filter(|_| payload.gzip && Arc::as_ptr(&payload.data) == input_data);
        match isolate(|| parse_payload(&payload, begun, sha, &mut *out, limits, known)) {
            Ok(sent) => sent?,
            Err(bug) => send(out, Msg::Panicked(bug))?,
        }
    }
    let sent = send(out, Msg::InputDone);
    drop(opened);
    sent
}

/// Sends a payload's header, then (unless it is stored) its records.
fn parse_payload(
    payload: &Arc<Payload>,
    begun: Option<Begun>,
    input_sha: Option<[u8; 32]>,
    out: &mut ToWriter<'_>,
    limits: &Limits,
    known: Option<&ThreadLookup<'_>>,
) -> Result<(), HungUp> {
    // SMTP TLS and failure reports are small and parsed whole here; the
    // aggregate path below is unchanged.
    match payload.kind {
        PayloadKind::Aggregate => {}
        PayloadKind::Tls => {
            let report = Box::new(read_tls(payload.reader(limits)));
            let payload = Arc::clone(payload);
            return send(out, Msg::Tls { payload, report });
        }
        PayloadKind::Failure => {
            let report = Box::new(parse_arf(&payload.data));
            let payload = Arc::clone(payload);
            return send(out, Msg::Failure { payload, report });
        }
    }
    // The SHA-256 of the kept bytes, for the writer (see `parse_from`).
    let sha = Arc::new(KeptSha::new());
    if let Some(digest) = input_sha {
        let _ = sha.set(digest);
    }
    if inflated_apart(payload) {
        return std::thread::scope(|scope| {
            let blocks = inflate::ahead(scope, payload, limits, &sha);
            let reader = ReportReader::from_blocks(Box::new(blocks), HEADER_BUF);
            // A block at a time: a pass over the window pauses after this
            // much and checks twice as much to be UTF-8 ahead of it, which
            // was checked again by the next pass while the block lasted.
            parse_from(reader, inflate::BLOCK, payload, &sha, out, known)
        });
    }
    // The header through a small buffer, so a duplicate costs a KiB or two
    // of inflating; the records in bigger chunks.
    let xml = payload.reader_from(begun, limits);
    let reader = ReportReader::with_capacity(xml, HEADER_BUF);
    parse_from(reader, RECORDS_BUF, payload, &sha, out, known)
}

/// Whether `payload` is inflated on a thread of its own: a huge report,
/// whose parsing thread has more to do than the writer (bench/README.md,
/// ninth round), which then tags the records' auth sets and hashes the
/// kept bytes itself.
fn inflated_apart(payload: &Payload) -> bool {
    payload.gzip && payload.data.len() >= INFLATE_APART
}

/// [`parse_payload`] from `reader`, over the payload's XML, the records
/// read `chunk` bytes at a time.
fn parse_from(
    mut reader: ReportReader<impl Read>,
    chunk: usize,
    payload: &Arc<Payload>,
    sha: &Arc<KeptSha>,
    out: &mut ToWriter<'_>,
    known: Option<&ThreadLookup<'_>>,
) -> Result<(), HungUp> {
    let header = reader.header();
    reader.set_chunk(chunk);
    let stored = match (&header, known) {
        (Ok(h), Some(db)) => db.known(h, payload).unwrap_or(Known::Absent),
        _ => Known::Absent,
    };
    let more = header.is_ok() && stored == Known::Absent;
    send(
        out,
        Msg::Header {
            payload: Arc::clone(payload),
            header: Box::new(header),
            stored,
            sha: Arc::clone(sha),
        },
    )?;
    if !more {
        return Ok(());
    }
    // Work taken off the writer, which has none to spare, unless this
    // thread is the busier one (`inflated_apart`; its inflating thread
    // makes the SHA-256 then): the SHA-256 the report_blob row needs after
    // the records, and the records' tags.
    let spare = !inflated_apart(payload);
    if spare {
        hash_kept(payload, sha);
    }
    loop {
        // A window's run of records at a time, handed over as they were
        // built (not moved into a chunk: bench/README.md, tenth round).
        match reader.take_ready() {
            Ok((mut records, more)) => {
                // The writer then finds their stored sets by the tag.
                if spare {
                    crate::store::tag_auth_sets(&mut records);
                }
                let last = !more;
                send(out, Msg::Chunk { records, last })?;
                if last {
                    return Ok(());
                }
            }
            Err(e) => return send(out, Msg::Failed(e)),
        }
    }
}
