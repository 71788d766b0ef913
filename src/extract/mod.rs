//! Extraction: turn any input blob into the report payloads inside it.
//!
//! This module owns the step between "some bytes arrived" and "here is a
//! report": it sniffs a blob **by content, never by file name** (senders name
//! files `.xml` that are zips and attach gzip as `application/octet-stream`),
//! unpacks gzip, zip and RFC 822 mail, recursing through any nesting of them,
//! and hands back [`Payload`]s, each of one [`PayloadKind`]: aggregate report
//! XML, SMTP TLS report JSON (RFC 8460), or a whole failure report mail
//! (RFC 6591). It does not parse them (that is `parse`, `parse::tls` and
//! `parse::arf`), and it never fails the whole input for one bad part: each
//! part that looked like a report but could not be unpacked becomes one
//! [`ExtractError`], and the rest is still returned. Telling the kinds apart
//! costs the aggregate path nothing: XML is sniffed exactly as before, and a
//! mail is checked for an ARF part once, from the parts already parsed.
//!
//! Hostile input is bounded ([`Limits`]): nesting depth, zip member and mail
//! part counts, and decompressed size. Sizes are enforced on the bytes that
//! actually come out of the decoder, through a capped reader, because declared
//! sizes (zip headers, gzip ISIZE) lie. Nothing is allocated according to a
//! declared size. A gzip whose content is XML is kept compressed in the
//! [`Payload`] and only inflated while the parser reads it, so a 120 MB report
//! never sits decompressed in memory; so is a deflated zip member holding
//! XML, re-wrapped as gzip (see [`zip`](mod@zip)). The cap also applies to
//! the sum of everything inflated into memory from one input (containers
//! inside a zip, a gzip inside a mail inside a gzip, ...), so a zip of many
//! large members cannot multiply it.
//!
//! What is an error and what is silently skipped:
//!
//! - The input itself (or a gzip's content) must be a report: XML, JSON, or
//!   a container holding one. Anything else is an error; a 0-byte input is
//!   "empty input". JSON, alone or in a gzip, is an SMTP TLS payload (the
//!   parser says when it is not a TLS report); Google sends it gzipped as
//!   `application/tlsrpt+gzip` inside `multipart/report; report-type=tlsrpt`.
//! - A mail that has a `message/feedback-report` part, or is a
//!   `multipart/report` declaring `report-type=feedback-report` (or no
//!   report type and a subject calling it a DMARC forensic or failure
//!   report: exim's text-only failure reports), is one [`PayloadKind::Failure`] payload: the whole mail,
//!   whatever its feedback type (`parse::arf` tells auth-failure from
//!   abuse and the like). Its parts are not searched further.
//! - In other mail, every part is sniffed, whatever its Content-Type or name:
//!   Google sends `application/zip`, Mimecast a single-part
//!   `application/gzip` body, others `application/octet-stream` without a
//!   file name. Containers are unpacked; XML is taken only when it looks like
//!   an aggregate report (`<?xml` declaration or `feedback` near the start),
//!   JSON only when it looks like a TLS report (`organization-name` or
//!   `"policies"` near the start) or is declared one.
//!   Prose, HTML, images and the like are skipped
//!   silently: a mail without a report yields no payloads and no errors, with
//!   [`Extracted::is_mail`] set. A part is an error only when its content
//!   looks like a container that fails to unpack, or when it is *declared* a
//!   report (gzip/zip/XML/`application/tlsrpt+*` type, or a
//!   `.xml`/`.gz`/`.zip`/`.json` file name) but its content is not one, e.g.
//!   broken base64.
//! - In a zip, `__MACOSX/` entries, AppleDouble `._*` files and directories
//!   are skipped; other members are sniffed like mail parts (`.gz` and `.zip`
//!   members are unpacked, members with no name or no `.xml` are taken when
//!   their content is a report). A zip with no report member at all is an
//!   error.
//! - gzip: several members are decoded one after another (RFC 1952 §2.2);
//!   bytes after the last member that are not another member are ignored,
//!   because Mimecast sends a gzip member followed by CRLF. Corruption in the
//!   first KiB of a gzip report is found here; corruption further in
//!   surfaces as an I/O error from [`Payload::reader`], in the same words,
//!   when the parser reads the payload (to its end, trailer included).
//!
//! Payload names are the input name plus the path inside it, joined by `::`:
//! zip member names (`<member #i>`, counting from 1, for an empty name), mail
//! attachment file names or `part N` (mail-parser's part index).
//!
//! This file holds the public interface and the walk that dispatches each
//! blob by its sniffed kind; the steps live in submodules: `sniff`
//! (content sniffing), `gzip` (multi-member gzip and capped readers), `zip`
//! (zip members) and `mail` (MIME parts).

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

