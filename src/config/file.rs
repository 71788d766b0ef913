//! The config file as written: one struct per TOML table, every field
//! optional, unknown keys refused (so a typo is an error, not a default);
//! reading it from disk and its default path. What the values mean, and
//! how they combine with flags and the environment, is the parent
//! module's.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, ImapAccount, ReadinessThresholds, SenderFile, ServeFile, SmtpFile};

/// The config file as written. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub our_nets: Option<Vec<String>>,
    #[serde(default)]
    pub alert: AlertFile,
    #[serde(default)]
    pub notify: NotifyFile,
    /// `[[imap]]` sections: the mailboxes to read ([`super::imap`]).
    #[serde(default)]
    pub imap: Vec<ImapAccount>,
    #[serde(default)]
    pub enrich: EnrichFile,
    #[serde(default)]
    pub readiness: ReadinessFile,
    /// `[[sender]]` entries, in order.
    #[serde(default)]
    pub sender: Vec<SenderFile>,
    #[serde(default)]
    pub ingest: IngestFile,
    #[serde(default)]
    pub smtp: SmtpFile,
    #[serde(default)]
    pub serve: ServeFile,
}

/// `[enrich]` in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnrichFile {
    pub asn_db: Option<PathBuf>,
    pub country_db: Option<PathBuf>,
    pub rdns: Option<bool>,
    pub dns_server: Option<String>,
    pub rdns_timeout_ms: Option<u64>,
    pub rdns_concurrency: Option<usize>,
    pub rdns_max_age_days: Option<u32>,
}

/// `[readiness]` in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadinessFile {
    pub min_pass_pct: Option<f64>,
    pub min_sender_messages: Option<i64>,
    pub min_messages: Option<i64>,
    pub ramp_pct: Option<u8>,
}

impl ReadinessFile {
    pub fn thresholds(&self) -> ReadinessThresholds {
        let d = ReadinessThresholds::default();
        ReadinessThresholds {
            min_pass_pct: self.min_pass_pct.unwrap_or(d.min_pass_pct),
            min_sender_messages: self.min_sender_messages.unwrap_or(d.min_sender_messages),
            min_messages: self.min_messages.unwrap_or(d.min_messages),
            ramp_pct: self.ramp_pct.unwrap_or(d.ramp_pct).clamp(1, 100),
        }
    }
}

/// `[ingest]` in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IngestFile {
    /// Store failure reports redacted (as `ingest --redact`).
    pub redact: Option<bool>,
}

/// `[alert]` in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertFile {
    pub min_pass_pct: Option<f64>,
    pub min_messages: Option<i64>,
    pub spoof_min_fail: Option<i64>,
    pub new_sender: Option<bool>,
    pub new_sender_min_messages: Option<i64>,
    pub new_sender_min_history_days: Option<u32>,
    pub tls_min_failure_pct: Option<f64>,
    pub tls_min_failed_sessions: Option<i64>,
}

/// `[notify]` in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    pub webhook: Option<String>,
    pub telegram_api: Option<String>,
    pub telegram_bot_token: Option<String>,
    pub telegram_chat_id: Option<String>,
    /// Recipients of the email channel (sent through `[smtp]`).
    pub email_to: Option<Vec<String>>,
}

impl File {
    /// Reads `path`. With `explicit` false a missing file is an empty config.
    pub fn load(path: &Path, explicit: bool) -> Result<File, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(File::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    reason: source,
                })
            }
        };
        File::parse(&text).map_err(|message| ConfigError::Syntax {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses config text; the error says what toml says.
    pub fn parse(text: &str) -> Result<File, SyntaxError> {
        toml::from_str(text).map_err(SyntaxError)
    }
}

/// Config text that is not valid TOML or not our keys: shown as toml's
/// message alone (without its excerpt of the file).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message())]
pub struct SyntaxError(toml::de::Error);

/// The default config file: `config.toml` in the platform config dir
/// (`~/.config/dmarcdb/` on Linux), if there is a home directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "dmarcdb").map(|d| d.config_dir().join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_default_file_is_empty_but_explicit_is_an_error() {
        let p = Path::new("/nonexistent/dmarcdb/config.toml");
        assert_eq!(File::load(p, false).unwrap(), File::default());
        assert!(matches!(File::load(p, true), Err(ConfigError::Read { .. })));
    }
}
