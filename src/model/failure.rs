//! The DMARC failure report model: the fields of an RFC 5965 / RFC 6591
//! `message/feedback-report` part with `Feedback-Type: auth-failure`, and
//! the headers of the reported message, after normalisation by `parse::arf`.
//!
//! This owns only the shape; `parse::arf` fills it and `store::failure`
//! writes it. Enumerated fields keep what the reporter wrote when it is
//! outside the RFC's set (`Other`). The reported message's body is not part
//! of the model: it is personal data kept only in the raw bytes.

use std::fmt;

/// One failure report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureReport {
    /// How the fields were found: a proper ARF part, or text written by a
    /// reporter that sends none (see `parse::arf`).
    pub origin: Origin,
    /// `Feedback-Type` (always auth-failure for a stored report).
    pub feedback_type: FeedbackType,
    pub version: Option<String>,
    pub user_agent: Option<String>,
    /// `Arrival-Date` as written.
    pub arrival_date_text: Option<String>,
    /// `Arrival-Date` in seconds since the epoch, when it parses (RFC 5322
    /// date); else the report mail's own `Date`.
    pub arrival_date: Option<i64>,
    /// `Source-IP`, trimmed (brackets removed).
    pub source_ip: Option<String>,
    /// Every `Reported-Domain`, in order (RFC 5965 allows several).
    pub reported_domain: Vec<String>,
    pub original_mail_from: Option<String>,
    pub original_envelope_id: Option<String>,
    /// Every `Original-Rcpt-To`, in order.
    pub original_rcpt_to: Vec<String>,
    /// `Auth-Failure` (RFC 6591 section 3.2.1).
    pub auth_failure: Option<AuthFailure>,
    /// `Delivery-Result` (RFC 6591 section 3.2.2).
    pub delivery_result: Option<DeliveryResult>,
    pub dkim_domain: Option<String>,
    pub dkim_identity: Option<String>,
    pub dkim_selector: Option<String>,
    pub spf_dns: Option<String>,
    /// `Identity-Alignment` (RFC 7489 section 7.3.1), e.g. `spf,dkim`.
    pub identity_alignment: Option<String>,
    pub reporting_mta: Option<String>,
    /// Every `Authentication-Results`, in order.
    pub authentication_results: Vec<String>,
    /// Every field of the feedback-report part as written (name, unfolded
    /// value), in order, including those not named above.
    pub fields: Vec<(String, String)>,
    /// Headers of the reported message.
    pub reported: ReportedMessage,
}

impl FailureReport {
    /// The first `Reported-Domain`, or "".
    pub fn reported_domain(&self) -> &str {
        self.reported_domain.first().map_or("", String::as_str)
    }
}

/// Where a failure report's fields came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Origin {
    /// A `message/feedback-report` part (RFC 6591).
    #[default]
    Arf,
    /// Text written by a reporter that sends no ARF part (exim's DMARC
    /// module: "Sender IP Address: ...").
    Text,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Arf => "arf",
            Origin::Text => "text",
        }
    }
}

/// The headers of the reported message (the `message/rfc822` or
/// `text/rfc822-headers` part), decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportedMessage {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub message_id: Option<String>,
}

/// `Feedback-Type` (RFC 5965 section 7.3 registry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FeedbackType {
    #[default]
    AuthFailure,
    Abuse,
    Fraud,
    Virus,
    NotSpam,
    Other(String),
}

impl FeedbackType {
    pub fn from_word(s: &str) -> Self {
        let w = s.trim().to_ascii_lowercase();
        match w.as_str() {
            "auth-failure" => FeedbackType::AuthFailure,
            "abuse" => FeedbackType::Abuse,
            "fraud" => FeedbackType::Fraud,
            "virus" => FeedbackType::Virus,
            "not-spam" => FeedbackType::NotSpam,
            _ => FeedbackType::Other(w),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            FeedbackType::AuthFailure => "auth-failure",
            FeedbackType::Abuse => "abuse",
            FeedbackType::Fraud => "fraud",
            FeedbackType::Virus => "virus",
            FeedbackType::NotSpam => "not-spam",
            FeedbackType::Other(s) => s,
        }
    }
}

/// `Auth-Failure` (RFC 6591 section 3.2.1, RFC 7489 section 7.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Adsp,
    BodyHash,
    Revoked,
    Signature,
    Spf,
    Dmarc,
    Other(String),
}

impl AuthFailure {
    pub fn from_word(s: &str) -> Self {
        let w = s.trim().to_ascii_lowercase();
        match w.as_str() {
            "adsp" => AuthFailure::Adsp,
            "bodyhash" => AuthFailure::BodyHash,
            "revoked" => AuthFailure::Revoked,
            "signature" => AuthFailure::Signature,
            "spf" => AuthFailure::Spf,
            "dmarc" => AuthFailure::Dmarc,
            _ => AuthFailure::Other(s.trim().to_string()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            AuthFailure::Adsp => "adsp",
            AuthFailure::BodyHash => "bodyhash",
            AuthFailure::Revoked => "revoked",
            AuthFailure::Signature => "signature",
            AuthFailure::Spf => "spf",
            AuthFailure::Dmarc => "dmarc",
            AuthFailure::Other(s) => s,
        }
    }
}

/// `Delivery-Result` (RFC 6591 section 3.2.2). Reporters write their own
/// words too (`smg-policy-action`), kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered,
    Spam,
    Policy,
    Reject,
    Other(String),
}

impl DeliveryResult {
    pub fn from_word(s: &str) -> Self {
        let w = s.trim().to_ascii_lowercase();
        match w.as_str() {
            "delivered" => DeliveryResult::Delivered,
            "spam" => DeliveryResult::Spam,
            "policy" => DeliveryResult::Policy,
            "reject" => DeliveryResult::Reject,
            _ => DeliveryResult::Other(s.trim().to_string()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            DeliveryResult::Delivered => "delivered",
            DeliveryResult::Spam => "spam",
            DeliveryResult::Policy => "policy",
            DeliveryResult::Reject => "reject",
            DeliveryResult::Other(s) => s,
        }
    }
}

impl fmt::Display for FeedbackType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_case_insensitive_and_reporter_words_kept() {
        assert_eq!(
            FeedbackType::from_word("Auth-Failure"),
            FeedbackType::AuthFailure
        );
        assert_eq!(FeedbackType::from_word("opt-out").as_str(), "opt-out");
        assert_eq!(AuthFailure::from_word("DMARC"), AuthFailure::Dmarc);
        assert_eq!(
            DeliveryResult::from_word("smg-policy-action").as_str(),
            "smg-policy-action"
        );
    }
}
