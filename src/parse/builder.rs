//! The builder: turns the document's events (cut by `window`) into the
//! report header and its records. It keeps the element stack, the text of
//! the field being read and what was seen, recovers from broken markup
//! (see the parser's module doc) and enforces the nesting, run and
//! kept-bytes caps. Where a finished field's value goes is `fields`.

use std::borrow::Cow;
use std::collections::VecDeque;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::tag::{local_name, start_name, Tag};
use super::text::{trim, Text};
use super::{configure, ParseError, Phase, Result, MAX_DEPTH, MAX_KEPT, MAX_RUN};
use crate::model::{
    AuthResult, DkimAuthResult, OverrideReason, Record, ReportHeader, SpfAuthResult, Str,
};

/// `DkimAuthResult::default()` as a constant, and [`NEW_SPF`] likewise:
/// pushed from a constant, a new result is copied from read-only memory.
/// Made on the stack, its texts' empty forms were stored a byte and a
/// word at a time and loaded for the copy 16 bytes at a time, which
/// stalled on every result (perf: a quarter of `open`'s samples;
/// bench/README.md, eleventh round).
const NEW_DKIM: DkimAuthResult = DkimAuthResult {
    domain: Str::const_new(""),
    selector: None,
    result: AuthResult::Absent,
    human_result: None,
};

/// `SpfAuthResult::default()` as a constant (see [`NEW_DKIM`]).
const NEW_SPF: SpfAuthResult = SpfAuthResult {
    domain: Str::const_new(""),
    scope: None,
    result: AuthResult::Absent,
    human_result: None,
};

/// Builds the header and the records from the document's events: the
/// element stack, the text of the current field, what was seen.
pub(super) struct Builder {
    /// Open elements, outermost first.
    stack: Vec<Tag>,
    /// Text since the last known start tag.
    text: String,
    /// Declared `encoding` of the XML declaration, when not UTF-8.
    encoding: Option<&'static encoding_rs::Encoding>,
    pub(super) phase: Phase,
    seen_feedback: bool,
    pub(super) seen_date_range: bool,
    pub(super) seen_begin: bool,
    pub(super) seen_end: bool,
    pub(super) header: ReportHeader,
    /// The record being filled, once its `<record>` start was read.
    pub(super) record: Option<Record>,
    /// Records completed and not handed out yet.
    pub(super) ready: VecDeque<Record>,
    /// Whether the last `</record>` of the end tag being handled closed
    /// the record being filled (then at the back of `ready`), see
    /// [`Builder::close`].
    closing: Option<bool>,
    /// Records completed so far (for error messages).
    completed: u64,
    /// Bytes kept for the current record (or the header), see [`MAX_KEPT`].
    kept: usize,
    /// The first repair the markup needed, see [`ReportReader::repair`].
    pub(super) repair: Option<String>,
}

impl Drop for Builder {
    /// The ready queue goes back to the pool of record vectors
    /// ([`spare`](super::spare)) for the next document's: a new queue grew
    /// 4, 8, .., 128 records for every report, copying the records at each
    /// step (7.5 M instructions of a parsing thread's 125 M on 100 reports
    /// of 100 records).
    fn drop(&mut self) {
        super::spare::give_back(Vec::from(std::mem::take(&mut self.ready)));
    }
}

