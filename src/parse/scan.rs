//! Byte scans of the parser's hot loop (`window.rs`, `text.rs`): the
//! next of a few bytes, the end of a tag, indentation, a tag's name, a
//! value and its end tag. Each
//! looks at 8 bytes at a time where inputs are long enough for it to pay.

use super::Tag;

/// Where a tag that starts `bytes` ends: its first `>` outside quotes (as
/// quick-xml's element parser finds it).
pub(super) fn tag_end(bytes: &[u8]) -> Option<usize> {
    let first = find(bytes, [b'>', b'"', b'\''])?;
    if bytes[first] == b'>' {
        return Some(first);
    }
    // Attribute values: a `>` inside quotes does not end the tag.
    let mut quote = None;
    for (i, c) in bytes.iter().enumerate().skip(first) {
        match quote {
            None if *c == b'>' => return Some(i),
            None if *c == b'"' || *c == b'\'' => quote = Some(*c),
            Some(q) if *c == q => quote = None,
            _ => {}
        }
    }
    None
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The first byte of `hay` that is one of `needles`. Compares 8 bytes at a
/// time in a `u64`, as a byte-at-a-time loop spent a seventh of the
/// parsing time here: `w - ONES & !w & HIGHS` marks the lowest zero byte of
/// `w` exactly (bytes above it may be marked falsely, but only the lowest
/// mark is used), and `w ^ needle * ONES` has zero bytes where `w` has
/// `needle`.
#[inline(always)]
pub(super) fn find<const N: usize>(hay: &[u8], needles: [u8; N]) -> Option<usize> {
    let mut words = hay.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let mut marks = 0;
        for n in needles {
            let x = w ^ (ONES * u64::from(n));
            marks |= x.wrapping_sub(ONES) & !x & HIGHS;
        }
        if marks != 0 {
            return Some(base + (marks.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let rest = words.remainder();
    rest.iter()
        .position(|c| needles.contains(c))
        .map(|p| base + p)
}

/// Where the ASCII whitespace starting at `i` ends. Indentation is a line
/// break and spaces: the line break is taken first, then the spaces 8 at a
/// time.
#[inline(always)]
pub(super) fn skip_blank(buf: &[u8], mut i: usize) -> usize {
    if buf.get(i) == Some(&b'\n') {
        i += 1;
    }
    loop {
        while let Some(word) = buf.get(i..i + 8) {
            let mut w = [0; 8];
            w.copy_from_slice(word);
            let x = u64::from_le_bytes(w) ^ (ONES * u64::from(b' '));
            if x != 0 {
                i += (x.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match buf.get(i) {
            Some(c) if c.is_ascii_whitespace() => i += 1,
            _ => return i,
        }
    }
}

#[inline]
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\r' | b'\n' | b'\t')
}

/// The name at the start of a tag: up to the first XML whitespace.
#[inline]
pub(super) fn name_len(content: &[u8]) -> usize {
    content
        .iter()
        .position(|c| is_space(*c))
        .unwrap_or(content.len())
}

/// An end tag's name: trailing whitespace trimmed, unless that is all.
#[inline]
pub(super) fn trim_end(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|c| !is_space(*c)) {
        Some(p) => &name[..=p],
        None => name,
    }
}

/// Where the value of a `<tag>` that ends at `i` ends (its `<`) and where
/// its end tag `</tag>` ends (its `>`), when the two follow as the loop
/// reads them: a run without `<` or `&`, then `</`, the name and `>`
/// compared as [`Tag::at`] compares them (the innermost element is
/// `tag`, so the loop would compare the same). `None` for anything else,
/// which the loop reads the general way.
#[inline(always)]
pub(super) fn leaf_end(buf: &[u8], i: usize, tag: Tag) -> Option<(usize, usize)> {
    // A container's start tag is followed by indentation: not searched
    // here (a value starting with whitespace is left to the loop too).
    if *buf.get(i)? <= b' ' {
        return None;
    }
    let lt = i + find(buf.get(i..)?, [b'<', b'&'])?;
    if buf[lt] != b'<' || buf.get(lt + 1) != Some(&b'/') {
        return None;
    }
    let len = tag.at(buf, lt + 2)?;
    Some((lt, lt + 2 + len))
}
