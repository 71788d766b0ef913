//! `[[imap]]` in the config file: the mailboxes `dmarcdb imap` reads, each
//! named, so that `--account NAME` picks one and a run without a host reads
//! them all in turn.
//!
//! ```toml
//! [[imap]]
//! name = "work"
//! host = "imap.example.com"
//! port = 993                        # default 993, or 143 with starttls
//! user = "dmarc@example.com"
//! password_file = "/etc/dmarcdb/work.pass"
//! folder = "INBOX"                  # default INBOX; any language
//! move_to = "Archive/DMARC"         # optional
//! starttls = false                  # optional
//! ca_file = "/etc/dmarcdb/ca.pem"   # optional: a private CA or the server's own certificate
//! # tls_fingerprint = "3F:…"        # or pin the certificate's SHA-256 instead
//! # oauth2_token_file = "..."       # or oauth2_token_command = "...", instead of a password
//! # oauth2_mechanism = "xoauth2"    # optional: xoauth2 or oauthbearer
//! ```
//!
//! Only the shape is checked here (unknown keys are errors, as everywhere
//! in the file); what a connection needs is checked by the CLI.

use std::path::PathBuf;

use serde::Deserialize;

/// One `[[imap]]` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImapAccount {
    /// How `--account` names it; unique in the file.
    pub name: String,
    pub host: String,
    pub port: Option<u16>,
    pub user: String,
    pub password_file: Option<PathBuf>,
    pub folder: Option<String>,
    pub move_to: Option<String>,
    pub starttls: Option<bool>,
    pub ca_file: Option<PathBuf>,
    /// SHA-256 of the one certificate to accept (as `--tls-fingerprint`).
    pub tls_fingerprint: Option<String>,
    pub oauth2_token_file: Option<PathBuf>,
    pub oauth2_token_command: Option<String>,
    /// `xoauth2` or `oauthbearer` (as `--oauth2-mechanism`).
    pub oauth2_mechanism: Option<String>,
}

/// Two sections with one name: `--account` could not tell them apart.
pub fn duplicate_name(accounts: &[ImapAccount]) -> Option<&str> {
    accounts.iter().enumerate().find_map(|(i, a)| {
        accounts[..i]
            .iter()
            .any(|b| b.name == a.name)
            .then_some(a.name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use crate::config::File;

    #[test]
    fn imap_sections_parse_in_order_and_reject_typos() {
        let text = r#"
            our_nets = ["192.0.2.0/24"]
            [[imap]]
            name = "work"
            host = "imap.example.com"
            user = "u"
            password_file = "/p"
            folder = "Отчёты"
            [[imap]]
            name = "home"
            host = "mail.example.net"
            port = 143
            starttls = true
            user = "v"
            oauth2_token_command = "get-token"
        "#;
        let file = File::parse(text).unwrap();
        let names: Vec<_> = file.imap.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["work", "home"]);
        assert_eq!(file.imap[0].folder.as_deref(), Some("Отчёты"));
        assert_eq!(file.imap[1].port, Some(143));
        assert_eq!(
            file.imap[1].oauth2_token_command.as_deref(),
            Some("get-token")
        );
        assert_eq!(super::duplicate_name(&file.imap), None);

        let typo = "[[imap]]\nname = \"a\"\nhost = \"h\"\nuser = \"u\"\npasword_file = \"/p\"\n";
        assert!(File::parse(typo)
            .unwrap_err()
            .to_string()
            .contains("pasword_file"));
        let twice = "[[imap]]\nname = \"a\"\nhost = \"h\"\nuser = \"u\"\n\
                     [[imap]]\nname = \"a\"\nhost = \"i\"\nuser = \"v\"\n";
        assert_eq!(
            super::duplicate_name(&File::parse(twice).unwrap().imap),
            Some("a")
        );
    }
}
