//! Extraction: turn any input blob into the report XML payloads inside it.
//!
//! This module owns the step between "some bytes arrived" and "here is report
//! XML": it sniffs a blob **by content, never by file name** (senders name
//! files `.xml` that are zips and attach gzip as `application/octet-stream`),
//! unpacks gzip, zip and RFC 822 mail, recursing through any nesting of them,
//! and hands back [`Payload`]s. It does not parse the XML (that is `parse`),
//! and it never fails the whole input for one bad part: each part that looked
//! like a report but could not be unpacked becomes one [`ExtractError`], and
//! the rest is still returned.
//!
//! Hostile input is bounded ([`Limits`]): nesting depth, zip member and mail
//! part counts, and decompressed size. Sizes are enforced on the bytes that
//! actually come out of the decoder, through a capped reader, because declared
//! sizes (zip headers, gzip ISIZE) lie. Nothing is allocated according to a
//! declared size. A gzip whose content is XML is kept compressed in the
//! [`Payload`] and only inflated while the parser reads it, so a 120 MB report
//! never sits decompressed in memory. The cap also applies to the sum of
//! everything inflated into memory from one input (all members of a zip, a
//! gzip inside a mail inside a gzip, ...), so a zip of many large members
//! cannot multiply it.
//!
//! What is an error and what is silently skipped:
//!
//! - The input itself (or a gzip's content) must be a report: XML, or a
//!   container holding one. Anything else is an error; a 0-byte input is
//!   "empty input", JSON gets "not a DMARC aggregate report (JSON, ...)" so a
//!   misrouted SMTP TLS report (RFC 8460, Google sends it as
//!   `application/tlsrpt+gzip`) says what it is.
//! - In a mail, every part is sniffed, whatever its Content-Type or name:
//!   Google sends `application/zip`, Mimecast a single-part
//!   `application/gzip` body, others `application/octet-stream` without a
//!   file name. Containers are unpacked; XML is taken only when it looks like
//!   an aggregate report (`<?xml` declaration or `feedback` near the start).
//!   Prose, HTML, images, forensic (RFC 6591) parts and the like are skipped
//!   silently: a mail without a report yields no payloads and no errors, with
//!   [`Extracted::is_mail`] set. A part is an error only when its content
//!   looks like a container that fails to unpack, or when it is *declared* a
//!   report (gzip/zip/XML type, or a `.xml`/`.gz`/`.zip` file name) but its
//!   content is not one, e.g. broken base64.
//! - In a zip, `__MACOSX/` entries, AppleDouble `._*` files and directories
//!   are skipped; other members are sniffed like mail parts (`.gz` and `.zip`
//!   members are unpacked, members with no name or no `.xml` are taken when
//!   their content is a report). A zip with no report member at all is an
//!   error.
//! - gzip: several members are decoded one after another (RFC 1952 §2.2);
//!   bytes after the last member that are not another member are ignored,
//!   because Mimecast sends a gzip member followed by CRLF. Corruption in the
//!   first 64 KiB of a gzip report is found here; corruption further in
//!   surfaces as an I/O error from [`Payload::reader`].
//!
//! Payload names are the input name plus the path inside it, joined by `::`:
//! zip member names (`<member #i>`, counting from 1, for an empty name), mail
//! attachment file names or `part N` (mail-parser's part index).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use flate2::bufread::GzDecoder;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use zip::result::ZipError;
use zip::ZipArchive;

/// Caps that keep a hostile input (zip/gzip bomb, deep nesting) in bounded
/// memory and time.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Maximum bytes one decompressed payload may expand to. Default 512 MiB.
    pub max_decompressed: u64,
    /// Maximum container nesting (gzip in zip in mail ...). Default 8.
    pub max_depth: u32,
    /// Maximum number of report members taken from one zip / parts from one mail. Default 10_000.
    pub max_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed: 512 * 1024 * 1024,
            max_depth: 8,
            max_members: 10_000,
        }
    }
}

/// One report document found in an input.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The input's name plus the path inside it, e.g. `a.eml::report.zip::r.xml`.
    pub name: String,
    /// The bytes: plain XML, or (when `gzip`) a gzip stream whose content is XML.
    pub data: Vec<u8>,
    /// `data` is gzip; decompress on read (kept compressed so a huge report
    /// is never held decompressed in memory).
    pub gzip: bool,
}

