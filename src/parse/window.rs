//! The input window: reads the document in chunks and cuts it into the
//! events [`Builder`] takes, in place in one buffer.
//!
//! quick-xml's `BufRead` reader copies every event into a buffer of its
//! own and spent half the parsing time doing so and dispatching. Aggregate
//! reports are almost all start tags, end tags and short text, so those are
//! cut here, the way quick-xml cuts them (configured as in
//! [`super::configure`]): text runs to the next `<`; a tag ends at the first
//! `>` outside quotes; `<x/>` is a start and an end; an end tag's name is
//! what follows `</`, trailing whitespace trimmed. Everything else (`<!`
//! comments, CDATA and DOCTYPE, `<?` declarations and processing
//! instructions) is handed to quick-xml's slice reader one event at a time,
//! so it reads exactly as before.
//!
//! An event cut off by the end of the buffer is not handled: the window
//! reads the next chunk behind it and starts again at that event. Memory
//! stays at a chunk plus the longest event, as with the `BufRead` reader.
//! Positions in error messages count from the document start, less a BOM,
//! as quick-xml counts them. A parsing thread keeps its last buffer (up
//! to [`KEEP`]) for its next document, so that it is neither allocated nor
//! zeroed again for every payload.

use std::cell::Cell;
use std::io::{self, Read};

use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::Reader;

use super::expect::Guess;
use super::scan::{find, leaf_end, name_len, skip_blank, tag_end, trim_end};
use super::{xml_error, Builder, ParseError, Phase, Result, RunCount, Tag, Text};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How far [`Window::run`] goes: to the end of the phase of the same
/// name. The builder's phase only moves forward (header, records, done),
/// so whether the goal is reached is one compare, made after every tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Goal {
    /// Up to the first `<record>`: the header is complete.
    Header = Phase::Header as u8,
    /// To the end of the document, pausing once records are ready and the
    /// buffer is used up (so a report streams a buffer at a time).
    Records = Phase::Records as u8,
}

impl Goal {
    #[inline(always)]
    pub(super) fn reached(self, b: &Builder) -> bool {
        b.phase as u8 > self as u8
    }

    /// Whether to hand out what is ready before reading more input.
    fn pause(self, b: &Builder) -> bool {
        self == Goal::Records && !b.ready.is_empty()
    }
}

/// Why one pass over the buffer ended.
enum Pass {
    /// The goal is reached.
    Reached,
    /// Records of a chunk's worth of input are ready: they are handed out
    /// before more are built, so that a buffer grown for one long event
    /// does not turn into a queue of all the records behind it.
    Paused,
    /// The next event does not end inside the buffer.
    NeedMore,
}

/// The largest buffer a thread keeps for its next document: two default
/// chunks. A bigger one (a document with a very long event) is freed.
const KEEP: usize = 2 * 64 * 1024;

