//! Parse one failure report mail (RFC 6591 ARF, RFC 7489 section 7.3) into
//! [`crate::model::failure`].
//!
//! The mail is parsed by mail-parser. The fields come from its
//! `message/feedback-report` part, whatever its transfer encoding (NetEase
//! base64-encodes it, which RFC 2046 forbids for `message/*`) and wherever
//! it sits (NetEase uses `multipart/mixed`, not `multipart/report`). The
//! reported message's From, To, Subject, Date and Message-ID come from its
//! `message/rfc822` or `text/rfc822-headers` part; its body is not read.
//!
//! Outcomes:
//! - `Feedback-Type: auth-failure` → [`Arf::Failure`];
//! - any other feedback type (abuse, fraud, ...) → [`Arf::OtherFeedback`]:
//!   not a report of ours, counted by the caller, not rejected;
//! - no feedback-report part: reporters that write the report as text are
//!   read as far as the text says it (exim's DMARC module: "Sender Domain:",
//!   "Sender IP Address:", "Received date:", then a copy of the reported
//!   headers after a `------ This is a copy of the headers` line); a mail
//!   whose text names neither a sender IP nor a domain is
//!   [`ArfError::NotAReport`].
//!
//! Lenient decisions (each documented in the README):
//! - a feedback-report part without `Feedback-Type` but with `Auth-Failure`,
//!   `Source-IP` or `Reported-Domain` is taken as auth-failure;
//! - a part without `Source-IP` (which RFC 6591 requires) is kept with no
//!   source IP: the domain, the failure and the reported headers are still
//!   worth having;
//! - an unparseable `Arrival-Date` is kept as text, and the report mail's
//!   own `Date` gives the time;
//! - a field that is not UTF-8 is decoded as windows-1252, like a text
//!   field of an aggregate report.
//!
//! Strict: a `Source-IP` that is not an IP address is an error, and the mail
//! must be at most [`MAX_MAIL`] bytes (the extraction caps apply before).

use std::net::IpAddr;

use mail_parser::{Address, Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::model::failure::{
    AuthFailure, DeliveryResult, FailureReport, FeedbackType, Mailbox, Origin, ReportedMessage,
};

/// Largest failure report mail accepted.
pub const MAX_MAIL: usize = 32 * 1024 * 1024;
/// Longest field value kept (longer ones are an error, not cut).
pub const MAX_FIELD: usize = 64 * 1024;

/// What a feedback mail turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arf {
    /// An auth-failure report.
    Failure(Box<FailureReport>),
    /// ARF of another feedback type: not a report dmarcdb keeps.
    OtherFeedback(FeedbackType),
}

/// Why a mail is not a usable failure report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArfError {
    #[error("not a DMARC failure report: {0}")]
    NotAReport(String),
    #[error("invalid DMARC failure report: {0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, ArfError>;

/// Parses one mail (an mbox `From ` line first is skipped).
pub fn parse_arf(mail: &[u8]) -> Result<Arf> {
    if mail.len() > MAX_MAIL {
        return Err(ArfError::Invalid(format!(
            "mail larger than {MAX_MAIL} bytes"
        )));
    }
    let body = match mail.strip_prefix(b"From ") {
        Some(rest) => rest
            .iter()
            .position(|&b| b == b'\n')
            .and_then(|nl| rest.get(nl + 1..))
            .unwrap_or_default(),
        None => mail,
    };
    let Some(message) = MessageParser::default().parse(body) else {
        return Err(ArfError::NotAReport("unparseable mail message".into()));
    };
    let mut report = match feedback_part(&message) {
        Some(part) => {
            let fields = header_fields(trim_leading_blank(part.contents()))?;
            match feedback_type(&fields) {
                FeedbackType::AuthFailure => from_fields(fields, Origin::Arf)?,
                other => return Ok(Arf::OtherFeedback(other)),
            }
        }
        None => from_text(&message)?,
    };
    if report.arrival_date.is_none() {
        report.arrival_date = message.date().map(|d| d.to_timestamp());
    }
    if report.reported == ReportedMessage::default() {
        report.reported = reported_message(&message);
    }
    report.message_id = message.message_id().map(str::to_string);
    if report.holds_nul() {
        return Err(ArfError::Invalid("a field holds a NUL character".into()));
    }
    Ok(Arf::Failure(Box::new(report)))
}