impl Payload {
    /// A reader over the XML, decompressing when needed and failing with an
    /// `InvalidData` error once more than `limits.max_decompressed` bytes come out.
    pub fn reader<'a>(&'a self, limits: &Limits) -> Box<dyn BufRead + 'a> {
        if self.gzip {
            let inflated = Capped::new(MultiGz::new(&self.data), limits.max_decompressed);
            Box::new(BufReader::new(inflated))
        } else {
            Box::new(self.data.as_slice())
        }
    }
}

/// Why a blob, or part of one, could not be unpacked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("{name}: {reason}")]
    Bad { name: String, reason: String },
}

/// Everything found in one input.
#[derive(Debug, Default)]
pub struct Extracted {
    pub payloads: Vec<Payload>,
    /// Parts that looked like reports (or containers) but could not be unpacked.
    pub errors: Vec<ExtractError>,
    /// The input was an RFC 822 message (so "no report" is an outcome, not an error).
    pub is_mail: bool,
}

/// Sniff `bytes` by content (never by file name) and unpack.
pub fn extract(name: &str, bytes: &[u8], limits: &Limits) -> Extracted {
    let mut walk = Walk {
        limits,
        budget: limits.max_decompressed,
        out: Extracted::default(),
    };
    walk.out.is_mail = sniff(bytes) == Kind::Mail;
    walk.blob(name, bytes, 0, Role::Whole);
    walk.out
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZIP_LOCAL_HEADER: &[u8] = b"PK\x03\x04";
/// An end-of-central-directory record first: a zip with no entries at all.
const ZIP_EMPTY: &[u8] = b"PK\x05\x06";
/// How much of a gzip's content is inflated to decide what it holds.
const GZIP_PEEK: u64 = 64 * 1024;
/// How far into XML to look for `feedback` ("a few KiB"): reports open with
/// it, after at most a declaration, a comment or a wrapper element (ikea.com
/// wraps `<feedback>` in an unclosed `<xs:schema>`).
const CANDIDATE_WINDOW: usize = 8 * 1024;

/// What a blob's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    Gzip,
    Zip,
    EmptyZip,
    Mail,
    Xml,
    Json,
    Unknown,
}

impl Kind {
    fn is_container(self) -> bool {
        matches!(self, Kind::Gzip | Kind::Zip | Kind::EmptyZip | Kind::Mail)
    }
}

fn sniff(bytes: &[u8]) -> Kind {
    if bytes.is_empty() {
        return Kind::Empty;
    }
    if bytes.starts_with(GZIP_MAGIC) {
        return Kind::Gzip;
    }
    if bytes.starts_with(ZIP_LOCAL_HEADER) {
        return Kind::Zip;
    }
    if bytes.starts_with(ZIP_EMPTY) {
        return Kind::EmptyZip;
    }
    let head = ascii_head(bytes, 64);
    match trim_start(&head).first() {
        Some(b'<') => Kind::Xml,
        Some(b'{') | Some(b'[') => Kind::Json,
        _ if looks_like_mail(bytes) => Kind::Mail,
        _ => Kind::Unknown,
    }
}

/// The first `n` characters of `bytes` as bytes, so sniffing can treat UTF-8
/// and UTF-16 XML alike: a UTF-8 BOM is dropped; UTF-16 (told by its BOM, or
/// by a NUL next to the leading `<`) is read one code unit per character,
/// with non-ASCII units mapped to 0x80.
fn ascii_head(bytes: &[u8], n: usize) -> Vec<u8> {
    // (text, bytes per unit, index of the low byte within a unit)
    let (text, step, low) = if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        (rest, 1, 0)
    } else if let Some(rest) = bytes.strip_prefix(b"\xff\xfe") {
        (rest, 2, 0)
    } else if let Some(rest) = bytes.strip_prefix(b"\xfe\xff") {
        (rest, 2, 1)
    } else if bytes.starts_with(b"<\0") {
        (bytes, 2, 0)
    } else if bytes.starts_with(b"\0<") {
        (bytes, 2, 1)
    } else {
        (bytes, 1, 0)
    };
    if step == 1 {
        return text.iter().take(n).copied().collect();
    }
    text.chunks_exact(2)
        .take(n)
        .map(|unit| match (unit.get(low), unit.get(1 - low)) {
            (Some(&ch), Some(0)) => ch,
            _ => 0x80,
        })
        .collect()
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// RFC 822 heuristic: an mbox `From ` separator followed by a header line, or
/// a first line that is a header field (`Name: value`) with a blank line (the
/// end of the header) somewhere after it.
fn looks_like_mail(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let text = bytes.get(start..).unwrap_or_default();
    let mut lines = text.split(|&b| b == b'\n');
    let Some(first) = lines.next() else {
        return false;
    };
    if first.starts_with(b"From ") {
        return lines.next().is_some_and(is_header_line);
    }
    is_header_line(first) && (contains(text, b"\n\n") || contains(text, b"\n\r\n"))
}

