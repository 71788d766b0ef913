//! The report models. This file: the aggregate report model: types that mirror the XML schema of RFC 7489
//! appendix C (and RFC 9990's additions), after normalisation.
//!
//! This module owns the *shape* of a report and the small value sets
//! (dispositions, results). It does no I/O; `parse` fills these types and
//! `store` writes them. Enumerated values keep what the reporter wrote when it
//! is outside the RFC's set (`Other`), because reporters do send `hardfail`,
//! `None`, `softfail` in policy_evaluated and the like, and throwing those
//! away would make the stored data less faithful than the original.
//!
//! SMTP TLS reports (RFC 8460) are modelled in [`tls`], DMARC failure
//! reports (RFC 6591) in [`failure`].
//!
//! A [`Record`] is made on a parsing thread and dropped on the writer's,
//! hundreds of thousands of them a run: its text fields are [`Str`]s,
//! held inline up to 24 bytes (nearly every address, domain, selector and
//! word is shorter), and its DKIM and SPF results are held inline for the
//! usual one or two, so that a record costs no allocation on one thread
//! and no free on the other (a `String` a field cost ~1,100 instructions a
//! record over both; bench/README.md, ninth round). Both deref to `str` and to a
//! slice. Its address is read once, as the parser validates it
//! ([`SourceIp`]).

use std::fmt;

use smallvec::SmallVec;

pub mod failure;
mod ip;
pub mod tls;

pub use ip::{ip_bin, trimmed, SourceIp};

/// A record's text field: inline up to 24 bytes, on the heap past that;
/// derefs to `str`.
pub type Str = compact_str::CompactString;

/// A record's `<auth_results><dkim>`s: two held inline.
pub type DkimResults = SmallVec<[DkimAuthResult; 2]>;

/// A record's `<auth_results><spf>`s: one held inline.
pub type SpfResults = SmallVec<[SpfAuthResult; 1]>;

/// `<report_metadata>`, `<policy_published>` and the document-level fields:
/// everything that comes before the first `<record>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportHeader {
    /// `<version>`: absent in the pre-RFC draft, `1.0` in RFC 7489, `2.0` in RFC 9990.
    pub version: Option<String>,
    /// The XML namespace of `<feedback>`, if any (`urn:ietf:params:xml:ns:dmarc-2.0`,
    /// `http://dmarc.org/dmarc-xml/0.1`, ...).
    pub namespace: Option<String>,
    pub metadata: ReportMetadata,
    pub policy: PolicyPublished,
}

/// `<report_metadata>` (RFC 7489 C, `ReportMetadataType`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportMetadata {
    /// `<org_name>`, trimmed. When a reporter leaves it empty (seen in the
    /// wild), the parser falls back to the domain part of `<email>`.
    pub org_name: String,
    pub email: String,
    pub extra_contact_info: Option<String>,
    pub report_id: String,
    /// `<date_range><begin>`, seconds since the epoch (fractions truncated).
    pub date_begin: i64,
    /// `<date_range><end>`, seconds since the epoch.
    pub date_end: i64,
    /// Every `<error>` element, in order.
    pub errors: Vec<String>,
    /// RFC 9990 `<generator>`.
    pub generator: Option<String>,
}

/// `<policy_published>` (RFC 7489 C, `PolicyPublishedType`; RFC 9990 adds
/// `np`, `testing`, `discovery_method` and drops `pct`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyPublished {
    pub domain: String,
    pub adkim: Option<String>,
    pub aspf: Option<String>,
    pub p: Option<String>,
    pub sp: Option<String>,
    pub np: Option<String>,
    pub pct: Option<i64>,
    pub fo: Option<String>,
    pub testing: Option<String>,
    pub discovery_method: Option<String>,
}

impl ReportHeader {
    /// The identity of a report: two inputs with the same key are the same
    /// report and are stored once. See `store` and the README for why these
    /// five fields.
    pub fn key(&self) -> ReportKey<'_> {
        ReportKey {
            org_name: &self.metadata.org_name,
            report_id: &self.metadata.report_id,
            policy_domain: &self.policy.domain,
            date_begin: self.metadata.date_begin,
            date_end: self.metadata.date_end,
        }
    }
}

/// See [`ReportHeader::key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportKey<'a> {
    pub org_name: &'a str,
    pub report_id: &'a str,
    pub policy_domain: &'a str,
    pub date_begin: i64,
    pub date_end: i64,
}