/// The first `message/feedback-report` part.
fn feedback_part<'m>(message: &'m Message<'_>) -> Option<&'m MessagePart<'m>> {
    message.parts.iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("feedback-report"))
        })
    })
}

fn trim_leading_blank(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Every header field of a block, as (name, unfolded trimmed value).
fn header_fields(block: &[u8]) -> Result<Vec<(String, String)>> {
    // parse_headers needs the blank line that ends a header block.
    let mut owned = block.to_vec();
    owned.extend_from_slice(b"\n\n");
    let Some(parsed) = MessageParser::default().parse_headers(&owned) else {
        return Ok(Vec::new());
    };
    let raw = parsed.raw_message();
    parsed
        .headers()
        .iter()
        .map(|h| {
            let name = h.name.as_str();
            let bytes = raw
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            let value = unfold(&text_of(bytes));
            if value.len() > MAX_FIELD {
                return Err(ArfError::Invalid(format!(
                    "field {} longer than {MAX_FIELD} bytes",
                    clip(name)
                )));
            }
            Ok((name.to_string(), value))
        })
        .collect()
}

/// A field's bytes as text: UTF-8, else windows-1252 (a reporter's
/// 8-bit bytes in a field are kept readable, as in aggregate reports).
fn text_of(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}

fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn all<'f>(fields: &'f [(String, String)], name: &'f str) -> impl Iterator<Item = String> + 'f {
    fields
        .iter()
        .filter(move |(n, v)| n.eq_ignore_ascii_case(name) && !v.is_empty())
        .map(|(_, v)| v.clone())
}

fn feedback_type(fields: &[(String, String)]) -> FeedbackType {
    match field(fields, "Feedback-Type") {
        Some(t) => FeedbackType::from_word(t),
        None if ["Auth-Failure", "Source-IP", "Reported-Domain"]
            .iter()
            .any(|n| field(fields, n).is_some()) =>
        {
            FeedbackType::AuthFailure
        }
        None => FeedbackType::Other(String::new()),
    }
}

fn from_fields(fields: Vec<(String, String)>, origin: Origin) -> Result<FailureReport> {
    let text = |name: &str| field(&fields, name).map(str::to_string);
    let arrival_date_text = text("Arrival-Date");
    Ok(FailureReport {
        origin,
        feedback_type: FeedbackType::AuthFailure,
        version: text("Version"),
        user_agent: text("User-Agent"),
        arrival_date: arrival_date_text.as_deref().and_then(parse_date),
        arrival_date_text,
        source_ip: field(&fields, "Source-IP").map(source_ip).transpose()?,
        reported_domain: all(&fields, "Reported-Domain").collect(),
        original_mail_from: text("Original-Mail-From"),
        original_envelope_id: text("Original-Envelope-Id"),
        original_rcpt_to: all(&fields, "Original-Rcpt-To").collect(),
        auth_failure: field(&fields, "Auth-Failure").map(AuthFailure::from_word),
        delivery_result: field(&fields, "Delivery-Result").map(DeliveryResult::from_word),
        dkim_domain: text("DKIM-Domain"),
        dkim_identity: text("DKIM-Identity"),
        dkim_selector: text("DKIM-Selector"),
        spf_dns: text("SPF-DNS"),
        identity_alignment: text("Identity-Alignment"),
        reporting_mta: text("Reporting-MTA"),
        authentication_results: all(&fields, "Authentication-Results").collect(),
        reported: ReportedMessage::default(),
        message_id: None,
        fields,
    })
}

/// `Source-IP`, with brackets or an `IPv6:` prefix removed, which must be
/// an IP address.
fn source_ip(value: &str) -> Result<String> {
    let v = value.trim().trim_start_matches('[').trim_end_matches(']');
    let v = v.strip_prefix("IPv6:").unwrap_or(v);
    v.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| ArfError::Invalid(format!("Source-IP is not an IP address ({})", clip(value))))
}

