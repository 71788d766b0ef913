//! The fingerprint of a record's auth results: the key of the map of
//! known sets ([`AuthSets`](super::AuthSets)), which compares the sets
//! field by field after it. It lives only in memory (never stored), so it
//! may change between versions.

use crate::model::{AuthResult, Record};

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

#[cfg(test)]
mod tests {
    use super::super::tests::with_dkim;
    use super::*;
    use crate::model::{AuthResult, SpfAuthResult};

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
