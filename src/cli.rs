//! The command line: clap definitions (their doc comments are the help
//! text) and the glue that runs each command and maps its result to an
//! [exit code](crate::exit::Exit). This is the only place that prints;
//! text from outside (names, reasons, report fields) is printed through
//! [`untrusted`](crate::untrusted), so it cannot act on the terminal.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

mod analysis;
mod copy;
mod enrich;
mod imap;
mod ingest;
pub(crate) use ingest::run_ingest;
use ingest::{cmd_ingest, ingest_and_report, ingest_exit, print_summary, progress_bar};
mod pages;
mod quarantine;
mod shell;
pub use analysis::{
    label, write_query, AfterIngest, AlertArgs, FilterArgs, NotifyArgs, SettingsArgs,
};

use crate::exit::Exit;
use crate::extract::Limits;

use crate::query::Window;
use crate::render::Format;
use crate::store::{Location, Store};
use crate::untrusted::Visible;

/// DMARC aggregate report analyzer: ingest reports from files, Maildir,
/// mbox or IMAP into one SQLite file, then ask it who sends as you.
#[derive(Debug, Parser)]
#[command(
    name = "dmarcdb",
    version = env!("DMARCDB_VERSION"),
    about,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArgs,

    #[command(flatten)]
    pub settings: SettingsArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Where the database is, and how long to wait for it.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// The database: a SQLite file, or a PostgreSQL server as
    /// postgres://user@host/dbname (also from DATABASE_URL) [default:
    /// dmarcdb.sqlite in the platform data dir]
    #[arg(long, global = true, env = "DMARCDB_DB", value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
    /// How long to wait, in seconds, while another process writes to the
    /// database, before giving up with an error.
    #[arg(
        long,
        global = true,
        env = "DMARCDB_BUSY_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = crate::store::DEFAULT_BUSY_TIMEOUT.as_secs()
    )]
    pub busy_timeout: u64,
}

/// Each subcommand's arguments are built only when that subcommand is
/// used (`defer`): building all fifteen to parse one took half a
/// millisecond of every run, a tenth of a re-ingest of 200 reports
/// (bench/README.md, thirteenth round). Help, completions and the manual
/// build them all, as clap does before it renders.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Store reports from files, directories (recursive), Maildirs, mbox
    /// files, or `-` for stdin.
    Ingest(IngestArgs),
    /// Store reports from IMAP mailboxes (unseen messages; marked seen
    /// once stored), once or as mail arrives (--watch).
    Imap(Box<imap::ImapArgs>),
    /// Print stored data.
    Query(QueryArgs),
    /// Write the window as one self-contained HTML report (charts and
    /// tables, no script, nothing loaded from the network).
    Report(pages::ReportArgs),
    /// Serve the report as a live, read-only dashboard with drill-down and
    /// a JSON API (loopback only unless a token is set).
    Serve(pages::ServeArgs),
    /// Mail the report (HTML and plain text) over SMTP.
    Digest(pages::DigestArgs),
    /// Check the window against the alert rules (alignment broken, possible
    /// spoofing, new senders); exit 1 when there are problems, 0 when there
    /// are none.
    Alert(AlertArgs),
    /// Write a deterministic corpus of synthetic reports (for bench/run.sh).
    #[command(hide = true)]
    Generate(crate::generate::GenerateArgs),
    /// Rebuild every stored report (aggregate, SMTP TLS, failure) from its
    /// original bytes (after an upgrade) and retry the quarantined inputs.
    /// Safe to run again.
    Reparse(ReparseArgs),
    /// List, export or drop the inputs kept in quarantine (those that
    /// could not be stored).
    Quarantine(quarantine::QuarantineArgs),
    /// Copy every report (from its original bytes) and quarantined input
    /// from one database into another: SQLite to PostgreSQL or back.
    /// Reports and inputs already there are skipped: safe to run again.
    Copy(copy::CopyArgs),
    /// Look up what is known about source addresses: AS and country from
    /// MaxMind-format databases, reverse DNS. Kept apart from the reports.
    Enrich(enrich::EnrichArgs),
    /// What publishing p=quarantine or p=reject for a domain would do, and
    /// whether it is safe now; exit 0 when ready, 1 when not.
    Readiness(enrich::ReadinessArgs),
    /// Print a shell completion script (bash, zsh, fish) on stdout.
    Completions(shell::CompletionsArgs),
    /// Print the manual page (roff) on stdout: `dmarcdb man | man -l -`.
    Man(shell::ManArgs),
}