/// One `<record>`: a row of (source IP, counts, evaluated policy) with its
/// identifiers and every authentication result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// `<row><source_ip>`, as written (trimmed), with its 16-byte form.
    /// IPv6 is common; the value is validated by `parse` but kept textual
    /// so odd forms survive.
    pub source_ip: SourceIp,
    /// `<row><count>`.
    pub count: i64,
    pub policy_evaluated: PolicyEvaluated,
    pub identifiers: Identifiers,
    /// Every `<auth_results><dkim>`; a record can carry many.
    pub dkim: DkimResults,
    /// Every `<auth_results><spf>`.
    pub spf: SpfResults,
    /// Which set `dkim` and `spf` are, when ingest's parsing thread told
    /// (`store::tag_auth_sets`); not part of the record's value.
    pub auth_tag: AuthTag,
}

/// A number for a record's auth results (`dkim` and `spf` together) that
/// records with equal results share: the store's
/// [`tag_auth_sets`](crate::store::tag_auth_sets) gives one to each set
/// it sees, on the parsing thread, so that the writer finds a record's
/// stored set by the number (a map lookup) instead of hashing and
/// comparing its results there (bench/README.md, tenth round). Two tags may
/// name equal sets; one tag never names two. `0` (the default): not
/// told. Whoever changes a tagged record's `dkim` or `spf` resets it.
/// Records compare equal whatever their tags.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthTag(pub(crate) u64);

impl PartialEq for AuthTag {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for AuthTag {}

impl Record {
    /// DMARC passes when either aligned mechanism passes (RFC 7489 §6.6.2);
    /// the Python script dmarcdb replaces computed it the same way from
    /// `policy_evaluated`.
    pub fn dmarc_pass(&self) -> bool {
        self.policy_evaluated.dkim == AuthResult::Pass
            || self.policy_evaluated.spf == AuthResult::Pass
    }
}

/// `<policy_evaluated>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEvaluated {
    pub disposition: Disposition,
    /// Aligned DKIM verdict (`DMARCResultType`: pass | fail).
    pub dkim: AuthResult,
    /// Aligned SPF verdict.
    pub spf: AuthResult,
    /// Every `<reason>` (override reason), in order.
    pub reasons: Vec<OverrideReason>,
}

/// `<reason>`: why the receiver did not apply the published policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverrideReason {
    /// forwarded | sampled_out | trusted_forwarder | mailing_list |
    /// local_policy | other, or what the reporter wrote (possibly empty).
    pub kind: Str,
    pub comment: Option<Str>,
}

/// `<identifiers>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    pub header_from: Str,
    pub envelope_from: Option<Str>,
    pub envelope_to: Option<Str>,
}

/// `<auth_results><dkim>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DkimAuthResult {
    pub domain: Str,
    pub selector: Option<Str>,
    pub result: AuthResult,
    pub human_result: Option<Str>,
}

/// `<auth_results><spf>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpfAuthResult {
    pub domain: Str,
    /// helo | mfrom (RFC 7489); absent in RFC 9990 and in many reports.
    pub scope: Option<Str>,
    pub result: AuthResult,
    pub human_result: Option<Str>,
}

/// `<disposition>`: none | quarantine | reject, and RFC 9990's `pass`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Disposition {
    #[default]
    Absent,
    None,
    Quarantine,
    Reject,
    /// RFC 9990 only.
    Pass,
    Other(Str),
}

