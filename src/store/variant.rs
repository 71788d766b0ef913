//! Conflicting copies: an input with the identity key of a stored report
//! (see `schema.sql`) but different content.
//!
//! A copy that only differs in its container or its bytes (whitespace,
//! attribute order, another compression) is the same report: a duplicate.
//! A copy whose *parsed* content differs conflicts. Neither copy is thrown
//! away: one is the report, the other is kept byte for byte in
//! `report_variant`. Which one is the report: a copy whose markup needed no
//! repair ([`ReportReader::repair`]) wins over one that did, whichever
//! arrived first; between two clean (or two repaired) copies the one stored
//! first stays, so re-ingesting never flips a report back and forth.
//!
//! Cost: a re-ingest of the same file is told from the digest of its
//! compressed bytes (stored in `report_blob`) and reads nothing more; the
//! same XML in another container costs one inflate of each copy; only
//! copies whose XML differs are parsed, side by side in bounded memory.

use std::io::{self, Read};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::write::keep_bytes;
use super::{rebuild, DbError, StoreError, Stored};
use crate::extract::{Limits, Payload};
use crate::model::ReportHeader;
use crate::parse::{ParseError, ReportReader};

/// What to do with a new copy of a stored report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The same report: an ordinary duplicate.
    Same,
    /// Conflicting; the stored copy stays the report, the new one becomes a
    /// variant.
    KeepStored,
    /// Conflicting; the new copy (clean) becomes the report, the stored one
    /// (which needed repair) becomes a variant.
    Replace,
}

/// Judges a new copy against the stored one from what [`compare`] found;
/// see the module doc.
fn judge(same: bool, stored_repaired: bool, new_repaired: bool) -> Verdict {
    if same {
        Verdict::Same
    } else if stored_repaired && !new_repaired {
        Verdict::Replace
    } else {
        Verdict::KeepStored
    }
}

/// Which copy is the report after a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The copy stored before; the new one is a variant.
    Stored,
    /// The new copy replaced the stored one (which needed repair and is a
    /// variant now).
    New,
}

/// A new copy of stored report `id` arrived: a duplicate when its content is
/// the same (told from the bytes first, then from the parsed content),
/// otherwise a conflict settled by [`judge`], with the losing copy kept in
/// `report_variant`. Runs inside the caller's savepoint. A variant already
/// kept is an ordinary duplicate (it is stored).
pub(crate) fn settle(
    conn: &mut impl Copies,
    id: i64,
    payload: &Payload,
    limits: &Limits,
    source: &str,
    header: ReportHeader,
) -> Result<Stored, StoreError> {
    let duplicate = |header| {
        Ok(Stored::Duplicate {
            header: Some(Box::new(header)),
        })
    };
    let Some(sha256) = conn.stored_sha256(id)? else {
        return duplicate(header);
    };
    // The same file again (the common re-ingest): the compressed bytes
    // match, and the stored ones need not even be read.
    if payload.gzip && Sha256::digest(payload.data.as_slice()).as_slice() == sha256 {
        return duplicate(header);
    }
    let Some(old) = conn.stored_copy(id)? else {
        return duplicate(header);
    };
    // The same XML in another container.
    if same_bytes(old.reader(limits), payload.reader(limits)).map_err(io_error)? {
        return duplicate(header);
    }
    let (same, old_repair, new_repair) = compare(&old, payload, limits)?;
    let verdict = judge(same, old_repair.is_some(), new_repair.is_some());
    let now = chrono::Utc::now().timestamp();
    let kept = match verdict {
        Verdict::Same => return duplicate(header),
        Verdict::KeepStored => {
            let sha = xml_sha256(payload, limits)?;
            if conn.is_kept(&sha)? {
                return duplicate(header);
            }
            conn.keep(
                id,
                &sha,
                source,
                new_repair.as_deref(),
                &keep_bytes(payload),
                now,
            )?;
            Kept::Stored
        }
        Verdict::Replace => {
            let sha = xml_sha256(&old, limits)?;
            conn.keep(id, &sha, &old.name, old_repair.as_deref(), &old.data, now)?;
            conn.replace(id, payload, limits, source, now)?;
            Kept::New
        }
    };
    Ok(Stored::Conflicting {
        header: Box::new(header),
        kept,
    })
}

/// Whether two streams hold the same bytes, read a chunk at a time.
fn same_bytes(mut a: impl Read, mut b: impl Read) -> io::Result<bool> {
    let (mut x, mut y) = (vec![0; 64 * 1024], vec![0; 64 * 1024]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if x[..n] != y[..m] {
            return Ok(false);
        }
        if n < x.len() {
            return Ok(true);
        }
    }
}

