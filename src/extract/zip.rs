//! zip members: opening an archive, skipping what never holds a report
//! (directories, macOS resource forks), and reading each member only as far
//! as needed before the walk sniffs it.
//!
//! A member is inflated to its first 64 KiB first. A deflated report is
//! re-wrapped as gzip without being inflated further (the parser inflates
//! it while reading, like a gzip attachment); a container (or a stored
//! report) is read whole through the per-input decompression budget;
//! anything else is judged by its head alone. So a zip bomb, whatever size
//! it declares, never sits inflated in memory.
//!
//! A deflated member is re-wrapped first and its head inflated from the
//! gzip: when it is a report and the input's first payload, the parser goes
//! on from there ([`Begun`]) instead of inflating the head a second time
//! (for most reports, all of it). Anything that is not a report, or a head
//! that fails to inflate, takes the zip crate's reader as before, so its
//! words and checks are the same.
//!
//! Encrypted and corrupt members become errors for that member only; the
//! rest of the archive is still read.

use std::io::{Cursor, Read};
use std::sync::Arc;

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use super::error::{InflateError, MemberError, Reason};
use super::gzip::{read_failure, read_head, ArcBytes, Begun, MultiGz};
use super::sniff::{is_report_candidate, sniff, Kind};
use super::{declared_by_name, printable, Role, Walk};

/// How much of a member is inflated to decide what it holds.
const MEMBER_PEEK: u64 = 64 * 1024;

/// A zip member, read as far as the walk needs it.
enum Member {
    /// All of it (a container, a stored report), or only its head when that
    /// is enough to tell that it is not a report.
    Bytes(Vec<u8>),
    /// A deflated report re-wrapped as gzip, still compressed, and its
    /// head's inflating when the gzip's own decoder did it.
    Report(Arc<Vec<u8>>, Option<Begun>),
}

impl Walk<'_> {
    pub(super) fn zip(&mut self, name: &str, bytes: &[u8], depth: u32) {
        let mut archive = match ZipArchive::new(Cursor::new(bytes)) {
            Ok(archive) => archive,
            Err(e) => return self.error(name, Reason::CorruptZip(e)),
        };
        let count = archive.len();
        if count > self.limits.max_members {
            let max = self.limits.max_members;
            return self.error(name, Reason::TooManyMembers { count, max });
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
                Ok(Member::Bytes(data)) => {
                    let declared = declared_by_name(&member).then_some(member.as_str());
                    self.blob(&label, &data, depth + 1, Role::Part { declared });
                }
                Ok(Member::Report(gzip, begun)) => {
                    // Only the first payload may be read on from a begun
                    // decoder (the parser hands it to that one), so only
                    // one decoder is kept per input.
                    if self.out.payloads.is_empty() {
                        self.out.begun = begun;
                    }
                    self.payload_shared(&label, gzip, true)
                }
                Err(e) => self.error(&label, Reason::Member(e)),
            }
        }
        if self.out.payloads.len() + self.out.errors.len() == found_before {
            self.error(name, Reason::NoReportMember);
        }
    }

    fn zip_member(
        &mut self,
        archive: &mut ZipArchive<Cursor<&[u8]>>,
        index: usize,
    ) -> Result<Member, MemberError> {
        if let Some(report) = self.deflated_report(archive, index) {
            return Ok(report);
        }
        let mut file = open_member(archive, index)?;
        // The declared size is only a shortcut to refuse early; the capped
        // reads are what actually bound memory.
        if file.size() > self.limits.max_decompressed {
            let cap = self.limits.max_decompressed;
            return Err(MemberError::Inflate(InflateError::TooBig(cap)));
        }
        let mut head = Vec::new();
        if let Err(e) = file.by_ref().take(MEMBER_PEEK).read_to_end(&mut head) {
            return Err(MemberError::Inflate(read_failure(e, "zip member")));
        }
        let deflated = file.compression() == CompressionMethod::Deflated;
        drop(file);
        let kind = sniff(&head);
        let report = kind == Kind::Xml && is_report_candidate(&head);
        if report && deflated {
            let gzip = Arc::new(rewrap_as_gzip(archive, index)?);
            return Ok(Member::Report(gzip, None));
        }
        if report || kind.is_container() {
            let file = open_member(archive, index)?;
            return self
                .inflate(file, "zip member")
                .map(Member::Bytes)
                .map_err(MemberError::Inflate);
        }
        Ok(Member::Bytes(head))
    }
}

impl Walk<'_> {
    /// A deflated member that is a report, told from the head of it
    /// re-wrapped as gzip, with that head's inflating; `None` for anything
    /// else (not deflated, encrypted, over the cap, not a report, damaged
    /// in its head), which [`zip_member`](Self::zip_member) reads the
    /// zip crate's way.
    fn deflated_report(
        &self,
        archive: &mut ZipArchive<Cursor<&[u8]>>,
        index: usize,
    ) -> Option<Member> {
        let raw = archive.by_index_raw(index).ok()?;
        let plain = raw.compression() == CompressionMethod::Deflated && !raw.encrypted();
        if !plain || raw.size() > self.limits.max_decompressed {
            return None;
        }
        drop(raw);
        let gzip = Arc::new(rewrap_as_gzip(archive, index).ok()?);
        let mut inflating = MultiGz::new(ArcBytes::new(Arc::clone(&gzip)));
        let mut head = Vec::new();
        read_head(&mut inflating, MEMBER_PEEK as usize, &mut head).ok()?;
        if sniff(&head) != Kind::Xml || !is_report_candidate(&head) {
            return None;
        }
        let begun = Begun {
            data: Arc::clone(&gzip),
            head,
            rest: inflating,
        };
        Some(Member::Report(gzip, Some(begun)))
    }
}

fn open_member<'a, 'b>(
    archive: &'a mut ZipArchive<Cursor<&'b [u8]>>,
    index: usize,
) -> Result<zip::read::ZipFile<'a, Cursor<&'b [u8]>>, MemberError> {
    match archive.by_index(index) {
        Ok(file) => Ok(file),
        Err(ZipError::UnsupportedArchive(msg)) if msg == ZipError::PASSWORD_REQUIRED => {
            Err(MemberError::Encrypted)
        }
        Err(e) => Err(MemberError::Unreadable(e)),
    }
}

/// A deflated member as a gzip stream (RFC 1952: a header, the member's raw
/// DEFLATE data unchanged, its CRC-32 and size modulo 2^32), so that it is
/// inflated only while the parser reads it. CRC and size come from the
/// zip's directory: a member that lies about them fails when read, as it
/// would from the zip.
fn rewrap_as_gzip(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    index: usize,
) -> Result<Vec<u8>, MemberError> {
    let mut raw = archive
        .by_index_raw(index)
        .map_err(MemberError::Unreadable)?;
    let (crc, size) = (raw.crc32(), raw.size());
    let mut gzip = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    raw.read_to_end(&mut gzip)
        .map_err(|e| MemberError::Inflate(read_failure(e, "zip member")))?;
    gzip.extend_from_slice(&crc.to_le_bytes());
    gzip.extend_from_slice(&(size as u32).to_le_bytes());
    Ok(gzip)
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
