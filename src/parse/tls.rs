//! Parse one SMTP TLS report (RFC 8460 JSON) into [`crate::model::tls`].
//!
//! The document is read whole (TLS reports are small: a day of one sender
//! to one domain), checked by a scan over its bytes, then parsed by
//! serde_json into a `Value` and read field by field.
//!
//! Strict where it matters, all checked *before* serde_json allocates
//! anything (`scan`), each a one-line [`TlsError`]:
//! - at most [`MAX_JSON`] bytes (compressed input is capped while it is
//!   inflated, see `extract::Payload::reader`);
//! - nesting at most [`MAX_DEPTH`] deep (real reports nest 4 deep);
//! - at most [`MAX_ITEMS`] elements in one array and [`MAX_VALUES`] values
//!   in all, so a "huge array" bomb cannot turn a small input into a large
//!   tree;
//! - no string longer than [`MAX_STRING`] bytes;
//! - the bytes must be UTF-8 (RFC 8259 section 8.1); a UTF-8 BOM is skipped;
//! - a count that is negative, fractional, not a number or too large is an
//!   error, never clamped: a wrong count would silently skew every view.
//!
//! Lenient, because real reporters need it:
//! - keys are matched ignoring ASCII case, and `_` for `-`;
//! - a missing count is 0 (Mail.ru leaves counts out of failure details);
//!   a count written as a string of digits (`"5"`) or as a whole float
//!   (`5.0`) is read as a number;
//! - missing `policy-string`, `mx-host`, `failure-details`, `summary` are
//!   empty; `mx-host` may be one string (RFC 8460's own example) or a list;
//! - a missing `report-id` becomes `sha256:` and the first 16 bytes of the
//!   document's SHA-256 in hex, so the report still has an identity; a
//!   missing `date-range` is 0..0; a missing `organization-name` is "";
//! - dates are RFC 3339; a date-time without a zone is taken as UTC, a bare
//!   date as its midnight UTC, a number as seconds since the epoch.
//!
//! JSON that has none of `organization-name`, `report-id`, `date-range`,
//! `policies` is [`TlsError::NotAReport`].

use std::io::Read;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::tls::{FailureDetail, PolicyType, ResultType, TlsPolicy, TlsReport};

/// Largest document accepted (after decompression).
pub const MAX_JSON: usize = 16 * 1024 * 1024;
/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 16;
/// Most elements of one array.
pub const MAX_ITEMS: usize = 100_000;
/// Most values (every array element and object member) in one document.
pub const MAX_VALUES: usize = 1_000_000;
/// Longest string (key or value), in bytes as written.
pub const MAX_STRING: usize = 64 * 1024;

/// Why a document is not a usable SMTP TLS report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// JSON, but not a TLS report.
    #[error("not an SMTP TLS report: {0}")]
    NotAReport(String),
    /// A TLS report with a value we refuse to store, or over a cap.
    #[error("invalid SMTP TLS report: {0}")]
    Invalid(String),
    /// Not well-formed JSON.
    #[error("JSON error: {0}")]
    Json(String),
    /// Reading the bytes failed (decompression, size cap).
    #[error("{0}")]
    Io(String),
}

type Result<T> = std::result::Result<T, TlsError>;

/// Reads a whole report from `input` (at most [`MAX_JSON`] bytes).
pub fn read_tls(input: impl Read) -> Result<TlsReport> {
    let mut bytes = Vec::new();
    input
        .take(MAX_JSON as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TlsError::Io(e.to_string()))?;
    parse_tls(&bytes)
}

