//! Config: which networks are ours, the alert thresholds and where to send
//! notifications — from flags, environment and the TOML config file.
//!
//! Precedence is flag > environment > config file > built-in default, one
//! setting at a time. The file is optional: the default path (`config.toml`
//! in the platform config dir) may be missing; a path given with `--config`
//! must exist. Unknown keys are errors, so a typo does not silently leave a
//! threshold at its default.
//!
//! ```toml
//! our_nets = ["207.174.124.0/24", "2001:db8::/32"]
//!
//! [alert]
//! min_pass_pct = 95                # ours below this DMARC pass % ...
//! min_messages = 20                # ... with at least this many messages: "alignment broken"
//! spoof_min_fail = 20              # external with this many failing messages: "possible spoofing"
//! new_sender = true                # external source never seen before the window
//! new_sender_min_messages = 10     # ... sending at least this many messages in it
//! new_sender_min_history_days = 7  # only with this much history before the window
//! tls_min_failure_pct = 1          # a policy domain with at least this % of SMTP TLS sessions failed ...
//! tls_min_failed_sessions = 10     # ... and at least this many failed: "tls_failures"
//!
//! [ingest]
//! redact = false                   # store failure reports with local parts hashed, no raw mail
//!
//! [enrich]                         # `dmarcdb enrich`, `ingest --enrich`
//! asn_db = "/var/lib/GeoIP/GeoLite2-ASN.mmdb"          # DMARCDB_ASN_DB wins
//! country_db = "/var/lib/GeoIP/GeoLite2-Country.mmdb"  # DMARCDB_COUNTRY_DB wins
//! rdns = true                      # reverse DNS, confirmed forward
//! dns_server = "192.0.2.53:53"     # the system's resolver when unset
//! rdns_timeout_ms = 3000           # per address
//! rdns_concurrency = 16            # addresses at once
//! rdns_max_age_days = 30           # cached answers are asked again after this
//!
//! [readiness]                      # `dmarcdb readiness`
//! min_pass_pct = 98                # ours / known services below this block
//! min_sender_messages = 10         # ... when they sent at least this many
//! min_messages = 100               # no verdict on less data than this
//! ramp_pct = 25                    # pct= of the first enforcing step
//!
//! [[sender]]                       # names a sender; wins over the catalogue
//! name = "Our mail relay"
//! nets = ["203.0.113.0/24"]        # any of: nets, ptr_suffixes, dkim_domains
//! ptr_suffixes = ["relay.example.com"]
//! dkim_domains = ["example.com"]
//! ours = true                      # counts as ours, like --our-net
//!
//! [notify]
//! webhook = "https://hooks.example.com/dmarc"
//! telegram_api = "https://api.telegram.org"
//! telegram_bot_token = "123:abc"   # TELEGRAM_BOT_TOKEN wins
//! telegram_chat_id = "-100123"     # TELEGRAM_CHAT_ID wins
//!
//! [[imap]]                         # mailboxes for `dmarcdb imap`, see `imap`
//! name = "work"
//! host = "imap.example.com"
//! user = "dmarc@example.com"
//! password_file = "/etc/dmarcdb/work.pass"
//! ```
//!
//! This module reads files and is handed the environment as a lookup
//! function; it never prints. The CLI decides what to say about it.

use std::path::PathBuf;

use ipnet::IpNet;

mod file;
pub mod imap;
mod nets;

pub use crate::enrich::catalogue::{Sender, SenderFile};
pub use crate::enrich::readiness::Thresholds as ReadinessThresholds;
mod smtp;
pub use file::{
    default_path, AlertFile, EnrichFile, File, IngestFile, NotifyFile, ReadinessFile, SyntaxError,
};
pub use imap::ImapAccount;
pub use nets::{parse_net, range, NotANet, OurNets};
pub use smtp::{read_secret, resolve_smtp, ServeFile, SmtpFile, SmtpFlags};

/// The Telegram Bot API base used when nothing else is configured.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The reason is part of the message, not an error source, so that
    /// `{:#}` does not print it twice.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: SyntaxError },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("{origin}: {value:?} is not a network (CIDR like 192.0.2.0/24, or an address)")]
    Net { origin: String, value: String },
    #[error("config file: {0}")]
    Sender(String),
}

