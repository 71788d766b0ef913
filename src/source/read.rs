//! Reading inputs from the file system, for every source that does:
//! files, Maildir and mbox share these helpers from here, so that none of
//! them imports another (files finds Maildirs and mbox files and hands
//! them to those sources; they never need files back).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// What is left of a file [`read_rest`] reads with [`read_up_to`].
const SMALL_REST: u64 = 1024 * 1024;

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
    mut reader: impl Read,
    mut bytes: Vec<u8>,
    len: Option<u64>,
    max: u64,
) -> io::Result<Vec<u8>> {
    let room = (max + 1).saturating_sub(bytes.len() as u64);
    match len {
        Some(len) if len > max => {
            return Err(io::Error::other(format!(
                "{len} bytes, over the limit of {max} bytes; not read"
            )));
        }
        // A small file (most report files): one read where it can be.
        Some(len) if len.saturating_sub(bytes.len() as u64) <= SMALL_REST => {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            // Room for one byte more than the file holds: see `read_up_to`.
            bytes.reserve(len.saturating_add(1).saturating_sub(bytes.len()));
            let limit = bytes
                .len()
                .saturating_add(usize::try_from(room).unwrap_or(usize::MAX));
            read_up_to(&mut reader, &mut bytes, limit, Some(len))?;
        }
        // A big one's last empty read is nothing beside it, and
        // `read_to_end` does not first zero what it reads into.
        _ => {
            if let Some(len) = len {
                let len = usize::try_from(len).unwrap_or(0);
                bytes.reserve(len.saturating_sub(bytes.len()));
            }
            reader.take(room).read_to_end(&mut bytes)?;
        }
    }
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!(
            "over the limit of {max} bytes; not read"
        )));
    }
    Ok(bytes)
}

/// Appends what `reader` gives to `buf` until `buf` holds `limit` bytes or
/// the input ends. With `expect`, the file's size from its metadata, every
/// read asks for one byte past that size: a read that then stops at it
/// found the end of the file, and the read that would have returned
/// nothing to say so is not made (`read_to_end` makes it: two reads of
/// every small report file, on the writer's thread). Past that size (a
/// file that grew) it reads on until a read returns nothing.
pub(crate) fn read_up_to<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
    expect: Option<usize>,
) -> io::Result<()> {
    while buf.len() < limit {
        let len = buf.len();
        let want = match expect {
            Some(size) if size >= len => size - len + 1,
            _ => 64 * 1024,
        }
        .min(limit - len);
        buf.resize(len + want, 0);
        let read = loop {
            match reader.read(&mut buf[len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = match read {
            Ok(n) => n.min(want),
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        };
        buf.truncate(len + n);
        if n == 0 || (n < want && expect == Some(len + n)) {
            break;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::{read_capped, read_rest, read_up_to};
    use std::io::{self, Read, Write};

    /// A reader that counts its reads and hands out at most `chunk`
    /// bytes of `bytes` at a time.
    struct Counted<'a> {
        bytes: &'a [u8],
        chunk: usize,
        reads: usize,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let n = buf.len().min(self.chunk).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn counted(bytes: &[u8], chunk: usize) -> Counted<'_> {
        Counted {
            bytes,
            chunk,
            reads: 0,
        }
    }

    #[test]
    fn a_file_of_the_size_expected_takes_one_read() {
        let data: Vec<u8> = (0..2528u32).map(|i| i as u8).collect();
        let mut r = counted(&data, usize::MAX);
        let mut buf = Vec::new();
        read_up_to(&mut r, &mut buf, 4096, Some(data.len())).unwrap();
        assert_eq!((buf.as_slice(), r.reads), (data.as_slice(), 1));
        // Without the size, the end is known only from an empty read.
        let mut r = counted(&data, usize::MAX);
        let mut buf = Vec::new();
        read_up_to(&mut r, &mut buf, 4096, None).unwrap();
        assert_eq!((buf.as_slice(), r.reads), (data.as_slice(), 2));
    }

    #[test]
    fn a_file_that_grew_shrank_or_comes_in_pieces_is_read_whole() {
        let data = vec![7u8; 3000];
        for (expect, chunk) in [(2000, usize::MAX), (5000, usize::MAX), (3000, 512)] {
            let mut r = counted(&data, chunk);
            let mut buf = Vec::new();
            read_up_to(&mut r, &mut buf, 1 << 20, Some(expect)).unwrap();
            assert_eq!(buf, data, "expected {expect}, pieces of {chunk}");
        }
        // Never past the limit.
        let mut r = counted(&data, usize::MAX);
        let mut buf = Vec::new();
        read_up_to(&mut r, &mut buf, 1000, Some(3000)).unwrap();
        assert_eq!(buf.len(), 1000);
        let rest = read_rest(r, buf, Some(3000), 1 << 20).unwrap();
        assert_eq!(rest, data);
    }

    #[test]
    fn a_real_file_is_read_whole_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.xml.gz");
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        assert_eq!(read_capped(&path, 1 << 20).unwrap(), data);
        assert!(read_capped(&path, 1000).is_err());
        std::fs::write(&path, b"").unwrap();
        assert_eq!(read_capped(&path, 1000).unwrap(), b"");
    }
}
