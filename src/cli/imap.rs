//! `dmarcdb imap`: read reports from an IMAP mailbox.
//!
//! Settings come from flags or the environment names the Python script
//! used, kept for compatibility
//! (`DMARC_IMAP_HOST`, `DMARC_IMAP_PORT`, `DMARC_IMAP_USER`, `DMARC_IMAP_PASS`,
//! `DMARC_IMAP_FOLDER`); the password is read from `DMARC_IMAP_PASS` or
//! `--password-file`, never from the command line, and is never printed.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::{analysis, enrich, ingest_and_report, open_store, AfterIngest, SettingsArgs};
use crate::exit::Exit;
use crate::extract::Limits;
use crate::ingest;
use crate::source::imap::{self, ImapOptions};
use crate::source::oauth2::{Mechanism, OAuth2, TokenSource};
use crate::source::tls::Fingerprint;

#[derive(Debug, Args)]
pub struct ImapArgs {
    /// The IMAP server (implicit TLS unless --starttls).
    #[arg(long, env = "DMARC_IMAP_HOST")]
    pub host: String,
    /// The server port [993; 143 is usual with --starttls].
    #[arg(long, env = "DMARC_IMAP_PORT")]
    pub port: Option<u16>,
    /// The login name.
    #[arg(long, env = "DMARC_IMAP_USER")]
    pub user: String,
    /// A file holding the password (first line). Otherwise DMARC_IMAP_PASS.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The folder to read.
    #[arg(long, env = "DMARC_IMAP_FOLDER", default_value = "INBOX")]
    pub folder: String,
    /// Read every message, not only unseen ones (backfill).
    #[arg(long)]
    pub all: bool,
    /// Parse and print; write nothing, change no flag (the folder is opened read-only).
    #[arg(long)]
    pub dry_run: bool,
    /// Store DMARC failure reports with the local part of every address
    /// replaced by a keyed hash, and without the raw mail (also
    /// `[ingest] redact = true` in the config file).
    #[arg(long)]
    pub redact: bool,
    /// After its reports are committed, move each message to this folder.
    #[arg(long, value_name = "FOLDER")]
    pub move_to: Option<String>,
    /// Also trust the certificates of this PEM file: a private CA, or the
    /// server's own self-signed certificate (trusted even when it is marked
    /// CA:TRUE, as `openssl req -x509` makes it).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Trust only the server certificate with this SHA-256 fingerprint (hex,
    /// colons allowed), as `openssl x509 -noout -fingerprint -sha256` prints it.
    #[arg(long, value_name = "SHA256", conflicts_with = "ca_file")]
    pub tls_fingerprint: Option<Fingerprint>,
    /// Log in with OAuth2: the access token is the first line of this file,
    /// read for each connection (Microsoft 365, Gmail).
    #[arg(
        long,
        value_name = "FILE",
        env = "DMARC_IMAP_OAUTH2_TOKEN_FILE",
        conflicts_with = "password_file"
    )]
    pub oauth2_token_file: Option<PathBuf>,
    /// Log in with OAuth2: run this shell command for each connection; its
    /// first line of output is the access token (so it can refresh it).
    #[arg(
        long,
        value_name = "CMD",
        env = "DMARC_IMAP_OAUTH2_TOKEN_COMMAND",
        conflicts_with_all = ["password_file", "oauth2_token_file"]
    )]
    pub oauth2_token_command: Option<String>,
    /// The SASL mechanism for OAuth2 [default: what the server advertises,
    /// OAUTHBEARER first].
    #[arg(long, value_enum, value_name = "MECHANISM")]
    pub oauth2_mechanism: Option<OAuth2Mechanism>,
    /// Connect in plain text and upgrade with STARTTLS.
    #[arg(long)]
    pub starttls: bool,
    /// Messages fetched per round trip.
    #[arg(long, default_value_t = imap::DEFAULT_BATCH, value_name = "N")]
    pub batch: usize,
    /// Largest decompressed report, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub max_size: u64,
    #[command(flatten)]
    pub enrich: enrich::AfterIngestEnrich,
    #[command(flatten)]
    pub alert: AfterIngest,
}

