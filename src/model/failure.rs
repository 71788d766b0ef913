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
    /// The report mail's own `Message-ID` (part of the identity).
    pub message_id: Option<String>,
}

impl FailureReport {
    /// The first `Reported-Domain`, or "".
    pub fn reported_domain(&self) -> &str {
        self.reported_domain.first().map_or("", String::as_str)
    }

    /// Whether any text of the report holds a NUL character: never in a
    /// real report, and PostgreSQL cannot store it in text, so the parser
    /// refuses such a report (alike for both backends).
    pub fn holds_nul(&self) -> bool {
        let m = &self.reported;
        let single = [
            &self.version,
            &self.user_agent,
            &self.arrival_date_text,
            &self.source_ip,
            &self.original_mail_from,
            &self.original_envelope_id,
            &self.dkim_domain,
            &self.dkim_identity,
            &self.dkim_selector,
            &self.spf_dns,
            &self.identity_alignment,
            &self.reporting_mta,
            &m.subject,
            &m.date,
            &m.message_id,
            &self.message_id,
        ];
        let lists = [
            &self.reported_domain,
            &self.original_rcpt_to,
            &self.authentication_results,
        ];
        let mut texts = single
            .into_iter()
            .filter_map(|s| s.as_deref())
            .chain(lists.into_iter().flatten().map(String::as_str))
            .chain(
                self.fields
                    .iter()
                    .flat_map(|(n, v)| [n.as_str(), v.as_str()]),
            )
            .chain(
                m.from
                    .iter()
                    .chain(&m.to)
                    .flat_map(|b| [b.name.as_deref().unwrap_or(""), b.address.as_str()]),
            );
        texts.any(|s| s.contains('\0'))
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
    pub from: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub subject: Option<String>,
    /// `Date` as written.
    pub date: Option<String>,
    /// `Message-ID`, without the angle brackets.
    pub message_id: Option<String>,
}

impl ReportedMessage {
    /// `From` as text: `Name <addr>` or `addr`, comma-separated.
    pub fn from_text(&self) -> Option<String> {
        Mailbox::list(&self.from)
    }
    /// `To` as text, like [`from_text`](Self::from_text).
    pub fn to_text(&self) -> Option<String> {
        Mailbox::list(&self.to)
    }
}

/// One address of a header, with its display name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    fn list(list: &[Mailbox]) -> Option<String> {
        let items: Vec<String> = list
            .iter()
            .map(|m| match (&m.name, m.address.is_empty()) {
                (Some(name), false) => format!("{name} <{}>", m.address),
                (Some(name), true) => name.clone(),
                (None, _) => m.address.clone(),
            })
            .collect();
        (!items.is_empty()).then(|| items.join(", "))
    }
}

impl FailureReport {
    /// Replaces the local part of every address in the report's text with
    /// `hash(local part)` and drops the display names of the reported
    /// From and To: what `--redact` stores. Dates, IPs, domains and
    /// Message-IDs of the reported message stay, so reports can still be
    /// counted and matched.
    pub fn redact(&mut self, hash: &dyn Fn(&str) -> String) {
        let r = |s: &mut String| *s = redact_addresses(s, hash);
        let opt = |s: &mut Option<String>| {
            if let Some(s) = s.as_mut() {
                r(s)
            }
        };
        opt(&mut self.original_mail_from);
        self.original_rcpt_to.iter_mut().for_each(r);
        opt(&mut self.dkim_identity);
        self.authentication_results.iter_mut().for_each(r);
        self.fields.iter_mut().for_each(|(_, v)| r(v));
        opt(&mut self.reported.subject);
        for m in self
            .reported
            .from
            .iter_mut()
            .chain(self.reported.to.iter_mut())
        {
            m.name = None;
            r(&mut m.address);
        }
    }
}

/// `text` with the local part of every `local@domain` replaced by
/// `hash(local)`. A local part is the run of RFC 5322 atext and dots
/// before an `@` that is followed by a domain character.
pub fn redact_addresses(text: &str, hash: &dyn Fn(&str) -> String) -> String {
    fn atext(c: char) -> bool {
        c.is_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c)
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let (before, after) = rest.split_at(at);
        let mut start_pushed = false;
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| atext(*c))
            .last()
            .map_or(before.len(), |(i, _)| i);
        let mut local = &before[start..];
        // An Authentication-Results property (RFC 8601 `smtp.mailfrom=`)
        // written right before the address is not part of it.
        if let Some((prop, addr)) = local.split_once('=') {
            let is_prop = prop.split_once('.').is_some_and(|(p, q)| {
                !p.is_empty()
                    && !q.is_empty()
                    && p.chars().all(|c| c.is_ascii_alphabetic())
                    && q.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
            });
            if is_prop {
                out.push_str(&before[..start + prop.len() + 1]);
                local = addr;
                start_pushed = true;
            }
        }
        let domain_follows = after[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '[');
        if !start_pushed {
            out.push_str(&before[..start]);
        }
        if !local.is_empty() && domain_follows {
            out.push_str(&hash(local));
        } else {
            out.push_str(local);
        }
        out.push('@');
        rest = &after[1..];
    }
    out.push_str(rest);
    out
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
    fn redaction_hashes_local_parts_only() {
        let h = |l: &str| format!("h{}", l.len());
        assert_eq!(
            redact_addresses(
                "smtp.mailfrom=bob.s@ex.org; to <a+b@x.y>, @ex.org, x@ @",
                &h
            ),
            "smtp.mailfrom=h5@ex.org; to <h3@x.y>, @ex.org, x@ @"
        );
        let mut r = FailureReport {
            original_rcpt_to: vec!["<alice@example.org>".into()],
            reported: ReportedMessage {
                from: vec![Mailbox {
                    name: Some("Alice".into()),
                    address: "alice@example.org".into(),
                }],
                ..ReportedMessage::default()
            },
            ..FailureReport::default()
        };
        r.redact(&h);
        assert_eq!(r.original_rcpt_to, vec!["<h5@example.org>".to_string()]);
        assert_eq!(r.reported.from_text().as_deref(), Some("h5@example.org"));
    }

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
