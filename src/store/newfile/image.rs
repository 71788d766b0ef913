//! The bytes of a new, empty database file, kept in the binary: what
//! `newfile::build` makes with SQLite from `schema.sql`, written out
//! by a test (`empty.img` next to this file) and written into a new file
//! with one `write`. Building it with SQLite took ~6 M instructions and
//! 2-3 ms of the thread that makes the file, and the writer waits for that
//! thread before it stores anything (bench/README.md, twelfth round).
//!
//! The image is used only when it was made from this very schema, this
//! schema version and this SQLite: its header says which (a hash of the
//! schema text, checked against one computed at compile time, and SQLite's
//! version number). Anything else — `schema.sql` edited, SQLite updated,
//! the image not yet written again — gives `None`, and the file is built
//! with SQLite as before; the test `the_image_is_the_file_sqlite_makes`
//! fails until the image is written again
//! (`DMARCDB_WRITE_IMAGE=1 cargo test --lib newfile`).
//!
//! Format (little-endian): the schema's hash (u64), the schema version
//! (u32), SQLite's version number (u32), the file's length (u32); then
//! runs of the file's bytes that are not zero, each its offset (u32),
//! length (u32) and bytes. Most of the file is zeros (empty B-tree pages).

use super::super::sqlite::{SCHEMA, VERSION};

/// The image, as the test wrote it.
const IMAGE: &[u8] = include_bytes!("empty.img");

/// Bytes before the first run.
const HEAD: usize = 8 + 4 + 4 + 4;

/// Zero bytes a run may hold before it is cut in two (each cut costs the
/// eight bytes of a run's offset and length).
#[cfg(test)]
const GAP: usize = 16;

/// FNV-1a of `bytes`, at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The schema this build of the binary makes a new file with.
const SCHEMA_HASH: u64 = fnv1a(SCHEMA.as_bytes());

/// The new file's bytes, if the image holds this schema made by this
/// SQLite.
pub(super) fn file() -> Option<Vec<u8>> {
    decode(IMAGE, SCHEMA_HASH, VERSION, rusqlite::version_number())
}

/// The image of `file` (the bytes SQLite made), for this schema and SQLite.
#[cfg(test)]
pub(super) fn encode(file: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD + file.len() / 8);
    out.extend_from_slice(&SCHEMA_HASH.to_le_bytes());
    out.extend_from_slice(&(VERSION as u32).to_le_bytes());
    out.extend_from_slice(&(rusqlite::version_number() as u32).to_le_bytes());
    out.extend_from_slice(&(file.len() as u32).to_le_bytes());
    let mut at = 0;
    while let Some(start) = file[at..].iter().position(|&b| b != 0).map(|i| at + i) {
        // The run ends where GAP zero bytes in a row begin, or at the end.
        let mut end = start;
        let mut zeros = 0;
        for (i, &b) in file[start..].iter().enumerate() {
            if b != 0 {
                end = start + i + 1;
                zeros = 0;
            } else {
                zeros += 1;
                if zeros == GAP {
                    break;
                }
            }
        }
        out.extend_from_slice(&(start as u32).to_le_bytes());
        out.extend_from_slice(&((end - start) as u32).to_le_bytes());
        out.extend_from_slice(&file[start..end]);
        at = end;
    }
    out
}

/// The file `image` holds, if its header names `schema`, `version` and
/// `sqlite`, and its runs lie within the file's length.
fn decode(image: &[u8], schema: u64, version: i64, sqlite: i32) -> Option<Vec<u8>> {
    let u32_at = |at: usize| -> Option<usize> {
        let bytes = image.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
    };
    let hash = u64::from_le_bytes(image.get(..8)?.try_into().ok()?);
    if hash != schema || u32_at(8)? as i64 != version || u32_at(12)? as i64 != i64::from(sqlite) {
        return None;
    }
    let mut file = vec![0u8; u32_at(16)?];
    let mut at = HEAD;
    while at < image.len() {
        let (offset, len) = (u32_at(at)?, u32_at(at + 4)?);
        let bytes = image.get(at + 8..(at + 8).checked_add(len)?)?;
        file.get_mut(offset..offset.checked_add(len)?)?
            .copy_from_slice(bytes);
        at += 8 + len;
    }
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_round_trips_and_names_what_made_it() {
        let mut file = vec![0u8; 3 * 8192];
        file[..16].copy_from_slice(b"SQLite format 3\0");
        file[8192 + 100] = 13;
        file[8192 + 100 + GAP + 1] = 7; // a gap longer than GAP: two runs
        file[3 * 8192 - 1] = 1;
        let image = encode(&file);
        let version = rusqlite::version_number();
        assert_eq!(decode(&image, SCHEMA_HASH, VERSION, version), Some(file));
        // Another schema, schema version or SQLite: not used.
        assert_eq!(decode(&image, SCHEMA_HASH ^ 1, VERSION, version), None);
        assert_eq!(decode(&image, SCHEMA_HASH, VERSION + 1, version), None);
        assert_eq!(decode(&image, SCHEMA_HASH, VERSION, version + 1), None);
        // Cut short, or a run beyond the file's length: refused, no panic.
        assert_eq!(
            decode(&image[..image.len() - 1], SCHEMA_HASH, VERSION, version),
            None
        );
        let mut beyond = image.clone();
        let last = beyond.len() - 1 - 8;
        beyond[last..last + 4].copy_from_slice(&(3 * 8192u32).to_le_bytes());
        assert_eq!(decode(&beyond, SCHEMA_HASH, VERSION, version), None);
        assert_eq!(decode(&[], SCHEMA_HASH, VERSION, version), None);
    }

    #[test]
    fn the_schema_hash_follows_the_text() {
        assert_ne!(fnv1a(b"CREATE TABLE a (x);"), fnv1a(b"CREATE TABLE a (y);"));
        assert_eq!(SCHEMA_HASH, fnv1a(SCHEMA.as_bytes()));
    }
}
