//! `dmarcdb imap`: read reports from IMAP mailboxes, once or watching.
//!
//! Which mailbox: `--host` (or `DMARC_IMAP_HOST`) with the other flags and
//! the environment names kept from the Python script, for compatibility
//! (`DMARC_IMAP_PORT`, `DMARC_IMAP_USER`, `DMARC_IMAP_PASS`,
//! `DMARC_IMAP_FOLDER`); or `--account NAME`, an `[[imap]]` section of the
//! config file; or, with neither, every `[[imap]]` section in turn
//! ([`accounts`]). Flags given on the command line (`--folder`,
//! `--move-to`, `--port`, `--ca-file`, `--tls-fingerprint`, the OAuth2
//! flags) override an account's values. A password is read from
//! `DMARC_IMAP_PASS` or a password file, never from the command line, and
//! is never printed.
//!
//! `--watch` ([`watch`]) follows one mailbox until SIGTERM or SIGINT.

mod accounts;
mod watch;

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{analysis, enrich, ingest_and_report, open_store, AfterIngest, SettingsArgs};
use crate::exit::Exit;
use crate::extract::Limits;
use crate::ingest;
use crate::source::imap::{self, ImapOptions};
use crate::source::tls::Fingerprint;
use crate::store::Store;
use crate::untrusted::Visible;

#[derive(Debug, Args)]
pub struct ImapArgs {
    /// The IMAP server (implicit TLS unless --starttls). Without it (and
    /// without --account), every [[imap]] account of the config file in turn.
    #[arg(long, env = "DMARC_IMAP_HOST")]
    pub host: Option<String>,
    /// The server port [993; 143 is usual with --starttls].
    #[arg(long, env = "DMARC_IMAP_PORT")]
    pub port: Option<u16>,
    /// The login name.
    #[arg(long, env = "DMARC_IMAP_USER")]
    pub user: Option<String>,
    /// A file holding the password (first line). Otherwise DMARC_IMAP_PASS.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read the [[imap]] account of this name from the config file.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// The folder to read [default: INBOX]. Any name: non-ASCII names are
    /// sent in IMAP's modified UTF-7.
    #[arg(long, env = "DMARC_IMAP_FOLDER")]
    pub folder: Option<String>,
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
    /// Stay connected and store new mail as it arrives (IDLE; polling where
    /// the server has no IDLE); reconnect when the connection drops.
    /// SIGTERM or SIGINT stop it after the current commit, with exit 0.
    #[arg(long)]
    pub watch: bool,
    /// Under --watch, seconds between polls when the server has no IDLE.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub poll_interval: u64,
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

pub fn cmd_imap(db: super::DbArgs, sa: &SettingsArgs, args: ImapArgs) -> anyhow::Result<Exit> {
    if args.dry_run && args.enrich.enrich {
        anyhow::bail!("--enrich needs the database; it cannot be combined with --dry-run");
    }
    if args.dry_run && args.alert.alert {
        anyhow::bail!("--alert needs the database; it cannot be combined with --dry-run");
    }
    if args.watch && args.dry_run {
        anyhow::bail!("--watch stores what arrives; it cannot be combined with --dry-run");
    }
    let alert_settings = analysis::prepare_after_ingest(sa, &args.alert)?;
    let enrich_opts = enrich::prepare_after_ingest(sa, &args.enrich)?;
    let mailboxes = accounts::mailboxes(sa, &args)?;
    if args.watch && mailboxes.len() > 1 {
        anyhow::bail!(
            "--watch follows one mailbox; name it with --account (one `dmarcdb imap --watch \
             --account NAME` per account)"
        );
    }
    // Open the database first: a broken database must not cost a login.
    let mut store = if args.dry_run {
        None
    } else {
        let s = open_store(db)?;
        // Messages are marked seen right after each commit.
        s.set_durable(true)?;
        Some(s)
    };
    let ingest_opts = ingest::Options {
        dry_run: args.dry_run,
        limits: Limits {
            max_decompressed: args.max_size.saturating_mul(1024 * 1024),
            ..Limits::default()
        },
        redact: args.redact || analysis::settings(sa, None)?.redact,
    };
    let after = After {
        ingest: &ingest_opts,
        enrich: enrich_opts.as_ref(),
        alert: &args.alert,
        alert_settings: alert_settings.as_ref(),
    };
    if args.watch {
        let Some(store) = store.as_mut() else {
            unreachable!("--watch is refused with --dry-run")
        };
        let poll = std::time::Duration::from_secs(args.poll_interval.max(1));
        let mailbox = mailboxes.into_iter().next();
        let mailbox = mailbox.ok_or_else(|| anyhow::anyhow!("no mailbox"))?;
        return watch::watch(store, mailbox.opts, &after, poll);
    }
    if let [mailbox] = &mailboxes[..] {
        // One mailbox: stored, enriched and alerted on as one run.
        let mut source =
            imap::connect(mailbox.opts.clone()).map_err(|e| anyhow::anyhow!("IMAP: {e}"))?;
        return after.run(&mut source, store.as_mut());
    }
    let mut exit = Exit::Ok;
    for mailbox in mailboxes {
        println!("account {}:", Visible(&mailbox.name));
        match read_once(mailbox.opts, store.as_mut(), &after) {
            Ok(e) => exit = exit.max(e),
            // One account failing does not keep the others from being read.
            Err(e) => {
                eprintln!(
                    "dmarcdb: account {}: {}",
                    Visible(&mailbox.name),
                    Visible(&format!("{e:#}"))
                );
                exit = Exit::Fatal;
            }
        }
    }
    // Enriched and alerted on once, after the last account.
    if let Some(store) = store.as_mut() {
        exit = exit.max(enrich::enrich_after_ingest(store, after.enrich)?);
        exit = exit.max(analysis::alert_after_ingest(
            store,
            after.alert_settings,
            after.alert,
        )?);
    }
    Ok(exit)
}

/// One of several mailboxes read to its end: the summary printed, the exit
/// it calls for (enrichment and the alert wait for the last one).
fn read_once(
    opts: ImapOptions,
    store: Option<&mut Store>,
    after: &After<'_>,
) -> anyhow::Result<Exit> {
    let mut source = imap::connect(opts).map_err(|e| anyhow::anyhow!("IMAP: {e}"))?;
    let summary = super::run_ingest(&mut source, store.into(), after.ingest)?;
    super::print_summary(&summary, after.ingest.dry_run);
    Ok(super::ingest_exit(&summary))
}

/// What a run does with what it read: store, then enrich and alert.
struct After<'a> {
    ingest: &'a ingest::Options,
    enrich: Option<&'a crate::enrich::run::Options>,
    alert: &'a AfterIngest,
    alert_settings: Option<&'a crate::config::Settings>,
}

impl After<'_> {
    /// Stores what `source` holds, prints the summary, enriches and alerts.
    fn run(
        &self,
        source: &mut imap::ImapSource,
        store: Option<&mut Store>,
    ) -> anyhow::Result<Exit> {
        ingest_and_report(
            source,
            store.into(),
            self.ingest,
            self.enrich,
            self.alert,
            self.alert_settings,
        )
    }
}
