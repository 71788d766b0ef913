//! Fields: where a leaf's value goes, told by its element and the
//! elements around it, and the value checks and conversions (counts,
//! timestamps, verdict words, lower-cased domains) on the way.

use super::builder::Builder;
use super::tag::Tag;
use super::{truncate, ParseError, Result};
use crate::model::{AuthResult, Disposition, Record, SourceIp, Str};

/// Latest `date_range` accepted: 9999-12-31T23:59:59Z.
const MAX_EPOCH: i64 = 253_402_300_799;

impl Builder {
    /// Stores a leaf's trimmed text where its place in the document says.
    #[inline(always)]
    pub(super) fn store_field(&mut self, tag: Tag, value: &str) -> Result<()> {
        let parent = self.parent(1);
        let grand = self.parent(2);
        self.keep(value.len())?;
        // A record is only filled while its `<record>` is open: closing
        // any `<record>` ends it.
        if let Some(rec) = self.record.as_mut() {
            return record_field(rec, tag, parent, grand, value);
        }
        self.header_field(tag, parent, value)
    }

    /// Stores a field of the report's header. Out of the tokenizer's
    /// loop, as it runs a few times a report (inlined, it made the loop's
    /// code bigger and slower for every record).
    #[inline(never)]
    fn header_field(&mut self, tag: Tag, parent: Option<Tag>, value: &str) -> Result<()> {
        let h = &mut self.header;
        match (parent, tag) {
            (Some(Tag::Feedback), Tag::Version) => h.version = some(value).map(String::from),
            (Some(Tag::ReportMetadata), Tag::OrgName) => h.metadata.org_name = value.into(),
            (Some(Tag::ReportMetadata), Tag::Email) => h.metadata.email = value.into(),
            (Some(Tag::ReportMetadata), Tag::ExtraContactInfo) => {
                h.metadata.extra_contact_info = some(value).map(String::from)
            }
            (Some(Tag::ReportMetadata), Tag::ReportId) => h.metadata.report_id = value.into(),
            (Some(Tag::ReportMetadata), Tag::Error) => h.metadata.errors.push(value.into()),
            (Some(Tag::ReportMetadata), Tag::Generator) => {
                h.metadata.generator = some(value).map(String::from)
            }
            (Some(Tag::ReportMetadata), Tag::DateRange) => self.seen_date_range = true,
            (Some(Tag::DateRange), Tag::Begin) => {
                h.metadata.date_begin = epoch(value, "begin")?;
                self.seen_begin = true;
            }
            (Some(Tag::DateRange), Tag::End) => {
                h.metadata.date_end = epoch(value, "end")?;
                self.seen_end = true;
            }
            (Some(Tag::PolicyPublished), t) => {
                let p = &mut h.policy;
                let word = || some_lower(value).map(String::from);
                match t {
                    Tag::Domain => p.domain = lower(value).into(),
                    Tag::Adkim => p.adkim = word(),
                    Tag::Aspf => p.aspf = word(),
                    Tag::P => p.p = word(),
                    Tag::Sp => p.sp = word(),
                    Tag::Np => p.np = word(),
                    Tag::Pct => p.pct = value.parse().ok(),
                    Tag::Fo => p.fo = some(value).map(String::from),
                    Tag::Testing => p.testing = word(),
                    Tag::DiscoveryMethod => p.discovery_method = word(),
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Stores a field of the current record, placed by its parent elements.
/// Inlined into its one caller, as it was before the builder was split
/// into its own files (called, it cost 8 M instructions more in item 1).
#[inline(always)]
fn record_field(
    rec: &mut Record,
    tag: Tag,
    parent: Option<Tag>,
    grand: Option<Tag>,
    value: &str,
) -> Result<()> {
    match (grand, parent, tag) {
        (_, Some(Tag::Row), Tag::SourceIp) => rec.source_ip = SourceIp::new(value),
        (_, Some(Tag::Row), Tag::Count) => rec.count = count(value)?,
        (_, Some(Tag::PolicyEvaluated), Tag::Disposition) => {
            rec.policy_evaluated.disposition = Disposition::from_word(value)
        }
        (_, Some(Tag::PolicyEvaluated), Tag::Dkim) => {
            rec.policy_evaluated.dkim = AuthResult::from_word(value)
        }
        (_, Some(Tag::PolicyEvaluated), Tag::Spf) => {
            rec.policy_evaluated.spf = AuthResult::from_word(value)
        }
        (Some(Tag::PolicyEvaluated), Some(Tag::Reason), t) => {
            if let Some(r) = rec.policy_evaluated.reasons.last_mut() {
                match t {
                    Tag::Type => r.kind = lower(value),
                    Tag::Comment => r.comment = some(value),
                    _ => {}
                }
            }
        }
        (_, Some(Tag::Identifiers), t) => {
            let ids = &mut rec.identifiers;
            match t {
                Tag::HeaderFrom => ids.header_from = lower(value),
                Tag::EnvelopeFrom => ids.envelope_from = Some(lower(value)),
                Tag::EnvelopeTo => ids.envelope_to = Some(lower(value)),
                _ => {}
            }
        }
        (Some(Tag::AuthResults), Some(Tag::Dkim), t) => {
            if let Some(d) = rec.dkim.last_mut() {
                match t {
                    Tag::Domain => d.domain = lower(value),
                    Tag::Selector => d.selector = some(value),
                    Tag::Result => d.result = AuthResult::from_word(value),
                    Tag::HumanResult => d.human_result = some(value),
                    _ => {}
                }
            }
        }
        (Some(Tag::AuthResults), Some(Tag::Spf), t) => {
            if let Some(s) = rec.spf.last_mut() {
                match t {
                    Tag::Domain => s.domain = lower(value),
                    Tag::Scope => s.scope = some_lower(value),
                    Tag::Result => s.result = AuthResult::from_word(value),
                    Tag::HumanResult => s.human_result = some(value),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn some(s: &str) -> Option<Str> {
    (!s.is_empty()).then(|| Str::from(s))
}

/// `v.to_ascii_lowercase()`, in place in its copy, without the
/// lower-casing pass when there is nothing to lower-case: domains nearly
/// always come lower-case already.
/// The usual value is made where the caller wants it: a copy made on the
/// stack, changed in place and then returned, was stored in pieces and
/// loaded two words at a time, a stall on every field (perf: half of this
/// function's samples; bench/README.md, eleventh round).
fn lower(v: &str) -> Str {
    if !has_upper(v.as_bytes()) {
        return Str::from(v);
    }
    let mut s = Str::from(v);
    s.make_ascii_lowercase();
    s
}

/// [`some`] of the value lower-cased.
fn some_lower(v: &str) -> Option<Str> {
    (!v.is_empty()).then(|| lower(v))
}

/// Whether `b` holds an ASCII capital letter, told 8 bytes at a time
/// (the last word overlapping the one before when the length is not a
/// multiple of 8).
fn has_upper(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let upper = |bytes: &[u8]| {
        let mut w = [0; 8];
        w.copy_from_slice(bytes);
        let w = u64::from_le_bytes(w);
        // Each byte's low 7 bits plus a constant: the byte's high bit
        // says whether they are >= 'A' (resp. > 'Z'). No sum carries into
        // the next byte (each stays below 0x100); `!w` leaves out bytes
        // that are not ASCII.
        let low = w & (0x7f * ONES);
        let from_a = low + (0x80 - u64::from(b'A')) * ONES;
        let past_z = low + (0x7f - u64::from(b'Z')) * ONES;
        from_a & !past_z & !w & (0x80 * ONES) != 0
    };
    match b.last_chunk::<8>() {
        None => b.iter().any(u8::is_ascii_uppercase),
        Some(last) => b.chunks_exact(8).any(upper) || upper(last),
    }
}

/// `<count>`: a non-negative integer that fits in i64.
fn count(v: &str) -> Result<i64> {
    // The usual value: 1-18 decimal digits (below 10^18, no overflow),
    // read as `parse` reads them, without its sign and overflow checks.
    let b = v.as_bytes();
    if (1..=18).contains(&b.len()) && b.iter().all(u8::is_ascii_digit) {
        return Ok(b.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')));
    }
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        Ok(n) => Err(ParseError::Invalid(format!("negative count {n}"))),
        Err(_) => Err(ParseError::Invalid(format!(
            "count {:?} is not a non-negative 64-bit integer",
            truncate(v, 40)
        ))),
    }
}

/// A `date_range` bound: seconds since the epoch. Some reporters write
/// fractions (`1538204542.0`), which are truncated.
fn epoch(v: &str, what: &str) -> Result<i64> {
    let int_part = v.split_once('.').map_or(v, |(i, f)| {
        if f.bytes().all(|b| b.is_ascii_digit()) {
            i
        } else {
            v
        }
    });
    let n: i64 = int_part.parse().map_err(|_| {
        ParseError::Invalid(format!(
            "date_range {what} {:?} is not a Unix timestamp",
            truncate(v, 40)
        ))
    })?;
    if !(0..=MAX_EPOCH).contains(&n) {
        return Err(ParseError::Invalid(format!(
            "date_range {what} {n} is outside 1970..9999"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals_are_found_at_every_place_among_any_bytes() {
        for len in 0..20 {
            for at in 0..len {
                for c in 0..=255u8 {
                    for fill in [b'a', b'Z', 0x80, 0xff, b'@', b'['] {
                        let mut b = vec![fill; len];
                        b[at] = c;
                        let want = b.iter().any(u8::is_ascii_uppercase);
                        assert_eq!(has_upper(&b), want, "{b:?}");
                    }
                }
            }
        }
        assert_eq!(lower("Mail.Example.COM"), "mail.example.com");
        assert_eq!(lower("m\u{e9}l.example"), "m\u{e9}l.example");
        assert_eq!(some_lower(""), None);
        assert_eq!(some_lower("MFrom").as_deref(), Some("mfrom"));
    }

    #[test]
    fn counts_read_as_parse_does() {
        for v in [
            "0",
            "7",
            "007",
            "100",
            "999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "9223372036854775808",
            "+5",
            "-0",
            "-3",
            "",
            " 1",
            "1a",
            "١",
        ] {
            let want = v.parse::<i64>().ok().filter(|n| *n >= 0);
            assert_eq!(count(v).ok(), want, "{v:?}");
        }
    }
}
