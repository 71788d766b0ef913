//! Why a blob, or part of one, could not be unpacked: the typed reasons
//! behind an [`ExtractError`](super::ExtractError). Their `Display` is the
//! one-line reason users see (and tests pin), so each variant's text is
//! part of the interface. Building one allocates nothing beyond what a
//! foreign error (zip) already holds.

use std::fmt;

/// The reason in an [`ExtractError`](super::ExtractError).
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    #[error("nested containers deeper than {0}")]
    TooDeep(u32),
    #[error("zip archive has no report member")]
    NoReportMember,
    #[error("{0}")]
    NotAReport(NotAReport),
    /// A part its container declared a report (by type or file name).
    #[error("{0} (declared as {1})")]
    Declared(NotAReport, String),
    #[error("{0}")]
    Inflate(InflateError),
    #[error("corrupt zip archive: {0}")]
    CorruptZip(zip::result::ZipError),
    #[error("zip has {count} members, more than the limit {max}")]
    TooManyMembers { count: usize, max: usize },
    #[error("{0}")]
    Member(#[from] MemberError),
    #[error("unparseable mail message")]
    UnparseableMail,
    #[error("mail has {count} parts, more than the limit {max}")]
    TooManyParts { count: usize, max: usize },
    #[error("malformed MIME: multipart without a usable boundary")]
    NoBoundary,
}

/// Content that is not a report; `what` names it ("input", "content",
/// "gzip content").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAReport {
    #[error("empty {0}")]
    Empty(&'static str),
    #[error("not a DMARC aggregate report (JSON, looks like SMTP TLS report)")]
    TlsJson,
    #[error("not a DMARC aggregate report (JSON)")]
    Json,
    #[error("not a DMARC aggregate report (XML without <feedback>)")]
    XmlWithoutFeedback,
    #[error("not a DMARC report: unrecognised {what} (first bytes {first})")]
    Unrecognised {
        what: &'static str,
        first: FirstBytes,
    },
}

/// Up to the first 8 bytes of some content, shown as hex pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstBytes {
    bytes: [u8; 8],
    len: u8,
}

impl FirstBytes {
    pub(super) fn of(data: &[u8]) -> Self {
        let mut bytes = [0; 8];
        let mut len = 0;
        for (to, from) in bytes.iter_mut().zip(data) {
            *to = *from;
            len += 1;
        }
        FirstBytes { bytes, len }
    }
}

impl fmt::Display for FirstBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.bytes.iter().take(self.len.into()).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A decompression that failed; `what` names the stream ("gzip stream",
/// "zip member").
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    /// More than the per-payload cap came out (a [`Capped`](super::gzip::Capped) reader).
    #[error("decompressed size exceeds the limit of {0} bytes")]
    TooBig(u64),
    /// The input's whole in-memory budget is spent.
    #[error("decompressed size of this input exceeds the limit of {0} bytes")]
    InputTooBig(u64),
    #[error("truncated {0}: unexpected end of data")]
    Truncated(&'static str),
    #[error("corrupt {what}: {source}")]
    Corrupt {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Why one zip member could not be read; the rest of the archive still is.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("encrypted zip member (password required)")]
    Encrypted,
    #[error("unreadable zip member: {0}")]
    Unreadable(zip::result::ZipError),
    /// Inflating it failed (over a cap, truncated, corrupt): the shared
    /// decompression message.
    #[error("{0}")]
    Inflate(#[from] InflateError),
}
