//! Reading inputs from the file system, for every source that does:
//! files, Maildir and mbox share these helpers from here, so that none of
//! them imports another (files finds Maildirs and mbox files and hands
//! them to those sources; they never need files back).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Default biggest input read, in bytes (512 MiB).
pub const DEFAULT_MAX_INPUT: u64 = 512 * 1024 * 1024;

/// Reads a whole file of at most `max` bytes; a bigger one is an error
/// found from its metadata, before reading.
pub(crate) fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    read_rest(file, Vec::new(), Some(len), max)
}

/// Appends the rest of `reader` to `bytes` (what was read of it already),
/// at most `max` bytes in all. `len`, the size from the metadata, rejects
/// a big file before reading it; the read is capped anyway, as a file can
/// grow and a pipe has no size.
pub(crate) fn read_rest(
    reader: impl Read,
    mut bytes: Vec<u8>,
    len: Option<u64>,
    max: u64,
) -> io::Result<Vec<u8>> {
    if let Some(len) = len {
        if len > max {
            return Err(io::Error::other(format!(
                "{len} bytes, over the limit of {max} bytes; not read"
            )));
        }
        bytes.reserve(
            usize::try_from(len)
                .unwrap_or(0)
                .saturating_sub(bytes.len()),
        );
    }
    let room = (max + 1).saturating_sub(bytes.len() as u64);
    reader.take(room).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!(
            "over the limit of {max} bytes; not read"
        )));
    }
    Ok(bytes)
}

/// The OS reason without Rust's " (os error N)" suffix, lower-cased like
/// the rest of our messages: "no such file or directory".
pub(crate) fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(end) => &text[..end],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
