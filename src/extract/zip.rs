//! zip members: opening an archive, skipping what never holds a report
//! (directories, macOS resource forks), and reading each member through the
//! per-input decompression budget before the walk sniffs it.
//!
//! Encrypted and corrupt members become errors for that member only; the
//! rest of the archive is still read.

use std::io::Cursor;

use zip::result::ZipError;
use zip::ZipArchive;

use super::gzip::cap_message;
use super::{declared_by_name, printable, Role, Walk};

impl Walk<'_> {
    pub(super) fn zip(&mut self, name: &str, bytes: &[u8], depth: u32) {
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