/// `field-name ":"` per RFC 5322 §3.6.8: printable ASCII except the colon.
fn is_header_line(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => line
            .get(..colon)
            .is_some_and(|field| field.iter().all(|b| (33..=126).contains(b))),
        _ => false,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// XML that is worth handing to the parser when it was found among other
/// things (a mail part, a zip member): an XML declaration, or `feedback`
/// (the aggregate report's root element) near the start.
fn is_report_candidate(bytes: &[u8]) -> bool {
    let head = ascii_head(bytes, CANDIDATE_WINDOW).to_ascii_lowercase();
    trim_start(&head).starts_with(b"<?xml") || contains(&head, b"feedback")
}

/// A short, one-line reason for content that is not a report.
fn not_a_report(kind: Kind, bytes: &[u8], what: &str) -> String {
    match kind {
        Kind::Empty if what == "input" => "empty input".to_string(),
        Kind::Empty => format!("empty {what}"),
        Kind::Json => {
            let head = ascii_head(bytes, CANDIDATE_WINDOW);
            if contains(&head, b"organization-name") || contains(&head, b"\"policies\"") {
                "not a DMARC aggregate report (JSON, looks like SMTP TLS report)".to_string()
            } else {
                "not a DMARC aggregate report (JSON)".to_string()
            }
        }
        Kind::Xml => "not a DMARC aggregate report (XML without <feedback>)".to_string(),
        _ => {
            let first: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!(
                "not a DMARC report: unrecognised {what} (first bytes {})",
                first.join(" ")
            )
        }
    }
}

/// A member or attachment name fit to print: control characters replaced.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// How strict to be with a blob that is not a report.
#[derive(Debug, Clone, Copy)]
enum Role<'d> {
    /// The input itself or a container's whole content: it must be a report.
    Whole,
    /// One of several things in a container (mail part, zip member): XML
    /// must look like a report, and anything else is skipped, unless the
    /// container declared it a report (the description says how).
    Part { declared: Option<&'d str> },
}

/// The state of one `extract` call.
struct Walk<'l> {
    limits: &'l Limits,
    /// Bytes that may still be inflated into memory for this input.
    budget: u64,
    out: Extracted,
}

