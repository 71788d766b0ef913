//! `dmarcdb imap`: read reports from IMAP mailboxes, once or watching.
//!
//! Which mailbox: `--host` (or `DMARC_IMAP_HOST`) with the other flags and
//! the environment names kept from the Python script (`DMARC_IMAP_PORT`,
//! `DMARC_IMAP_USER`, `DMARC_IMAP_PASS`, `DMARC_IMAP_FOLDER`); or
//! `--account NAME`, an `[[imap]]` section of the config file; or, with
//! neither, every `[[imap]]` section in turn. Flags given on the command
//! line (`--folder`, `--move-to`, `--port`, `--ca-file`) override an
//! account's values. A password is read from `DMARC_IMAP_PASS` or a
//! password file, never from the command line, and is never printed.
//!
//! `--watch` ([`watch`]) follows one mailbox until SIGTERM or SIGINT.

mod watch;

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{analysis, ingest_exit, open_store, print_summary, run_ingest};
use super::{AfterIngest, SettingsArgs};
use crate::config::{self, File, ImapAccount};
use crate::exit::Exit;
use crate::extract::Limits;
use crate::ingest;
use crate::source::imap::{self, ImapOptions};
use crate::store::Store;

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
    /// After its reports are committed, move each message to this folder.
    #[arg(long, value_name = "FOLDER")]
    pub move_to: Option<String>,
    /// Also trust this CA (PEM), for a server with a private certificate.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
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
    pub alert: AfterIngest,
}

/// One mailbox to read: its name in messages and its options.
struct Mailbox {
    name: String,
    opts: ImapOptions,
}

pub fn cmd_imap(db: Option<PathBuf>, sa: &SettingsArgs, args: ImapArgs) -> anyhow::Result<Exit> {
    if args.dry_run && args.alert.alert {
        anyhow::bail!("--alert needs the database; it cannot be combined with --dry-run");
    }
    if args.watch && args.dry_run {
        anyhow::bail!("--watch stores what arrives; it cannot be combined with --dry-run");
    }
    let alert_settings = analysis::prepare_after_ingest(sa, &args.alert)?;
    let mailboxes = mailboxes(sa, &args)?;
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
    };
    if args.watch {
        let Some(store) = store.as_mut() else {
            unreachable!("--watch is refused with --dry-run")
        };
        let poll = std::time::Duration::from_secs(args.poll_interval.max(1));
        let mailbox = mailboxes.into_iter().next().context("no mailbox")?;
        return watch::watch(
            store,
            mailbox.opts,
            &ingest_opts,
            &args.alert,
            alert_settings.as_ref(),
            poll,
        );
    }
    let several = mailboxes.len() > 1;
    let mut exit = Exit::Ok;
    for mailbox in mailboxes {
        if several {
            println!("account {}:", mailbox.name);
        }
        match read_once(mailbox.opts, store.as_mut(), &ingest_opts) {
            Ok(e) => exit = exit.max(e),
            // One account failing does not keep the others from being read.
            Err(e) if several => {
                eprintln!("dmarcdb: account {}: {e:#}", mailbox.name);
                exit = Exit::Fatal;
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(store) = store.as_ref() {
        let alerted = analysis::alert_after_ingest(store, alert_settings.as_ref(), &args.alert)?;
        exit = exit.max(alerted);
    }
    Ok(exit)
}

/// One mailbox read to its end: the summary printed, the exit it calls for.
fn read_once(
    opts: ImapOptions,
    store: Option<&mut Store>,
    ingest_opts: &ingest::Options,
) -> anyhow::Result<Exit> {
    let mut source = imap::connect(opts).map_err(|e| anyhow::anyhow!("IMAP: {e}"))?;
    let summary = run_ingest(&mut source, store, ingest_opts)?;
    print_summary(&summary, ingest_opts.dry_run);
    Ok(ingest_exit(&summary))
}

/// The mailboxes this run reads; see the module doc.
fn mailboxes(sa: &SettingsArgs, args: &ImapArgs) -> anyhow::Result<Vec<Mailbox>> {
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
            let password = password(args)?;
            return Ok(vec![mailbox(account, password, args)]);
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
            let password = account_password(&a)?;
            Ok(mailbox(a, password, args))
        })
        .collect()
}

/// An account's options, flags given on the command line winning.
fn mailbox(a: ImapAccount, password: String, args: &ImapArgs) -> Mailbox {
    let starttls = args.starttls || a.starttls.unwrap_or(false);
    let default_port = if starttls { 143 } else { imap::DEFAULT_PORT };
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
        oauth2_token_file: a.oauth2_token_file,
        oauth2_token_command: a.oauth2_token_command,
        ca_file: args.ca_file.clone().or(a.ca_file),
        starttls,
        batch: args.batch.max(1),
    };
    Mailbox { name: a.name, opts }
}

/// The password: `--password-file`, else `DMARC_IMAP_PASS`.
fn password(args: &ImapArgs) -> anyhow::Result<String> {
    if let Some(f) = &args.password_file {
        return read_password(f);
    }
    match std::env::var("DMARC_IMAP_PASS") {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => anyhow::bail!("no IMAP password: set DMARC_IMAP_PASS or pass --password-file"),
    }
}

/// An account's password file; none is needed with an OAuth2 token.
fn account_password(a: &ImapAccount) -> anyhow::Result<String> {
    match &a.password_file {
        Some(f) => read_password(f).with_context(|| format!("account {}", a.name)),
        None if a.oauth2_token_file.is_some() || a.oauth2_token_command.is_some() => {
            Ok(String::new())
        }
        None => anyhow::bail!(
            "account {}: no password_file (or oauth2_token_file / oauth2_token_command) in its \
             [[imap]] section",
            a.name
        ),
    }
}

fn read_password(f: &std::path::Path) -> anyhow::Result<String> {
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