/// Fills `buf` unless the stream ends first; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads both copies side by side, in bounded memory: whether their parsed
/// content is the same, and the repair each needed. The new copy failing to
/// parse is its own error (it is rejected); the stored copy failing to
/// parse now counts as needing repair.
fn compare(
    old: &Payload,
    new: &Payload,
    limits: &Limits,
) -> Result<(bool, Option<String>, Option<String>), StoreError> {
    let mut a = ReportReader::new(old.reader(limits));
    let mut b = ReportReader::new(new.reader(limits));
    let new_header = b.header()?;
    let mut old_failed = None;
    let mut same = match a.header() {
        Ok(h) => h == new_header,
        Err(e) => {
            old_failed = Some(e);
            false
        }
    };
    let (mut a_done, mut b_done) = (old_failed.is_some(), false);
    while !(a_done && b_done) {
        let x = if a_done {
            None
        } else {
            match a.next_record() {
                Ok(r) => r,
                Err(e) => {
                    old_failed = Some(e);
                    None
                }
            }
        };
        let y = if b_done { None } else { b.next_record()? };
        same &= x == y;
        a_done |= x.is_none();
        b_done |= y.is_none();
    }
    let old_repair = match old_failed {
        Some(e) => Some(format!("the stored copy no longer parses: {e}")),
        None => a.repair().map(str::to_string),
    };
    if b.records_read() == 0 {
        return Err(ParseError::NotAReport("no <record> elements".into()).into());
    }
    Ok((same, old_repair, b.repair().map(str::to_string)))
}

/// SHA-256 of a payload's XML, as it decompresses.
fn xml_sha256(payload: &Payload, limits: &Limits) -> Result<Vec<u8>, StoreError> {
    let mut h = Sha256::new();
    io::copy(&mut payload.reader(limits), &mut h).map_err(io_error)?;
    Ok(h.finalize().to_vec())
}

fn io_error(e: io::Error) -> StoreError {
    StoreError::Parse(ParseError::Io(e.to_string()))
}

/// The stored side of a conflict, on either backend (SQLite here,
/// PostgreSQL in `pg/variant.rs`), inside the caller's savepoint.
pub(crate) trait Copies {
    /// The digest of report `id`'s stored bytes (`None`: stored without
    /// them).
    fn stored_sha256(&mut self, id: i64) -> Result<Option<Vec<u8>>, DbError>;
    /// Report `id`'s stored bytes, named by where they came from.
    fn stored_copy(&mut self, id: i64) -> Result<Option<Payload>, DbError>;
    /// Whether a variant with this XML digest is kept already.
    fn is_kept(&mut self, sha: &[u8]) -> Result<bool, DbError>;
    /// Keeps a copy of report `id` in `report_variant` (a copy kept before
    /// gets its `last_seen` updated).
    fn keep(
        &mut self,
        id: i64,
        sha: &[u8],
        source: &str,
        repair: Option<&str>,
        gzip: &[u8],
        now: i64,
    ) -> Result<(), DbError>;
    /// Rebuilds report `id` from the new copy: header, records and bytes.
    fn replace(
        &mut self,
        id: i64,
        payload: &Payload,
        limits: &Limits,
        source: &str,
        now: i64,
    ) -> Result<(), StoreError>;
}

impl Copies for &Connection {
    fn stored_sha256(&mut self, id: i64) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self
            .prepare_cached("SELECT sha256 FROM report_blob WHERE report = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?)
    }

    fn stored_copy(&mut self, id: i64) -> Result<Option<Payload>, DbError> {
        Ok(self
            .prepare_cached(
                "SELECT r.source, b.gzip FROM report r JOIN report_blob b ON b.report = r.id
                 WHERE r.id = ?1",
            )?
            .query_row(params![id], |r| {
                Ok(Payload {
                    name: r.get(0)?,
                    data: r.get::<_, Vec<u8>>(1)?.into(),
                    gzip: true,
                    kind: crate::extract::PayloadKind::Aggregate,
                })
            })
            .optional()?)
    }

