//! Parse: stream one aggregate report's XML into the [`model`] types.
//!
//! SMTP TLS reports (RFC 8460 JSON) are read by [`tls`], failure reports
//! (RFC 6591 ARF mail) by [`arf`]; the rest of this file is the aggregate
//! report's parser.
//!
//! A pull parser over any `Read`: [`ReportReader::header`] reads
//! everything before the first `<record>` (metadata and published policy),
//! then [`ReportReader::next_record`] hands out one record at a time. The
//! store can therefore decide a report's identity before touching its
//! records (a duplicate costs almost nothing) and never holds a whole report
//! in memory.
//!
//! The input is read a chunk at a time into one buffer and cut into events
//! there (`window`; the tag expected next is compared first: `expect`);
//! the events build the header and the records
//! (`builder`; where each value goes: `fields`), which are handed out a
//! buffer's worth at a time. quick-xml's own reader, which copied every
//! event, is kept for the rare markup (comments, CDATA, declarations,
//! DOCTYPE).
//!
//! Elements are matched by local name, so every namespace seen in the wild
//! parses alike: none (RFC 7489 and the pre-RFC draft), RFC 9990's
//! `urn:ietf:params:xml:ns:dmarc-2.0`, `http://dmarc.org/dmarc-xml/0.1`,
//! prefixed or default.
//!
//! Leniency, each because a real reporter needs it:
//! - invalid UTF-8 in a text field (a cp1252 smart quote in a file declared
//!   UTF-8) is decoded as windows-1252 rather than failing the report;
//! - a declared single-byte encoding (ISO-8859-1, windows-1252) is honoured,
//!   unless the field is valid UTF-8 (mislabelled files are common);
//! - an unclosed wrapper element before `<feedback>` (ikea wraps the report
//!   in an unclosed `<xs:schema>`) is ignored: the document ends at EOF;
//! - broken markup inside a text field (`<email><bad@x></email>`) is
//!   recovered the way libxml2's recover mode does: a stray start tag is an
//!   unknown child, a closing tag closes everything up to its own element;
//! - unknown elements and `<extension>` are skipped.
//!
//! A report whose markup had to be repaired (an element closed by an outer
//! end tag, an end tag that closes nothing) is still read, and
//! [`ReportReader::repair`] says so: when two copies of one report differ,
//! the store prefers the copy that needed no repair. Decoding leniency
//! (encodings, the unclosed wrapper) is not a repair: it is how those
//! reporters always write.
//!
//! Strictness: a DTD is skipped, never read, so neither internal entities
//! (billion laughs) nor external ones (a local file) are expanded; an entity
//! reference other than the five predefined ones stays as literal text.
//! Limits on nesting depth and on the length of one text run keep a hostile
//! document in bounded memory.

use std::io::{self, Read};

use quick_xml::Reader;

use crate::model::{Record, ReportHeader};

pub mod arf;
mod builder;
mod expect;
mod fields;
mod scan;
mod spare;
mod tag;
mod text;
pub mod tls;
mod window;

use builder::Builder;
pub use spare::give_back;
use tag::Tag;
use text::Text;
pub use window::{BlockFeed, HEADROOM};
use window::{Goal, Window};

/// Deepest element nesting accepted. Real reports nest 5 deep.
pub const MAX_DEPTH: usize = 256;
/// Longest run of bytes without markup (one text field or one tag).
/// Real fields are short; this bounds the parser's buffer.
pub const MAX_RUN: usize = 8 * 1024 * 1024;
/// Most bytes kept in memory for one record, or for the report header:
/// its text plus the size of every auth result and reason it adds. Real
/// records hold well under a KiB. Without it, `<dkim></dkim>` repeated
/// inside one record grows a Vec by ~8 bytes of memory per byte of XML,
/// and a capped 512 MiB document could take gigabytes.
pub const MAX_KEPT: usize = 16 * 1024 * 1024;

/// Why a document is not a usable aggregate report.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Well-formed enough, but not an aggregate report (no `<feedback>`,
    /// no report_id, ...).
    #[error("not a DMARC aggregate report: {0}")]
    NotAReport(String),
    /// An aggregate report with a value we refuse to store.
    #[error("invalid report: {0}")]
    Invalid(String),
    /// The XML could not be read.
    #[error("XML error: {0}")]
    Xml(String),
    /// Reading the bytes failed (decompression, size cap).
    #[error("{0}")]
    Io(String),
}

type Result<T> = std::result::Result<T, ParseError>;

/// Where the reader is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `<feedback>` and inside its header part.
    Header,
    /// Header done; records follow.
    Records,
    /// `</feedback>` or end of input seen.
    Done,
}