impl Builder {
    pub(super) fn new() -> Self {
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
            ready: super::spare::queue(0),
            closing: None,
            completed: 0,
            kept: 0,
            repair: None,
        }
    }

    pub(super) fn validate_header(&mut self) -> Result<()> {
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
    pub(super) fn innermost(&self) -> Option<Tag> {
        self.stack.last().copied()
    }

    /// A start tag; `content` is what lies between `<` and `>` (less the
    /// `/` of `<x/>`).
    pub(super) fn start(&mut self, content: &[u8]) -> Result<()> {
        self.start_tag(Tag::from_local(start_name(content)), content)
    }

    /// [`start`](Builder::start) of a tag already told from its name.
    #[inline(always)]
    pub(super) fn start_tag(&mut self, tag: Tag, content: &[u8]) -> Result<()> {
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
        // Only these begin something; the call is left out for the rest.
        if matches!(tag, Tag::Record | Tag::Dkim | Tag::Spf | Tag::Reason) {
            self.open(tag)?;
        }
        Ok(())
    }

    /// An end tag named `name`, after the `text` that precedes it.
    pub(super) fn end(&mut self, name: &[u8], text: Text<'_>) -> Result<()> {
        self.end_tag(Tag::from_local(local_name(name)), text)
    }

    /// [`end`](Builder::end) of a tag already told from its name.
    #[inline(always)]
    pub(super) fn end_tag(&mut self, tag: Tag, text: Text<'_>) -> Result<()> {
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
    #[inline(always)]
    fn close_leaf(&mut self, tag: Tag, text: Text<'_>) -> Result<()> {
        // Set only when the value has to be decoded or unescaped: the
        // usual one, checked as UTF-8 by the window and without an `&`,
        // is taken as it is. Made a `Cow` on the stack and read back at
        // once, its words were stored one at a time and loaded two at a
        // time, which stalled on every field (perf: a seventh of the
        // tokenizer's samples on that load; bench/README.md, eleventh round).
        let decoded: Cow<'_, str>;
        let value: &str = if text.is_blank() {
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
            ""
        } else if let (Some(plain), false) = (text.utf8, text.escaped()) {
            plain
        } else {
            decoded = text.value(self.encoding);
            &decoded
        };
        if value.len() > MAX_RUN {
            return Err(too_long());
        }
        self.store_field(tag, trim(value))?;
        self.stack.pop();
        Ok(())
    }

    /// The end of the document.
    pub(super) fn eof(&mut self) -> Result<()> {
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
    pub(super) fn event(&mut self, ev: Event<'_>) -> Result<()> {
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
    pub(super) fn text(&mut self, text: Text<'_>) -> Result<()> {
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
                    r.dkim.push(NEW_DKIM);
                    self.keep(std::mem::size_of::<DkimAuthResult>())?;
                }
            }
            Tag::Spf if parent == Some(Tag::AuthResults) => {
                if let Some(r) = self.record.as_mut() {
                    r.spf.push(NEW_SPF);
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
    #[inline(always)]
    pub(super) fn keep(&mut self, bytes: usize) -> Result<()> {
        self.kept = self.kept.saturating_add(bytes);
        if self.kept <= MAX_KEPT {
            return Ok(());
        }
        Err(self.kept_too_much())
    }

    /// [`keep`](Builder::keep)'s error, out of the way of every field.
    #[cold]
    fn kept_too_much(&self) -> ParseError {
        ParseError::Invalid(match self.record {
            Some(_) => format!(
                "record {} holds more than {MAX_KEPT} bytes",
                self.completed + 1
            ),
            None => format!("the report header holds more than {MAX_KEPT} bytes"),
        })
    }

    /// Handles `</tag>`: closes every element down to the innermost open
    /// `tag` (recovering from unclosed children). An end tag that matches
    /// nothing open is ignored.
    pub(super) fn close_to(&mut self, tag: Tag) -> Result<()> {
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
            if let Err(e) = self.close(t) {
                // The record this tag closed is not complete after all.
                if self.closing.take() == Some(true) {
                    self.ready.pop_back();
                }
                return Err(e);
            }
            self.stack.pop();
        }
        if self.closing.take() == Some(true) {
            self.completed += 1;
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
    pub(super) fn parent(&self, n: usize) -> Option<Tag> {
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
                // open around another), the outer one has nothing left,
                // and the inner one is dropped. The record goes to `ready`
                // at once (moved once, not through a slot of its own).
                match self.record.take() {
                    Some(r) => {
                        self.ready.push_back(r);
                        self.closing = Some(true);
                    }
                    None => {
                        if self.closing == Some(true) {
                            self.ready.pop_back();
                        }
                        self.closing = Some(false);
                    }
                }
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
}

pub(super) fn too_long() -> ParseError {
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
