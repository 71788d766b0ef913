//! gzip and capped readers: decoding a multi-member gzip stream from memory
//! (RFC 1952 §2.2, ignoring trailing non-gzip bytes as Mimecast sends them),
//! the reader that caps how many bytes any decoder may produce, and the walk
//! step that decides whether a gzip is kept compressed (XML) or unpacked
//! (a container inside).
//!
//! Sniffing the content is left to [`super::sniff`](mod@super::sniff); what
//! happens to an unpacked container is the walk's business in [`super`].

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use flate2::{Decompress, DecompressError, FlushDecompress, Status};

use super::error::{InflateError, Reason};
use super::sniff::{not_a_report, sniff, Kind, GZIP_MAGIC};
use super::{PayloadKind, Role, Walk};

/// The first `n` bytes of `r` into `out` (fewer only at its end), read
/// straight into room for all of them: `take(n).read_to_end` first probes
/// with small reads, each a call into the inflater, which made the sniff
/// cost twice what inflating 1 KiB does (bench/README.md).
pub(super) fn read_head(r: &mut impl Read, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    out.resize(n, 0);
    let mut filled = 0;
    while filled < n {
        match r.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.truncate(filled);
                return Err(e);
            }
        }
    }
    out.truncate(filled);
    Ok(())
}

/// How much of a gzip's content is inflated to decide what it holds: XML
/// is told by its first non-blank character, nearly always in the first
/// kilobyte, so a report is kept compressed after inflating this much...
const GZIP_PEEK_XML: usize = 1024;
/// ...while anything else gets a longer look (a mail's header can be long;
/// a UTF-16 report's first non-blank character may be further in), which
/// decides exactly as a single 64 KiB look did.
const GZIP_PEEK: usize = 64 * 1024;

impl Walk<'_> {
    pub(super) fn gzip(&mut self, name: &str, bytes: &[u8], depth: u32) {
        // Inflating the whole head of every report here and again in the
        // parser cost a tenth of the parsing time. A gzip stream damaged
        // past the short peek is reported by the parser instead, in the
        // same words (`Payload::reader`).
        // The input itself is inflated by a decoder the parser can go on
        // with ([`Begun`]), so that its head is not inflated twice.
        let shared = self.input.filter(|i| std::ptr::eq(i.as_slice(), bytes));
        let mut begun = shared.map(|data| MultiGz::new(ArcBytes::new(Arc::clone(data))));
        let mut head = Vec::new();
        for peek in [GZIP_PEEK_XML, GZIP_PEEK] {
            let read = match begun.as_mut() {
                Some(gz) => read_head(gz, peek, &mut head),
                None => read_head(&mut MultiGz::new(bytes), peek, &mut head),
            };
            if let Err(e) = read {
                return self.error(name, Reason::Inflate(read_failure(e, "gzip stream")));
            }
            if head.len() < peek || sniff(&head) == Kind::Xml {
                break;
            }
            // A longer look starts over from the first byte.
            begun = None;
        }
        match sniff(&head) {
            // Kept compressed; the parser inflates it through Payload::reader.
            Kind::Xml => {
                if let (Some(rest), Some(data)) = (begun, shared) {
                    self.out.begun = Some(Begun {
                        data: Arc::clone(data),
                        head,
                        rest,
                    });
                }
                self.payload(name, bytes, true)
            }
            // An SMTP TLS report (Google's application/tlsrpt+gzip); kept
            // compressed too, `parse::tls` reads it through the same cap.
            Kind::Json => self.payload_of(name, bytes, true, PayloadKind::Tls),
            kind if kind.is_container() => match self.inflate(MultiGz::new(bytes), "gzip stream") {
                Ok(inner) => self.blob(name, &inner, depth + 1, Role::Whole),
                Err(e) => self.error(name, Reason::Inflate(e)),
            },
            kind => {
                let reason = not_a_report(kind, &head, "gzip content");
                self.error(name, Reason::NotAReport(reason))
            }
        }
    }
}

/// A gzip payload (the input itself) whose inflating the sniff began: the
/// head it inflated and the decoder, where the parser goes on
/// ([`Payload::reader_from`](super::Payload::reader_from)) rather than
/// inflating the head a second time.
pub struct Begun {
    /// The payload's bytes (tells which payload this is).
    pub(super) data: Arc<Vec<u8>>,
    pub(super) head: Vec<u8>,
    pub(super) rest: MultiGz<ArcBytes>,
}

impl std::fmt::Debug for Begun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Begun({} bytes inflated)", self.head.len())
    }
}

/// Shared bytes read from the front, for a decoder that outlives the
/// extraction step.
pub(super) struct ArcBytes {
    data: Arc<Vec<u8>>,
    pos: usize,
}