/// Streams one report. See the module documentation.
pub struct ReportReader<R> {
    window: Window<R>,
    builder: Builder,
    /// Records handed out so far (for error messages).
    records: u64,
    /// An error met while parsing ahead, handed out after the records
    /// completed before it.
    failed: Option<ParseError>,
    /// The input was read to its end after the document.
    drained: bool,
}

/// What [`ReportReader`] reads from: the input behind a [`RunGuard`]. The
/// window reads whole chunks, so this `BufReader` holds no buffer and only
/// passes reads through; it makes the type `BufRead` for callers.
pub type Guarded<R> = io::BufReader<RunGuard<R>>;

impl<R: Read> ReportReader<Guarded<R>> {
    /// A reader over report XML (plain bytes; decompress before).
    pub fn new(input: R) -> Self {
        Self::with_capacity(input, 64 * 1024)
    }

    /// [`new`](Self::new) reading `capacity` bytes at a time. A small one
    /// suits reading only the header: the store decides whether a report
    /// is a duplicate from its header, and a small read inflates only the
    /// head of a compressed report to find out.
    pub fn with_capacity(input: R, capacity: usize) -> Self {
        ReportReader {
            window: Window::new(
                io::BufReader::with_capacity(0, RunGuard::new(input)),
                capacity,
            ),
            builder: Builder::new(),
            records: 0,
            failed: None,
            drained: false,
        }
    }
}

impl ReportReader<Guarded<io::Empty>> {
    /// A reader over XML handed over in blocks (see [`BlockFeed`]),
    /// reading `capacity` bytes at a time otherwise as
    /// [`with_capacity`](ReportReader::with_capacity).
    pub fn from_blocks(blocks: Box<dyn BlockFeed>, capacity: usize) -> Self {
        let mut reader = Self::with_capacity(io::empty(), capacity);
        reader.window.set_blocks(blocks);
        reader
    }
}

/// The quick-xml settings every reader uses: lenient about end tags (the
/// recovery is ours, see [`Builder::close_to`]) and comments.
fn configure<R>(xml: &mut Reader<R>) {
    let cfg = xml.config_mut();
    cfg.check_end_names = false;
    cfg.allow_unmatched_ends = true;
    cfg.expand_empty_elements = true;
    cfg.check_comments = false;
    cfg.trim_text(false);
}

impl<R: Read> ReportReader<R> {
    /// Reads up to the first record and returns the validated header.
    pub fn header(&mut self) -> Result<ReportHeader> {
        // A record cannot complete here: its start tag ends this phase.
        if self.builder.phase == Phase::Header {
            self.window.run(&mut self.builder, Goal::Header)?;
        }
        self.builder.validate_header()?;
        Ok(self.builder.header.clone())
    }

