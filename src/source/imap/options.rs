//! What an IMAP run is told: the server, the login, the folder and what to
//! do with what was read; its `Debug` never shows the password.

use std::fmt;
use std::path::PathBuf;

use super::{DEFAULT_BATCH, DEFAULT_PORT};
use crate::source::oauth2::OAuth2;
use crate::source::tls::Fingerprint;

/// Where to read and what to do with what was read.
#[derive(Clone)]
pub struct ImapOptions {
    pub host: String,
    /// 993 for implicit TLS, usually 143 with [`ImapOptions::starttls`].
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The folder to read (INBOX).
    pub folder: String,
    /// Read every message, not only the unseen ones (backfill).
    pub all: bool,
    /// Open the folder read-only and never change a flag.
    pub dry_run: bool,
    /// Move acked messages to this folder (created when missing).
    pub move_to: Option<String>,
    /// A PEM file of extra trusted roots, for a private CA, or the
    /// server's own certificate (see [`crate::source::tls`]).
    pub ca_file: Option<PathBuf>,
    /// Accept only the certificate with this SHA-256 (see [`crate::source::tls`]).
    pub tls_fingerprint: Option<Fingerprint>,
    /// Log in with an OAuth2 access token instead of the password.
    pub oauth2: Option<OAuth2>,
    /// Connect in plain text and upgrade with STARTTLS (RFC 2595).
    pub starttls: bool,
    /// UIDs per fetch.
    pub batch: usize,
}

impl Default for ImapOptions {
    fn default() -> Self {
        ImapOptions {
            host: String::new(),
            port: DEFAULT_PORT,
            user: String::new(),
            password: String::new(),
            folder: "INBOX".to_owned(),
            all: false,
            dry_run: false,
            move_to: None,
            ca_file: None,
            tls_fingerprint: None,
            oauth2: None,
            starttls: false,
            batch: DEFAULT_BATCH,
        }
    }
}

impl fmt::Debug for ImapOptions {
    /// Like a derived `Debug`, without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("folder", &self.folder)
            .field("all", &self.all)
            .field("dry_run", &self.dry_run)
            .field("move_to", &self.move_to)
            .field("ca_file", &self.ca_file)
            .field("tls_fingerprint", &self.tls_fingerprint)
            .field("oauth2", &self.oauth2)
            .field("starttls", &self.starttls)
            .field("batch", &self.batch)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_debug_hides_password() {
        let opts = ImapOptions {
            password: "hunter2".into(),
            ..ImapOptions::default()
        };
        assert!(!format!("{opts:?}").contains("hunter2"));
    }
}