impl ArcBytes {
    pub(super) fn new(data: Arc<Vec<u8>>) -> Self {
        ArcBytes { data, pos: 0 }
    }
}

impl Read for ArcBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rest().read(buf)?;
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ArcBytes {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(self.rest())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.data.len());
    }
}

/// What a gzip member's decoder reads from, and what is left behind it.
pub(super) trait Rest: BufRead {
    fn rest(&self) -> &[u8];
}

impl Rest for &[u8] {
    fn rest(&self) -> &[u8] {
        self
    }
}

impl Rest for ArcBytes {
    fn rest(&self) -> &[u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }
}

/// Reads a sequence of gzip members from memory, stopping quietly at the
/// first byte that does not start another member (Mimecast appends CRLF).
/// flate2's `MultiGzDecoder` would fail on such trailing bytes, hence the
/// members restarted by hand.
///
/// The inflater reads the gzip framing itself (zlib's gzip mode): it checks
/// the header as flate2's `GzDecoder` does (magic, method, reserved flags,
/// header CRC) and the trailer's CRC-32 and size, and it computes the CRC
/// while it copies its output into its window, where `GzDecoder` ran a
/// second pass over every byte for it (bench/README.md, ninth round). Its
/// errors say what `GzDecoder`'s said.
pub(super) struct MultiGz<R> {
    input: R,
    inflate: Decompress,
    /// The last member has ended, its trailer checked.
    done: bool,
}

/// The window of every gzip member: 32 KiB (RFC 1951's largest).
const WINDOW_BITS: u8 = 15;

impl<R: Rest> MultiGz<R> {
    pub(super) fn new(data: R) -> Self {
        MultiGz {
            input: data,
            inflate: Decompress::new_gzip(WINDOW_BITS),
            done: false,
        }
    }
}

impl<R: Rest> Read for MultiGz<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while !self.done {
            let input = self.input.rest();
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let status = self
                .inflate
                .decompress(input, buf, FlushDecompress::None)
                .map_err(|e| gzip_error(&e))?;
            let used = (self.inflate.total_in() - in_before) as usize;
            let n = (self.inflate.total_out() - out_before) as usize;
            self.input.consume(used);
            if status == Status::StreamEnd {
                // Member complete, trailer CRC and size checked: what
                // follows is another member or ignored.
                if self.input.rest().starts_with(GZIP_MAGIC) {
                    self.inflate.reset(true);
                } else {
                    self.done = true;
                }
            } else if n == 0 && used == 0 {
                // No progress: the stream ends before its member does.
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if n > 0 {
                return Ok(n);
            }
        }
        Ok(0)
    }
}

/// An inflater's error in the words flate2's `GzDecoder` used for it.
fn gzip_error(e: &DecompressError) -> io::Error {
    let what = match e.message() {
        Some("incorrect data check" | "incorrect length check" | "header crc mismatch") => {
            "corrupt gzip stream does not have a matching checksum"
        }
        Some(
            "incorrect header check"
            | "unknown compression method"
            | "unknown header flags set"
            | "invalid window size",
        ) => "invalid gzip header",
        _ => "corrupt deflate stream",
    };
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// A reader whose errors say what [`read_failure`] says, for the parser
/// reading a gzip payload: "truncated gzip stream: ...", as extraction
/// would have said it.
pub(super) struct Described<R>(pub(super) R);

impl<R: Read> Read for Described<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let kind = e.kind();
            io::Error::new(kind, read_failure(e, "gzip stream"))
        })
    }
}

/// Whether `e` is a [`Capped`] reader's error past its limit.
pub(super) fn cap_exceeded(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<InflateError>())
        .is_some_and(|inner| matches!(inner, InflateError::TooBig(_)))
}

/// What a failed decompression says: a [`Capped`] reader's own error, or
/// `what` (e.g. "gzip stream") was truncated or corrupt.
pub(super) fn read_failure(e: io::Error, what: &'static str) -> InflateError {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<InflateError>());
    if let Some(&InflateError::TooBig(limit)) = inner {
        return InflateError::TooBig(limit);
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        InflateError::Truncated(what)
    } else {
        InflateError::Corrupt { what, source: e }
    }
}

/// A reader that fails with `InvalidData` once more than `limit` bytes have
/// come out of `inner`, so a bomb costs at most `limit` bytes of work.
pub(super) struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R> Capped<R> {
    pub(super) fn new(inner: R, limit: u64) -> Self {
        Capped {
            inner,
            left: limit,
            limit,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Ask for one byte more than allowed: a stream ending exactly at the
        // limit passes, one that goes on is caught.
        let allowed = usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX);
        let want = buf.len().min(allowed);
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                InflateError::TooBig(self.limit),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