impl Walk<'_> {
    fn error(&mut self, name: &str, reason: impl Into<String>) {
        self.out.errors.push(ExtractError::Bad {
            name: name.to_string(),
            reason: reason.into(),
        });
    }

    fn payload(&mut self, name: &str, data: &[u8], gzip: bool) {
        self.out.payloads.push(Payload {
            name: name.to_string(),
            data: data.to_vec(),
            gzip,
        });
    }

    /// `depth` is the number of containers already opened around `bytes`.
    fn blob(&mut self, name: &str, bytes: &[u8], depth: u32, role: Role<'_>) {
        let kind = sniff(bytes);
        if kind.is_container() && depth >= self.limits.max_depth {
            let reason = format!("nested containers deeper than {}", self.limits.max_depth);
            return self.error(name, reason);
        }
        match (kind, role) {
            (Kind::Gzip, _) => self.gzip(name, bytes, depth),
            (Kind::Zip, _) => self.zip(name, bytes, depth),
            (Kind::EmptyZip, _) => self.error(name, "zip archive has no report member"),
            (Kind::Mail, _) => self.mail(name, bytes, depth),
            (Kind::Xml, Role::Whole) => self.payload(name, bytes, false),
            (Kind::Xml, Role::Part { .. }) if is_report_candidate(bytes) => {
                self.payload(name, bytes, false)
            }
            (_, Role::Whole) => self.error(name, not_a_report(kind, bytes, "input")),
            (_, Role::Part { declared: Some(d) }) => {
                let reason = format!("{} (declared as {d})", not_a_report(kind, bytes, "content"));
                self.error(name, reason)
            }
            (_, Role::Part { declared: None }) => {}
        }
    }

    /// Inflate `reader` into memory, within the per-blob cap and what is left
    /// of this input's budget.
    fn inflate(&mut self, reader: impl Read, what: &str) -> Result<Vec<u8>, String> {
        let cap = self.limits.max_decompressed.min(self.budget);
        let mut out = Vec::new();
        match Capped::new(reader, cap).read_to_end(&mut out) {
            Ok(n) => {
                self.budget = self.budget.saturating_sub(n as u64);
                Ok(out)
            }
            Err(e) if cap_exceeded(&e) && cap < self.limits.max_decompressed => Err(format!(
                "decompressed size of this input exceeds the limit of {} bytes",
                self.limits.max_decompressed
            )),
            Err(e) => Err(read_failure(&e, what)),
        }
    }

    fn gzip(&mut self, name: &str, bytes: &[u8], depth: u32) {
        let mut head = Vec::new();
        if let Err(e) = MultiGz::new(bytes).take(GZIP_PEEK).read_to_end(&mut head) {
            return self.error(name, read_failure(&e, "gzip stream"));
        }
        match sniff(&head) {
            // Kept compressed; the parser inflates it through Payload::reader.
            Kind::Xml => self.payload(name, bytes, true),
            kind if kind.is_container() => match self.inflate(MultiGz::new(bytes), "gzip stream") {
                Ok(inner) => self.blob(name, &inner, depth + 1, Role::Whole),
                Err(reason) => self.error(name, reason),
            },
            kind => self.error(name, not_a_report(kind, &head, "gzip content")),
        }
    }

    fn zip(&mut self, name: &str, bytes: &[u8], depth: u32) {
        let mut archive = match ZipArchive::new(Cursor::new(bytes)) {
            Ok(archive) => archive,
            Err(e) => return self.error(name, format!("corrupt zip archive: {e}")),
        };
        let count = archive.len();
        if count > self.limits.max_members {
            let max = self.limits.max_members;
            return self.error(
                name,
                format!("zip has {count} members, more than the limit {max}"),
            );
        }
        let found_before = self.out.payloads.len() + self.out.errors.len();
        for index in 0..count {
            let member = archive
                .name_for_index(index)
                .unwrap_or_default()
                .to_string();
            if skip_zip_member(&member) {
                continue;
            }
            let label = if member.is_empty() {
                format!("{name}::<member #{}>", index + 1)
            } else {
                format!("{name}::{}", printable(&member))
            };
            match self.zip_member(&mut archive, index) {
                Ok(data) => {
                    let declared = declared_by_name(&member).then_some(member.as_str());
                    self.blob(&label, &data, depth + 1, Role::Part { declared });
                }
                Err(reason) => self.error(&label, reason),
            }
        }
        if self.out.payloads.len() + self.out.errors.len() == found_before {
            self.error(name, "zip archive has no report member");
        }
    }

    fn zip_member(
        &mut self,
        archive: &mut ZipArchive<Cursor<&[u8]>>,
        index: usize,
    ) -> Result<Vec<u8>, String> {
        let file = match archive.by_index(index) {
            Ok(file) => file,
            Err(ZipError::UnsupportedArchive(msg)) if msg == ZipError::PASSWORD_REQUIRED => {
                return Err("encrypted zip member (password required)".to_string())
            }
            Err(e) => return Err(format!("unreadable zip member: {e}")),
        };
        // The declared size is only a shortcut to refuse early; the capped
        // read below is what actually bounds memory.
        if file.size() > self.limits.max_decompressed {
            return Err(cap_message(self.limits.max_decompressed));
        }
        self.inflate(file, "zip member")
    }

    fn mail(&mut self, name: &str, bytes: &[u8], depth: u32) {
        // mbox files and some exports (the LinkedIn forensic samples) start
        // with a `From sender date` separator line, which is not a header.
        let body = match bytes.strip_prefix(b"From ") {
            Some(rest) => rest
                .iter()
                .position(|&b| b == b'\n')
                .and_then(|nl| rest.get(nl + 1..))
                .unwrap_or_default(),
            None => bytes,
        };
        match MessageParser::default().parse(body) {
            Some(message) => self.message(name, &message, depth),
            None => self.error(name, "unparseable mail message"),
        }
    }

    /// Every leaf part of `message`, whatever its type; `depth` counts the
    /// message itself.
    fn message(&mut self, name: &str, message: &Message<'_>, depth: u32) {
        let count = message.parts.len();
        if count > self.limits.max_members {
            let max = self.limits.max_members;
            return self.error(
                name,
                format!("mail has {count} parts, more than the limit {max}"),
            );
        }
        for (index, part) in message.parts.iter().enumerate() {
            let label = match part.attachment_name() {
                Some(file) if !file.is_empty() => format!("{name}::{}", printable(file)),
                _ => format!("{name}::part {index}"),
            };
            let declared = declared_part(part);
            let role = Role::Part {
                declared: declared.as_deref(),
            };
            match &part.body {
                // Multipart containers: their children follow in `parts`.
                // HTML bodies are prose, never a report.
                PartType::Multipart(_) | PartType::Html(_) => {}
                PartType::Message(_) if depth + 1 >= self.limits.max_depth => {
                    let reason = format!("nested containers deeper than {}", self.limits.max_depth);
                    self.error(&label, reason);
                }
                PartType::Message(inner) => self.message(&label, inner, depth + 1),
                PartType::Text(text) => {
                    let bytes =
                        transfer_decoded(message, part).unwrap_or(Cow::Borrowed(text.as_bytes()));
                    self.blob(&label, &bytes, depth + 1, role);
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                    self.blob(&label, bytes, depth + 1, role);
                }
            }
        }
    }
}