    /// The next record, or `None` after the last one. Call after [`header`].
    ///
    /// Records are parsed a buffer at a time and handed out one by one; an
    /// error comes after the records that precede it in the document.
    ///
    /// [`header`]: ReportReader::header
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(r) = self.builder.ready.pop_front() {
                self.records += 1;
                validate_record(&r, self.records)?;
                return Ok(Some(r));
            }
            if !self.advance()? {
                return Ok(None);
            }
        }
    }

    /// Once the ready records are taken: the error held back for after
    /// them, or the end (`false`), or one more run of the window (`true`:
    /// look at the ready records again).
    fn advance(&mut self) -> Result<bool> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.builder.phase == Phase::Done {
            if !self.drained {
                // Read to the end, not parsed: a gzip payload's trailer
                // (CRC-32 and size) is only checked there, and a report
                // damaged in transit must not be stored.
                self.drained = true;
                self.window.drain()?;
            }
            return Ok(false);
        }
        if let Err(e) = self.window.run(&mut self.builder, Goal::Records) {
            self.failed = Some(e);
        }
        Ok(true)
    }

    /// Moves the next records into `out` until it holds `max` of them or
    /// the document has ended; whether more may follow (`false` once the
    /// last one is in `out`). The same records and errors as
    /// [`next_record`](ReportReader::next_record) (an error comes after
    /// the records before it, here in `out`), each record moved once on
    /// the way, not three times.
    pub fn read_records(&mut self, out: &mut Vec<Record>, max: usize) -> Result<bool> {
        loop {
            let ready = &mut self.builder.ready;
            let room = max.saturating_sub(out.len()).min(ready.len());
            let mut valid = 0;
            let mut invalid = None;
            for r in ready.iter().take(room) {
                if let Err(e) = validate_record(r, self.records + valid as u64 + 1) {
                    invalid = Some(e);
                    break;
                }
                valid += 1;
            }
            out.extend(ready.drain(..valid));
            self.records += valid as u64;
            if let Some(e) = invalid {
                self.records += 1;
                ready.pop_front();
                return Err(e);
            }
            if out.len() >= max {
                return Ok(true);
            }
            if !self.advance()? {
                return Ok(false);
            }
        }
    }

    /// The records one run of the window made ready, as they lie: the
    /// queue they were built into is handed out as the vector, a new one
    /// of the same room taking its place, so no record is moved on the
    /// way (moving each one into a chunk of [`read_records`] cost two
    /// copies of its 528 bytes). Give the vector back ([`give_back`]) once
    /// its records are taken out: the next run is built into it. With whether more may follow (`false`
    /// once the last one is in the vector, which may then be empty). The
    /// same records and errors as [`next_record`]; an error comes instead
    /// of the records of that run that precede it (a caller that fails a
    /// report on an error has no use for them).
    ///
    /// [`read_records`]: ReportReader::read_records
    /// [`next_record`]: ReportReader::next_record
    pub fn take_ready(&mut self) -> Result<(Vec<Record>, bool)> {
        loop {
            let ready = &mut self.builder.ready;
            if !ready.is_empty() {
                for (i, r) in ready.iter().enumerate() {
                    if let Err(e) = validate_record(r, self.records + i as u64 + 1) {
                        self.records += i as u64 + 1;
                        ready.drain(..=i);
                        return Err(e);
                    }
                }
                // A vector the writer gave back, if any (`spare`).
                let taken = std::mem::replace(ready, spare::queue(ready.capacity()));
                self.records += taken.len() as u64;
                // O(1): a queue only pushed at its back and handed out
                // whole starts at the front of its buffer.
                let taken = Vec::from(taken);
                // The end told now rather than by an empty vector next time
                // (one message less): a finished document is read to its end.
                let more = self.builder.phase != Phase::Done || self.failed.is_some() || {
                    self.advance()?
                };
                return Ok((taken, more));
            }
            if !self.advance()? {
                return Ok((Vec::new(), false));
            }
        }
    }

    /// Reads `bytes` at a time from now on: a reader made to look at the
    /// header through a small buffer (a duplicate then costs little
    /// inflating) reads the records in bigger chunks.
    pub fn set_chunk(&mut self, bytes: usize) {
        self.window.set_chunk(bytes);
    }

    /// Records handed out so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// The first repair the markup read so far needed, described (`None`
    /// for well-formed markup); see the module doc. Complete once
    /// [`next_record`](ReportReader::next_record) has returned `None`.
    pub fn repair(&self) -> Option<&str> {
        self.builder.repair.as_deref()
    }
}

fn validate_record(r: &Record, n: u64) -> Result<()> {
    if r.source_ip.is_empty() {
        return Err(ParseError::Invalid(format!("record {n}: empty source_ip")));
    }
    // Read as it was stored (`model::ip_bin`: what std's parser takes).
    if r.source_ip.bin().is_none() {
        return Err(ParseError::Invalid(format!(
            "record {n}: source_ip {:?} is not an IP address",
            truncate(&r.source_ip, 60)
        )));
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn xml_error(e: quick_xml::Error, pos: u64) -> ParseError {
    match e {
        quick_xml::Error::Io(io) => ParseError::Io(io.to_string()),
        other => ParseError::Xml(format!("{other} (at byte {pos})")),
    }
}

/// Guards the XML reader against a single unbounded run of bytes with no
/// markup (a 100 MB text field, a 1 GB tag): the reader buffers a whole
/// event, so without this one field could take any amount of memory.
pub struct RunGuard<R> {
    inner: R,
    run: RunCount,
}

impl<R> RunGuard<R> {
    fn new(inner: R) -> Self {
        RunGuard {
            inner,
            run: RunCount::default(),
        }
    }
}

impl<R: Read> Read for RunGuard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.run.check(&out[..n])?;
        Ok(n)
    }
}

/// [`RunGuard`]'s count: bytes since the last `<` or `>` of the input.
#[derive(Default)]
struct RunCount(usize);

impl RunCount {
    /// Counts `chunk`, the input's next bytes: an error past [`MAX_RUN`].
    fn check(&mut self, chunk: &[u8]) -> io::Result<()> {
        match chunk.iter().rposition(|b| *b == b'<' || *b == b'>') {
            Some(last) => self.0 = chunk.len() - last - 1,
            None => self.0 += chunk.len(),
        }
        if self.0 > MAX_RUN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than {MAX_RUN} bytes without markup (one huge field)"),
            ));
        }
        Ok(())
    }
}

/// Parses a whole report from bytes: the header and every record.
/// Convenient for tests and `--dry-run`; the store streams instead.
pub fn parse_all(xml: &[u8]) -> Result<(ReportHeader, Vec<Record>)> {
    let mut rdr = ReportReader::new(xml);
    let header = rdr.header()?;
    let mut records = Vec::new();
    while let Some(r) = rdr.next_record()? {
        records.push(r);
    }
    if records.is_empty() {
        return Err(ParseError::NotAReport("no <record> elements".into()));
    }
    Ok((header, records))
}

#[cfg(test)]
mod tests;
