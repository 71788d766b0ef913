//! `record.ip_bin`: a source address as 16 bytes (IPv4 as
//! `::ffff:a.b.c.d`), so that CIDR filters are byte-range comparisons in
//! SQL.
//!
//! A record's address is read with it once, where the parser stores it
//! ([`SourceIp`] keeps the text and the bytes together): the parser
//! refuses a record whose `source_ip` it does not take, and the writer
//! stores the bytes it holds (it read the text again before, ~330
//! instructions a record). std's parser took about 150
//! instructions for an IPv4 address and 1,270 for an IPv6 one (most of
//! `ip_bin`'s ~400 a record in the generated corpus, more in real
//! traffic; bench/README.md, eighth round). The plain forms are read here
//! directly: four decimal octets, or up to eight groups of 1-4 hex digits
//! with at most one `::`. Anything else (an IPv4 tail in IPv6, a fifth
//! digit, a stray character) goes to std's parser, so the answer is
//! always std's: the direct reading takes only what std reads the same
//! way, which the tests check against std on generated addresses.

use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;

use super::Str;

/// `<row><source_ip>` as written, with its 16-byte form ([`ip_bin`]) read
/// when it is made: the two cannot disagree, as the text is set only
/// through [`SourceIp::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceIp {
    text: Str,
    bin: Option<[u8; 16]>,
}

