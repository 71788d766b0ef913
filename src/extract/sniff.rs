//! Content sniffing: what a blob is, told from its first bytes and never from
//! its name, and whether XML found among other things looks like a DMARC
//! aggregate report.
//!
//! This module only classifies; unpacking what it finds is left to the
//! container modules ([`super::gzip`], [`super::zip`], [`super::mail`]) and
//! the walk in [`super`].

pub(super) const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZIP_LOCAL_HEADER: &[u8] = b"PK\x03\x04";
/// An end-of-central-directory record first: a zip with no entries at all.
pub(super) const ZIP_EMPTY: &[u8] = b"PK\x05\x06";
/// How far into XML to look for `feedback` ("a few KiB"): reports open with
/// it, after at most a declaration, a comment or a wrapper element (ikea.com
/// wraps `<feedback>` in an unclosed `<xs:schema>`).
const CANDIDATE_WINDOW: usize = 8 * 1024;

/// What a blob's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
    pub(super) fn is_container(self) -> bool {
        matches!(self, Kind::Gzip | Kind::Zip | Kind::EmptyZip | Kind::Mail)
    }
}

pub(super) fn sniff(bytes: &[u8]) -> Kind {
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

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// XML that is worth handing to the parser when it was found among other
/// things (a mail part, a zip member): an XML declaration, or `feedback`
/// (the aggregate report's root element) near the start.
pub(super) fn is_report_candidate(bytes: &[u8]) -> bool {
    let head = ascii_head(bytes, CANDIDATE_WINDOW).to_ascii_lowercase();
    trim_start(&head).starts_with(b"<?xml") || contains(&head, b"feedback")
}

/// JSON found among other things that looks like an SMTP TLS report: one
/// of RFC 8460's top-level keys near the start (any case).
pub(super) fn is_tls_candidate(bytes: &[u8]) -> bool {
    let head = ascii_head(bytes, CANDIDATE_WINDOW).to_ascii_lowercase();
    contains(&head, b"organization-name") || contains(&head, b"\"policies\"")
}

/// A short, one-line reason for content that is not a report.
pub(super) fn not_a_report(kind: Kind, bytes: &[u8], what: &str) -> String {
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
