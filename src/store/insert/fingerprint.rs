//! The fingerprint of a record's auth results: the key of the map of
//! known sets ([`AuthSets`](super::AuthSets)), which compares the sets
//! field by field after it ([`same_set`]). It lives only in memory (never
//! stored), so it may change between versions.

use crate::model::{AuthResult, DkimAuthResult, Record, SpfAuthResult, Str};

/// A 64-bit hash of every field of `r`'s auth results, for the map of
/// known sets (equality is checked field by field after it). Eight bytes
/// at a time, in the manner of FxHash: hashing byte by byte was a third
/// of the time spent on a record outside SQLite. It reads the fields
/// directly (not through `entries`, which the key follows): a result
/// word is one number, and a result's kind goes in with its domain's
/// length (bench/README.md, tenth round).
pub(crate) fn fingerprint(r: &Record) -> u64 {
    let mut h: u64 = 0;
    for d in &r.dkim {
        entry(&mut h, 1, &d.domain, d.selector.as_deref(), &d.result);
        eat(&mut h, d.human_result.as_deref());
    }
    for s in &r.spf {
        entry(&mut h, 2, &s.domain, s.scope.as_deref(), &s.result);
        eat(&mut h, s.human_result.as_deref());
    }
    h
}

/// A result's kind, domain, selector or scope, and result into `h`.
#[inline]
fn entry(h: &mut u64, kind: u64, domain: &str, second: Option<&str>, result: &AuthResult) {
    mix(h, kind << 32 | domain.len() as u64);
    words(h, domain.as_bytes());
    eat(h, second);
    match result {
        AuthResult::Other(w) => eat(h, Some(w)),
        known => mix(h, u64::MAX - 1 - known_number(known)),
    }
}

/// A number for each of the RFC's result words (not `Other`).
#[inline]
fn known_number(r: &AuthResult) -> u64 {
    match r {
        AuthResult::Absent => 0,
        AuthResult::None => 1,
        AuthResult::Pass => 2,
        AuthResult::Fail => 3,
        AuthResult::SoftFail => 4,
        AuthResult::Neutral => 5,
        AuthResult::Policy => 6,
        AuthResult::TempError => 7,
        AuthResult::PermError => 8,
        AuthResult::Other(_) => 9,
    }
}

/// `word` into the hash `h`.
#[inline]
fn mix(h: &mut u64, word: u64) {
    *h = (h.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
}

/// A field into the hash `h`: its length and its bytes. The length keeps
/// "ab"+"c" from "a"+"bc"; `None` hashes apart from `Some("")`.
#[inline]
fn eat(h: &mut u64, s: Option<&str>) {
    let Some(s) = s else {
        return mix(h, u64::MAX);
    };
    mix(h, s.len() as u64);
    words(h, s.as_bytes());
}

/// `bytes` into the hash `h`: up to 16 of them, as the first and the last
/// eight (overlapping when fewer), or [`short`]'s word. A longer text's
/// middle is left out: texts of one length that differ only there
/// collide, and the comparison after the hash tells them apart (a
/// fixed cost per field, no loop: bench/README.md, tenth round).
#[inline]
fn words(h: &mut u64, bytes: &[u8]) {
    let n = bytes.len();
    if n >= 8 {
        mix(h, word(bytes, 0));
        if n > 8 {
            mix(h, word(bytes, n - 8));
        }
    } else if n > 0 {
        mix(h, short(bytes));
    }
}

/// The eight bytes of `b` from `at` (which has them), little-endian.
#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// 1-7 bytes as one word, without a copy of variable length (a call to
/// `memcpy` each): the first and last four bytes, or the first, middle
/// and last one, which overlap on short text. The length is hashed
/// before, so this tells the same texts apart as the bytes themselves
/// would, but for collisions, which the comparison after the hash
/// settles.
#[inline]
fn short(b: &[u8]) -> u64 {
    let n = b.len();
    let four = |at: usize| u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]));
    if n >= 4 {
        four(0) | four(n - 4) << 32
    } else {
        u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16
    }
}

