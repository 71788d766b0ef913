//! MIME parts: parsing an RFC 822 message (also behind an mbox `From `
//! line), walking every leaf part whatever its Content-Type, recursing into
//! attached `message/rfc822` parts, and recovering a text part's raw bytes
//! so the XML declaration's `encoding=` still holds.
//!
//! Whether a part is a report is decided by sniffing its content in the walk
//! ([`super`]); this module only says how the part was declared.

use std::borrow::Cow;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::{declared_by_name, printable, PayloadKind, Role, Walk};

impl Walk<'_> {
    pub(super) fn mail(&mut self, name: &str, bytes: &[u8], depth: u32) {
        // mbox files and some exports (the LinkedIn forensic samples) start
        // with a `From sender date` separator line, which is not a header.
        let body = match bytes.strip_prefix(b"From ") {
            Some(rest) => rest
                .iter()
                .position(|&b| b == b'\n')
                .and_then(|nl| rest.get(nl + 1..))
                .unwrap_or_default(),
            None => bytes,
        };
        match MessageParser::default().parse(body) {
            Some(message) => self.message(name, &message, depth),
            None => self.error(name, "unparseable mail message"),
        }
    }

    /// Every leaf part of `message`, whatever its type; `depth` counts the
    /// message itself.
    fn message(&mut self, name: &str, message: &Message<'_>, depth: u32) {
        if is_failure_report(message) {
            // The whole mail is the report: its fields, the reported
            // message's headers and the raw bytes all come from it.
            let raw = message.raw_message.as_ref();
            return self.payload_of(name, raw, false, PayloadKind::Failure);
        }
        let count = message.parts.len();
        if count > self.limits.max_members {
            let max = self.limits.max_members;
            return self.error(
                name,
                format!("mail has {count} parts, more than the limit {max}"),
            );
        }
        for (index, part) in message.parts.iter().enumerate() {
            let label = match part.attachment_name() {
                Some(file) if !file.is_empty() => format!("{name}::{}", printable(file)),
                _ => format!("{name}::part {index}"),
            };
            let declared = declared_part(part);
            let role = Role::Part {
                declared: declared.as_deref(),
            };
            match &part.body {
                // Multipart containers: their children follow in `parts`.
                // HTML bodies are prose, never a report.
                PartType::Multipart(_) | PartType::Html(_) => {}
                // mail-parser hands a multipart whose boundary is missing or
                // never appears over as one opaque body: whatever it holds
                // cannot be found, so the mail is kept for a later version.
                _ if is_multipart(part) => {
                    self.error(
                        &label,
                        "malformed MIME: multipart without a usable boundary",
                    );
                }
                PartType::Message(_) if depth + 1 >= self.limits.max_depth => {
                    let reason = format!("nested containers deeper than {}", self.limits.max_depth);
                    self.error(&label, reason);
                }
                PartType::Message(inner) => self.message(&label, inner, depth + 1),
                PartType::Text(text) => {
                    let bytes =
                        transfer_decoded(message, part).unwrap_or(Cow::Borrowed(text.as_bytes()));
                    self.blob(&label, &bytes, depth + 1, role);
                }
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                    let bytes = match undecoded(part) {
                        Some(_) => {
                            transfer_decoded(message, part).unwrap_or(Cow::Borrowed(bytes.as_ref()))
                        }
                        None => Cow::Borrowed(bytes.as_ref()),
                    };
                    self.blob(&label, &bytes, depth + 1, role);
                }
            }
        }
    }
}

/// Whether a mail is a failure report (RFC 6591) or another ARF report:
/// it has a `message/feedback-report` part (NetEase puts it under
/// `multipart/mixed`), or it is a `multipart/report` that declares
/// `report-type=feedback-report`, or declares no report type and calls
/// itself a DMARC forensic or failure report in its subject (exim's DMARC
/// module sends a text part only).
/// A delivery status notification (`report-type=delivery-status`) or a TLS
/// report (`tlsrpt`) is none of these.
fn is_failure_report(message: &Message<'_>) -> bool {
    let has_arf_part = message.parts.iter().any(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("feedback-report"))
        })
    });
    if has_arf_part {
        return true;
    }
    let Some(ct) = message.root_part().content_type() else {
        return false;
    };
    if !ct.ctype().eq_ignore_ascii_case("multipart")
        || !ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    {
        return false;
    }
    match ct.attribute("report-type") {
        Some(t) => t.trim().eq_ignore_ascii_case("feedback-report"),
        // Only when the subject says so ("DMARC Forensic Report for ..."):
        // a mail that merely mentions DMARC keeps its parts searched.
        None => message.subject().is_some_and(|s| {
            let s = s.to_ascii_lowercase();
            s.contains("dmarc") && (s.contains("forensic") || s.contains("failure"))
        }),
    }
}

/// A text part's bytes before charset decoding. mail-parser hands text/*
/// parts over as a `String` already converted from the declared charset (or
/// lossily from UTF-8), which would contradict the `encoding=` in the XML
/// declaration, so undo only the transfer encoding from the raw message.
fn transfer_decoded<'m>(message: &'m Message<'_>, part: &MessagePart<'_>) -> Option<Cow<'m, [u8]>> {
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)?;
    match undecoded(part).unwrap_or(part.encoding) {
        Encoding::None => Some(Cow::Borrowed(raw)),
        Encoding::Base64 => base64_decode(raw).map(Cow::Owned),
        Encoding::QuotedPrintable => quoted_printable_decode(raw).map(Cow::Owned),
    }
}

/// The transfer encoding a part declares but mail-parser did not apply.
/// It leaves the last part of a multipart whose closing boundary is missing
/// (a mail cut short, an mbox export) as raw text with no encoding, though
/// its base64 is usually complete.
fn undecoded(part: &MessagePart<'_>) -> Option<Encoding> {
    if part.encoding != Encoding::None {
        return None;
    }
    let declared = part.content_transfer_encoding()?.trim();
    if declared.eq_ignore_ascii_case("base64") {
        Some(Encoding::Base64)
    } else if declared.eq_ignore_ascii_case("quoted-printable") {
        Some(Encoding::QuotedPrintable)
    } else {
        None
    }
}

fn is_multipart(part: &MessagePart<'_>) -> bool {
    part.content_type()
        .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
}

/// How a mail part claims to be a report, if it does: by Content-Type or by
/// attachment file name.
fn declared_part(part: &MessagePart<'_>) -> Option<String> {
    if let Some(ct) = part.content_type() {
        let full =
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()).to_ascii_lowercase();
        const REPORT_TYPES: &[&str] = &[
            "application/gzip",
            "application/x-gzip",
            "application/zip",
            "application/x-zip",
            "application/x-zip-compressed",
            "application/xml",
            "text/xml",
            // RFC 8460 section 5.3.
            "application/tlsrpt+gzip",
            "application/tlsrpt+json",
        ];
        if REPORT_TYPES.contains(&full.as_str()) {
            return Some(full);
        }
    }
    part.attachment_name()
        .filter(|file| declared_by_name(file))
        .map(printable)
}