thread_local! {
    /// This thread's buffer from its last document (see the module doc).
    /// Its bytes are stale: a window reads only what it wrote itself
    /// (`buf[..end]`).
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A chunked window onto the document. See the module documentation.
pub(super) struct Window<R> {
    input: R,
    /// Bytes read; `buf[pos..end]` is not parsed yet.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The document offset of `buf[0]` (wrapping: a block taken whole
    /// has the carried-over bytes at its end, after its headroom).
    dropped: u64,
    /// Bytes asked of `input` per read.
    chunk: usize,
    /// `input` is exhausted.
    eof: bool,
    /// The document starts with a BOM (skipped, not counted in positions).
    bom: bool,
    /// The XML could not be read: like quick-xml's reader, only the end of
    /// the document follows.
    failed: bool,
    /// The end tag owed for a `<x/>` a pass stopped after.
    owed_end: Option<Tag>,
    /// Where the last event cut off by the buffer's end starts.
    cut_at: Option<u64>,
    /// The start tag likely next.
    guess: Guess,
    /// Input handed over in whole blocks instead of read from `input`.
    blocks: Option<(Box<dyn BlockFeed + 'static>, RunCount)>,
}

/// Input handed over a block at a time in buffers the window takes as
/// they are: the XML of a block is at `HEADROOM..` of its vec, and the
/// window carries an event cut off by the previous block's end into the
/// headroom in front of it, so that a block's bytes are not copied.
pub trait BlockFeed: Send {
    /// The next block (at least `HEADROOM` long); `None` at the end.
    fn next_block(&mut self) -> io::Result<Option<Vec<u8>>>;
    /// A buffer the window is done with, for a block to come.
    fn give_back(&mut self, buf: Vec<u8>);
}

/// Bytes in front of a block's XML, for what is left of the previous one.
pub const HEADROOM: usize = 4096;

impl<R> Drop for Window<R> {
    fn drop(&mut self) {
        if self.buf.capacity() <= KEEP {
            let buf = std::mem::take(&mut self.buf);
            // A thread being torn down has no spare left to fill.
            let _ = SPARE.try_with(|s| s.set(buf));
        }
    }
}

impl<R: Read> Window<R> {
    pub(super) fn new(input: R, chunk: usize) -> Self {
        Window {
            input,
            buf: SPARE.with(Cell::take),
            pos: 0,
            end: 0,
            dropped: 0,
            chunk: chunk.max(16),
            eof: false,
            bom: false,
            failed: false,
            owed_end: None,
            cut_at: None,
            guess: Guess::new(),
            blocks: None,
        }
    }

    /// A window over `blocks` rather than its `input` (see [`BlockFeed`]).
    pub(super) fn set_blocks(&mut self, blocks: Box<dyn BlockFeed>) {
        self.blocks = Some((blocks, RunCount::default()));
    }

    /// Feeds `b` events until `goal` is reached, or (for records) until
    /// records are ready and more input is needed.
    pub(super) fn run(&mut self, b: &mut Builder, goal: Goal) -> Result<()> {
        loop {
            if let Some(tag) = self.owed_end.take() {
                b.close_to(tag)?;
                if goal.reached(b) {
                    return Ok(());
                }
            }
            if self.failed {
                return b.eof();
            }
            match self.pass(b, goal)? {
                Pass::Reached | Pass::Paused => return Ok(()),
                Pass::NeedMore if goal.pause(b) => return Ok(()),
                Pass::NeedMore => self.read_on()?,
            }
        }
    }

    /// Reads on behind an event cut off by the end of the buffer. An event
    /// that stays cut off (a long text, comment or tag, up to the input's
    /// size cap) is parsed again only once twice as much of it is read:
    /// parsing it again after every chunk took time quadratic in its size.
    /// Reads stay a chunk each, so the [`RunGuard`](super::RunGuard) sees
    /// the same reads as ever.
    fn read_on(&mut self) -> Result<()> {
        let at = self.dropped.wrapping_add(self.pos as u64);
        let have = self.end - self.pos;
        let want = if self.cut_at == Some(at) { 2 * have } else { 0 };
        self.cut_at = Some(at);
        loop {
            self.fill()?;
            if self.eof || self.end - self.pos >= want {
                return Ok(());
            }
        }
    }

    /// Reads `chunk` bytes at a time from now on.
    pub(super) fn set_chunk(&mut self, chunk: usize) {
        self.chunk = chunk.max(16);
    }

    /// Reads what is left of the input, discarding it.
    pub(super) fn drain(&mut self) -> Result<()> {
        while !self.eof && !self.failed {
            self.pos = self.end;
            self.fill()?;
        }
        Ok(())
    }

    /// Reads the next chunk behind the unparsed bytes.
    fn fill(&mut self) -> Result<()> {
        if self.blocks.is_some() {
            return self.fill_block();
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.dropped = self.dropped.wrapping_add(self.pos as u64);
            self.pos = 0;
        }
        let want = self.end + self.chunk;
        if self.buf.len() < want {
            // Room for a chunk and what is left of an event cut off, so
            // that the buffer is not reallocated for every few bytes left.
            self.buf
                .reserve_exact((want + want / 8).saturating_sub(self.buf.len()));
            // All of it, so that a later document given this buffer (see
            // the module doc) zeroes nothing while it asks for no more.
            self.buf.resize(self.buf.capacity(), 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..want]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Like quick-xml's reader: only the end follows.
                    self.failed = true;
                    return Err(ParseError::Io(e.to_string()));
                }
            }
            return Ok(());
        }
    }

    /// [`fill`](Self::fill) from the next block: the unparsed bytes go
    /// into its headroom and the block becomes the buffer, or (when they
    /// do not fit, a long event) the block's XML is appended to them.
    fn fill_block(&mut self) -> Result<()> {
        let Some((feed, run)) = &mut self.blocks else {
            return Ok(());
        };
        let next = feed.next_block().and_then(|b| {
            if let Some(b) = &b {
                run.check(&b[HEADROOM..])?;
            }
            Ok(b)
        });
        let mut block = match next {
            Ok(Some(block)) => block,
            Ok(None) => {
                self.eof = true;
                return Ok(());
            }
            Err(e) => {
                self.failed = true;
                return Err(ParseError::Io(e.to_string()));
            }
        };
        let have = self.end - self.pos;
        if have <= HEADROOM {
            let at = HEADROOM - have;
            block[at..HEADROOM].copy_from_slice(&self.buf[self.pos..self.end]);
            let start = self.dropped.wrapping_add(self.pos as u64);
            self.dropped = start.wrapping_sub(at as u64);
            self.end = block.len();
            self.pos = at;
            let spent = std::mem::replace(&mut self.buf, block);
            feed.give_back(spent);
        } else {
            self.buf.copy_within(self.pos..self.end, 0);
            self.dropped = self.dropped.wrapping_add(self.pos as u64);
            self.end = have;
            self.pos = 0;
            let xml = &block[HEADROOM..];
            self.buf.truncate(self.end);
            self.buf.extend_from_slice(xml);
            self.end = self.buf.len();
            feed.give_back(block);
        }
        Ok(())
    }

    /// Feeds the events that end inside the buffer, up to the goal.
    fn pass(&mut self, b: &mut Builder, goal: Goal) -> Result<Pass> {
        let buf = &self.buf[..self.end];
        let mut i = self.pos;
        // The buffer as a `str` up to its first byte that is not UTF-8:
        // checked once here rather than for every value. A pass pauses
        // after a chunk's worth (see `Pass::Paused`), so the check goes
        // little further.
        let start = self.pos;
        let pause_at = start + self.chunk;
        let checked = &buf[start..buf.len().min(pause_at + self.chunk)];
        let utf8 = match simdutf8::basic::from_utf8(checked) {
            Ok(s) => s,
            // std's check tells how far the bytes are UTF-8 (simdutf8's
            // `basic` only whether they all are; not UTF-8 is rare).
            Err(_) => match std::str::from_utf8(checked) {
                Ok(s) => s,
                Err(e) => std::str::from_utf8(&checked[..e.valid_up_to()]).unwrap_or(""),
            },
        };
        // `escaped`: whether the run may hold a reference (an `&`).
        let text = |a: usize, z: usize, escaped: bool| {
            let flags = if escaped { Text::ESCAPED } else { 0 };
            Text::with(&buf[a..z], utf8.get(a - start..z - start), flags)
        };
        if self.dropped.wrapping_add(i as u64) == 0 {
            // quick-xml skips a UTF-8 BOM at the very start.
            if buf.starts_with(BOM) {
                self.bom = true;
                i = BOM.len();
                self.pos = i;
            } else if !self.eof && BOM.starts_with(buf) {
                return Ok(Pass::NeedMore);
            }
        }
        loop {
            // Text, up to the next markup. Before an end tag, it is handed
            // over with the tag: most is the value of `<x>value</x>`.
            // Indentation is skipped without a search: between elements
            // it runs straight to the next `<`.
            let j = skip_blank(buf, i);
            let blank = buf.get(j) == Some(&b'<');
            // The `&` of a reference is looked for on the way: a run
            // without one is not searched again by `unescape`.
            let (found, amp) = if blank {
                (Some(0), false)
            } else {
                match find(&buf[j..], [b'<', b'&']) {
                    Some(n) if buf[j + n] == b'&' => {
                        (find(&buf[j + n..], [b'<']).map(|m| n + m), true)
                    }
                    found => (found, false),
                }
            };
            let lt = match found {
                Some(n) => j + n,
                None if self.eof => {
                    self.pos = buf.len();
                    if i < buf.len() {
                        b.text(text(i, buf.len(), true))?;
                    }
                    b.eof()?;
                    return Ok(Pass::Reached);
                }
                None => return Ok(Pass::NeedMore),
            };
            let run = if blank {
                Text::with(&buf[i..lt], None, Text::ESCAPED | Text::BLANK)
            } else {
                text(i, lt, amp)
            };
            let kind = buf.get(lt + 1).copied();
            if kind != Some(b'/') && lt > i {
                self.pos = lt;
                b.text(run)?;
            }
            i = lt;
            if matches!(kind, Some(b'!' | b'?')) {
                // Read by quick-xml, one event from a fresh reader.
                let slice = &buf[i..];
                let mut xml = Reader::from_reader(slice);
                super::configure(&mut xml);
                let ev = xml.read_event();
                let after = xml.buffer_position() as usize;
                match ev {
                    // Cut off by the buffer's end (`<!` alone stops one
                    // byte short of it).
                    Err(_) if !self.eof && after + 1 >= slice.len() => return Ok(Pass::NeedMore),
                    Err(e) => {
                        self.pos = i + after;
                        // quick-xml reads on after an ill-formed event.
                        self.failed = !matches!(e, XmlError::IllFormed(_));
                        return Err(xml_error(e, self.position(self.pos)));
                    }
                    Ok(ev) => {
                        i += after;
                        self.pos = i;
                        b.event(ev)?;
                    }
                }
                if goal.reached(b) {
                    return Ok(Pass::Reached);
                }
                continue;
            }
            let end = kind == Some(b'/');
            let from = if end { i + 2 } else { i + 1 };
            // The common tag, a known name and nothing else (`<count>`,
            // `</count>`): told by its first `>` and its name alone. Any
            // other (attributes, a prefix, `<x/>`, an unknown name) is cut
            // below exactly as quick-xml would cut it. The name expected
            // (see `Guess`) is compared first, without a search.
            let expected = if end {
                b.innermost()
            } else {
                Some(self.guess.next())
            };
            let known = match expected.and_then(|t| t.at(buf, from).map(|n| (t, n))) {
                Some(hit) => Some(hit),
                None => buf
                    .get(from..)
                    .and_then(|b| find(b, [b'>']))
                    .map(|gt| (Tag::from_local(&buf[from..from + gt]), gt))
                    .filter(|(tag, _)| *tag != Tag::Unknown),
            };
            self.guess.saw(known.map(|(tag, _)| tag), end);
            if let Some((tag, gt)) = known {
                // The tag, then (while the next tag is one expected, after
                // indentation at most) the tags that follow, each handled
                // as the loop would handle it: a report's records are read
                // here, not by a turn of the loop per tag. Anything else
                // (text, a reference, a tag not expected, the buffer's
                // end) is left to the loop, from `i` as it is.
                let (mut tag, mut end, mut run) = (tag, end, run);
                let mut name = &buf[from..from + gt];
                i = from + gt + 1;
                loop {
                    self.pos = i;
                    if end {
                        b.end_tag(tag, run)?;
                        if goal.reached(b) {
                            return Ok(Pass::Reached);
                        }
                        if i >= pause_at && goal.pause(b) {
                            return Ok(Pass::Paused);
                        }
                    } else {
                        b.start_tag(tag, name)?;
                        if goal.reached(b) {
                            return Ok(Pass::Reached);
                        }
                        // `<x>value</x>`, most of a report: the value
                        // (without an `&`) and the end tag of the element
                        // just opened.
                        if let Some((lt, gt)) = leaf_end(buf, i, tag) {
                            run = text(i, lt, false);
                            self.guess.saw(Some(tag), true);
                            end = true;
                            i = gt + 1;
                            continue;
                        }
                    }
                    // Indentation, then the tag expected (the innermost
                    // element's end, or the guess).
                    let j = skip_blank(buf, i);
                    if buf.get(j) != Some(&b'<') {
                        break;
                    }
                    let blank = Text::with(&buf[i..j], None, Text::ESCAPED | Text::BLANK);
                    if buf.get(j + 1) == Some(&b'/') {
                        let innermost = b.innermost();
                        let Some((t, len)) = innermost.and_then(|t| Some((t, t.at(buf, j + 2)?)))
                        else {
                            break;
                        };
                        self.guess.saw(Some(t), true);
                        (tag, end, run) = (t, true, blank);
                        i = j + 3 + len;
                    } else {
                        let next = self.guess.next();
                        let Some(len) = next.at(buf, j + 1) else {
                            break;
                        };
                        if j > i {
                            self.pos = j;
                            b.text(blank)?;
                        }
                        self.guess.saw(Some(next), false);
                        (tag, end) = (next, false);
                        name = &buf[j + 1..j + 1 + len];
                        i = j + 2 + len;
                    }
                }
                continue;
            }
            let gt = buf.get(from..).and_then(tag_end).map(|n| from + n);
            let Some(gt) = gt else {
                if !self.eof {
                    return Ok(Pass::NeedMore);
                }
                if kind == Some(b'/') && !run.raw.is_empty() {
                    self.pos = i;
                    b.text(run)?;
                }
                // Like quick-xml: the error counts the whole rest as read.
                self.pos = buf.len();
                self.failed = true;
                let e = XmlError::Syntax(SyntaxError::UnclosedTag);
                return Err(xml_error(e, self.position(buf.len())));
            };
            i = gt + 1;
            self.pos = i;
            let content = &buf[from..gt];
            if kind == Some(b'/') {
                b.end(trim_end(content), run)?;
                if goal.reached(b) {
                    return Ok(Pass::Reached);
                }
                if i >= pause_at && goal.pause(b) {
                    return Ok(Pass::Paused);
                }
                continue;
            }
            match content.strip_suffix(b"/") {
                None => {
                    b.start(content)?;
                    if goal.reached(b) {
                        return Ok(Pass::Reached);
                    }
                }
                Some(content) => {
                    // `<x/>`: quick-xml expands it to `<x></x>`.
                    b.start(content)?;
                    if goal.reached(b) {
                        self.owed_end = b.innermost();
                        return Ok(Pass::Reached);
                    }
                    b.end(&content[..name_len(content)], Text::NONE)?;
                    if goal.reached(b) {
                        return Ok(Pass::Reached);
                    }
                }
            }
        }
    }

    /// How much memory the buffer holds.
    #[cfg(test)]
    pub(super) fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The position quick-xml reports for index `i` of the buffer.
    fn position(&self, i: usize) -> u64 {
        let bom = if self.bom { BOM.len() as u64 } else { 0 };
        self.dropped.wrapping_add(i as u64).saturating_sub(bom)
    }
}
