//! The tag expected next: compared with the bytes after a `<` or `</`
//! as three words, before the window searches for the tag's `>` and looks
//! its name up. An end tag is expected to close the open element; a start
//! tag to be the one that followed the same event the last time
//! ([`Guess`]). Reports repeat one record's shape, so the guess is nearly
//! always right; a wrong one costs its compare, and the window goes on as
//! before.

use super::tag::Tag;
use super::tag::Tag::*;

/// How many tags there are, `Unknown` included.
const TAGS: usize = Tag::ALL.len();

impl Tag {
    /// The tag's local name (empty for `Unknown`).
    const fn name(self) -> &'static [u8] {
        match self {
            Feedback => b"feedback",
            Version => b"version",
            ReportMetadata => b"report_metadata",
            OrgName => b"org_name",
            Email => b"email",
            ExtraContactInfo => b"extra_contact_info",
            ReportId => b"report_id",
            DateRange => b"date_range",
            Begin => b"begin",
            End => b"end",
            Error => b"error",
            Generator => b"generator",
            PolicyPublished => b"policy_published",
            Domain => b"domain",
            Adkim => b"adkim",
            Aspf => b"aspf",
            P => b"p",
            Sp => b"sp",
            Np => b"np",
            Pct => b"pct",
            Fo => b"fo",
            Testing => b"testing",
            DiscoveryMethod => b"discovery_method",
            Record => b"record",
            Row => b"row",
            SourceIp => b"source_ip",
            Count => b"count",
            PolicyEvaluated => b"policy_evaluated",
            Disposition => b"disposition",
            Dkim => b"dkim",
            Spf => b"spf",
            Reason => b"reason",
            Type => b"type",
            Comment => b"comment",
            Identifiers => b"identifiers",
            HeaderFrom => b"header_from",
            EnvelopeFrom => b"envelope_from",
            EnvelopeTo => b"envelope_to",
            AuthResults => b"auth_results",
            Selector => b"selector",
            Result => b"result",
            HumanResult => b"human_result",
            Scope => b"scope",
            Unknown => b"",
        }
    }

    /// Whether `buf[at..]` starts with this tag's name and `>`, i.e. the
    /// tag that [`from_local`](Tag::from_local) would tell from the bytes
    /// up to the first `>` there. Three word compares against the name
    /// known beforehand (the open element, for an end tag; the one that
    /// followed last time, for a start tag) instead of a search for `>`
    /// and a lookup. Gives the name's length; `None` for `Unknown`, a
    /// mismatch, or fewer than [`PATTERN`] bytes left in `buf`.
    #[inline(always)]
    pub(super) fn at(self, buf: &[u8], at: usize) -> Option<usize> {
        let pat = &PATTERNS[self as usize];
        let bytes = buf.get(at..)?.first_chunk::<PATTERN>()?;
        let mut diff = 0;
        for (i, (want, mask)) in pat.words.into_iter().zip(pat.masks).enumerate() {
            let mut word = [0; 8];
            word.copy_from_slice(&bytes[8 * i..8 * i + 8]);
            diff |= (u64::from_le_bytes(word) ^ want) & mask;
        }
        (diff == 0 && pat.len > 0).then_some(pat.len)
    }
}

/// Bytes [`Tag::at`] compares: room for the longest name and its `>`.
const PATTERN: usize = 24;

/// A name and its `>` as [`PATTERN`] bytes in three words, with the bytes
/// after the `>` masked off.
#[derive(Clone, Copy)]
struct Pattern {
    words: [u64; 3],
    masks: [u64; 3],
    len: usize,
}

const fn pattern(name: &[u8]) -> Pattern {
    let mut p = Pattern {
        words: [0; 3],
        masks: [0; 3],
        len: name.len(),
    };
    if name.is_empty() {
        return p;
    }
    let mut i = 0;
    while i <= name.len() {
        let byte = if i < name.len() { name[i] } else { b'>' };
        p.words[i / 8] |= (byte as u64) << (8 * (i % 8));
        p.masks[i / 8] |= 0xff << (8 * (i % 8));
        i += 1;
    }
    p
}

/// [`Tag::at`]'s pattern of each tag, indexed by the tag.
const PATTERNS: [Pattern; TAGS] = {
    let mut table = [pattern(b""); TAGS];
    let mut i = 0;
    while i < TAGS {
        table[Tag::ALL[i] as usize] = pattern(Tag::ALL[i].name());
        i += 1;
    }
    table
};

/// The start tag that followed the last tag event the previous time the
/// same event was seen (`</source_ip>` is followed by `<count>`, `<row>`
/// by `<source_ip>`): reports repeat one record's shape, so the guess is
/// nearly always right, and a wrong one costs only its compare.
pub(super) struct Guess {
    /// The start tag seen after each event: a start tag at `tag`, an
    /// end tag at `TAGS + tag`.
    next: [Tag; 2 * TAGS],
    /// The slot of the last event.
    last: usize,
}

impl Guess {
    pub(super) fn new() -> Self {
        Guess {
            next: [Tag::Unknown; 2 * TAGS],
            last: Tag::Unknown as usize,
        }
    }

    /// The start tag guessed to come next.
    #[inline(always)]
    pub(super) fn next(&self) -> Tag {
        self.next[self.last]
    }

    /// A tag event: `tag` (`None` when not a known name alone), `end` for
    /// an end tag.
    #[inline(always)]
    pub(super) fn saw(&mut self, tag: Option<Tag>, end: bool) {
        let tag = tag.unwrap_or(Tag::Unknown);
        if !end {
            self.next[self.last] = tag;
        }
        self.last = tag as usize + if end { TAGS } else { 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_is_its_name_and_a_gt() {
        for (i, tag) in Tag::ALL.into_iter().enumerate() {
            assert_eq!(tag as usize, i);
            let name = tag.name();
            assert_eq!(Tag::from_local(name), tag);
            let mut buf = [name, b">", &[b'x'; PATTERN]].concat();
            let want = (tag != Tag::Unknown).then_some(name.len());
            assert_eq!(tag.at(&buf, 0), want, "{tag:?}");
            // The `>` is required, as is every byte of the name; a short
            // buffer is left to the search.
            buf[name.len()] = b' ';
            assert_eq!(tag.at(&buf, 0), None);
            for j in 0..name.len() {
                let mut other = [name, b">", &[b'x'; PATTERN]].concat();
                other[j] ^= 0x20;
                assert_eq!(tag.at(&other, 0), None);
            }
            let exact = [name, b">"].concat();
            assert_eq!(tag.at(&exact, 0), None);
            let other = Tag::from_local(b"row");
            if tag != other && tag != Tag::Unknown {
                let row = [&b"row>"[..], &[b'x'; PATTERN]].concat();
                assert_eq!(tag.at(&row, 0), None);
            }
        }
    }
}