/// The alert rules' thresholds (see [`crate::alert`]); the defaults are
/// those of the README's alert section.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// "alignment broken": ours with a DMARC pass % below this ...
    pub min_pass_pct: f64,
    /// ... and at least this many messages.
    pub min_messages: i64,
    /// "possible spoofing": external with at least this many failing messages.
    pub spoof_min_fail: i64,
    /// "new sender" rule on or off.
    pub new_sender: bool,
    /// "new sender": at least this many messages in the window.
    pub new_sender_min_messages: i64,
    /// "new sender" only runs when the oldest report begins at least this
    /// many days before the window; on a fresh database everyone is new.
    pub new_sender_min_history_days: u32,
    /// "tls_failures": a policy domain with at least this % of its SMTP
    /// TLS sessions failed ...
    pub tls_min_failure_pct: f64,
    /// ... and at least this many failed sessions.
    pub tls_min_failed_sessions: i64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            min_pass_pct: 95.0,
            min_messages: 20,
            spoof_min_fail: 20,
            new_sender: true,
            new_sender_min_messages: 10,
            new_sender_min_history_days: 7,
            tls_min_failure_pct: 1.0,
            tls_min_failed_sessions: 10,
        }
    }
}

impl Thresholds {
    fn from_file(f: &AlertFile) -> Thresholds {
        let d = Thresholds::default();
        Thresholds {
            min_pass_pct: f.min_pass_pct.unwrap_or(d.min_pass_pct),
            min_messages: f.min_messages.unwrap_or(d.min_messages),
            spoof_min_fail: f.spoof_min_fail.unwrap_or(d.spoof_min_fail),
            new_sender: f.new_sender.unwrap_or(d.new_sender),
            new_sender_min_messages: f
                .new_sender_min_messages
                .unwrap_or(d.new_sender_min_messages),
            new_sender_min_history_days: f
                .new_sender_min_history_days
                .unwrap_or(d.new_sender_min_history_days),
            tls_min_failure_pct: f.tls_min_failure_pct.unwrap_or(d.tls_min_failure_pct),
            tls_min_failed_sessions: f
                .tls_min_failed_sessions
                .unwrap_or(d.tls_min_failed_sessions),
        }
    }
}

/// Where notifications go. A channel is configured when all its parts are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Channels {
    pub telegram: Option<Telegram>,
    /// A URL that gets a JSON POST.
    pub webhook: Option<String>,
    /// Mail through `[smtp]` to `[notify] email_to` / `--email`.
    pub email: Option<Email>,
}

/// The email channel: where to send and through which server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub smtp: crate::mail::Smtp,
    pub to: Vec<String>,
}

/// Telegram Bot API settings.
#[derive(Clone, PartialEq, Eq)]
pub struct Telegram {
    /// API base, `https://api.telegram.org` unless configured (tests point
    /// it at a local listener).
    pub api: String,
    /// The bot token: a secret, never printed (see `Debug`).
    pub token: String,
    pub chat_id: String,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("api", &self.api)
            .field("token", &"***")
            .field("chat_id", &self.chat_id)
            .finish()
    }
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field("telegram", &self.telegram)
            .field("webhook", &self.webhook.as_ref().map(|_| "***"))
            .field("email", &self.email)
            .finish()
    }
}

/// What the command line said, before the file and environment are consulted.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--our-net`.
    pub our_nets: Vec<IpNet>,
    /// `--webhook` (or `DMARCDB_WEBHOOK`).
    pub webhook: Option<String>,
    /// `--email` (or `DMARCDB_NOTIFY_EMAIL`).
    pub email_to: Vec<String>,
}

/// Everything resolved.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--our-net` (or the environment, or the file), plus the networks of
    /// `[[sender]]` entries with `ours = true`.
    pub our_nets: OurNets,
    /// `[[sender]]` entries, checked, in order.
    pub senders: Vec<Sender>,
    pub thresholds: Thresholds,
    pub channels: Channels,
    /// `[ingest] redact`: store failure reports redacted.
    pub redact: bool,
}