mod error;
mod gzip;
mod mail;
mod sniff;
#[cfg(test)]
mod tests;
mod zip;

pub use error::{FirstBytes, InflateError, MemberError, NotAReport, Reason};
pub use gzip::Begun;
use gzip::{cap_exceeded, read_failure, Capped, Described, MultiGz};
use sniff::{is_report_candidate, is_tls_candidate, not_a_report, sniff, Kind};

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
    /// The bytes: plain XML, or (when `gzip`) a gzip stream whose content is
    /// XML. Shared with the input when the input is the payload.
    pub data: Arc<Vec<u8>>,
    /// `data` is gzip; decompress on read (kept compressed so a huge report
    /// is never held decompressed in memory).
    pub gzip: bool,
    /// Which kind of report the content is (told by content, see the module doc).
    pub kind: PayloadKind,
}

/// The kinds of report a [`Payload`] can hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PayloadKind {
    /// DMARC aggregate report XML (RFC 7489 / RFC 9990): the hot path.
    #[default]
    Aggregate,
    /// SMTP TLS report JSON (RFC 8460), plain or gzip.
    Tls,
    /// A whole mail that is a failure report (RFC 6591 ARF, or a reporter's
    /// text version of one); its `Feedback-Type` is read by `parse::arf`.
    Failure,
}

impl Payload {
    /// A reader over the XML, decompressing when needed and failing with an
    /// `InvalidData` error once more than `limits.max_decompressed` bytes come out.
    pub fn reader<'a>(&'a self, limits: &Limits) -> Box<dyn BufRead + 'a> {
        self.reader_from(None, limits)
    }

    /// [`reader`](Self::reader), going on from where extraction's sniff
    /// stopped inflating when `begun` is this payload's
    /// ([`Extracted::begun`]): the same bytes, the head inflated once.
    pub fn reader_from<'a>(
        &'a self,
        begun: Option<Begun>,
        limits: &Limits,
    ) -> Box<dyn BufRead + 'a> {
        if !self.gzip {
            return Box::new(self.data.as_slice());
        }
        let cap = limits.max_decompressed;
        // A small buffer: the parser reads in chunks of its own, which
        // then go straight to the inflater (a duplicate is told from the
        // first chunk, so inflating more than asked for is wasted).
        match begun.filter(|b| Arc::ptr_eq(&b.data, &self.data)) {
            Some(b) => {
                let inflated = Capped::new(io::Cursor::new(b.head).chain(b.rest), cap);
                Box::new(BufReader::with_capacity(1024, Described(inflated)))
            }
            None => {
                let inflated = Capped::new(MultiGz::new(self.data.as_slice()), cap);
                Box::new(BufReader::with_capacity(1024, Described(inflated)))
            }
        }
    }
}

/// Why a blob, or part of one, could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{name}: {reason}")]
    Bad { name: String, reason: Reason },
}

/// Everything found in one input.
#[derive(Debug, Default)]
pub struct Extracted {
    pub payloads: Vec<Payload>,
    /// Parts that looked like reports (or containers) but could not be unpacked.
    pub errors: Vec<ExtractError>,
    /// The input was an RFC 822 message (so "no report" is an outcome, not an error).
    pub is_mail: bool,
    /// When the input itself is a gzip report, its inflating as the sniff
    /// left it, for [`Payload::reader_from`].
    pub begun: Option<Begun>,
}

/// Whether `bytes` are a gzip stream, as [`extract`] would sniff them
/// (its first bytes, never its name).
pub fn is_gzip(bytes: &[u8]) -> bool {
    sniff(bytes) == Kind::Gzip
}

/// Sniff `bytes` by content (never by file name) and unpack.
pub fn extract(name: &str, bytes: &[u8], limits: &Limits) -> Extracted {
    walk(name, bytes, None, limits)
}

