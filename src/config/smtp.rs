//! The SMTP settings (`digest`, the email channel of `alert --notify`) and
//! those of `serve`, resolved like the rest: flag > environment > config
//! file. The password comes from `DMARCDB_SMTP_PASS` or a file
//! (`--smtp-password-file`, `[smtp] password_file`), never from a flag or
//! the config text, and is never printed.
//!
//! ```toml
//! [smtp]
//! host = "smtp.example.com"
//! port = 587                      # default: 587 starttls, 465 tls, 25 plain
//! security = "starttls"           # or "tls", or "plain" (loopback only)
//! user = "dmarc@example.com"
//! password_file = "/etc/dmarcdb/smtp-password"
//! from = "dmarcdb <dmarc@example.com>"
//! ca_file = "/etc/dmarcdb/ca.pem" # also trust this CA
//!
//! [serve]
//! listen = "127.0.0.1:8080"
//! token_file = "/etc/dmarcdb/serve-token"   # required off loopback
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::mail::{Security, Smtp};

/// `[smtp]` in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<Security>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// `[serve]` in the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    pub listen: Option<String>,
    pub token_file: Option<PathBuf>,
}

/// What flags (and their environment variables, which clap reads) said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpFlags {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<Security>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// The SMTP settings, or `None` when no host is configured anywhere.
/// `env` looks up `DMARCDB_SMTP_HOST`, `_PORT`, `_SECURITY`, `_USER`,
/// `_PASS`, `_FROM` (empty counts as unset), used where no flag was given.
pub fn resolve_smtp(
    flags: &SmtpFlags,
    file: &SmtpFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Smtp>, ConfigError> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let Some(host) = flags
        .host
        .clone()
        .or_else(|| env("DMARCDB_SMTP_HOST"))
        .or_else(|| file.host.clone())
    else {
        return Ok(None);
    };
    let user = flags
        .user
        .clone()
        .or_else(|| env("DMARCDB_SMTP_USER"))
        .or_else(|| file.user.clone());
    let port = match (flags.port, env("DMARCDB_SMTP_PORT")) {
        (Some(p), _) => Some(p),
        (None, Some(v)) => Some(v.trim().parse().map_err(|_| ConfigError::Invalid {
            origin: "DMARCDB_SMTP_PORT".into(),
            message: format!("{v:?} is not a port number"),
        })?),
        (None, None) => file.port,
    };
    let security = match (flags.security, env("DMARCDB_SMTP_SECURITY")) {
        (Some(s), _) => Some(s),
        (None, Some(v)) => Some(
            <Security as clap::ValueEnum>::from_str(v.trim(), true).map_err(|_| {
                ConfigError::Invalid {
                    origin: "DMARCDB_SMTP_SECURITY".into(),
                    message: format!("{v:?} is not starttls, tls or plain"),
                }
            })?,
        ),
        (None, None) => file.security,
    };
    let password = match (
        &flags.password_file,
        env("DMARCDB_SMTP_PASS"),
        &file.password_file,
    ) {
        (Some(p), _, _) => Some(read_secret(p)?),
        (None, Some(v), _) => Some(v),
        (None, _, Some(p)) => Some(read_secret(p)?),
        _ => None,
    };
    let ca_pem = match flags.ca_file.as_ref().or(file.ca_file.as_ref()) {
        Some(p) => Some(std::fs::read(p).map_err(|e| ConfigError::Read {
            path: p.clone(),
            reason: e,
        })?),
        None => None,
    };
    let from = flags
        .from
        .clone()
        .or_else(|| env("DMARCDB_SMTP_FROM"))
        .or_else(|| file.from.clone())
        .or_else(|| user.clone().filter(|u| u.contains('@')))
        .unwrap_or_else(|| "dmarcdb <dmarcdb@localhost>".to_string());
    Ok(Some(Smtp {
        host,
        port,
        security: security.unwrap_or_default(),
        user,
        password,
        from,
        ca_pem,
        timeout: Duration::from_secs(30),
    }))
}

/// The first line of a secret file.
pub fn read_secret(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        reason: e,
    })?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_no_host_means_no_mail() {
        let file = SmtpFile {
            host: Some("file.example".into()),
            port: Some(2525),
            user: Some("me@example.com".into()),
            ..SmtpFile::default()
        };
        let none = |_: &str| None;
        assert_eq!(
            resolve_smtp(&SmtpFlags::default(), &SmtpFile::default(), &none).unwrap(),
            None
        );
        let flags = SmtpFlags {
            host: Some("flag.example".into()),
            security: Some(Security::Tls),
            ..SmtpFlags::default()
        };
        let s = resolve_smtp(&flags, &file, &|k| {
            (k == "DMARCDB_SMTP_PASS").then(|| "pw".into())
        })
        .unwrap()
        .unwrap();
        assert_eq!(s.host, "flag.example");
        assert_eq!(s.port, Some(2525));
        assert_eq!(s.security, Security::Tls);
        assert_eq!(s.password.as_deref(), Some("pw"));
        assert_eq!(s.from, "me@example.com");
    }

    #[test]
    fn the_password_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\nignored\n").unwrap();
        let flags = SmtpFlags {
            host: Some("h".into()),
            password_file: Some(p),
            ..SmtpFlags::default()
        };
        let env = |k: &str| (k == "DMARCDB_SMTP_PASS").then(|| "env".to_string());
        let s = resolve_smtp(&flags, &SmtpFile::default(), &env)
            .unwrap()
            .unwrap();
        assert_eq!(s.password.as_deref(), Some("s3cret"));
    }
}