impl Settings {
    /// Combines flags, environment (`env` looks a variable up; empty counts
    /// as unset) and the file. Environment read here: `DMARCDB_OUR_NETS`
    /// (when no flag), `TELEGRAM_BOT_TOKEN`, `TELEGRAM_CHAT_ID`,
    /// `DMARCDB_TELEGRAM_API`, `DMARCDB_WEBHOOK`, `DMARCDB_SMTP_PASS`.
    pub fn resolve(
        flags: &Overrides,
        file: &File,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let our_nets = if !flags.our_nets.is_empty() {
            flags.our_nets.clone()
        } else if let Some(v) = env("DMARCDB_OUR_NETS") {
            parse_list(v.split(','), "DMARCDB_OUR_NETS")?
        } else {
            let list = file.our_nets.as_deref().unwrap_or_default();
            parse_list(
                list.iter().map(String::as_str),
                "our_nets in the config file",
            )?
        };
        let senders = file
            .sender
            .iter()
            .map(Sender::from_file)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ConfigError::Sender)?;
        let mut our_nets = our_nets;
        for s in senders.iter().filter(|s| s.ours) {
            our_nets.extend(s.nets.iter().copied());
        }
        let n = &file.notify;
        let token = env("TELEGRAM_BOT_TOKEN").or_else(|| n.telegram_bot_token.clone());
        let chat = env("TELEGRAM_CHAT_ID").or_else(|| n.telegram_chat_id.clone());
        let api = env("DMARCDB_TELEGRAM_API")
            .or_else(|| n.telegram_api.clone())
            .unwrap_or_else(|| TELEGRAM_API.to_string());
        let telegram = match (token, chat) {
            (Some(token), Some(chat_id)) => Some(Telegram {
                api: api.trim_end_matches('/').to_string(),
                token,
                chat_id,
            }),
            _ => None,
        };
        let webhook = flags
            .webhook
            .clone()
            .filter(|w| !w.trim().is_empty())
            .or_else(|| env("DMARCDB_WEBHOOK"))
            .or_else(|| n.webhook.clone());
        let email_to = if flags.email_to.is_empty() {
            n.email_to.clone().unwrap_or_default()
        } else {
            flags.email_to.clone()
        };
        let email = match resolve_smtp(&SmtpFlags::default(), &file.smtp, &env)? {
            Some(smtp) if !email_to.is_empty() => Some(Email { smtp, to: email_to }),
            _ => None,
        };
        Ok(Settings {
            our_nets: OurNets::new(our_nets),
            senders,
            thresholds: Thresholds::from_file(&file.alert),
            channels: Channels {
                telegram,
                webhook,
                email,
            },
            redact: file.ingest.redact.unwrap_or(false),
        })
    }
}