/// `--oauth2-mechanism`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OAuth2Mechanism {
    Xoauth2,
    Oauthbearer,
}

/// OAuth2 login, when a token file or command was given.
fn oauth2(args: &ImapArgs) -> anyhow::Result<Option<OAuth2>> {
    let token = match (&args.oauth2_token_file, &args.oauth2_token_command) {
        (Some(file), _) => TokenSource::File(file.clone()),
        (None, Some(cmd)) => TokenSource::Command(cmd.clone()),
        (None, None) if args.oauth2_mechanism.is_some() => {
            anyhow::bail!("--oauth2-mechanism needs --oauth2-token-file or --oauth2-token-command")
        }
        (None, None) => return Ok(None),
    };
    let mechanism = args.oauth2_mechanism.map(|m| match m {
        OAuth2Mechanism::Xoauth2 => Mechanism::XOAuth2,
        OAuth2Mechanism::Oauthbearer => Mechanism::OAuthBearer,
    });
    Ok(Some(OAuth2 { token, mechanism }))
}

/// The password: `--password-file`, else `DMARC_IMAP_PASS`.
fn password(args: &ImapArgs) -> anyhow::Result<String> {
    if let Some(f) = &args.password_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read password file {}", f.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    match std::env::var("DMARC_IMAP_PASS") {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => anyhow::bail!(
            "no IMAP password: set DMARC_IMAP_PASS or pass --password-file \
             (or --oauth2-token-file / --oauth2-token-command for OAuth2)"
        ),
    }
}

pub fn cmd_imap(db: super::DbArgs, sa: &SettingsArgs, args: ImapArgs) -> anyhow::Result<Exit> {
    if args.dry_run && args.enrich.enrich {
        anyhow::bail!("--enrich needs the database; it cannot be combined with --dry-run");
    }
    if args.dry_run && args.alert.alert {
        anyhow::bail!("--alert needs the database; it cannot be combined with --dry-run");
    }
    let alert_settings = analysis::prepare_after_ingest(sa, &args.alert)?;
    let enrich_opts = enrich::prepare_after_ingest(sa, &args.enrich)?;
    let oauth2 = oauth2(&args)?;
    let opts = ImapOptions {
        host: args.host.clone(),
        port: args.port.unwrap_or(if args.starttls {
            143
        } else {
            imap::DEFAULT_PORT
        }),
        user: args.user.clone(),
        password: if oauth2.is_some() {
            String::new()
        } else {
            password(&args)?
        },
        folder: args.folder.clone(),
        all: args.all,
        dry_run: args.dry_run,
        move_to: args.move_to.clone(),
        ca_file: args.ca_file.clone(),
        tls_fingerprint: args.tls_fingerprint,
        oauth2,
        starttls: args.starttls,
        batch: args.batch.max(1),
    };
    // Open the database first: a broken database must not cost a login.
    let mut store = if args.dry_run {
        None
    } else {
        let s = open_store(db)?;
        // Messages are marked seen right after each commit.
        s.set_durable(true)?;
        Some(s)
    };
    let mut source = imap::connect(opts).map_err(|e| anyhow::anyhow!("IMAP: {e}"))?;
    let ingest_opts = ingest::Options {
        dry_run: args.dry_run,
        limits: Limits {
            max_decompressed: args.max_size.saturating_mul(1024 * 1024),
            ..Limits::default()
        },
        redact: args.redact || analysis::settings(sa, None)?.redact,
    };
    ingest_and_report(
        &mut source,
        store.as_mut(),
        &ingest_opts,
        enrich_opts.as_ref(),
        &args.alert,
        alert_settings.as_ref(),
    )
}