impl Disposition {
    /// Reads a reporter's word, trimmed and case-insensitively (`None` is
    /// seen in the wild for `none`).
    #[inline]
    pub fn from_word(s: &str) -> Self {
        // The RFC's words as they nearly always come (lower-case, no
        // spaces) are read without the trimmed, lower-cased copy.
        Self::known(s).unwrap_or_else(|| Self::from_lowered(lower_word(s)))
    }
    #[cold]
    fn from_lowered(w: Str) -> Self {
        Self::known(&w).unwrap_or(Disposition::Other(w))
    }
    fn known(w: &str) -> Option<Self> {
        Some(match w {
            "" => Disposition::Absent,
            "none" => Disposition::None,
            "quarantine" => Disposition::Quarantine,
            "reject" => Disposition::Reject,
            "pass" => Disposition::Pass,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &str {
        match self {
            Disposition::Other(s) => s,
            known => known.word().unwrap_or_default(),
        }
    }
    /// The RFC's word as a `'static` string, which the store may keep
    /// bound from one statement's run to the next; `None` for a word kept
    /// as the report wrote it.
    pub fn word(&self) -> Option<&'static str> {
        Some(match self {
            Disposition::Absent => "",
            Disposition::None => "none",
            Disposition::Quarantine => "quarantine",
            Disposition::Reject => "reject",
            Disposition::Pass => "pass",
            Disposition::Other(_) => return None,
        })
    }
}

/// A DKIM/SPF/DMARC verdict word. The RFC's sets differ per element
/// (DKIM: none pass fail policy neutral temperror permerror; SPF adds
/// softfail); one enum covers them all and keeps anything else verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuthResult {
    #[default]
    Absent,
    None,
    Pass,
    Fail,
    SoftFail,
    Neutral,
    Policy,
    TempError,
    PermError,
    Other(Str),
}

impl AuthResult {
    /// Reads a reporter's word, trimmed and lower-cased (`Pass` is seen in
    /// the wild). `temperror`/`permerror` are also written `TempError`.
    #[inline]
    pub fn from_word(s: &str) -> Self {
        // As in `Disposition::from_word`: no copy for the usual words
        // (~190 instructions for a `softfail` on the parser's hot path).
        Self::known(s).unwrap_or_else(|| Self::from_lowered(lower_word(s)))
    }
    #[cold]
    fn from_lowered(w: Str) -> Self {
        Self::known(&w).unwrap_or(AuthResult::Other(w))
    }
    fn known(w: &str) -> Option<Self> {
        Some(match w {
            "" => AuthResult::Absent,
            "none" => AuthResult::None,
            "pass" => AuthResult::Pass,
            "fail" => AuthResult::Fail,
            "softfail" => AuthResult::SoftFail,
            "neutral" => AuthResult::Neutral,
            "policy" => AuthResult::Policy,
            "temperror" => AuthResult::TempError,
            "permerror" => AuthResult::PermError,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &str {
        match self {
            AuthResult::Other(s) => s,
            known => known.word().unwrap_or_default(),
        }
    }
    /// The RFC's word as a `'static` string, as [`Disposition::word`].
    pub fn word(&self) -> Option<&'static str> {
        Some(match self {
            AuthResult::Absent => "",
            AuthResult::None => "none",
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::Policy => "policy",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
            AuthResult::Other(_) => return None,
        })
    }
    /// Whether the word means failure. `hardfail` (some SPF reporters) is
    /// kept as written but classed as a failure, like `fail`.
    pub fn is_fail(&self) -> bool {
        match self {
            AuthResult::Fail | AuthResult::SoftFail => true,
            AuthResult::Other(w) => w == "hardfail",
            _ => false,
        }
    }
}

/// `s` trimmed and lower-cased, inline when short (no allocation for a
/// word that is only matched).
fn lower_word(s: &str) -> Str {
    let mut w = Str::from(s.trim());
    w.make_ascii_lowercase();
    w
}

impl fmt::Display for AuthResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_case_insensitive_and_unknown_kept() {
        assert_eq!(AuthResult::from_word(" Pass "), AuthResult::Pass);
        assert_eq!(Disposition::from_word("None"), Disposition::None);
        let hard = AuthResult::from_word("HardFail");
        assert_eq!(hard.as_str(), "hardfail");
        assert!(hard.is_fail());
        assert!(!AuthResult::from_word("neutral").is_fail());
    }

    #[test]
    fn the_quick_reading_of_words_is_the_general_one() {
        for v in [
            "pass",
            "fail",
            "none",
            "softfail",
            "neutral",
            "temperror",
            "permerror",
            "policy",
            "",
            "Pass",
            " softfail",
            "hardfail",
            "SoftFail",
        ] {
            let general = AuthResult::from_lowered(lower_word(v));
            assert_eq!(AuthResult::from_word(v), general, "{v:?}");
        }
        for v in [
            "none",
            "quarantine",
            "reject",
            "pass",
            "",
            " None",
            "REJECT",
            "other",
        ] {
            let general = Disposition::from_lowered(lower_word(v));
            assert_eq!(Disposition::from_word(v), general, "{v:?}");
        }
    }

    #[test]
    fn dmarc_pass_needs_one_aligned_pass() {
        let mut r = Record::default();
        assert!(!r.dmarc_pass());
        r.policy_evaluated.spf = AuthResult::Pass;
        assert!(r.dmarc_pass());
    }
}