    fn is_kept(&mut self, sha: &[u8]) -> Result<bool, DbError> {
        Ok(self
            .prepare_cached("SELECT 1 FROM report_variant WHERE sha256 = ?1")?
            .query_row(params![sha], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn keep(
        &mut self,
        id: i64,
        sha: &[u8],
        source: &str,
        repair: Option<&str>,
        gzip: &[u8],
        now: i64,
    ) -> Result<(), DbError> {
        self.prepare_cached(
            "INSERT INTO report_variant (report, sha256, source, repair, gzip, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (sha256) DO UPDATE SET last_seen = excluded.last_seen",
        )?
        .execute(params![id, sha, source, repair, gzip, now])?;
        Ok(())
    }

    fn replace(
        &mut self,
        id: i64,
        payload: &Payload,
        limits: &Limits,
        source: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let conn = *self;
        let mut reader = ReportReader::new(payload.reader(limits));
        let header = reader.header()?;
        rebuild::rewrite(conn, id, &header, &mut || reader.next_record())?;
        conn.prepare_cached("UPDATE report SET source = ?2, ingested_at = ?3 WHERE id = ?1")?
            .execute(params![id, source, now])?;
        let blob = keep_bytes(payload);
        conn.prepare_cached("UPDATE report_blob SET sha256 = ?2, gzip = ?3 WHERE report = ?1")?
            .execute(params![id, Sha256::digest(&blob).as_slice(), blob])?;
        // Its records may have other source IPs now: `rewrite` wrote their
        // hashes (report_ips) again.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "<feedback><report_metadata><org_name>x.org</org_name>\
        <email>d@x.org</email><report_id>1</report_id><date_range><begin>0</begin>\
        <end>86399</end></date_range></report_metadata><policy_published>\
        <domain>example.com</domain></policy_published><record><row>\
        <source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated>\
        <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>\
        </policy_evaluated></row><identifiers><header_from>example.com</header_from>\
        </identifiers></record></feedback>";

    fn payload(xml: &str) -> Payload {
        Payload {
            name: "p".into(),
            data: xml.as_bytes().to_vec().into(),
            gzip: false,
            kind: crate::extract::PayloadKind::Aggregate,
        }
    }

    /// The verdict on `new` arriving after `old`.
    fn verdict(old: &str, new: &str) -> Verdict {
        let (same, a, b) = compare(&payload(old), &payload(new), &Limits::default()).unwrap();
        judge(same, a.is_some(), b.is_some())
    }

    fn damaged(cut: &str) -> String {
        CLEAN.replace(
            "<header_from>example.com</header_from>",
            &format!("<header_from>{cut}</header_from>"),
        )
    }

    #[test]
    fn bytes_that_parse_alike_are_the_same_report() {
        let spaced = CLEAN.replace("><", ">\n  <");
        assert_eq!(verdict(CLEAN, &spaced), Verdict::Same);
        assert!(!same_bytes(CLEAN.as_bytes(), spaced.as_bytes()).unwrap());
        assert!(same_bytes(CLEAN.as_bytes(), CLEAN.as_bytes()).unwrap());
    }

    #[test]
    fn a_clean_copy_wins_whichever_arrives_first() {
        let damaged = damaged("exa<mple.com");
        assert_eq!(verdict(&damaged, CLEAN), Verdict::Replace);
        assert_eq!(verdict(CLEAN, &damaged), Verdict::KeepStored);
    }

    #[test]
    fn between_equals_the_first_stays() {
        let other = CLEAN.replace("<count>3</count>", "<count>4</count>");
        assert_eq!(verdict(CLEAN, &other), Verdict::KeepStored);
        assert_eq!(verdict(&other, CLEAN), Verdict::KeepStored);
        let (one, two) = (damaged("exa<mple.com"), damaged("ex<ample.com"));
        assert_eq!(verdict(&one, &two), Verdict::KeepStored);
    }

    #[test]
    fn copies_of_different_lengths_differ() {
        let more = CLEAN.replace(
            "</feedback>",
            &format!(
                "{}</feedback>",
                &CLEAN[CLEAN.find("<record>").unwrap()..CLEAN.find("</feedback>").unwrap()]
            ),
        );
        assert_eq!(verdict(CLEAN, &more), Verdict::KeepStored);
        assert_eq!(verdict(&more, CLEAN), Verdict::KeepStored);
    }

    #[test]
    fn a_stored_copy_that_no_longer_parses_gives_way() {
        let broken = CLEAN.replace("<count>3</count>", "<count>x</count>");
        assert_eq!(verdict(&broken, CLEAN), Verdict::Replace);
        // The new copy failing is its own error.
        assert!(compare(&payload(CLEAN), &payload(&broken), &Limits::default()).is_err());
    }
}