/// Parses a report held in memory.
pub fn parse_tls(bytes: &[u8]) -> Result<TlsReport> {
    if bytes.len() > MAX_JSON {
        return Err(TlsError::Invalid(format!(
            "document larger than {MAX_JSON} bytes"
        )));
    }
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(body)
        .map_err(|e| TlsError::Invalid(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    scan(text.as_bytes())?;
    let value: Value = serde_json::from_str(text).map_err(|e| TlsError::Json(e.to_string()))?;
    let Value::Object(top) = value else {
        return Err(TlsError::NotAReport("the JSON is not an object".into()));
    };
    report(&top, bytes)
}

/// The caps of the module doc, checked over the raw bytes in one pass.
fn scan(bytes: &[u8]) -> Result<()> {
    // Per open container: is it an array, and how many elements so far.
    let mut stack: Vec<(bool, usize)> = Vec::new();
    let mut values = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
                // A NUL character: never in a real report, and PostgreSQL
                // cannot store it in text (refused alike on both backends).
                if b == b'u' && bytes.get(i + 1..i + 5) == Some(b"0000") {
                    return Err(invalid(format!(
                        "a string at byte {string_start} holds a NUL character"
                    )));
                }
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if i - string_start > MAX_STRING {
                    return Err(invalid(format!(
                        "a string at byte {string_start} is longer than {MAX_STRING} bytes"
                    )));
                }
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i;
            }
            b'[' | b'{' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(invalid(format!(
                        "JSON nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                stack.push((b == b'[', 1));
                values += 1;
            }
            b']' | b'}' => {
                stack.pop();
            }
            b',' => {
                if let Some((is_array, n)) = stack.last_mut() {
                    *n += 1;
                    values += 1;
                    if *is_array && *n > MAX_ITEMS {
                        return Err(invalid(format!(
                            "an array has more than {MAX_ITEMS} elements"
                        )));
                    }
                }
            }
            _ => {}
        }
        if values > MAX_VALUES {
            return Err(invalid(format!("more than {MAX_VALUES} JSON values")));
        }
    }
    if in_string && bytes.len() - string_start > MAX_STRING {
        return Err(invalid(format!(
            "a string at byte {string_start} is longer than {MAX_STRING} bytes"
        )));
    }
    Ok(())
}

fn invalid(reason: String) -> TlsError {
    TlsError::Invalid(reason)
}

/// A member of `obj` by its RFC 8460 name, ignoring ASCII case and `_`/`-`.
fn get<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    if let Some(v) = obj.get(name) {
        return Some(v);
    }
    obj.iter().find_map(|(k, v)| {
        let same = k.len() == name.len()
            && k.bytes().zip(name.bytes()).all(|(a, b)| {
                let a = if a == b'_' {
                    b'-'
                } else {
                    a.to_ascii_lowercase()
                };
                a == b
            });
        same.then_some(v)
    })
}

fn report(top: &Map<String, Value>, bytes: &[u8]) -> Result<TlsReport> {
    const ANY: [&str; 4] = ["organization-name", "report-id", "date-range", "policies"];
    if ANY.iter().all(|k| get(top, k).is_none()) {
        return Err(TlsError::NotAReport(
            "JSON without organization-name, report-id, date-range or policies".into(),
        ));
    }
    let (date_begin, date_end) = match get(top, "date-range") {
        None | Some(Value::Null) => (0, 0),
        Some(Value::Object(range)) => (
            date(get(range, "start-datetime"), "start-datetime")?,
            date(get(range, "end-datetime"), "end-datetime")?,
        ),
        Some(_) => return Err(invalid("date-range is not an object".into())),
    };
    let report_id = match text(get(top, "report-id"), "report-id")? {
        Some(id) if !id.is_empty() => id,
        _ => {
            let sha = Sha256::digest(bytes);
            let hex: String = sha.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }
    };
    let policies = list(get(top, "policies"), "policies")?
        .iter()
        .enumerate()
        .map(|(i, p)| policy(p, i + 1))
        .collect::<Result<Vec<_>>>()?;
    Ok(TlsReport {
        organization_name: text(get(top, "organization-name"), "organization-name")?
            .unwrap_or_default(),
        date_begin,
        date_end,
        contact_info: text(get(top, "contact-info"), "contact-info")?,
        report_id,
        policies,
    })
}

fn policy(value: &Value, n: usize) -> Result<TlsPolicy> {
    let at = |e: TlsError| match e {
        TlsError::Invalid(r) => TlsError::Invalid(format!("policy {n}: {r}")),
        other => other,
    };
    let Value::Object(p) = value else {
        return Err(invalid(format!("policy {n} is not an object")));
    };
    let empty = Map::new();
    let pol = object(get(p, "policy"), "policy", &empty).map_err(at)?;
    let summary = object(get(p, "summary"), "summary", &empty).map_err(at)?;
    let details = list(get(p, "failure-details"), "failure-details").map_err(at)?;
    Ok(TlsPolicy {
        policy_type: PolicyType::from_word(
            &text(get(pol, "policy-type"), "policy-type")
                .map_err(at)?
                .unwrap_or_default(),
        ),
        policy_string: strings(get(pol, "policy-string"), "policy-string").map_err(at)?,
        policy_domain: text(get(pol, "policy-domain"), "policy-domain")
            .map_err(at)?
            .unwrap_or_default(),
        mx_host: strings(get(pol, "mx-host"), "mx-host").map_err(at)?,
        sessions_success: count(get(summary, "total-successful-session-count"))
            .map_err(|r| invalid(format!("policy {n}: total-successful-session-count {r}")))?,
        sessions_failure: count(get(summary, "total-failure-session-count"))
            .map_err(|r| invalid(format!("policy {n}: total-failure-session-count {r}")))?,
        failure_details: details
            .iter()
            .enumerate()
            .map(|(i, d)| {
                detail(d).map_err(|r| invalid(format!("policy {n}: failure detail {}: {r}", i + 1)))
            })
            .collect::<Result<Vec<_>>>()?,
    })
}