/// [`extract`] an input's bytes: a payload that is the whole input (plain
/// XML, a gzip) shares them rather than copying them.
pub fn extract_input(name: &str, bytes: &Arc<Vec<u8>>, limits: &Limits) -> Extracted {
    walk(name, bytes, Some(bytes), limits)
}

fn walk(name: &str, bytes: &[u8], input: Option<&Arc<Vec<u8>>>, limits: &Limits) -> Extracted {
    let mut walk = Walk {
        limits,
        budget: limits.max_decompressed,
        out: Extracted::default(),
        input,
    };
    walk.out.is_mail = sniff(bytes) == Kind::Mail;
    walk.blob(name, bytes, 0, Role::Whole);
    walk.out
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
    /// The input, when a payload may share it.
    input: Option<&'l Arc<Vec<u8>>>,
}

impl Walk<'_> {
    fn error(&mut self, name: &str, reason: Reason) {
        self.out.errors.push(ExtractError::Bad {
            name: name.to_string(),
            reason,
        });
    }

    fn payload(&mut self, name: &str, data: &[u8], gzip: bool) {
        self.payload_of(name, data, gzip, PayloadKind::Aggregate)
    }

    fn payload_of(&mut self, name: &str, data: &[u8], gzip: bool, kind: PayloadKind) {
        let data = match self.input {
            // The input itself: shared, not copied.
            Some(input) if std::ptr::eq(input.as_slice(), data) => Arc::clone(input),
            _ => Arc::new(data.to_vec()),
        };
        self.payload_shared(name, data, gzip);
        if let Some(p) = self.out.payloads.last_mut() {
            p.kind = kind;
        }
    }

    /// An aggregate report payload of bytes made for it.
    fn payload_shared(&mut self, name: &str, data: Arc<Vec<u8>>, gzip: bool) {
        self.out.payloads.push(Payload {
            name: name.to_string(),
            data,
            gzip,
            kind: PayloadKind::Aggregate,
        });
    }

    /// `depth` is the number of containers already opened around `bytes`.
    fn blob(&mut self, name: &str, bytes: &[u8], depth: u32, role: Role<'_>) {
        let kind = sniff(bytes);
        if kind.is_container() && depth >= self.limits.max_depth {
            return self.error(name, Reason::TooDeep(self.limits.max_depth));
        }
        match (kind, role) {
            (Kind::Gzip, _) => self.gzip(name, bytes, depth),
            (Kind::Zip, _) => self.zip(name, bytes, depth),
            (Kind::EmptyZip, _) => self.error(name, Reason::NoReportMember),
            (Kind::Mail, _) => self.mail(name, bytes, depth),
            (Kind::Xml, Role::Whole) => self.payload(name, bytes, false),
            (Kind::Xml, Role::Part { .. }) if is_report_candidate(bytes) => {
                self.payload(name, bytes, false)
            }
            (Kind::Json, Role::Whole) => self.payload_of(name, bytes, false, PayloadKind::Tls),
            (Kind::Json, Role::Part { declared })
                if declared.is_some() || is_tls_candidate(bytes) =>
            {
                self.payload_of(name, bytes, false, PayloadKind::Tls)
            }
            (_, Role::Whole) => {
                let reason = not_a_report(kind, bytes, "input");
                self.error(name, Reason::NotAReport(reason))
            }
            (_, Role::Part { declared: Some(d) }) => {
                let reason = not_a_report(kind, bytes, "content");
                self.error(name, Reason::Declared(reason, d.to_string()))
            }
            (_, Role::Part { declared: None }) => {}
        }
    }

    /// Inflate `reader` into memory, within the per-blob cap and what is left
    /// of this input's budget.
    fn inflate(&mut self, reader: impl Read, what: &'static str) -> Result<Vec<u8>, InflateError> {
        let cap = self.limits.max_decompressed.min(self.budget);
        let mut out = Vec::new();
        match Capped::new(reader, cap).read_to_end(&mut out) {
            Ok(n) => {
                self.budget = self.budget.saturating_sub(n as u64);
                Ok(out)
            }
            Err(e) if cap_exceeded(&e) && cap < self.limits.max_decompressed => {
                Err(InflateError::InputTooBig(self.limits.max_decompressed))
            }
            Err(e) => Err(read_failure(e, what)),
        }
    }
}

/// A zip member or attachment file name that claims to be a report.
fn declared_by_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".xml", ".gz", ".gzip", ".zip", ".json"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}
