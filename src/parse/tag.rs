//! The elements the parser acts on, told by their local name, and how a
//! tag's local name is found.

/// Declares [`Tag`] and [`Tag::ALL`] from one list, so the two cannot
/// drift apart.
macro_rules! tags {
    ($($tag:ident,)*) => {
        /// The elements we act on, by local name. Anything else is `Unknown`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Tag {
            $($tag,)*
        }

        impl Tag {
            /// Every tag, in declaration order: `ALL[t as usize] == t`.
            pub(super) const ALL: [Tag; [$(Tag::$tag,)*].len()] = [$(Tag::$tag,)*];
        }
    };
}

tags! {
    Feedback,
    Version,
    ReportMetadata,
    OrgName,
    Email,
    ExtraContactInfo,
    ReportId,
    DateRange,
    Begin,
    End,
    Error,
    Generator,
    PolicyPublished,
    Domain,
    Adkim,
    Aspf,
    P,
    Sp,
    Np,
    Pct,
    Fo,
    Testing,
    DiscoveryMethod,
    Record,
    Row,
    SourceIp,
    Count,
    PolicyEvaluated,
    Disposition,
    Dkim,
    Spf,
    Reason,
    Type,
    Comment,
    Identifiers,
    HeaderFrom,
    EnvelopeFrom,
    EnvelopeTo,
    AuthResults,
    Selector,
    Result,
    HumanResult,
    Scope,
    Unknown,
}

impl Tag {
    /// The tag named `name`. Matched on the length first, then on the
    /// name's bytes as two integers ([`words`]): with every name compared
    /// in turn, this took a tenth of the parsing time, and compared byte by
    /// byte still a tenth of what was left.
    pub(super) fn from_local(name: &[u8]) -> Tag {
        let known: &[(u64, u64, Tag)] = match name.len() {
            1 => L1,
            2 => L2,
            3 => L3,
            4 => L4,
            5 => L5,
            6 => L6,
            7 => L7,
            8 => L8,
            9 => L9,
            10 => L10,
            11 => L11,
            12 => L12,
            13 => L13,
            15 => L15,
            16 => L16,
            // The only longer name: compared as it is.
            18 if name == b"extra_contact_info" => return Tag::ExtraContactInfo,
            _ => return Tag::Unknown,
        };
        let (first, last) = read_words(name);
        known
            .iter()
            .find(|(f, l, _)| *f == first && *l == last)
            .map_or(Tag::Unknown, |(_, _, tag)| *tag)
    }
}

/// A name up to 16 bytes long as two integers: its first eight bytes and
/// its last eight (overlapping when it is shorter than 16; zero-padded
/// when shorter than 8). Two names of the same length are equal exactly
/// when these are.
const fn words(name: &[u8]) -> (u64, u64) {
    let n = name.len();
    if n >= 8 {
        let (mut first, mut last) = ([0u8; 8], [0u8; 8]);
        let mut i = 0;
        while i < 8 {
            first[i] = name[i];
            last[i] = name[n - 8 + i];
            i += 1;
        }
        (u64::from_le_bytes(first), u64::from_le_bytes(last))
    } else {
        let mut w = [0u8; 8];
        let mut i = 0;
        while i < n {
            w[i] = name[i];
            i += 1;
        }
        (u64::from_le_bytes(w), 0)
    }
}

/// [`words`] for a name read while parsing, up to 16 bytes: whole loads
/// of the bytes rather than a copy byte by byte (which became a call to
/// `memcpy` per name). Two loads overlapping in the middle give the same
/// zero-padded value, since the overlap holds the same bytes.
fn read_words(name: &[u8]) -> (u64, u64) {
    fn u16_at(b: &[u8], i: usize) -> u64 {
        u64::from(u16::from_le_bytes([b[i], b[i + 1]]))
    }
    fn u32_at(b: &[u8], i: usize) -> u64 {
        u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]))
    }
    fn u64_at(b: &[u8], i: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    }
    let n = name.len();
    match n {
        0 => (0, 0),
        1 => (u64::from(name[0]), 0),
        2..=3 => (u16_at(name, 0) | u16_at(name, n - 2) << (8 * (n - 2)), 0),
        4..=7 => (u32_at(name, 0) | u32_at(name, n - 4) << (8 * (n - 4)), 0),
        _ => (u64_at(name, 0), u64_at(name, n - 8)),
    }
}

/// A table entry of [`Tag::from_local`].
const fn known(name: &[u8], tag: Tag) -> (u64, u64, Tag) {
    let (first, last) = words(name);
    (first, last, tag)
}

