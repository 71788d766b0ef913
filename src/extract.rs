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
    let head = ascii_head(bytes, 1024);
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

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder};
    use flate2::Compression;
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    const XML: &[u8] = b"<?xml version=\"1.0\"?>\n<feedback><report_metadata>\
        <org_name>example.net</org_name><report_id>1</report_id></report_metadata></feedback>\n";
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * MIB;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    /// MIME base64 (RFC 2045 §6.8), 76 characters a line.
    fn base64(data: &[u8]) -> String {
        const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for (i, chunk) in data.chunks(3).enumerate() {
            if i > 0 && i % 19 == 0 {
                out.push_str("\r\n");
            }
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for k in 0..4 {
                if k <= chunk.len() {
                    out.push(ABC[(n >> (18 - 6 * k)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// A mail from `text` written with LF, sent with CRLF as on the wire.
    fn mail(text: &str) -> Vec<u8> {
        text.replace("\r\n", "\n")
            .replace('\n', "\r\n")
            .into_bytes()
    }

    fn run(bytes: &[u8]) -> Extracted {
        extract("in", bytes, &Limits::default())
    }

    fn reasons(x: &Extracted) -> Vec<String> {
        x.errors.iter().map(|e| e.to_string()).collect()
    }

    fn read_all(p: &Payload, limits: &Limits) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        p.reader(limits).read_to_end(&mut out)?;
        Ok(out)
    }

    /// The one payload of `x`, which must have no errors.
    fn single(x: &Extracted) -> &Payload {
        assert!(x.errors.is_empty(), "errors: {:?}", reasons(x));
        assert_eq!(x.payloads.len(), 1, "payloads: {:?}", x.payloads);
        &x.payloads[0]
    }

    fn single_error(x: &Extracted) -> String {
        assert!(x.payloads.is_empty(), "payloads: {:?}", x.payloads);
        assert_eq!(x.errors.len(), 1, "errors: {:?}", reasons(x));
        x.errors[0].to_string()
    }

    #[test]
    fn plain_xml_is_taken_as_is() {
        let x = run(XML);
        let p = single(&x);
        assert!(!p.gzip && !x.is_mail);
        assert_eq!((p.name.as_str(), p.data.as_slice()), ("in", XML));
        assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
    }

    #[test]
    fn xml_behind_utf16_bom_is_recognised() {
        let mut utf16 = vec![0xff, 0xfe];
        utf16.extend("\n<feedback/>".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(single(&run(&utf16)).data, utf16);
    }

    #[test]
    fn gzip_xml_stays_compressed() {
        let data = gz(XML);
        let x = run(&data);
        let p = single(&x);
        assert!(p.gzip);
        assert_eq!(p.data, data);
        assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
    }

    #[test]
    fn gzip_inside_gzip_is_unwrapped_once() {
        let inner = gz(XML);
        let p = single(&run(&gz(&inner))).clone();
        assert!(p.gzip);
        assert_eq!(p.data, inner);
        assert_eq!(read_all(&p, &Limits::default()).unwrap(), XML);
    }

    #[test]
    fn multi_member_gzip_reads_every_member() {
        let (a, b) = XML.split_at(40);
        let data = [gz(a), gz(b)].concat();
        assert_eq!(
            read_all(single(&run(&data)), &Limits::default()).unwrap(),
            XML
        );
    }

    #[test]
    fn mimecast_gzip_followed_by_crlf_is_accepted() {
        let data = [gz(XML), b"\r\n".to_vec()].concat();
        assert_eq!(
            read_all(single(&run(&data)), &Limits::default()).unwrap(),
            XML
        );
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let data = gz(XML);
        for cut in [data.len() - 4, data.len() / 2, 12] {
            let reason = single_error(&run(&data[..cut]));
            assert!(reason.contains("truncated gzip stream"), "{cut}: {reason}");
        }
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut data = gz(XML);
        let n = data.len();
        data[n - 6] ^= 0xff; // the CRC-32 in the trailer
        assert!(single_error(&run(&data)).contains("corrupt gzip stream"));
    }

    #[test]
    fn zip_skips_macos_forks_and_directories() {
        let data = zip_of(&[
            ("reports/", b""),
            ("reports/a.xml", XML),
            ("__MACOSX/._a.xml", b"\x00\x05\x16\x07 AppleDouble"),
            ("reports/._b.xml", b"\x00\x05\x16\x07 AppleDouble"),
            ("b.xml", XML),
        ]);
        let x = run(&data);
        assert!(x.errors.is_empty(), "{:?}", reasons(&x));
        let names: Vec<&str> = x.payloads.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["in::reports/a.xml", "in::b.xml"]);
        assert!(x.payloads.iter().all(|p| p.data == XML && !p.gzip));
    }

    #[test]
    fn zip_member_with_empty_name_is_sniffed() {
        let p = single(&run(&zip_of(&[("", XML)]))).clone();
        assert_eq!(p.name, "in::<member #1>");
        assert_eq!(p.data, XML);
    }

    #[test]
    fn zip_containing_gzip_is_unpacked() {
        let x = run(&zip_of(&[("r.xml.gz", &gz(XML)), ("README.txt", b"hello")]));
        let p = single(&x);
        assert_eq!(p.name, "in::r.xml.gz");
        assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
    }

    #[test]
    fn encrypted_zip_member_is_an_error() {
        let mut data = zip_of(&[("r.xml", XML)]);
        // Set "encrypted" (general purpose bit 0) in the local and central headers.
        data[6] |= 1;
        let central = data.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        data[central + 8] |= 1;
        let reason = single_error(&run(&data));
        assert!(
            reason.starts_with("in::r.xml: encrypted zip member"),
            "{reason}"
        );
    }

    #[test]
    fn corrupt_zip_is_an_error() {
        let data = zip_of(&[("r.xml", XML)]);
        let reason = single_error(&run(&data[..data.len() - 10]));
        assert!(reason.contains("corrupt zip archive"), "{reason}");

        let mut flipped = data.clone();
        flipped[45] ^= 0x55; // inside r.xml's deflate data
        let reason = single_error(&run(&flipped));
        assert!(
            reason.starts_with("in::r.xml: corrupt zip member"),
            "{reason}"
        );
    }

    #[test]
    fn empty_zip_is_an_error() {
        let data = zip_of(&[]);
        assert!(data.starts_with(ZIP_EMPTY));
        assert_eq!(
            single_error(&run(&data)),
            "in: zip archive has no report member"
        );
        let only_text = zip_of(&[("README.txt", b"no report here")]);
        assert_eq!(
            single_error(&run(&only_text)),
            "in: zip archive has no report member"
        );
    }

    #[test]
    fn zip_with_too_many_members_is_refused_once() {
        let names: Vec<String> = (0..5).map(|i| format!("r{i}.xml")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), XML)).collect();
        let limits = Limits {
            max_members: 4,
            ..Limits::default()
        };
        let x = extract("in", &zip_of(&entries), &limits);
        assert_eq!(
            single_error(&x),
            "in: zip has 5 members, more than the limit 4"
        );
    }

    #[test]
    fn google_mail_with_base64_zip_attachment() {
        let zip = zip_of(&[("google.com!example.com!1!2.xml", XML)]);
        let eml = mail(&format!(
            "From: noreply-dmarc-support@google.com\n\
             Subject: Report domain: example.com\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\n\
             \n\
             --b1\n\
             Content-Type: text/plain; charset=utf-8\n\
             \n\
             This is an aggregate report from google.com.\n\
             --b1\n\
             Content-Type: application/zip; name=\"r.zip\"\n\
             Content-Disposition: attachment; filename=\"r.zip\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --b1--\n",
            base64(&zip)
        ));
        let x = run(&eml);
        assert!(x.is_mail);
        let p = single(&x);
        assert_eq!(p.name, "in::r.zip::google.com!example.com!1!2.xml");
        assert_eq!(p.data, XML);
    }

    #[test]
    fn mimecast_single_part_gzip_body() {
        let gzip = [gz(XML), b"\r\n".to_vec()].concat();
        let eml = mail(&format!(
            "From: dmarc@mimecast.example\n\
             Subject: report\n\
             MIME-Version: 1.0\n\
             Content-Type: application/gzip\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n",
            base64(&gzip)
        ));
        let x = run(&eml);
        let p = single(&x);
        assert!(x.is_mail && p.gzip);
        assert_eq!(p.name, "in::part 0");
        assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
    }

    #[test]
    fn octet_stream_attachment_without_filename() {
        let eml = mail(&format!(
            "From: a@example.org\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\
             \n\
             --b\n\
             Content-Type: text/html\n\
             \n\
             <html><body>Your DMARC feedback report</body></html>\n\
             --b\n\
             Content-Type: application/octet-stream\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --b--\n",
            base64(&gz(XML))
        ));
        let x = run(&eml);
        assert_eq!(single(&x).name, "in::part 2");
    }

    #[test]
    fn nested_rfc822_with_gzip_attachment() {
        let eml = mail(&format!(
            "From: forwarder@example.org\n\
             Subject: Fwd: report\n\
             Content-Type: multipart/mixed; boundary=\"outer\"\n\
             \n\
             --outer\n\
             Content-Type: text/plain\n\
             \n\
             Forwarded report below.\n\
             --outer\n\
             Content-Type: message/rfc822\n\
             \n\
             From: reporter@example.net\n\
             Subject: Report domain: example.org\n\
             Content-Type: multipart/mixed; boundary=\"inner\"\n\
             \n\
             --inner\n\
             Content-Type: application/gzip\n\
             Content-Disposition: attachment; filename=\"r.xml.gz\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --inner--\n\
             \n\
             --outer--\n",
            base64(&gz(XML))
        ));
        let x = run(&eml);
        let p = single(&x);
        assert_eq!(p.name, "in::part 2::r.xml.gz");
        assert_eq!(read_all(p, &Limits::default()).unwrap(), XML);
    }

    #[test]
    fn mail_with_only_prose_is_no_report_and_no_error() {
        let eml = mail(
            "From: someone@example.org\n\
             Subject: hello\n\
             Content-Type: multipart/alternative; boundary=\"b\"\n\
             \n\
             --b\n\
             Content-Type: text/plain\n\
             \n\
             Thanks for the <feedback> on our report.\n\
             --b\n\
             Content-Type: text/html\n\
             \n\
             <p>Thanks for the feedback</p>\n\
             --b--\n",
        );
        let x = run(&eml);
        assert!(x.is_mail);
        assert!(x.payloads.is_empty() && x.errors.is_empty(), "{x:?}");
    }

    #[test]
    fn mbox_from_line_and_latin1_text_xml_keep_raw_bytes() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n\
            <feedback><report_metadata><org_name>Caf\xe9</org_name></report_metadata></feedback>\n";
        let eml = mail(&format!(
            "From dmarc@example.net Tue Apr 30 02:09:16 2019\n\
             From: dmarc@example.net\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\
             \n\
             --b\n\
             Content-Type: text/xml; charset=iso-8859-1\n\
             Content-Disposition: attachment; filename=\"r.xml\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --b--\n",
            base64(latin1)
        ));
        let x = run(&eml);
        assert!(x.is_mail);
        let p = single(&x);
        assert_eq!(p.name, "in::r.xml");
        assert_eq!(p.data, latin1);
    }

    #[test]
    fn quoted_printable_latin1_text_xml_keeps_raw_bytes() {
        let eml = mail(
            "From: dmarc@example.net\n\
             Content-Type: text/xml; charset=iso-8859-1\n\
             Content-Transfer-Encoding: quoted-printable\n\
             \n\
             <?xml version=3D\"1.0\" encoding=3D\"ISO-8859-1\"?>\n\
             <feedback><report_metadata><org_name>Caf=E9</org_name></report_=\n\
             metadata></feedback>\n",
        );
        let p = single(&run(&eml)).clone();
        let expected = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\r\n\
            <feedback><report_metadata><org_name>Caf\xe9</org_name></report_metadata></feedback>";
        assert_eq!(p.data.trim_ascii(), expected);
    }

    #[test]
    fn unencoded_text_xml_part_is_taken() {
        let text = std::str::from_utf8(XML).unwrap();
        let eml = mail(&format!(
            "From: dmarc@example.net\n\
             Content-Type: text/xml; charset=utf-8\n\
             \n\
             {text}"
        ));
        let p = single(&run(&eml)).clone();
        assert_eq!(p.data.trim_ascii(), mail(text).trim_ascii());
    }

    /// mail-parser keeps offsets relative to the outer message for a plain
    /// `message/rfc822` part, and relative to the decoded bytes for a base64
    /// one (NetEase base64-encodes `message/*` parts); both must give back
    /// the undecoded charset.
    #[test]
    fn latin1_text_xml_inside_nested_messages_keeps_raw_bytes() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><feedback>\xe9</feedback>";
        let inner = mail(&format!(
            "From: reporter@example.net\n\
             Content-Type: multipart/mixed; boundary=\"inner\"\n\
             \n\
             --inner\n\
             Content-Type: text/xml; charset=iso-8859-1\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --inner--\n",
            base64(latin1)
        ));
        let inner = String::from_utf8(inner).unwrap();
        for (encoding, body) in [
            ("7bit", inner.clone()),
            ("base64", base64(inner.as_bytes())),
        ] {
            let eml = mail(&format!(
                "From: forwarder@example.org\n\
                 Content-Type: multipart/mixed; boundary=\"outer\"\n\
                 \n\
                 --outer\n\
                 Content-Type: message/rfc822\n\
                 Content-Transfer-Encoding: {encoding}\n\
                 \n\
                 {body}\n\
                 --outer--\n"
            ));
            let x = run(&eml);
            assert_eq!(single(&x).data, latin1, "{encoding}");
        }
    }

    #[test]
    fn part_declared_as_gzip_with_broken_content_is_an_error() {
        let eml = mail(
            "From: a@example.org\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\
             \n\
             --b\n\
             Content-Type: application/gzip; name=\"r.xml.gz\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             !!!! this is not base64 ????\n\
             --b--\n",
        );
        let reason = single_error(&run(&eml));
        assert!(
            reason.starts_with("in::r.xml.gz: not a DMARC report"),
            "{reason}"
        );
        assert!(
            reason.ends_with("(declared as application/gzip)"),
            "{reason}"
        );
    }

    #[test]
    fn gzip_of_tls_report_json_is_named_as_such() {
        let json = br#"{"organization-name":"Google Inc.","policies":[]}"#;
        let eml = mail(&format!(
            "From: noreply-smtp-tls-reporting@google.com\n\
             Content-Type: multipart/report; boundary=\"b\"; report-type=tlsrpt\n\
             \n\
             --b\n\
             Content-Type: application/tlsrpt+gzip; name=\"r.json.gz\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --b--\n",
            base64(&gz(json))
        ));
        let reason = single_error(&run(&eml));
        assert_eq!(
            reason,
            "in::r.json.gz: not a DMARC aggregate report (JSON, looks like SMTP TLS report)"
        );
    }

    #[test]
    fn nesting_beyond_max_depth_is_an_error() {
        let limits = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        let twice = gz(&gz(XML));
        assert!(single(&extract("in", &twice, &limits)).gzip);
        let x = extract("in", &gz(&twice), &limits);
        assert_eq!(single_error(&x), "in: nested containers deeper than 2");
    }

    #[test]
    fn empty_input_is_an_error() {
        assert_eq!(single_error(&run(b"")), "in: empty input");
    }

    #[test]
    fn random_bytes_are_an_error() {
        let bytes: Vec<u8> = lcg(7).take(4096).collect();
        let reason = single_error(&run(&bytes));
        assert!(
            reason.starts_with("in: not a DMARC report: unrecognised input (first bytes "),
            "{reason}"
        );
        assert!(!reason.contains('\n'));
    }

    fn lcg(seed: u64) -> impl Iterator<Item = u8> {
        let mut state = seed;
        std::iter::repeat_with(move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
    }

    /// Cut and bit-flipped versions of every kind of container: errors are
    /// fine, panics are not.
    #[test]
    fn damaged_containers_never_panic() {
        let zip = zip_of(&[("a/", b""), ("r.xml", XML), ("r.gz", &gz(XML))]);
        let eml = mail(&format!(
            "From x\nFrom: a@b\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
             Content-Type: application/zip\nContent-Transfer-Encoding: base64\n\n{}\n--b--\n",
            base64(&zip)
        ));
        let samples = [
            gz(XML),
            [gz(XML), gz(XML), b"\r\n".to_vec()].concat(),
            zip,
            eml,
        ];
        let limits = Limits::default();
        let mut noise = lcg(1);
        for sample in &samples {
            for cut in 0..=sample.len() {
                let mut damaged = sample[..cut].to_vec();
                if let (Some(at), Some(bits)) = (noise.next(), noise.next()) {
                    if let Some(b) = damaged.get_mut(usize::from(at) * cut / 256) {
                        *b ^= bits;
                    }
                }
                for bytes in [&sample[..cut], &damaged[..]] {
                    for p in extract("in", bytes, &limits).payloads {
                        let _ = read_all(&p, &limits);
                    }
                }
            }
        }
    }

    #[test]
    fn payload_reader_fails_past_the_limit() {
        let p = single(&run(&gz(XML))).clone();
        let limits = Limits {
            max_decompressed: XML.len() as u64,
            ..Limits::default()
        };
        assert_eq!(read_all(&p, &limits).unwrap(), XML);
        let limits = Limits {
            max_decompressed: XML.len() as u64 - 1,
            ..Limits::default()
        };
        let err = read_all(&p, &limits).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err
            .to_string()
            .contains(&format!("limit of {} bytes", XML.len() - 1)));
    }

    /// Raw deflate data that inflates to `prefix` then `chunk` `times` times,
    /// made without compressing it all (a GiB through the compressor is slow
    /// in a debug build): each sync-flushed block from a fresh encoder refers
    /// back only within itself, so copies can be chained.
    fn deflate_repeated(prefix: &[u8], chunk: &[u8], times: u64) -> Vec<u8> {
        let block = |data: &[u8]| {
            let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
            e.write_all(data).unwrap();
            e.flush().unwrap();
            e.get_ref().clone()
        };
        let mut out = if prefix.is_empty() {
            Vec::new()
        } else {
            block(prefix)
        };
        let repeated = block(chunk);
        for _ in 0..times {
            out.extend_from_slice(&repeated);
        }
        out.extend_from_slice(&[0x03, 0x00]); // empty final block
        out
    }

    /// A gzip member around raw deflate data; the trailer is not computed
    /// (the bombs are never read to their end).
    fn gzip_around(deflated: &[u8]) -> Vec<u8> {
        let header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        [&header[..], deflated, &[0; 8]].concat()
    }

    /// A one-member zip around raw deflate data, declaring `size`.
    fn zip_around(name: &str, deflated: &[u8], size: u32) -> Vec<u8> {
        let (n, c) = (name.len() as u16, deflated.len() as u32);
        let common = |z: &mut Vec<u8>| {
            for v in [0u16, 8, 0, 0x21] {
                z.extend(v.to_le_bytes()); // flags, method, time, date
            }
            z.extend([0u32, c, size].iter().flat_map(|v| v.to_le_bytes())); // crc, sizes
            z.extend(n.to_le_bytes());
            z.extend(0u16.to_le_bytes()); // extra length
        };
        let mut z = b"PK\x03\x04\x14\x00".to_vec();
        common(&mut z);
        z.extend(name.as_bytes());
        z.extend(deflated);
        let central = z.len() as u32;
        z.extend(b"PK\x01\x02\x14\x00\x14\x00");
        common(&mut z);
        z.extend([0u8; 14]); // comment length, disk, attributes, local header offset 0
        z.extend(name.as_bytes());
        let size_cd = z.len() as u32 - central;
        z.extend(b"PK\x05\x06\0\0\0\0\x01\x00\x01\x00");
        z.extend(size_cd.to_le_bytes());
        z.extend(central.to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z
    }

    #[test]
    fn gzip_bomb_of_zeros_is_refused_by_its_head() {
        let bomb = gzip_around(&deflate_repeated(b"", &[0; 1 << 20], GIB >> 20));
        assert!(bomb.len() < 2 << 20, "{}", bomb.len());
        let reason = single_error(&run(&bomb));
        assert!(
            reason.contains("unrecognised gzip content (first bytes 00 00"),
            "{reason}"
        );
    }

    #[test]
    fn gzip_bomb_of_xml_fails_when_read_past_the_limit() {
        let prefix = b"<?xml version=\"1.0\"?><feedback>";
        let bomb = gzip_around(&deflate_repeated(prefix, &[b' '; 1 << 20], GIB >> 20));
        let limits = Limits {
            max_decompressed: 16 * MIB,
            ..Limits::default()
        };
        let x = extract("in", &bomb, &limits);
        let err = read_all(single(&x), &limits).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("limit of 16777216 bytes"), "{err}");
    }

    #[test]
    fn gzip_bomb_inside_gzip_is_refused_while_unpacking() {
        let inner = gzip_around(&deflate_repeated(b"", &[0; 1 << 20], GIB >> 20));
        let limits = Limits {
            max_decompressed: 256 * 1024,
            ..Limits::default()
        };
        let reason = single_error(&extract("in", &gz(&inner), &limits));
        assert_eq!(
            reason,
            "in: decompressed size exceeds the limit of 262144 bytes"
        );
    }

    #[test]
    fn zip_bomb_declaring_its_size_is_refused_without_inflating() {
        let bomb = zip_around(
            "r.xml",
            &deflate_repeated(b"", &[0; 1 << 20], GIB >> 20),
            GIB as u32,
        );
        let reason = single_error(&run(&bomb));
        assert_eq!(
            reason,
            "in::r.xml: decompressed size exceeds the limit of 536870912 bytes"
        );
    }

    #[test]
    fn zip_bomb_lying_about_its_size_is_cut_off() {
        let bomb = zip_around("r.xml", &deflate_repeated(XML, &[b' '; 1 << 20], 64), 100);
        let limits = Limits {
            max_decompressed: 16 * MIB,
            ..Limits::default()
        };
        let reason = single_error(&extract("in", &bomb, &limits));
        assert_eq!(
            reason,
            "in::r.xml: decompressed size exceeds the limit of 16777216 bytes"
        );
    }

    #[test]
    fn zip_members_share_one_budget() {
        let big = vec![b' '; 3000];
        let member = [XML, &big[..]].concat();
        let limits = Limits {
            max_decompressed: 5000,
            ..Limits::default()
        };
        let x = extract(
            "in",
            &zip_of(&[("a.xml", &member), ("b.xml", &member)]),
            &limits,
        );
        assert_eq!(x.payloads.len(), 1);
        assert_eq!(
            reasons(&x),
            ["in::b.xml: decompressed size of this input exceeds the limit of 5000 bytes"]
        );
    }

    fn corpus() -> Option<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/parsedmarc");
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!("skipping: sample corpus {} is absent", dir.display());
            None
        }
    }

    fn files_in(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    fn extract_file(path: &Path) -> Extracted {
        let name = path.file_name().unwrap().to_string_lossy();
        extract(&name, &std::fs::read(path).unwrap(), &Limits::default())
    }

    #[test]
    fn corpus_aggregate_reports_yield_one_payload_each() {
        let Some(root) = corpus() else { return };
        let mut seen = 0;
        for sub in ["aggregate", "aggregate_invalid", "extract_report"] {
            for path in files_in(&root.join(sub)) {
                let x = extract_file(&path);
                assert!(x.errors.is_empty(), "{}: {:?}", path.display(), reasons(&x));
                assert_eq!(x.payloads.len(), 1, "{}", path.display());
                let xml = read_all(&x.payloads[0], &Limits::default()).unwrap();
                assert!(contains(&xml, b"feedback"), "{}", path.display());
                seen += 1;
            }
        }
        assert_eq!(seen, 24);
        assert_eq!(
            single_error(&extract_file(&root.join("empty.xml"))),
            "empty.xml: empty input"
        );
    }

    /// The inner payload hashes listed in the corpus README, computed there
    /// by an independent Python unpacker.
    #[test]
    fn corpus_containers_unpack_to_the_documented_payloads() {
        use sha2::{Digest, Sha256};
        let Some(root) = corpus() else { return };
        let expected = [
            ("aggregate/mimecast-weird-gzip.eml", "72514b3544cf"),
            ("aggregate/twilight.eml", "ea6ae16a16b7"),
            (
                "aggregate/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml",
                "0d7c79c23645",
            ),
            (
                "aggregate/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz",
                "83cc27733031",
            ),
            (
                "aggregate/estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip",
                "fb1e6fc9f8d0",
            ),
            ("extract_report/nice-input.xml.gz", "7005e63ffe94"),
            ("extract_report/nice-input.xml.zip", "7005e63ffe94"),
        ];
        for (file, sha) in expected {
            let x = extract_file(&root.join(file));
            let xml = read_all(single(&x), &Limits::default()).unwrap();
            let hex: String = Sha256::digest(&xml)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(&hex[..12], sha, "{file}");
        }
    }

    #[test]
    fn corpus_failure_reports_are_mail_without_aggregate_reports() {
        let Some(root) = corpus() else { return };
        for path in files_in(&root.join("failure")) {
            let x = extract_file(&path);
            assert!(x.is_mail, "{}", path.display());
            assert!(
                x.payloads.is_empty(),
                "{}: {:?}",
                path.display(),
                x.payloads
            );
            assert!(x.errors.is_empty(), "{}: {:?}", path.display(), reasons(&x));
        }
    }

    #[test]
    fn corpus_smtp_tls_reports_are_not_aggregate_reports() {
        let Some(root) = corpus() else { return };
        for path in files_in(&root.join("smtp_tls")) {
            let x = extract_file(&path);
            let reason = single_error(&x);
            assert!(reason.contains("JSON"), "{reason}");
        }
        let x = extract_file(&root.join("smtp_tls/google.com_smtp_tls_report.eml"));
        assert!(x.is_mail);
        assert!(single_error(&x).ends_with("(JSON, looks like SMTP TLS report)"));
    }
}
