//! Notify: send an alert to Telegram and/or a JSON webhook over HTTPS
//! (ureq with rustls).
//!
//! - Telegram: `POST {api}/bot{token}/sendMessage` with JSON
//!   `{"chat_id": ..., "text": ...}` (Bot API), the text cut to Telegram's
//!   4096-character limit.
//! - Webhook: `POST {url}` with JSON `{"text": ..., "window": {...},
//!   "problems": [...]}`: the same text (so Slack- and Mattermost-style
//!   incoming webhooks show it as is) plus the `alert --format json` fields.
//!
//! - Email: the same text as a mail with a plain-text part and an HTML
//!   part (the text, escaped, in a page), through [`mail`](crate::mail).
//!
//! The text is sent through [`visible_block`]: report-derived text keeps
//! its line breaks but no control character or bidi override reaches the
//! reader's chat client.
//!
//! A failure is returned, never printed, and is the caller's to report as a
//! warning: a notification never changes the run's outcome. Secrets stay
//! out of error texts: ureq's errors name the URL, which holds the bot
//! token (and webhook URLs often embed one), so errors are rebuilt from
//! their parts and scrubbed of the token and the URL.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::{Channels, Email, Telegram};
use crate::untrusted::visible_block;

/// Telegram rejects longer messages.
const TELEGRAM_MAX_CHARS: usize = 4096;

/// As the Python script's `urlopen(..., timeout=10)`.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A notification that did not go out. The text holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("telegram notification failed: {0}")]
    Telegram(String),
    #[error("webhook notification to {host} failed: {reason}")]
    Webhook { host: String, reason: String },
    #[error("email notification failed: {0}")]
    Email(String),
}

/// What to send: the text for people and the JSON body for the webhook
/// (`text` is added to it).
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub text: &'a str,
    pub json: Value,
}

/// Sends `msg` to every configured channel; returns the names of those
/// that took it and the errors of those that did not.
pub fn send(channels: &Channels, msg: &Message<'_>) -> (Vec<&'static str>, Vec<NotifyError>) {
    let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
    let mut sent = Vec::new();
    let mut failed = Vec::new();
    if let Some(tg) = &channels.telegram {
        match telegram(&agent, tg, msg.text) {
            Ok(()) => sent.push("telegram"),
            Err(e) => failed.push(e),
        }
    }
    if let Some(url) = &channels.webhook {
        match webhook(&agent, url, msg) {
            Ok(()) => sent.push("webhook"),
            Err(e) => failed.push(e),
        }
    }
    if let Some(email) = &channels.email {
        match send_email(email, msg) {
            Ok(()) => sent.push("email"),
            Err(e) => failed.push(e),
        }
    }
    (sent, failed)
}

/// The alert as a mail: subject from its first line, the text as is, and
/// an HTML page holding the same text escaped.
pub fn send_email(email: &Email, msg: &Message<'_>) -> Result<(), NotifyError> {
    let text = visible_block(msg.text);
    let first = text.lines().next().unwrap_or("DMARC alert");
    let subject = format!("dmarcdb: {}", truncate(first, 120));
    let body = format!("<pre>{}</pre>", crate::page::escape_html(&text));
    let html = crate::page::layout::document(&subject, &body);
    let mail = crate::mail::Mail {
        to: email.to.clone(),
        subject,
        text: text.to_string(),
        html,
    };
    crate::mail::send(&email.smtp, &mail).map_err(|e| NotifyError::Email(e.to_string()))
}

/// Telegram Bot API `sendMessage`.
pub fn telegram(agent: &ureq::Agent, tg: &Telegram, text: &str) -> Result<(), NotifyError> {
    let url = format!("{}/bot{}/sendMessage", tg.api, tg.token);
    let text = visible_block(text);
    let body = json!({"chat_id": tg.chat_id, "text": truncate(&text, TELEGRAM_MAX_CHARS)});
    agent
        .post(&url)
        .send_json(body)
        .map(drop)
        .map_err(|e| NotifyError::Telegram(describe(e, &[&url, &tg.token])))
}

/// A JSON POST to `url`.
pub fn webhook(agent: &ureq::Agent, url: &str, msg: &Message<'_>) -> Result<(), NotifyError> {
    let mut body = msg.json.clone();
    if let Value::Object(map) = &mut body {
        let text = visible_block(msg.text).into_owned();
        map.insert("text".into(), Value::String(text));
    }
    agent
        .post(url)
        .send_json(body)
        .map(drop)
        .map_err(|e| NotifyError::Webhook {
            host: host(url),
            reason: describe(e, &[url]),
        })
}

/// At most `max` characters, with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// `scheme://host[:port]` of a URL, without user info or path, to name a
/// webhook in messages without leaking a secret in its path.
fn host(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if scheme.is_empty() {
        authority.to_string()
    } else {
        format!("{scheme}://{authority}")
    }
}

/// A ureq error as text without its URL, with every secret replaced.
fn describe(e: ureq::Error, secrets: &[&str]) -> String {
    let text = match e {
        ureq::Error::Status(code, resp) => {
            let body = resp.into_string().unwrap_or_default();
            let body = truncate(&crate::untrusted::visible(body.trim()), 200);
            if body.is_empty() {
                format!("HTTP {code}")
            } else {
                format!("HTTP {code}: {body}")
            }
        }
        ureq::Error::Transport(t) => {
            let mut s = t.kind().to_string();
            if let Some(m) = t.message() {
                s.push_str(": ");
                s.push_str(m);
            }
            if let Some(src) = std::error::Error::source(&t) {
                s.push_str(": ");
                s.push_str(&src.to_string());
            }
            s
        }
    };
    scrub(&text, secrets)
}

/// `text` with every non-empty secret replaced by `***`.
fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_drops_path_and_user_info() {
        assert_eq!(
            host("https://u:p@hooks.example.com:8443/T0/B1/sekret?x=1"),
            "https://hooks.example.com:8443"
        );
        assert_eq!(host("http://127.0.0.1:9/hook"), "http://127.0.0.1:9");
    }

    #[test]
    fn scrub_and_truncate() {
        assert_eq!(
            scrub("https://x/bot123:abc/send: refused", &["123:abc"]),
            "https://x/bot***/send: refused"
        );
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    /// A one-request HTTP server on a free loopback port: its URL, and
    /// the request body it got.
    fn listen_once() -> (String, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (stream, _) = l.accept().unwrap();
            let mut r = BufReader::new(stream);
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            r.into_inner().write_all(reply).unwrap();
            String::from_utf8(body).unwrap()
        });
        (url, h)
    }

    #[test]
    fn notification_text_shows_control_characters_escaped() {
        let (url, got) = listen_once();
        let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
        let msg = Message {
            text: "line one\n\x1b]0;pwned\x07 \u{202e}x",
            json: json!({"problems": []}),
        };
        webhook(&agent, &url, &msg).unwrap();
        let body: Value = serde_json::from_str(&got.join().unwrap()).unwrap();
        assert_eq!(body["text"], "line one\n\\x1b]0;pwned\\x07 \\u{202e}x");
    }

    #[test]
    fn refused_connection_error_holds_no_token() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let tg = Telegram {
            api: format!("http://127.0.0.1:{port}"),
            token: "123456:SECRETTOKEN".into(),
            chat_id: "42".into(),
        };
        let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
        let e = telegram(&agent, &tg, "hi").unwrap_err().to_string();
        assert!(!e.contains("SECRETTOKEN"), "{e}");
        assert!(e.starts_with("telegram notification failed"), "{e}");
    }
}