fn parse_date(s: &str) -> Option<i64> {
    mail_parser::DateTime::parse_rfc822(s)
        .filter(|d| d.is_valid())
        .map(|d| d.to_timestamp())
}

/// The marker before exim's copy of the reported message's headers.
const EXIM_HEADERS: &str = "------ This is a copy of the headers";

/// A failure report written as text (no feedback-report part).
fn from_text(message: &Message<'_>) -> Result<FailureReport> {
    let text = message.body_text(0).unwrap_or_default();
    let (summary, headers) = match text.find(EXIM_HEADERS) {
        Some(at) => {
            let rest = &text[at..];
            let copy = rest.find('\n').map_or("", |nl| &rest[nl + 1..]);
            (&text[..at], Some(copy))
        }
        None => (&*text, None),
    };
    let mut fields = Vec::new();
    for line in summary.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        let known = ["Sender Domain", "Sender IP Address", "Received date"];
        if known.iter().any(|k| k.eq_ignore_ascii_case(name))
            || name.ends_with("Alignment")
            || name.eq_ignore_ascii_case("DMARC Results")
        {
            fields.push((name.to_string(), value.to_string()));
        }
    }
    let ip = field(&fields, "Sender IP Address").map(str::to_string);
    let domain = field(&fields, "Sender Domain").map(str::to_string);
    if ip.is_none() && domain.is_none() {
        return Err(ArfError::NotAReport(
            "mail without a feedback-report part or a sender IP or domain in its text".into(),
        ));
    }
    let arrival_date_text = field(&fields, "Received date").map(str::to_string);
    let mut report = FailureReport {
        origin: Origin::Text,
        arrival_date: arrival_date_text.as_deref().and_then(parse_date),
        arrival_date_text,
        source_ip: ip.as_deref().map(source_ip).transpose()?,
        reported_domain: domain.into_iter().collect(),
        // The text reports a DMARC policy failure (RFC 7489 section 7.3).
        auth_failure: Some(AuthFailure::Dmarc),
        fields,
        ..FailureReport::default()
    };
    if let Some(copy) = headers {
        if let Some(parsed) = MessageParser::default().parse_headers(copy.trim_start()) {
            report.reported = headers_of(&parsed);
        }
    }
    Ok(report)
}

/// The reported message: the first `message/rfc822` part, or the first
/// `text/rfc822-headers` part.
fn reported_message(message: &Message<'_>) -> ReportedMessage {
    for part in message.parts.iter() {
        if let PartType::Message(inner) = &part.body {
            return headers_of(inner);
        }
        let is_headers = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("text")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
        });
        if is_headers {
            let block = trim_leading_blank(part.contents());
            if let Some(parsed) = MessageParser::default().parse_headers(block) {
                return headers_of(&parsed);
            }
        }
    }
    ReportedMessage::default()
}

fn headers_of(m: &Message<'_>) -> ReportedMessage {
    ReportedMessage {
        from: m.from().map(mailboxes).unwrap_or_default(),
        to: m.to().map(mailboxes).unwrap_or_default(),
        subject: m.subject().map(|s| s.trim().to_string()),
        date: m.header_raw("Date").map(unfold).filter(|d| !d.is_empty()),
        message_id: m.message_id().map(str::to_string),
    }
}

/// Every address of a header, with its display name.
fn mailboxes(a: &Address<'_>) -> Vec<Mailbox> {
    a.iter()
        .filter_map(|addr| {
            let address = addr
                .address
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_string();
            let name = addr
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            (name.is_some() || !address.is_empty()).then_some(Mailbox { name, address })
        })
        .collect()
}

/// At most 40 characters of attacker-controlled text, for an error line.
fn clip(s: &str) -> String {
    let out: String = s
        .chars()
        .take(40)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!("{out:?}")
}

#[cfg(test)]
#[path = "tests/arf.rs"]
mod tests;