fn parse_list<'a>(
    items: impl Iterator<Item = &'a str>,
    origin: &str,
) -> Result<Vec<IpNet>, ConfigError> {
    items
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            parse_net(s).map_err(|_| ConfigError::Net {
                origin: origin.to_string(),
                value: s.trim().to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn sender_entries_that_are_ours_count_as_our_nets() {
        let file = File::parse(
            r#"
            our_nets = ["192.0.2.0/24"]
            [[sender]]
            name = "Relay"
            nets = ["198.51.100.0/24"]
            ours = true
            [[sender]]
            name = "Partner"
            nets = ["203.0.113.0/24"]
            [readiness]
            min_pass_pct = 99.5
            [enrich]
            asn_db = "/x/asn.mmdb"
            rdns = true
            "#,
        )
        .unwrap();
        let s = Settings::resolve(&Overrides::default(), &file, &no_env).unwrap();
        assert!(s.our_nets.contains(ip("192.0.2.1")));
        assert!(s.our_nets.contains(ip("198.51.100.1")));
        assert!(!s.our_nets.contains(ip("203.0.113.1")));
        assert_eq!(s.senders.len(), 2);
        // A flag replaces our_nets from the file, not the senders' nets.
        let flags = Overrides {
            our_nets: vec![parse_net("10.0.0.0/8").unwrap()],
            ..Overrides::default()
        };
        let s = Settings::resolve(&flags, &file, &no_env).unwrap();
        assert!(!s.our_nets.contains(ip("192.0.2.1")));
        assert!(s.our_nets.contains(ip("198.51.100.1")));
        assert_eq!(file.readiness.thresholds().min_pass_pct, 99.5);
        assert_eq!(file.readiness.thresholds().min_messages, 100);
        assert_eq!(file.enrich.rdns, Some(true));
        let bad = File::parse("[[sender]]\nname = \"x\"\nnets = [\"nope\"]\n").unwrap();
        let e = Settings::resolve(&Overrides::default(), &bad, &no_env).unwrap_err();
        assert!(e.to_string().contains("[[sender]] \"x\""), "{e}");
        assert!(File::parse("[[sender]]\nname = \"x\"\ntypo = 1\n").is_err());
    }

    #[test]
    fn file_parses_integers_as_percent_and_rejects_typos() {
        let f = File::parse("our_nets = [\"192.0.2.0/24\"]\n[alert]\nmin_pass_pct = 90\n").unwrap();
        let s = Settings::resolve(&Overrides::default(), &f, &no_env).unwrap();
        assert_eq!(s.thresholds.min_pass_pct, 90.0);
        assert_eq!(s.thresholds.min_messages, 20);
        assert_eq!(s.our_nets.nets().len(), 1);
        let e = File::parse("[alert]\nmin_pass = 90\n").unwrap_err();
        assert!(e.to_string().contains("min_pass"), "{e}");
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let f = File::parse("our_nets = [\"10.0.0.0/8\"]\n[notify]\nwebhook = \"http://file\"\n")
            .unwrap();
        let env = |k: &str| match k {
            "DMARCDB_OUR_NETS" => Some("192.0.2.0/24, 198.51.100.0/24".to_string()),
            "DMARCDB_WEBHOOK" => Some("http://env".to_string()),
            _ => None,
        };
        let s = Settings::resolve(&Overrides::default(), &f, &env).unwrap();
        assert_eq!(s.our_nets.nets().len(), 2);
        assert_eq!(s.channels.webhook.as_deref(), Some("http://env"));
        let flags = Overrides {
            our_nets: vec![parse_net("203.0.113.0/24").unwrap()],
            webhook: Some("http://flag".into()),
            email_to: Vec::new(),
        };
        let s = Settings::resolve(&flags, &f, &env).unwrap();
        assert_eq!(s.our_nets.nets()[0].to_string(), "203.0.113.0/24");
        assert_eq!(s.channels.webhook.as_deref(), Some("http://flag"));
        let s = Settings::resolve(&Overrides::default(), &f, &no_env).unwrap();
        assert_eq!(s.our_nets.nets()[0].to_string(), "10.0.0.0/8");
    }

    #[test]
    fn telegram_needs_token_and_chat_and_hides_the_token() {
        let f = File::parse("[notify]\ntelegram_chat_id = \"42\"\n").unwrap();
        let s = Settings::resolve(&Overrides::default(), &f, &no_env).unwrap();
        assert!(s.channels.telegram.is_none());
        let env = |k: &str| (k == "TELEGRAM_BOT_TOKEN").then(|| "sekret".to_string());
        let s = Settings::resolve(&Overrides::default(), &f, &env).unwrap();
        let t = s.channels.telegram.clone().unwrap();
        assert_eq!((t.api.as_str(), t.chat_id.as_str()), (TELEGRAM_API, "42"));
        assert!(!format!("{s:?}").contains("sekret"));
    }

    #[test]
    fn bad_network_in_env_names_its_origin() {
        let env = |k: &str| (k == "DMARCDB_OUR_NETS").then(|| "nope".to_string());
        let e = Settings::resolve(&Overrides::default(), &File::default(), &env).unwrap_err();
        assert!(e.to_string().contains("DMARCDB_OUR_NETS"), "{e}");
    }
}
