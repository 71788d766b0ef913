//! The SMTP TLS report model: types that mirror the JSON of RFC 8460
//! section 4 (`organization-name`, `date-range`, `policies`, ...), after
//! normalisation by `parse::tls`.
//!
//! Like the aggregate model, this owns only the shape and the value sets;
//! `parse::tls` fills it and `store::tls` writes it. `policy-type` and
//! `result-type` keep what the reporter wrote when it is outside the RFC's
//! set (`Other`), so a reporter's private word is stored, not lost.

use std::fmt;

/// One SMTP TLS report (RFC 8460 section 4.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsReport {
    /// `organization-name`, trimmed (empty when the reporter left it out).
    pub organization_name: String,
    /// `date-range.start-datetime`, seconds since the epoch.
    pub date_begin: i64,
    /// `date-range.end-datetime`, seconds since the epoch.
    pub date_end: i64,
    /// `contact-info`.
    pub contact_info: Option<String>,
    /// `report-id`.
    pub report_id: String,
    /// Every element of `policies`, in order.
    pub policies: Vec<TlsPolicy>,
}

impl TlsReport {
    /// The identity of a TLS report: organization-name, report-id and the
    /// date range (the same fields as an aggregate report's key, less the
    /// domain: a TLS report covers several policy domains at once).
    pub fn key(&self) -> (&str, &str, i64, i64) {
        (
            &self.organization_name,
            &self.report_id,
            self.date_begin,
            self.date_end,
        )
    }

    /// Sum of `total-successful-session-count` over the policies.
    pub fn sessions_success(&self) -> i64 {
        self.policies.iter().map(|p| p.sessions_success).sum()
    }

    /// Sum of `total-failure-session-count` over the policies.
    pub fn sessions_failure(&self) -> i64 {
        self.policies.iter().map(|p| p.sessions_failure).sum()
    }
}

/// One element of `policies`: the `policy`, its `summary` and its
/// `failure-details`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsPolicy {
    /// `policy.policy-type`.
    pub policy_type: PolicyType,
    /// `policy.policy-string`: the policy's lines, in order.
    pub policy_string: Vec<String>,
    /// `policy.policy-domain`.
    pub policy_domain: String,
    /// `policy.mx-host`: an array in RFC 8460, a single string in its own
    /// example (section 4.8); both are read as a list.
    pub mx_host: Vec<String>,
    /// `summary.total-successful-session-count` (absent = 0).
    pub sessions_success: i64,
    /// `summary.total-failure-session-count` (absent = 0).
    pub sessions_failure: i64,
    /// Every element of `failure-details`, in order.
    pub failure_details: Vec<FailureDetail>,
}

/// One element of `failure-details` (RFC 8460 section 4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureDetail {
    pub result_type: ResultType,
    pub sending_mta_ip: Option<String>,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<String>,
    /// `failed-session-count` (absent = 0).
    pub failed_session_count: i64,
    pub additional_information: Option<String>,
    pub failure_reason_code: Option<String>,
}

/// `policy-type`: `sts` (MTA-STS), `tlsa` (DANE), `no-policy-found`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PolicyType {
    #[default]
    Absent,
    Sts,
    Tlsa,
    NoPolicyFound,
    /// Anything else, kept as written (trimmed).
    Other(String),
}

impl PolicyType {
    /// Reads a reporter's word; case-insensitive for the RFC's words.
    pub fn from_word(s: &str) -> Self {
        let w = s.trim();
        match w.to_ascii_lowercase().as_str() {
            "" => PolicyType::Absent,
            "sts" => PolicyType::Sts,
            "tlsa" => PolicyType::Tlsa,
            "no-policy-found" => PolicyType::NoPolicyFound,
            _ => PolicyType::Other(w.to_string()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            PolicyType::Absent => "",
            PolicyType::Sts => "sts",
            PolicyType::Tlsa => "tlsa",
            PolicyType::NoPolicyFound => "no-policy-found",
            PolicyType::Other(s) => s,
        }
    }
}

/// `result-type` (RFC 8460 section 4.3): why sessions failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ResultType {
    #[default]
    Absent,
    StarttlsNotSupported,
    CertificateHostMismatch,
    CertificateExpired,
    CertificateNotTrusted,
    ValidationFailure,
    TlsaInvalid,
    DnssecInvalid,
    DaneRequired,
    StsPolicyFetchError,
    StsPolicyInvalid,
    StsWebpkiInvalid,
    /// Anything else, kept as written (trimmed).
    Other(String),
}

/// The RFC's result types and their words, in the RFC's order.
const RESULT_TYPES: &[(ResultType, &str)] = &[
    (ResultType::StarttlsNotSupported, "starttls-not-supported"),
    (
        ResultType::CertificateHostMismatch,
        "certificate-host-mismatch",
    ),
    (ResultType::CertificateExpired, "certificate-expired"),
    (ResultType::CertificateNotTrusted, "certificate-not-trusted"),
    (ResultType::ValidationFailure, "validation-failure"),
    (ResultType::TlsaInvalid, "tlsa-invalid"),
    (ResultType::DnssecInvalid, "dnssec-invalid"),
    (ResultType::DaneRequired, "dane-required"),
    (ResultType::StsPolicyFetchError, "sts-policy-fetch-error"),
    (ResultType::StsPolicyInvalid, "sts-policy-invalid"),
    (ResultType::StsWebpkiInvalid, "sts-webpki-invalid"),
];

impl ResultType {
    /// Reads a reporter's word; case-insensitive for the RFC's words.
    pub fn from_word(s: &str) -> Self {
        let w = s.trim();
        if w.is_empty() {
            return ResultType::Absent;
        }
        RESULT_TYPES
            .iter()
            .find(|(_, word)| word.eq_ignore_ascii_case(w))
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| ResultType::Other(w.to_string()))
    }
    pub fn as_str(&self) -> &str {
        match self {
            ResultType::Absent => "",
            ResultType::Other(s) => s,
            known => RESULT_TYPES
                .iter()
                .find(|(t, _)| t == known)
                .map_or("", |(_, word)| word),
        }
    }
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ResultType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_words_any_case_other_words_kept_as_written() {
        assert_eq!(PolicyType::from_word(" STS "), PolicyType::Sts);
        assert_eq!(
            PolicyType::from_word("No-Policy-Found").as_str(),
            "no-policy-found"
        );
        assert_eq!(PolicyType::from_word("Custom-X").as_str(), "Custom-X");
        assert_eq!(
            ResultType::from_word("Certificate-Expired"),
            ResultType::CertificateExpired
        );
        assert_eq!(
            ResultType::from_word("dane-required").as_str(),
            "dane-required"
        );
        assert_eq!(ResultType::from_word("weird").as_str(), "weird");
        assert_eq!(ResultType::from_word(""), ResultType::Absent);
    }
}