/// Whether a known set (`dkim`, `spf`) holds exactly `r`'s results: the
/// comparison after the fingerprint, field by field as `==` compares
/// them, with texts of up to 16 bytes compared as the words
/// [`fingerprint`] reads rather than by a call to `memcmp` each (most of
/// a parsing thread's lookup of a set; bench/README.md, eleventh round).
pub(crate) fn same_set(dkim: &[DkimAuthResult], spf: &[SpfAuthResult], r: &Record) -> bool {
    dkim.len() == r.dkim.len()
        && spf.len() == r.spf.len()
        && dkim.iter().zip(&r.dkim).all(|(a, b)| {
            same(&a.domain, &b.domain)
                && same_opt(&a.selector, &b.selector)
                && same_result(&a.result, &b.result)
                && same_opt(&a.human_result, &b.human_result)
        })
        && spf.iter().zip(&r.spf).all(|(a, b)| {
            same(&a.domain, &b.domain)
                && same_opt(&a.scope, &b.scope)
                && same_result(&a.result, &b.result)
                && same_opt(&a.human_result, &b.human_result)
        })
}

#[inline]
fn same_result(a: &AuthResult, b: &AuthResult) -> bool {
    match (a, b) {
        (AuthResult::Other(a), AuthResult::Other(b)) => same(a, b),
        _ => a == b,
    }
}

#[inline]
fn same_opt(a: &Option<Str>, b: &Option<Str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// `a == b`, texts of up to 16 bytes without a call.
#[inline]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=7 => short(a) == short(b),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::with_dkim;
    use super::*;

    #[test]
    fn every_byte_of_a_short_tail_counts() {
        for n in 1..8 {
            let base = vec![b'a'; n];
            for at in 0..n {
                let mut other = base.clone();
                other[at] = b'b';
                assert_ne!(short(&base), short(&other), "{n} {at}");
            }
        }
        assert_eq!(word(b"abcdefgh", 0), u64::from_le_bytes(*b"abcdefgh"));
    }

    #[test]
    fn sets_are_the_same_exactly_when_equal() {
        let texts = [
            "",
            "a",
            "b",
            "ab",
            "abc",
            "abd",
            "abcd",
            "abce",
            "abcdefg",
            "abcdefh",
            "abcdefgh",
            "abcdefgi",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "bbcdefghijklmnop",
            "abcdefgxijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
            "xbcdefghijklmnopq",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
        }
        let mut sets = Vec::new();
        for domain in ["a.example", "b.example", "example-of-more-than-16.example"] {
            for selector in [None, Some("s1"), Some("s2")] {
                for result in [AuthResult::Pass, AuthResult::Other("x".into())] {
                    let mut r = with_dkim(domain);
                    r.dkim[0].selector = selector.map(Str::from);
                    r.dkim[0].result = result.clone();
                    sets.push(r.clone());
                    r.spf.push(SpfAuthResult {
                        domain: domain.into(),
                        result,
                        ..SpfAuthResult::default()
                    });
                    sets.push(r);
                }
            }
        }
        for a in &sets {
            for b in &sets {
                let want = a.dkim == b.dkim && a.spf == b.spf;
                assert_eq!(same_set(&a.dkim, &a.spf, b), want, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn fingerprints_tell_field_boundaries_and_missing_fields_apart() {
        let mut ab = with_dkim("ab");
        ab.dkim[0].selector = Some("c".into());
        let mut a = with_dkim("a");
        a.dkim[0].selector = Some("bc".into());
        assert_ne!(fingerprint(&ab), fingerprint(&a));
        let mut empty = with_dkim("a");
        empty.dkim[0].selector = Some(Default::default());
        assert_ne!(fingerprint(&with_dkim("a")), fingerprint(&empty));
        let mut spf = Record::default();
        spf.spf.push(SpfAuthResult {
            domain: "a".into(),
            result: AuthResult::Pass,
            ..SpfAuthResult::default()
        });
        assert_ne!(fingerprint(&with_dkim("a")), fingerprint(&spf));
    }
}
