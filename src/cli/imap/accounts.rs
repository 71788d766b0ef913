//! Which mailboxes `dmarcdb imap` reads, and with what options: one from
//! the flags and the environment, or `[[imap]]` accounts of the config file
//! (`--account NAME`, or all of them), flags given on the command line
//! winning over an account's values. Login (password, or OAuth2 with a
//! token file or command) and trust (`ca_file`, `tls_fingerprint`) work the
//! same for both.

use std::path::Path;

use anyhow::Context;

use super::{ImapArgs, OAuth2Mechanism};
use crate::cli::SettingsArgs;
use crate::config::{self, File, ImapAccount};
use crate::source::imap::{self, ImapOptions};
use crate::source::oauth2::{Mechanism, OAuth2, TokenSource};
use crate::source::tls::Fingerprint;

/// One mailbox to read: its name in messages and its options.
pub(super) struct Mailbox {
    pub(super) name: String,
    pub(super) opts: ImapOptions,
}

/// The mailboxes this run reads; see the module doc.
pub(super) fn mailboxes(sa: &SettingsArgs, args: &ImapArgs) -> anyhow::Result<Vec<Mailbox>> {
    if args.account.is_none() {
        if let Some(host) = &args.host {
            let user = args
                .user
                .clone()
                .context("no IMAP user: pass --user or set DMARC_IMAP_USER")?;
            let account = ImapAccount {
                name: host.clone(),
                host: host.clone(),
                user,
                ..ImapAccount::default()
            };
            let oauth2 = oauth2(args, &account)?;
            let password = match oauth2 {
                Some(_) => String::new(),
                None => password(args)?,
            };
            return Ok(vec![mailbox(account, password, oauth2, args)?]);
        }
    } else if args.host.is_some() {
        anyhow::bail!("--account and --host (or DMARC_IMAP_HOST) both given; use one");
    }
    let accounts = config_file(sa)?.imap;
    if let Some(name) = config::imap::duplicate_name(&accounts) {
        anyhow::bail!("config file: two [[imap]] accounts are named {name:?}");
    }
    let chosen: Vec<ImapAccount> = match &args.account {
        Some(name) => {
            let found = accounts.into_iter().find(|a| &a.name == name);
            vec![found.with_context(|| {
                format!("no [[imap]] account named {name:?} in the config file")
            })?]
        }
        None if accounts.is_empty() => anyhow::bail!(
            "no IMAP server: pass --host (or set DMARC_IMAP_HOST), or add [[imap]] accounts to \
             the config file"
        ),
        None => accounts,
    };
    chosen
        .into_iter()
        .map(|a| {
            let oauth2 = oauth2(args, &a).with_context(|| format!("account {}", a.name))?;
            let password = match (&oauth2, &args.password_file) {
                (Some(_), _) => String::new(),
                // A password file on the command line wins, as other flags do.
                (None, Some(f)) => read_password(f)?,
                (None, None) => account_password(&a)?,
            };
            mailbox(a, password, oauth2, args)
        })
        .collect()
}

/// An account's options, flags given on the command line winning.
fn mailbox(
    a: ImapAccount,
    password: String,
    oauth2: Option<OAuth2>,
    args: &ImapArgs,
) -> anyhow::Result<Mailbox> {
    let starttls = args.starttls || a.starttls.unwrap_or(false);
    let default_port = if starttls { 143 } else { imap::DEFAULT_PORT };
    // Trust: the command line's choice (a CA file or a pin) replaces the
    // account's.
    let (ca_file, tls_fingerprint) = if args.ca_file.is_some() || args.tls_fingerprint.is_some() {
        (args.ca_file.clone(), args.tls_fingerprint)
    } else {
        let pin = match &a.tls_fingerprint {
            Some(text) => Some(
                text.parse::<Fingerprint>()
                    .map_err(|e| anyhow::anyhow!("account {}: tls_fingerprint: {e}", a.name))?,
            ),
            None => None,
        };
        if pin.is_some() && a.ca_file.is_some() {
            anyhow::bail!(
                "account {}: ca_file and tls_fingerprint both given; use one",
                a.name
            );
        }
        (a.ca_file, pin)
    };
    let opts = ImapOptions {
        host: a.host,
        port: args.port.or(a.port).unwrap_or(default_port),
        user: a.user,
        password,
        folder: args
            .folder
            .clone()
            .or(a.folder)
            .unwrap_or_else(|| "INBOX".to_owned()),
        all: args.all,
        dry_run: args.dry_run,
        move_to: args.move_to.clone().or(a.move_to),
        ca_file,
        tls_fingerprint,
        oauth2,
        starttls,
        batch: args.batch.max(1),
    };
    Ok(Mailbox { name: a.name, opts })
}

