//! Opening a file met in a directory walk relative to its directory.
//!
//! A walk of a folder of report files did, for each file, a `statx` of
//! its path and an `openat` of its path: two walks of the path, one
//! component at a time, on the thread that has the run's critical path
//! (in a re-ingest, where every report is a duplicate, the walk is most
//! of what that thread does). With the directory held open, a regular
//! file — known as one from its directory entry, without a system call —
//! is opened by its name alone, and its size read from the open file:
//! `openat(dir, name)` and `fstat`, no path walked twice
//! (bench/README.md, thirteenth round).
//!
//! Anything else (links, directories, special files, an entry whose type
//! the file system does not give) goes the way of a path as before.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A directory held open while its entries are visited.
#[derive(Debug)]
pub(crate) struct Dir {
    fd: File,
    /// The directory's device: a file in it is on the same one (unless it
    /// is itself a mount point, which [`Dir::open_file`]'s caller checks
    /// on the open file).
    pub(crate) dev: u64,
}

impl Dir {
    /// Opens the directory at `path`, whose device is `dev`.
    pub(crate) fn open(path: &Path, dev: u64) -> io::Result<Dir> {
        Ok(Dir {
            fd: File::open(path)?,
            dev,
        })
    }

    /// Opens the entry `name` of this directory for reading. The entry
    /// was a regular file when the directory was listed; if it has become
    /// a symlink since, this fails with `ELOOP` ([`is_link`]) rather than
    /// follow it, and if it has become a FIFO, it is opened without
    /// waiting for a writer (the caller looks at what it opened).
    pub(crate) fn open_file(&self, name: &OsStr) -> io::Result<File> {
        let name = CString::new(name.as_bytes()).map_err(io::Error::other)?;
        let flags =
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        loop {
            // SAFETY: both the directory's descriptor and the name are
            // valid for the call; the descriptor returned is new and ours.
            let fd = unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), flags) };
            if fd >= 0 {
                // SAFETY: `fd` was just opened and is owned by nothing else.
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Whether `e` says that what was opened with `O_NOFOLLOW` is a link.
pub(crate) fn is_link(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    #[test]
    fn a_file_is_opened_by_name_and_a_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("r.xml"), b"<feedback/>").unwrap();
        std::os::unix::fs::symlink(root.join("r.xml"), root.join("l.xml")).unwrap();
        let at = Dir::open(root, std::fs::metadata(root).unwrap().dev()).unwrap();
        let mut text = String::new();
        let mut file = at.open_file(OsStr::new("r.xml")).unwrap();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "<feedback/>");
        assert_eq!(file.metadata().unwrap().dev(), at.dev);
        assert!(is_link(&at.open_file(OsStr::new("l.xml")).unwrap_err()));
        let gone = at.open_file(OsStr::new("gone.xml")).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_fifo_opens_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = CString::new(dir.path().join("p").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path for mkfifo.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let at = Dir::open(dir.path(), 0).unwrap();
        let file = at.open_file(OsStr::new("p")).unwrap();
        assert!(file.metadata().unwrap().file_type().is_fifo());
    }
}