fn detail(value: &Value) -> std::result::Result<FailureDetail, String> {
    let Value::Object(d) = value else {
        return Err("not an object".into());
    };
    let t = |name: &str| text(get(d, name), name).map_err(|e| e.to_string());
    Ok(FailureDetail {
        result_type: ResultType::from_word(&t("result-type")?.unwrap_or_default()),
        sending_mta_ip: t("sending-mta-ip")?,
        receiving_mx_hostname: t("receiving-mx-hostname")?,
        receiving_mx_helo: t("receiving-mx-helo")?,
        receiving_ip: t("receiving-ip")?,
        failed_session_count: count(get(d, "failed-session-count"))
            .map_err(|r| format!("failed-session-count {r}"))?,
        additional_information: t("additional-information")?,
        failure_reason_code: t("failure-reason-code")?,
    })
}

/// An object member, `empty` when absent or null.
fn object<'v>(
    value: Option<&'v Value>,
    name: &str,
    empty: &'v Map<String, Value>,
) -> Result<&'v Map<String, Value>> {
    match value {
        None | Some(Value::Null) => Ok(empty),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(invalid(format!("{name} is not an object"))),
    }
}

/// An array member, empty when absent or null.
fn list<'v>(value: Option<&'v Value>, name: &str) -> Result<&'v [Value]> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(invalid(format!("{name} is not an array"))),
    }
}

/// A text member, trimmed; a number is taken as its text.
fn text(value: Option<&Value>, name: &str) -> Result<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(format!("{name} is not a string"))),
    }
}

/// A list of strings, or one string as a list of one.
fn strings(value: Option<&Value>, name: &str) -> Result<Vec<String>> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| text(Some(v), name).map(Option::unwrap_or_default))
            .collect(),
        other => Ok(text(other, name)?.into_iter().collect()),
    }
}

/// A session count: absent or null is 0; see the module doc for the rest.
/// The error is the reason, to be prefixed with the field's name.
fn count(value: Option<&Value>) -> std::result::Result<i64, String> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_i64() {
                if v < 0 {
                    return Err(format!("is negative ({v})"));
                }
                Ok(v)
            } else if n.is_u64() {
                Err(format!("is too large ({n})"))
            } else {
                // A float: `5.0` is read as 5; anything else is refused.
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f < 0.0 {
                    Err(format!("is negative ({n})"))
                } else if f.fract() != 0.0 || f.is_nan() {
                    Err(format!("is not a whole number ({n})"))
                } else if f >= i64::MAX as f64 {
                    Err(format!("is too large ({n})"))
                } else {
                    Ok(f as i64)
                }
            }
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.starts_with('-') {
                return Err(format!("is negative ({t:?})"));
            }
            t.parse::<i64>()
                .map_err(|_| format!("is not a number ({})", clip(t)))
        }
        Some(other) => Err(format!("is not a number ({})", clip(&other.to_string()))),
    }
}

/// At most 40 characters of attacker-controlled text, for an error line.
fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(40)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    format!("{out:?}")
}

/// A date of `date-range`; see the module doc for the forms read.
fn date(value: Option<&Value>, name: &str) -> Result<i64> {
    let bad = |s: &str| invalid(format!("{name} is not a date ({})", clip(s)));
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad(&n.to_string())),
        Some(Value::String(s)) => parse_date(s.trim()).ok_or_else(|| bad(s)),
        Some(other) => Err(bad(&other.to_string())),
    }
}

fn parse_date(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    // RFC 3339 allows a space for `T`; some writers leave out the zone.
    let s = s.replacen(' ', "T", 1);
    if let Ok(d) = DateTime::parse_from_rfc3339(&s) {
        return Some(d.timestamp());
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(d.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
}

#[cfg(test)]
#[path = "tests/tls.rs"]
mod tests;