/// OAuth2 login, when a token file or command was given: on the command
/// line (or its environment names), else in the account.
fn oauth2(args: &ImapArgs, a: &ImapAccount) -> anyhow::Result<Option<OAuth2>> {
    let token = match (&args.oauth2_token_file, &args.oauth2_token_command) {
        (Some(file), _) => Some(TokenSource::File(file.clone())),
        (None, Some(cmd)) => Some(TokenSource::Command(cmd.clone())),
        // A password file on the command line wins over an account's token.
        (None, None) if args.password_file.is_some() => None,
        (None, None) => match (&a.oauth2_token_file, &a.oauth2_token_command) {
            (Some(_), Some(_)) => {
                anyhow::bail!("oauth2_token_file and oauth2_token_command both given; use one")
            }
            (Some(file), None) => Some(TokenSource::File(file.clone())),
            (None, Some(cmd)) => Some(TokenSource::Command(cmd.clone())),
            (None, None) => None,
        },
    };
    let mechanism = match (args.oauth2_mechanism, &a.oauth2_mechanism) {
        (Some(OAuth2Mechanism::Xoauth2), _) => Some(Mechanism::XOAuth2),
        (Some(OAuth2Mechanism::Oauthbearer), _) => Some(Mechanism::OAuthBearer),
        (None, Some(name)) => Some(match name.to_ascii_lowercase().as_str() {
            "xoauth2" => Mechanism::XOAuth2,
            "oauthbearer" => Mechanism::OAuthBearer,
            _ => anyhow::bail!("oauth2_mechanism {name:?}: expected xoauth2 or oauthbearer"),
        }),
        (None, None) => None,
    };
    match token {
        Some(token) => Ok(Some(OAuth2 { token, mechanism })),
        None if mechanism.is_some() => {
            anyhow::bail!("--oauth2-mechanism needs --oauth2-token-file or --oauth2-token-command")
        }
        None => Ok(None),
    }
}

/// The password: `--password-file`, else `DMARC_IMAP_PASS`.
fn password(args: &ImapArgs) -> anyhow::Result<String> {
    if let Some(f) = &args.password_file {
        return read_password(f);
    }
    match std::env::var("DMARC_IMAP_PASS") {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => anyhow::bail!(
            "no IMAP password: set DMARC_IMAP_PASS or pass --password-file \
             (or --oauth2-token-file / --oauth2-token-command for OAuth2)"
        ),
    }
}

/// An account's password file (an OAuth2 account needs none).
fn account_password(a: &ImapAccount) -> anyhow::Result<String> {
    match &a.password_file {
        Some(f) => read_password(f).with_context(|| format!("account {}", a.name)),
        None => anyhow::bail!(
            "account {}: no password_file (or oauth2_token_file / oauth2_token_command) in its \
             [[imap]] section",
            a.name
        ),
    }
}

fn read_password(f: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(f)
        .with_context(|| format!("cannot read password file {}", f.display()))?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// The config file, as `analysis` reads it (an empty `DMARCDB_CONFIG`
/// counts as unset; the default path may be missing).
fn config_file(sa: &SettingsArgs) -> anyhow::Result<File> {
    let explicit = sa.config.as_ref().filter(|p| !p.as_os_str().is_empty());
    Ok(match explicit {
        Some(p) => File::load(p, true)?,
        None => match config::default_path() {
            Some(p) => File::load(&p, false)?,
            None => File::default(),
        },
    })
}
