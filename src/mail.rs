//! Mail: send one message (an HTML part and a plain-text part) over SMTP
//! with lettre and rustls — for `digest` and the email channel of
//! `alert --notify`.
//!
//! Security: implicit TLS (`tls`, port 465), STARTTLS (`starttls`, port
//! 587, the default; the upgrade is required, never optional) or `plain`,
//! which is refused unless the server is on loopback (a local relay), so a
//! password never crosses a network in clear. Certificates are checked
//! against the system roots plus an optional private CA. Login (PLAIN or
//! LOGIN) only when a user is set.
//!
//! Errors are returned, never printed, and never hold the password (the
//! [`Smtp`] `Debug` hides it; lettre's errors do not carry credentials).

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS").
    Tls,
    /// No TLS: only to a server on loopback.
    Plain,
}

impl Security {
    /// The usual port.
    pub fn default_port(self) -> u16 {
        match self {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::Plain => 25,
        }
    }
}

/// Where and how to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub port: Option<u16>,
    pub security: Security,
    pub user: Option<String>,
    /// A secret: never printed.
    pub password: Option<String>,
    /// The sender address (`From:`).
    pub from: String,
    /// Also trust this CA (PEM).
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

/// One message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A message that was not sent. The text holds no secret.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{what} {value:?} is not a mail address: {reason}")]
    Address {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("refusing to send mail without TLS to {host}, which is not on loopback (use --smtp-security starttls or tls)")]
    PlainNotLoopback { host: String },
    #[error("a login name is set but no password (--smtp-password-file or DMARCDB_SMTP_PASS)")]
    NoPassword,
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("SMTP TLS setup for {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("sending mail through {host}:{port} failed: {reason}")]
    Send {
        host: String,
        port: u16,
        reason: String,
    },
}

/// Sends `mail` through `smtp`.
pub fn send(smtp: &Smtp, mail: &Mail) -> Result<(), MailError> {
    let message = build(smtp, mail)?;
    let transport = transport(smtp)?;
    let port = smtp.port.unwrap_or(smtp.security.default_port());
    transport
        .send(&message)
        .map(drop)
        .map_err(|e| MailError::Send {
            host: smtp.host.clone(),
            port,
            reason: e.to_string(),
        })
}

fn mailbox(what: &'static str, value: &str) -> Result<Mailbox, MailError> {
    value
        .parse()
        .map_err(|e: lettre::address::AddressError| MailError::Address {
            what,
            value: value.to_string(),
            reason: e.to_string(),
        })
}

/// The message: `multipart/alternative` with the text part first (the
/// least preferred, RFC 2046 section 5.1.4) and the HTML part last.
fn build(smtp: &Smtp, mail: &Mail) -> Result<Message, MailError> {
    let mut b = Message::builder()
        .from(mailbox("sender", &smtp.from)?)
        .subject(mail.subject.clone());
    for to in &mail.to {
        b = b.to(mailbox("recipient", to)?);
    }
    let body = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(mail.text.clone()),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(mail.html.clone()),
        );
    b.multipart(body)
        .map_err(|e| MailError::Build(e.to_string()))
}

fn transport(smtp: &Smtp) -> Result<SmtpTransport, MailError> {
    let port = smtp.port.unwrap_or(smtp.security.default_port());
    let tls = match smtp.security {
        Security::Plain => {
            if !on_loopback(&smtp.host, port) {
                return Err(MailError::PlainNotLoopback {
                    host: smtp.host.clone(),
                });
            }
            Tls::None
        }
        Security::Starttls => Tls::Required(tls_parameters(smtp)?),
        Security::Tls => Tls::Wrapper(tls_parameters(smtp)?),
    };
    let mut b = SmtpTransport::builder_dangerous(&smtp.host)
        .port(port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some(user) = &smtp.user {
        let password = smtp.password.clone().ok_or(MailError::NoPassword)?;
        b = b
            .credentials(Credentials::new(user.clone(), password))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(b.build())
}

fn tls_parameters(smtp: &Smtp) -> Result<TlsParameters, MailError> {
    let err = |e: lettre::transport::smtp::Error| MailError::Tls {
        host: smtp.host.clone(),
        reason: e.to_string(),
    };
    let mut b = TlsParameters::builder(smtp.host.clone());
    if let Some(pem) = &smtp.ca_pem {
        b = b.add_root_certificate(Certificate::from_pem(pem).map_err(err)?);
    }
    b.build_rustls().map_err(err)
}

/// Whether every address `host` resolves to is a loopback address.
fn on_loopback(host: &str, port: u16) -> bool {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return ip.is_loopback();
    }
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(host: &str, security: Security) -> Smtp {
        Smtp {
            host: host.into(),
            port: None,
            security,
            user: Some("u".into()),
            password: Some("hunter2".into()),
            from: "dmarcdb <dmarc@example.com>".into(),
            ca_pem: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn plain_text_is_refused_off_loopback() {
        let e = transport(&smtp("192.0.2.1", Security::Plain)).unwrap_err();
        assert!(matches!(e, MailError::PlainNotLoopback { .. }), "{e}");
        assert!(transport(&smtp("127.0.0.1", Security::Plain)).is_ok());
        assert!(transport(&smtp("::1", Security::Plain)).is_ok());
    }

    #[test]
    fn the_password_is_never_in_debug_output() {
        let s = format!("{:?}", smtp("mail.example.com", Security::Tls));
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn a_bad_recipient_is_named() {
        let m = Mail {
            to: vec!["not an address".into()],
            subject: "s".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
        };
        let e = build(&smtp("127.0.0.1", Security::Plain), &m).unwrap_err();
        assert!(e.to_string().contains("\"not an address\""), "{e}");
    }

    #[test]
    fn the_message_has_a_text_and_an_html_part() {
        let m = Mail {
            to: vec!["a@example.com".into()],
            subject: "DMARC".into(),
            text: "plain words".into(),
            html: "<p>marked up</p>".into(),
        };
        let raw = build(&smtp("127.0.0.1", Security::Plain), &m)
            .unwrap()
            .formatted();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.body_text(0).unwrap().trim(), "plain words");
        assert_eq!(parsed.body_html(0).unwrap().trim(), "<p>marked up</p>");
    }
}
