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
//! there (`window`); the events build the header and the records
//! (`Builder`), which are handed out a buffer's worth at a time.
//! quick-xml's own reader, which copied every event, is kept for the rare
//! markup (comments, CDATA, declarations, DOCTYPE).
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

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::IpAddr;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::model::{
    AuthResult, Disposition, DkimAuthResult, OverrideReason, Record, ReportHeader, SpfAuthResult,
};

pub mod arf;
mod tag;
mod text;
pub mod tls;
mod window;

use tag::{local_name, start_name, Tag};
use text::{trim, Text};
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
/// Latest `date_range` accepted: 9999-12-31T23:59:59Z.
const MAX_EPOCH: i64 = 253_402_300_799;

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
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            if self.builder.phase == Phase::Done {
                if !self.drained {
                    // Read to the end, not parsed: a gzip payload's
                    // trailer (CRC-32 and size) is only checked there, and
                    // a report damaged in transit must not be stored.
                    self.drained = true;
                    self.window.drain()?;
                }
                return Ok(None);
            }
            if let Err(e) = self.window.run(&mut self.builder, Goal::Records) {
                self.failed = Some(e);
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

/// Builds the header and the records from the document's events: the
/// element stack, the text of the current field, what was seen.
struct Builder {
    /// Open elements, outermost first.
    stack: Vec<Tag>,
    /// Text since the last known start tag.
    text: String,
    /// Declared `encoding` of the XML declaration, when not UTF-8.
    encoding: Option<&'static encoding_rs::Encoding>,
    phase: Phase,
    seen_feedback: bool,
    seen_date_range: bool,
    seen_begin: bool,
    seen_end: bool,
    header: ReportHeader,
    /// The record being filled, once its `<record>` start was read.
    record: Option<Record>,
    /// Records completed and not handed out yet.
    ready: VecDeque<Record>,
    /// What the `</record>`s of the end tag being handled left, see
    /// [`Builder::close`].
    closing: Option<Option<Record>>,
    /// Records completed so far (for error messages).
    completed: u64,
    /// Bytes kept for the current record (or the header), see [`MAX_KEPT`].
    kept: usize,
    /// The first repair the markup needed, see [`ReportReader::repair`].
    repair: Option<String>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            stack: Vec::with_capacity(16),
            text: String::new(),
            encoding: None,
            phase: Phase::Header,
            seen_feedback: false,
            seen_date_range: false,
            seen_begin: false,
            seen_end: false,
            header: ReportHeader::default(),
            record: None,
            ready: VecDeque::new(),
            closing: None,
            completed: 0,
            kept: 0,
            repair: None,
        }
    }

    fn validate_header(&mut self) -> Result<()> {
        if !self.seen_feedback {
            return Err(ParseError::NotAReport("no <feedback> element".into()));
        }
        let m = &mut self.header.metadata;
        if m.report_id.is_empty() {
            return Err(ParseError::NotAReport(
                "no report_metadata/report_id".into(),
            ));
        }
        if !self.seen_date_range || !self.seen_begin || !self.seen_end {
            return Err(ParseError::Invalid("no report_metadata/date_range".into()));
        }
        if m.date_begin > m.date_end {
            return Err(ParseError::Invalid(format!(
                "date_range begin {} is after end {}",
                m.date_begin, m.date_end
            )));
        }
        if m.org_name.is_empty() {
            // Seen in the wild: `<org_name></org_name>`. The reporter's
            // address still says who it is.
            if let Some((_, domain)) = m.email.rsplit_once('@') {
                m.org_name = domain.trim_end_matches('>').to_ascii_lowercase();
            }
        }
        Ok(())
    }

    /// The innermost open element.
    fn innermost(&self) -> Option<Tag> {
        self.stack.last().copied()
    }

    /// A start tag; `content` is what lies between `<` and `>` (less the
    /// `/` of `<x/>`).
    fn start(&mut self, content: &[u8]) -> Result<()> {
        self.start_tag(Tag::from_local(start_name(content)), content)
    }

    /// [`start`](Builder::start) of a tag already told from its name.
    #[inline]
    fn start_tag(&mut self, tag: Tag, content: &[u8]) -> Result<()> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(ParseError::Invalid(format!(
                "elements nested deeper than {MAX_DEPTH}"
            )));
        }
        if tag == Tag::Feedback && !self.seen_feedback {
            self.seen_feedback = true;
            self.header.namespace = namespace_of(content);
        }
        if tag != Tag::Unknown {
            self.text.clear();
        }
        self.stack.push(tag);
        self.open(tag)
    }

    /// An end tag named `name`, after the `text` that precedes it.
    fn end(&mut self, name: &[u8], text: Text<'_>) -> Result<()> {
        self.end_tag(Tag::from_local(local_name(name)), text)
    }

    /// [`end`](Builder::end) of a tag already told from its name.
    #[inline]
    fn end_tag(&mut self, tag: Tag, text: Text<'_>) -> Result<()> {
        if !text.raw.is_empty() {
            let leaf = !matches!(tag, Tag::Feedback | Tag::Record | Tag::Unknown);
            if leaf && self.text.is_empty() && self.innermost() == Some(tag) {
                return self.close_leaf(tag, text);
            }
            self.text(text)?;
        }
        self.close_to(tag)
    }

    /// `<x>raw</x>`, the common case, with the same outcome as [`text`]
    /// and [`close_to`] but the value taken from the input as it is rather
    /// than copied to `self.text` first.
    ///
    /// [`text`]: Builder::text
    /// [`close_to`]: Builder::close_to
    fn close_leaf(&mut self, tag: Tag, text: Text<'_>) -> Result<()> {
        let value = if text.is_blank() {
            // A record's containers store nothing of their own (only
            // their children do), and an empty value keeps no bytes.
            let container = matches!(
                tag,
                Tag::Row | Tag::PolicyEvaluated | Tag::Identifiers | Tag::AuthResults
            );
            if container && self.record.is_some() {
                self.stack.pop();
                return Ok(());
            }
            Cow::Borrowed("")
        } else {
            text.value(self.encoding)
        };
        if value.len() > MAX_RUN {
            return Err(too_long());
        }
        self.store_field(tag, trim(&value))?;
        self.stack.pop();
        Ok(())
    }

    /// The end of the document.
    fn eof(&mut self) -> Result<()> {
        // An unclosed wrapper around a closed `<feedback>` (ikea) ends
        // here. A document that ends inside `<feedback>` was cut off (a
        // truncated attachment or download): storing the records before the
        // cut would keep a report with silently missing rows, so it is
        // refused (every report in the corpus closes `</feedback>`).
        if self.seen_feedback && self.phase != Phase::Done {
            return Err(ParseError::Invalid(
                "truncated: the document ends before </feedback>".into(),
            ));
        }
        self.phase = Phase::Done;
        Ok(())
    }

    /// Handles an event quick-xml read (see [`window`]).
    fn event(&mut self, ev: Event<'_>) -> Result<()> {
        match ev {
            Event::Start(e) => self.start(&e)?,
            Event::End(e) => self.end(e.as_ref(), Text::NONE)?,
            Event::Text(t) => self.text(Text::new(&t, true))?,
            Event::CData(t) => self.text(Text::new(&t, false))?,
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    self.encoding =
                        encoding_rs::Encoding::for_label(&enc).filter(|e| *e != encoding_rs::UTF_8);
                }
            }
            Event::Eof => self.eof()?,
            // A DTD is never read: no entity is ever defined or expanded.
            Event::DocType(_) | Event::Comment(_) | Event::PI(_) | Event::Empty(_) => {}
        }
        Ok(())
    }

    /// A run of text (`escaped`) or a CDATA section.
    #[inline]
    fn text(&mut self, text: Text<'_>) -> Result<()> {
        // Only text of a leaf we know about matters; skip the rest cheaply.
        if self.stack.last().is_none_or(|t| *t == Tag::Feedback) {
            return Ok(());
        }
        // Indentation between elements: leading whitespace is trimmed from
        // every value anyway, so it need not be decoded and kept.
        if self.text.is_empty() && text.is_blank() {
            return Ok(());
        }
        self.push_text(text)
    }

    fn push_text(&mut self, text: Text<'_>) -> Result<()> {
        self.text.push_str(&text.value(self.encoding));
        if self.text.len() > MAX_RUN {
            return Err(too_long());
        }
        Ok(())
    }

    /// Start-tag actions: begin a record or an auth result.
    fn open(&mut self, tag: Tag) -> Result<()> {
        let parent = self.parent(1);
        match tag {
            Tag::Record if self.within(Tag::Feedback) => {
                if self.phase == Phase::Header {
                    self.phase = Phase::Records;
                }
                self.record = Some(Record::default());
                self.kept = 0;
            }
            Tag::Dkim if parent == Some(Tag::AuthResults) => {
                if let Some(r) = self.record.as_mut() {
                    r.dkim.push(DkimAuthResult::default());
                    self.keep(std::mem::size_of::<DkimAuthResult>())?;
                }
            }
            Tag::Spf if parent == Some(Tag::AuthResults) => {
                if let Some(r) = self.record.as_mut() {
                    r.spf.push(SpfAuthResult::default());
                    self.keep(std::mem::size_of::<SpfAuthResult>())?;
                }
            }
            Tag::Reason if parent == Some(Tag::PolicyEvaluated) => {
                if let Some(r) = self.record.as_mut() {
                    r.policy_evaluated.reasons.push(OverrideReason::default());
                    self.keep(std::mem::size_of::<OverrideReason>())?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Counts `bytes` more kept for the current record (or the header).
    fn keep(&mut self, bytes: usize) -> Result<()> {
        self.kept = self.kept.saturating_add(bytes);
        if self.kept <= MAX_KEPT {
            return Ok(());
        }
        Err(ParseError::Invalid(match self.record {
            Some(_) => format!(
                "record {} holds more than {MAX_KEPT} bytes",
                self.completed + 1
            ),
            None => format!("the report header holds more than {MAX_KEPT} bytes"),
        }))
    }

    /// Handles `</tag>`: closes every element down to the innermost open
    /// `tag` (recovering from unclosed children). An end tag that matches
    /// nothing open is ignored.
    fn close_to(&mut self, tag: Tag) -> Result<()> {
        let Some(pos) = self.stack.iter().rposition(|t| *t == tag) else {
            self.repaired(|| "an end tag that closes no open element".into());
            return Ok(());
        };
        let unclosed = self.stack.len() - pos - 1;
        if unclosed > 0 {
            self.repaired(|| format!("an end tag closed {unclosed} unclosed element(s)"));
        }
        while self.stack.len() > pos {
            let closing = self.stack.len() - 1;
            let t = self.stack[closing];
            self.close(t)?;
            self.stack.pop();
        }
        if let Some(Some(r)) = self.closing.take() {
            self.completed += 1;
            self.ready.push_back(r);
        }
        Ok(())
    }

    /// Notes a repair of the markup (the first one is kept, with where).
    fn repaired(&mut self, what: impl FnOnce() -> String) {
        if self.repair.is_none() {
            let place = match self.record {
                Some(_) => format!("record {}", self.completed + 1),
                None if self.phase == Phase::Header => "the report header".to_string(),
                None => format!("after record {}", self.completed),
            };
            self.repair = Some(format!("{}: {place}", what()));
        }
    }

    /// The element `n` levels above the innermost one (1 = its parent).
    fn parent(&self, n: usize) -> Option<Tag> {
        self.stack.len().checked_sub(n + 1).map(|i| self.stack[i])
    }

    fn within(&self, tag: Tag) -> bool {
        self.stack.contains(&tag)
    }

    /// End-tag actions, with the closing element still on the stack.
    fn close(&mut self, tag: Tag) -> Result<()> {
        match tag {
            Tag::Feedback => {
                self.phase = Phase::Done;
                return Ok(());
            }
            Tag::Record => {
                if self.phase == Phase::Header {
                    self.phase = Phase::Records;
                }
                // What one end tag completes is the record its last
                // `</record>` closes: when it closes two (a `<record>` left
                // open around another), the outer one has nothing left.
                self.closing = Some(self.record.take());
                return Ok(());
            }
            Tag::Unknown => return Ok(()),
            _ => {}
        }
        // The text buffer is put back afterwards, so that one allocation
        // serves every field.
        let mut text = std::mem::take(&mut self.text);
        let stored = self.store_field(tag, trim(&text));
        text.clear();
        self.text = text;
        stored
    }

    /// Stores a leaf's trimmed text where its place in the document says.
    fn store_field(&mut self, tag: Tag, value: &str) -> Result<()> {
        let parent = self.parent(1);
        let grand = self.parent(2);
        self.keep(value.len())?;
        // A record is only filled while its `<record>` is open: closing
        // any `<record>` ends it.
        if let Some(rec) = self.record.as_mut() {
            return record_field(rec, tag, parent, grand, value);
        }
        let h = &mut self.header;
        match (parent, tag) {
            (Some(Tag::Feedback), Tag::Version) => h.version = some(value),
            (Some(Tag::ReportMetadata), Tag::OrgName) => h.metadata.org_name = value.into(),
            (Some(Tag::ReportMetadata), Tag::Email) => h.metadata.email = value.into(),
            (Some(Tag::ReportMetadata), Tag::ExtraContactInfo) => {
                h.metadata.extra_contact_info = some(value)
            }
            (Some(Tag::ReportMetadata), Tag::ReportId) => h.metadata.report_id = value.into(),
            (Some(Tag::ReportMetadata), Tag::Error) => h.metadata.errors.push(value.into()),
            (Some(Tag::ReportMetadata), Tag::Generator) => h.metadata.generator = some(value),
            (Some(Tag::ReportMetadata), Tag::DateRange) => self.seen_date_range = true,
            (Some(Tag::DateRange), Tag::Begin) => {
                h.metadata.date_begin = epoch(value, "begin")?;
                self.seen_begin = true;
            }
            (Some(Tag::DateRange), Tag::End) => {
                h.metadata.date_end = epoch(value, "end")?;
                self.seen_end = true;
            }
            (Some(Tag::PolicyPublished), t) => {
                let p = &mut h.policy;
                let word = || some(&value.to_ascii_lowercase());
                match t {
                    Tag::Domain => p.domain = value.to_ascii_lowercase(),
                    Tag::Adkim => p.adkim = word(),
                    Tag::Aspf => p.aspf = word(),
                    Tag::P => p.p = word(),
                    Tag::Sp => p.sp = word(),
                    Tag::Np => p.np = word(),
                    Tag::Pct => p.pct = value.parse().ok(),
                    Tag::Fo => p.fo = some(value),
                    Tag::Testing => p.testing = word(),
                    Tag::DiscoveryMethod => p.discovery_method = word(),
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Stores a field of the current record, placed by its parent elements.
fn record_field(
    rec: &mut Record,
    tag: Tag,
    parent: Option<Tag>,
    grand: Option<Tag>,
    value: &str,
) -> Result<()> {
    match (grand, parent, tag) {
        (_, Some(Tag::Row), Tag::SourceIp) => rec.source_ip = value.into(),
        (_, Some(Tag::Row), Tag::Count) => rec.count = count(value)?,
        (_, Some(Tag::PolicyEvaluated), Tag::Disposition) => {
            rec.policy_evaluated.disposition = disposition(value)
        }
        (_, Some(Tag::PolicyEvaluated), Tag::Dkim) => rec.policy_evaluated.dkim = verdict(value),
        (_, Some(Tag::PolicyEvaluated), Tag::Spf) => rec.policy_evaluated.spf = verdict(value),
        (Some(Tag::PolicyEvaluated), Some(Tag::Reason), t) => {
            if let Some(r) = rec.policy_evaluated.reasons.last_mut() {
                match t {
                    Tag::Type => r.kind = value.to_ascii_lowercase(),
                    Tag::Comment => r.comment = some(value),
                    _ => {}
                }
            }
        }
        (_, Some(Tag::Identifiers), t) => {
            let ids = &mut rec.identifiers;
            match t {
                Tag::HeaderFrom => ids.header_from = value.to_ascii_lowercase(),
                Tag::EnvelopeFrom => ids.envelope_from = Some(value.to_ascii_lowercase()),
                Tag::EnvelopeTo => ids.envelope_to = Some(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        (Some(Tag::AuthResults), Some(Tag::Dkim), t) => {
            if let Some(d) = rec.dkim.last_mut() {
                match t {
                    Tag::Domain => d.domain = value.to_ascii_lowercase(),
                    Tag::Selector => d.selector = some(value),
                    Tag::Result => d.result = verdict(value),
                    Tag::HumanResult => d.human_result = some(value),
                    _ => {}
                }
            }
        }
        (Some(Tag::AuthResults), Some(Tag::Spf), t) => {
            if let Some(s) = rec.spf.last_mut() {
                match t {
                    Tag::Domain => s.domain = value.to_ascii_lowercase(),
                    Tag::Scope => s.scope = some(&value.to_ascii_lowercase()),
                    Tag::Result => s.result = verdict(value),
                    Tag::HumanResult => s.human_result = some(value),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A verdict word. The three words nearly every record carries, already
/// lower-case, are matched here without the allocation `from_word` makes
/// to lower-case; anything else goes through it.
fn verdict(v: &str) -> AuthResult {
    match v {
        "pass" => AuthResult::Pass,
        "fail" => AuthResult::Fail,
        "none" => AuthResult::None,
        _ => AuthResult::from_word(v),
    }
}

/// A disposition word, the common ones without allocating (see [`verdict`]).
fn disposition(v: &str) -> Disposition {
    match v {
        "none" => Disposition::None,
        "reject" => Disposition::Reject,
        "quarantine" => Disposition::Quarantine,
        _ => Disposition::from_word(v),
    }
}

fn validate_record(r: &Record, n: u64) -> Result<()> {
    if r.source_ip.is_empty() {
        return Err(ParseError::Invalid(format!("record {n}: empty source_ip")));
    }
    if r.source_ip.parse::<IpAddr>().is_err() {
        return Err(ParseError::Invalid(format!(
            "record {n}: source_ip {:?} is not an IP address",
            truncate(&r.source_ip, 60)
        )));
    }
    Ok(())
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `<count>`: a non-negative integer that fits in i64.
fn count(v: &str) -> Result<i64> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        Ok(n) => Err(ParseError::Invalid(format!("negative count {n}"))),
        Err(_) => Err(ParseError::Invalid(format!(
            "count {:?} is not a non-negative 64-bit integer",
            truncate(v, 40)
        ))),
    }
}

/// A `date_range` bound: seconds since the epoch. Some reporters write
/// fractions (`1538204542.0`), which are truncated.
fn epoch(v: &str, what: &str) -> Result<i64> {
    let int_part = v.split_once('.').map_or(v, |(i, f)| {
        if f.bytes().all(|b| b.is_ascii_digit()) {
            i
        } else {
            v
        }
    });
    let n: i64 = int_part.parse().map_err(|_| {
        ParseError::Invalid(format!(
            "date_range {what} {:?} is not a Unix timestamp",
            truncate(v, 40)
        ))
    })?;
    if !(0..=MAX_EPOCH).contains(&n) {
        return Err(ParseError::Invalid(format!(
            "date_range {what} {n} is outside 1970..9999"
        )));
    }
    Ok(n)
}

fn too_long() -> ParseError {
    ParseError::Invalid(format!("a text field is longer than {MAX_RUN} bytes"))
}

/// The namespace URI `<feedback>` is in, from its own attributes (the
/// content of its start tag).
fn namespace_of(content: &[u8]) -> Option<String> {
    let mut markup = Vec::with_capacity(content.len() + 2);
    markup.push(b'<');
    markup.extend_from_slice(content);
    markup.push(b'>');
    let mut xml = Reader::from_reader(markup.as_slice());
    configure(&mut xml);
    let Ok(Event::Start(e)) = xml.read_event() else {
        return None;
    };
    let prefix = e.name().prefix().map(|p| p.as_ref().to_vec());
    for a in e.attributes().flatten() {
        let key = a.key.as_ref();
        let matches = match &prefix {
            None => key == b"xmlns",
            Some(p) => key.strip_prefix(b"xmlns:") == Some(p.as_slice()),
        };
        if matches {
            return Some(String::from_utf8_lossy(&a.value).into_owned());
        }
    }
    None
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
    run: usize,
}

impl<R> RunGuard<R> {
    fn new(inner: R) -> Self {
        RunGuard { inner, run: 0 }
    }
}

impl<R: Read> Read for RunGuard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        let chunk = &out[..n];
        match chunk.iter().rposition(|b| *b == b'<' || *b == b'>') {
            Some(last) => self.run = n - last - 1,
            None => self.run += n,
        }
        if self.run > MAX_RUN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than {MAX_RUN} bytes without markup (one huge field)"),
            ));
        }
        Ok(n)
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