impl SourceIp {
    /// `text` and its reading.
    pub fn new(text: &str) -> Self {
        SourceIp {
            bin: ip_bin(text),
            text: text.into(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// [`ip_bin`] of the text: `None` when it is not an address.
    pub fn bin(&self) -> Option<[u8; 16]> {
        self.bin
    }

    /// [`SourceIp::bin`] where it is kept (the store binds it from there).
    pub fn bin_ref(&self) -> Option<&[u8; 16]> {
        self.bin.as_ref()
    }
}

impl Deref for SourceIp {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl From<&str> for SourceIp {
    fn from(text: &str) -> Self {
        SourceIp::new(text)
    }
}

impl From<String> for SourceIp {
    fn from(text: String) -> Self {
        SourceIp::new(&text)
    }
}

impl PartialEq<str> for SourceIp {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for SourceIp {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl fmt::Display for SourceIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The 16-byte form of an address (IPv4 as `::ffff:a.b.c.d`); IPv4-mapped
/// IPv6 input and plain IPv4 give the same bytes. `None` when std's parser
/// would not take the (trimmed) text.
pub fn ip_bin(ip: &str) -> Option<[u8; 16]> {
    let s = trimmed(ip);
    let b = s.as_bytes();
    // IPv6 text fails the IPv4 reading at its first group's end.
    v4(b).map(mapped).or_else(|| v6(b)).or_else(|| by_std(s))
}

/// `s.trim()`, seeing at once that text the parser trimmed already (an
/// address) needs none: `str::trim` decodes a character at each end and
/// asks Unicode's whitespace table (~50 instructions a record). Every
/// whitespace character is either an ASCII byte up to `' '` or a
/// multi-byte one (all bytes >= 0x80), so text that starts and ends with
/// a visible ASCII character has none to trim.
pub fn trimmed(s: &str) -> &str {
    let visible = |c: Option<&u8>| c.is_some_and(u8::is_ascii_graphic);
    let b = s.as_bytes();
    if visible(b.first()) && visible(b.last()) {
        s
    } else {
        s.trim()
    }
}

/// std's reading of `s`.
fn by_std(s: &str) -> Option<[u8; 16]> {
    Some(match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    })
}

/// IPv4 `a` mapped into IPv6.
fn mapped(a: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[10] = 0xff;
    out[11] = 0xff;
    out[12..].copy_from_slice(&a);
    out
}

/// Four octets of 1-3 decimal digits, no leading zero, at most 255,
/// separated by dots; `None` for anything else. One pass over the bytes,
/// each a digit or a dot (a loop per octet with its bounds checks cost
/// about twice as much; bench/README.md, eleventh round).
fn v4(s: &[u8]) -> Option<[u8; 4]> {
    if !(7..=15).contains(&s.len()) {
        return None;
    }
    let mut out = [0u8; 4];
    let mut k = 0;
    let mut v: u32 = 0;
    let mut digits = 0;
    for &c in s {
        if c == b'.' {
            if digits == 0 || k == 3 {
                return None;
            }
            out[k] = v as u8;
            (k, v, digits) = (k + 1, 0, 0);
            continue;
        }
        let d = u32::from(c.wrapping_sub(b'0'));
        // Not a digit, a fourth digit, or a digit after a leading zero.
        if d > 9 || digits == 3 || (digits == 1 && v == 0) {
            return None;
        }
        v = v * 10 + d;
        digits += 1;
        if v > 255 {
            return None;
        }
    }
    if k != 3 || digits == 0 {
        return None;
    }
    out[3] = v as u8;
    Some(out)
}

/// Groups of 1-4 hex digits separated by `:`, eight of them or fewer with
/// one `::` standing for at least one zero group; `None` for anything
/// else.
fn v6(s: &[u8]) -> Option<[u8; 16]> {
    let mut groups = [0u16; 8];
    let mut n = 0;
    // Where the `::` stands: the number of groups before it.
    let mut gap = None;
    let mut i = 0;
    if s.starts_with(b"::") {
        gap = Some(0);
        i = 2;
    }
    while i < s.len() {
        let start = i;
        let mut v: u32 = 0;
        while i < s.len() && i - start < 4 {
            let Some(d) = (s[i] as char).to_digit(16) else {
                break;
            };
            v = v * 16 + d;
            i += 1;
        }
        if i == start || n == 8 {
            return None;
        }
        groups[n] = v as u16;
        n += 1;
        if i == s.len() {
            break;
        }
        if s[i] != b':' {
            return None;
        }
        i += 1;
        if s.get(i) == Some(&b':') {
            if gap.is_some() {
                return None;
            }
            gap = Some(n);
            i += 1;
        } else if i == s.len() {
            // A single trailing `:`.
            return None;
        }
    }
    match gap {
        None if n != 8 => return None,
        None => {}
        // `::` stands for one zero group at least.
        Some(_) if n > 7 => return None,
        Some(g) => {
            let tail = n - g;
            groups.copy_within(g..n, 8 - tail);
            groups[g..8 - tail].fill(0);
        }
    }
    let mut out = [0u8; 16];
    for (k, g) in groups.iter().enumerate() {
        out[2 * k..2 * k + 2].copy_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small xorshift generator: the same cases on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn check(s: &str) {
        assert_eq!(ip_bin(s), by_std(s.trim()), "{s:?}");
    }

    #[test]
    fn plain_forms_are_read_directly_and_as_std_reads_them() {
        let cases = [
            ("192.0.2.1", "::ffff:192.0.2.1"),
            ("0.0.0.0", "::ffff:0.0.0.0"),
            ("255.255.255.255", "::ffff:255.255.255.255"),
            ("2001:db8::1", "2001:0db8:0:0:0:0:0:1"),
            ("::", "0:0:0:0:0:0:0:0"),
            ("::1", "0:0:0:0:0:0:0:1"),
            ("1::", "1:0:0:0:0:0:0:0"),
            ("FE80::ABCD:0:1", "fe80:0:0:0:0:abcd:0:1"),
            ("1:2:3:4:5:6::8", "1:2:3:4:5:6:0:8"),
        ];
        for (a, b) in cases {
            assert!(ip_bin(a).is_some(), "{a}");
            assert_eq!(ip_bin(a), ip_bin(b), "{a} {b}");
            check(a);
            check(b);
        }
        assert!(v6(b"2001:db8::1").is_some());
        assert!(v4(b"192.0.2.1").is_some());
    }

    #[test]
    fn every_other_form_is_std_s_answer() {
        let odd = [
            "",
            " ",
            "nope",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.256",
            "1.2.3.4 ",
            " 10.0.0.1\t",
            "1..2.3",
            "1.2.3.0004",
            "::ffff:192.0.2.1",
            "64:ff9b::1.2.3.4",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7::8",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            ":1::",
            "1:::2",
            "1::2::3",
            "12345::",
            "1:",
            ":",
            ":::",
            "g::",
            "1:2:3:4:5:6:7",
            "::1.2.3.4",
            "1::2:3:4:5:6:7",
            "+1::",
            "1.2.3.-4",
            "[::1]",
            "::%eth0",
        ];
        for s in odd {
            check(s);
        }
    }

    #[test]
    fn generated_text_gets_std_s_answer() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"0123456789abcdefABCDEF:.:.g ";
        for _ in 0..200_000 {
            let len = rng.below(24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize] as char)
                .collect();
            check(&s);
        }
        let mut read_directly = 0u32;
        // Shaped like addresses: groups of 0-5 digits, compressed or not,
        // with a few IPv4 tails and octets past 255.
        for _ in 0..200_000 {
            let mut s = String::new();
            if rng.below(2) == 0 {
                for k in 0..rng.below(6) as usize {
                    if k > 0 {
                        s.push('.');
                    }
                    let top = if rng.below(4) == 0 { 1000 } else { 256 };
                    s.push_str(&rng.below(top).to_string());
                }
                if rng.below(8) == 0 {
                    s.insert(0, '0');
                }
            } else {
                let groups = rng.below(10) as usize;
                let gap = rng.below(12) as usize;
                for k in 0..groups {
                    if k == gap {
                        s.push_str("::");
                    } else if k > 0 {
                        s.push(':');
                    }
                    let digits = rng.below(6) as usize;
                    for _ in 0..digits {
                        let d = b"0123456789abcdefABCDEF"[rng.below(22) as usize];
                        s.push(d as char);
                    }
                }
                if gap == groups {
                    s.push_str("::");
                }
                if rng.below(10) == 0 {
                    s.push_str(":192.0.2.1");
                }
            }
            check(&s);
            let direct = v4(s.as_bytes()).map(mapped).or_else(|| v6(s.as_bytes()));
            read_directly += u32::from(direct.is_some());
        }
        // The direct reading was put to the test, not only std's.
        assert!(read_directly > 10_000, "{read_directly}");
    }
}