/// A text part's bytes before charset decoding. mail-parser hands text/*
/// parts over as a `String` already converted from the declared charset (or
/// lossily from UTF-8), which would contradict the `encoding=` in the XML
/// declaration, so undo only the transfer encoding from the raw message.
fn transfer_decoded<'m>(message: &'m Message<'_>, part: &MessagePart<'_>) -> Option<Cow<'m, [u8]>> {
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)?;
    match part.encoding {
        Encoding::None => Some(Cow::Borrowed(raw)),
        Encoding::Base64 => base64_decode(raw).map(Cow::Owned),
        Encoding::QuotedPrintable => quoted_printable_decode(raw).map(Cow::Owned),
    }
}

/// Members that never hold a report: directories, and the resource forks
/// macOS Archive Utility adds (`__MACOSX/`, `._name`).
fn skip_zip_member(member: &str) -> bool {
    let base = member.rsplit(['/', '\\']).next().unwrap_or(member);
    member.ends_with('/')
        || member.ends_with('\\')
        || member.starts_with("__MACOSX/")
        || base.starts_with("._")
}

fn declared_by_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".xml", ".gz", ".gzip", ".zip"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// How a mail part claims to be a report, if it does: by Content-Type or by
/// attachment file name.
fn declared_part(part: &MessagePart<'_>) -> Option<String> {
    if let Some(ct) = part.content_type() {
        let full =
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()).to_ascii_lowercase();
        const REPORT_TYPES: &[&str] = &[
            "application/gzip",
            "application/x-gzip",
            "application/zip",
            "application/x-zip",
            "application/x-zip-compressed",
            "application/xml",
            "text/xml",
        ];
        if REPORT_TYPES.contains(&full.as_str()) {
            return Some(full);
        }
    }
    part.attachment_name()
        .filter(|file| declared_by_name(file))
        .map(printable)
}

/// Reads a sequence of gzip members from memory, stopping quietly at the
/// first byte that does not start another member (Mimecast appends CRLF).
/// flate2's `MultiGzDecoder` would fail on such trailing bytes, hence the
/// single-member decoder restarted by hand.
struct MultiGz<'a> {
    member: Option<GzDecoder<&'a [u8]>>,
}

impl<'a> MultiGz<'a> {
    fn new(data: &'a [u8]) -> Self {
        MultiGz {
            member: Some(GzDecoder::new(data)),
        }
    }
}

impl Read for MultiGz<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while let Some(member) = self.member.as_mut() {
            let n = member.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // Member complete, trailer CRC and size checked. `bufread`
            // decoders consume exactly their member, so `rest` is what follows.
            let Some(done) = self.member.take() else {
                break;
            };
            let rest = done.into_inner();
            if rest.starts_with(GZIP_MAGIC) {
                self.member = Some(GzDecoder::new(rest));
            }
        }
        Ok(0)
    }
}

/// The error a [`Capped`] reader returns past its limit.
#[derive(Debug)]
struct CapExceeded(u64);

impl fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&cap_message(self.0))
    }
}

impl std::error::Error for CapExceeded {}

fn cap_message(limit: u64) -> String {
    format!("decompressed size exceeds the limit of {limit} bytes")
}

fn cap_exceeded(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<CapExceeded>())
}

/// One line for a failed decompression.
fn read_failure(e: &io::Error, what: &str) -> String {
    if cap_exceeded(e) {
        e.to_string()
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("truncated {what}: unexpected end of data")
    } else {
        format!("corrupt {what}: {e}")
    }
}

/// A reader that fails with `InvalidData` once more than `limit` bytes have
/// come out of `inner`, so a bomb costs at most `limit` bytes of work.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R> Capped<R> {
    fn new(inner: R, limit: u64) -> Self {
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
                CapExceeded(self.limit),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