use Tag::*;
const L1: &[(u64, u64, Tag)] = &[known(b"p", P)];
const L2: &[(u64, u64, Tag)] = &[known(b"sp", Sp), known(b"np", Np), known(b"fo", Fo)];
const L3: &[(u64, u64, Tag)] = &[
    known(b"row", Row),
    known(b"spf", Spf),
    known(b"end", End),
    known(b"pct", Pct),
];
const L4: &[(u64, u64, Tag)] = &[
    known(b"dkim", Dkim),
    known(b"type", Type),
    known(b"aspf", Aspf),
];
const L5: &[(u64, u64, Tag)] = &[
    known(b"count", Count),
    known(b"scope", Scope),
    known(b"begin", Begin),
    known(b"email", Email),
    known(b"error", Error),
    known(b"adkim", Adkim),
];
const L6: &[(u64, u64, Tag)] = &[
    known(b"domain", Domain),
    known(b"result", Result),
    known(b"record", Record),
    known(b"reason", Reason),
];
const L7: &[(u64, u64, Tag)] = &[
    known(b"comment", Comment),
    known(b"version", Version),
    known(b"testing", Testing),
];
const L8: &[(u64, u64, Tag)] = &[
    known(b"selector", Selector),
    known(b"feedback", Feedback),
    known(b"org_name", OrgName),
];
const L9: &[(u64, u64, Tag)] = &[
    known(b"source_ip", SourceIp),
    known(b"report_id", ReportId),
    known(b"generator", Generator),
];
const L10: &[(u64, u64, Tag)] = &[known(b"date_range", DateRange)];
const L11: &[(u64, u64, Tag)] = &[
    known(b"disposition", Disposition),
    known(b"identifiers", Identifiers),
    known(b"header_from", HeaderFrom),
    known(b"envelope_to", EnvelopeTo),
];
const L12: &[(u64, u64, Tag)] = &[
    known(b"auth_results", AuthResults),
    known(b"human_result", HumanResult),
];
const L13: &[(u64, u64, Tag)] = &[known(b"envelope_from", EnvelopeFrom)];
const L15: &[(u64, u64, Tag)] = &[known(b"report_metadata", ReportMetadata)];
const L16: &[(u64, u64, Tag)] = &[
    known(b"policy_evaluated", PolicyEvaluated),
    known(b"policy_published", PolicyPublished),
    known(b"discovery_method", DiscoveryMethod),
];

/// The local name of a start tag: the name ends at the first XML
/// whitespace, its prefix at the first `:` (as quick-xml splits them).
pub(super) fn start_name(content: &[u8]) -> &[u8] {
    let mut colon = None;
    let mut end = content.len();
    for (i, c) in content.iter().enumerate() {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                end = i;
                break;
            }
            b':' if colon.is_none() => colon = Some(i),
            _ => {}
        }
    }
    match colon {
        Some(i) => &content[i + 1..end],
        None => &content[..end],
    }
}

/// The local part of a qualified name (after the first `:`, as quick-xml
/// splits it).
pub(super) fn local_name(name: &[u8]) -> &[u8] {
    match name.iter().position(|c| *c == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_told_apart_from_its_near_misses() {
        let tables = [
            L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L15, L16,
        ];
        let names: &[&[u8]] = &[
            b"p",
            b"sp",
            b"np",
            b"fo",
            b"row",
            b"spf",
            b"end",
            b"pct",
            b"dkim",
            b"type",
            b"aspf",
            b"count",
            b"scope",
            b"begin",
            b"email",
            b"error",
            b"adkim",
            b"domain",
            b"result",
            b"record",
            b"reason",
            b"comment",
            b"version",
            b"testing",
            b"selector",
            b"feedback",
            b"org_name",
            b"source_ip",
            b"report_id",
            b"generator",
            b"date_range",
            b"disposition",
            b"identifiers",
            b"header_from",
            b"envelope_to",
            b"auth_results",
            b"human_result",
            b"envelope_from",
            b"report_metadata",
            b"policy_evaluated",
            b"policy_published",
            b"discovery_method",
        ];
        assert_eq!(names.len(), tables.iter().map(|t| t.len()).sum::<usize>());
        let mut seen = Vec::new();
        for name in names {
            let tag = Tag::from_local(name);
            assert_ne!(tag, Tag::Unknown, "{}", String::from_utf8_lossy(name));
            assert!(!seen.contains(&tag));
            seen.push(tag);
            // Every byte changed, one at a time, and the name cut or grown.
            for i in 0..name.len() {
                let mut other = name.to_vec();
                other[i] ^= 0x20;
                assert_eq!(Tag::from_local(&other), Tag::Unknown);
            }
            assert_ne!(Tag::from_local(&name[1..]), tag);
            assert_ne!(Tag::from_local(&[name, &b"x"[..]].concat()), tag);
        }
        assert_eq!(
            Tag::from_local(b"extra_contact_info"),
            Tag::ExtraContactInfo
        );
        assert_eq!(Tag::from_local(b"extra_contaXt_info"), Tag::Unknown);
        assert_eq!(Tag::from_local(b""), Tag::Unknown);
    }
}