#[derive(Debug, Args)]
pub struct ReparseArgs {
    /// Largest quarantined input, and largest decompressed report, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub max_size: u64,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, directories, Maildirs, mbox files; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Parse and print one line per report; write nothing, mark nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Maildir: also read messages already seen (backfill).
    #[arg(long)]
    pub all: bool,
    /// Maildir: also read Maildir++ sub-folders (`.Folder/`).
    #[arg(long)]
    pub recursive: bool,
    /// Largest input file, and largest decompressed report, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub max_size: u64,
    /// Store DMARC failure reports with the local part of every address
    /// replaced by a keyed hash, and without the raw mail (also
    /// `[ingest] redact = true` in the config file).
    #[arg(long)]
    pub redact: bool,
    #[command(flatten)]
    pub enrich: enrich::AfterIngestEnrich,
    #[command(flatten)]
    pub alert: AfterIngest,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// What to show.
    #[arg(value_enum)]
    pub view: View,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The views of `dmarcdb query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum View {
    /// Per source IP, ours or EXTERNAL, largest first (default --limit 25),
    /// with its sender name, AS, country and reverse DNS when known.
    Sources,
    /// Per named sender (a service, ours, or an AS), largest first, with
    /// forwarded mail counted apart.
    Senders,
    /// Per UTC day of the window; a report spanning days is shared out
    /// over them in whole messages.
    Daily,
    /// Per reporter (org_name).
    Orgs,
    /// Per policy domain and header_from.
    Domains,
    /// Per DKIM signing domain and selector, with results.
    Dkim,
    /// Per SPF domain, with results.
    Spf,
    /// Records that failed DMARC, in detail (default --limit 100).
    Failures,
    /// One row per stored report (default: all time).
    Reports,
    /// One row per stored SMTP TLS report (default: all time).
    TlsReports,
    /// SMTP TLS sessions per policy domain and type, with failure % and top result types.
    Tls,
    /// SMTP TLS failed sessions per result type, receiving MX and sending MTA IP.
    TlsFailures,
    /// One row per stored DMARC failure report (default: all time).
    FailureReports,
}

impl View {
    /// Views of SMTP TLS or failure reports, which take only the window
    /// (no record filters, no limit).
    pub fn is_tls_or_failure(self) -> bool {
        matches!(
            self,
            View::TlsReports | View::Tls | View::TlsFailures | View::FailureReports
        )
    }
}

/// Which reports to look at, by the start of their date range (`daily`:
/// which days). `--since` after `--until` is refused (`Cli::check`).
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// The last N days (reports counted by their begin date; `daily`
    /// shows the last N days, today included).
    #[arg(long, value_name = "N", conflicts_with_all = ["since", "until"])]
    pub days: Option<u32>,
    /// From this day (YYYY-MM-DD, UTC), inclusive.
    #[arg(long, value_name = "DATE")]
    pub since: Option<NaiveDate>,
    /// Up to this day (YYYY-MM-DD, UTC), inclusive.
    #[arg(long, value_name = "DATE")]
    pub until: Option<NaiveDate>,
}

impl WindowArgs {
    /// The window, with `default_days` when nothing was given (`None`: all time).
    pub fn window(&self, default_days: Option<u32>) -> Window {
        let now = chrono::Utc::now().timestamp();
        match (self.days, self.since, self.until) {
            (Some(d), _, _) => Window::last_days(d, now),
            (None, None, None) => match default_days {
                Some(d) => Window::last_days(d, now),
                None => Window::default(),
            },
            (None, s, u) => Window::dates(s, u),
        }
    }
}

impl Cli {
    /// What clap cannot check alone: `--since` after `--until` leaves no
    /// day in the window, a usage error rather than an empty answer.
    fn check(&self) -> Result<(), clap::Error> {
        let window = match &self.command {
            Command::Query(a) => &a.window,
            Command::Alert(a) => &a.window,
            _ => return Ok(()),
        };
        match (window.since, window.until) {
            (Some(since), Some(until)) if since > until => Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("--since {since} is after --until {until}: no day is in that window"),
            )),
            _ => Ok(()),
        }
    }
}

/// Parses the command line, runs it, and returns the exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.check() {
        // Printed as clap prints its own usage errors, with their code.
        let _ = e.print();
        return Exit::Fatal.into();
    }
    match dispatch(cli) {
        Ok(code) => code.into(),
        // `dmarcdb query ... | head` closes the pipe early: not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Exit::Ok.into()
        }
        Err(e) => {
            eprintln!("dmarcdb: error: {}", Visible(&format!("{e:#}")));
            Exit::Fatal.into()
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Ingest(args) => cmd_ingest(cli.db, &cli.settings, args),
        Command::Imap(args) => imap::cmd_imap(cli.db, &cli.settings, *args),
        Command::Query(args) => analysis::cmd_query(cli.db, &cli.settings, args),
        Command::Alert(args) => analysis::cmd_alert(cli.db, &cli.settings, args),
        Command::Report(args) => pages::cmd_report(cli.db, &cli.settings, args),
        Command::Serve(args) => pages::cmd_serve(cli.db, &cli.settings, args),
        Command::Digest(args) => pages::cmd_digest(cli.db, &cli.settings, args),
        Command::Reparse(args) => cmd_reparse(cli.db, &cli.settings, args),
        Command::Quarantine(args) => quarantine::cmd_quarantine(cli.db, args),
        Command::Copy(args) => copy::cmd_copy(args),
        Command::Enrich(args) => enrich::cmd_enrich(cli.db, &cli.settings, args),
        Command::Readiness(args) => enrich::cmd_readiness(cli.db, &cli.settings, args),
        Command::Completions(args) => shell::cmd_completions(&args),
        Command::Man(args) => shell::cmd_man(&args),
        Command::Generate(args) => {
            let w = crate::generate::write_corpus(&args.corpus, args.format, &args.out)
                .with_context(|| format!("cannot write to {}", args.out.display()))?;
            println!(
                "{} report(s), {} records, {} bytes in {}",
                w.files,
                w.records,
                w.bytes,
                args.out.display()
            );
            Ok(Exit::Ok)
        }
    }
}

/// Where the database is: `--db`, `DMARCDB_DB`, a PostgreSQL URL in
/// `DATABASE_URL`, or the file in the platform data dir.
fn db_location(db: &DbArgs) -> anyhow::Result<Location> {
    if let Some(p) = &db.db {
        return Ok(Location::parse(p.as_os_str()));
    }
    if let Some(url) = std::env::var_os("DATABASE_URL") {
        if let loc @ Location::Postgres(_) = Location::parse(&url) {
            return Ok(loc);
        }
    }
    let dirs = directories::ProjectDirs::from("", "", "dmarcdb")
        .context("no home directory to put the database in; pass --db")?;
    Ok(Location::File(dirs.data_dir().join("dmarcdb.sqlite")))
}

fn open_store(db: DbArgs) -> anyhow::Result<Store> {
    let loc = db_location(&db)?;
    let wait = std::time::Duration::from_secs(db.busy_timeout);
    Store::connect_waiting(&loc, wait)
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {}", loc.display(), e.explain()))
}

fn cmd_reparse(db: DbArgs, sa: &SettingsArgs, args: ReparseArgs) -> anyhow::Result<Exit> {
    // Failure reports recovered from quarantine honour `[ingest] redact`.
    let redact = analysis::settings(sa, None)?.redact;
    let mut store = open_store(db)?;
    let opts = crate::ingest::Options {
        dry_run: false,
        limits: Limits {
            max_decompressed: args.max_size.saturating_mul(1024 * 1024),
            ..Limits::default()
        },
        redact,
    };
    let mut out = std::io::stdout().lock();
    let mut on_event = |ev: &crate::reparse::Event<'_>| match ev {
        crate::reparse::Event::Changed { id, header, source } => {
            let m = &header.metadata;
            let _ = writeln!(
                out,
                "rebuilt report {id}: {} {} ({})",
                Visible(&m.org_name),
                Visible(&m.report_id),
                Visible(source)
            );
        }
        crate::reparse::Event::ChangedOther {
            kind,
            id,
            what,
            source,
        } => {
            let _ = writeln!(
                out,
                "rebuilt {} {id}: {} ({})",
                kind.as_str(),
                Visible(what),
                Visible(source)
            );
        }
        crate::reparse::Event::Recovered { source } => {
            let _ = writeln!(out, "stored from quarantine: {}", Visible(source));
        }
        crate::reparse::Event::Rejected(r) => {
            eprintln!(
                "dmarcdb: rejected {}: {}",
                Visible(&r.name),
                Visible(&r.reason)
            );
        }
    };
    let s = crate::reparse::run(&mut store, &opts, &mut on_event)?;
    let (t, f) = (&s.tls, &s.failure);
    println!(
        "aggregate reports: {} changed, {} unchanged, {} could not be re-parsed; \
         TLS reports: {} changed, {} unchanged, {} could not be re-parsed; \
         failure reports: {} changed, {} unchanged, {} could not be re-parsed, \
         {} redacted (no mail kept); \
         quarantine: {} now stored, {} still failing.",
        s.changed,
        s.unchanged,
        s.failed.len(),
        t.changed,
        t.unchanged,
        t.failed.len(),
        f.changed,
        f.unchanged,
        f.failed.len(),
        f.redacted,
        s.recovered,
        s.still_failing
    );
    Ok(if s.all_parsed() && s.still_failing == 0 {
        Exit::Ok
    } else {
        Exit::Rejected
    })
}
