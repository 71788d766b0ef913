//! The command line of analysis: `query VIEW`, `alert`, and `--alert`
//! after ingesting; the settings they share (`--config`, `--our-net`) and
//! the filters. Split from `cli.rs` to keep each file readable; like it,
//! this is glue that prints.
//!
//! Output rules: tables go to stdout. When a view comes back empty, the
//! table format prints one sentence instead (no reports yet / none in the
//! window, naming the newest report's date / the filters matched nothing);
//! JSON and CSV still print their empty array or header line on stdout so
//! they stay parseable, and the sentence goes to stderr.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use ipnet::IpNet;

use super::{open_store, QueryArgs, View, WindowArgs};
use crate::alert::{self, Outcome};
use crate::config::{self, File, Overrides, Settings};
use crate::exit::Exit;
use crate::notify::{self, Message};
use crate::query::{self, Empty, Filter, Scope, Side, Window};
use crate::render::{self, Format};
use crate::store::Store;
use crate::untrusted::{self, Visible};

/// Settings every analysis command reads (global flags).
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// Config file (TOML: our_nets, [alert] thresholds, [notify])
    /// [default: config.toml in the platform config dir, if present]
    #[arg(long, global = true, env = "DMARCDB_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// A network of ours (CIDR or address), repeatable. Replaces
    /// DMARCDB_OUR_NETS (comma-separated), which replaces the config
    /// file's our_nets.
    #[arg(
        long = "our-net",
        global = true,
        value_delimiter = ',',
        value_parser = config::parse_net,
        value_name = "CIDR"
    )]
    pub our_nets: Vec<IpNet>,
}

/// Filters of `dmarcdb query`.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only this domain: the report's policy domain or the record's header_from.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Only reports from this reporter (org_name).
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// Only source IPs in this network (CIDR or address).
    #[arg(long, value_name = "CIDR", value_parser = config::parse_net)]
    pub ip: Option<IpNet>,
    /// Only sources in our networks.
    #[arg(long, conflicts_with = "external")]
    pub ours: bool,
    /// Only sources outside our networks.
    #[arg(long)]
    pub external: bool,
    /// At most N rows, 0 for all [default: 25 for sources, 100 for
    /// failures, all for the others; daily shows every day]
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

impl FilterArgs {
    /// The filter these flags describe.
    pub fn filter(&self) -> Filter {
        Filter {
            domain: self.domain.clone(),
            org: self.org.clone(),
            ip: self.ip,
            side: match (self.ours, self.external) {
                (true, _) => Some(Side::Ours),
                (_, true) => Some(Side::External),
                _ => None,
            },
        }
    }
}

/// Where `--notify` sends.
#[derive(Debug, Clone, Default, Args)]
pub struct NotifyArgs {
    /// When there are problems, send them to Telegram (TELEGRAM_BOT_TOKEN
    /// and TELEGRAM_CHAT_ID) and/or the webhook. A failed send only warns.
    #[arg(long)]
    pub notify: bool,
    /// Webhook for --notify: gets a JSON POST {text, window, problems}.
    #[arg(
        long,
        env = "DMARCDB_WEBHOOK",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub webhook: Option<String>,
    /// Mail for --notify goes to this address (repeatable), through the
    /// SMTP server of [smtp] in the config file or DMARCDB_SMTP_HOST etc.
    #[arg(
        long = "email",
        env = "DMARCDB_NOTIFY_EMAIL",
        value_delimiter = ',',
        value_name = "ADDR"
    )]
    pub email_to: Vec<String>,
}

/// `dmarcdb alert`.
#[derive(Debug, Clone, Args)]
pub struct AlertArgs {
    #[command(flatten)]
    pub window: WindowArgs,
    /// Output format: table prints a summary (the 25 largest sources, ours or
    /// EXTERNAL, with pass %) and the problems;
    /// json prints {"window", "problems"}; csv one line per problem.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// `--alert` for the commands that ingest.
#[derive(Debug, Clone, Default, Args)]
pub struct AfterIngest {
    /// Afterwards, check the last --summary-days days like `dmarcdb alert`
    /// (exit 1 on problems, unless something worse happened).
    #[arg(long)]
    pub alert: bool,
    /// The window of --alert, in days.
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub summary_days: u32,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// Flags, environment and config file together.
pub fn settings(args: &SettingsArgs, notify: Option<&NotifyArgs>) -> anyhow::Result<Settings> {
    let file = config_file(args)?;
    let flags = Overrides {
        our_nets: args.our_nets.clone(),
        webhook: notify.and_then(|n| n.webhook.clone()),
        email_to: notify.map(|n| n.email_to.clone()).unwrap_or_default(),
    };
    Ok(Settings::resolve(&flags, &file, &|k| {
        std::env::var(k).ok()
    })?)
}

/// The config file: `--config`, or the default one if it exists.
pub fn config_file(args: &SettingsArgs) -> anyhow::Result<File> {
    // An empty DMARCDB_CONFIG counts as unset.
    let explicit = args.config.as_ref().filter(|p| !p.as_os_str().is_empty());
    Ok(match explicit {
        Some(p) => File::load(p, true)?,
        None => match config::default_path() {
            Some(p) => File::load(&p, false)?,
            None => File::default(),
        },
    })
}

/// The one note about having no networks.
pub fn note_nets(s: &Settings) {
    if s.our_nets.is_empty() {
        eprintln!(
            "dmarcdb: note: no networks of ours configured (--our-net, DMARCDB_OUR_NETS or \
             our_nets in the config file); every source counts as EXTERNAL"
        );
    }
}

/// The window in words, for headers and messages.
pub fn label(w: &WindowArgs, default_days: Option<u32>) -> String {
    match (w.days, w.since, w.until) {
        (Some(d), _, _) => last_days(d),
        (None, Some(s), Some(u)) => format!("{s} to {u}"),
        (None, Some(s), None) => format!("since {s}"),
        (None, None, Some(u)) => format!("until {u}"),
        (None, None, None) => default_days.map_or_else(|| "all time".to_string(), last_days),
    }
}

fn last_days(d: u32) -> String {
    format!("last {d} day{}", if d == 1 { "" } else { "s" })
}

/// `dmarcdb query VIEW`.
pub(super) fn cmd_query(
    db: super::DbArgs,
    sa: &SettingsArgs,
    args: QueryArgs,
) -> anyhow::Result<Exit> {
    let settings = settings(sa, None)?;
    if matches!(args.view, View::Sources | View::Senders | View::Failures)
        || args.filter.ours
        || args.filter.external
    {
        note_nets(&settings);
    }
    let store = open_store(db)?;
    let fancy = render::fancy_stdout();
    let mut out = std::io::stdout().lock();
    if let Some(msg) = write_query(&store, &settings, &args, fancy, &mut out)? {
        eprintln!("dmarcdb: {msg}");
    }
    Ok(Exit::Ok)
}

/// Runs `query` as `args` say and writes its output to `out`; for an
/// empty JSON or CSV result, returns the sentence for stderr. The same
/// function serves `dmarcdb query` and the JSON API of `serve`, so both
/// print exactly the same.
pub fn write_query(
    store: &Store,
    settings: &Settings,
    args: &QueryArgs,
    fancy: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Option<String>> {
    let view = args.view;
    let filter = args.filter.filter();
    let default_days = match view {
        View::Reports | View::TlsReports | View::FailureReports => None,
        _ => Some(7),
    };
    let window = args.window.window(default_days);
    let default_limit = match view {
        View::Sources => Some(25),
        View::Failures => Some(100),
        _ => None,
    };
    let scope = Scope {
        window,
        filter: &filter,
        nets: &settings.our_nets,
        limit: args.filter.limit.or(default_limit),
    };
    let catalogue = crate::enrich::catalogue::Catalogue::new(settings.senders.clone());
    let mut table = match view {
        View::Reports => query::reports_in(store, &scope)?,
        View::Sources => query::sources(store, &scope, &catalogue)?,
        View::Senders => query::senders(store, &scope, &catalogue)?,
        View::Daily => query::daily(store, &scope)?,
        View::Orgs => query::orgs(store, &scope)?,
        View::Domains => query::domains(store, &scope)?,
        View::Dkim => query::dkim(store, &scope)?,
        View::Spf => query::spf(store, &scope)?,
        View::Failures => query::failures(store, &scope)?,
        View::TlsReports => query::tls_reports(store, &window)?,
        View::Tls => query::tls(store, &window)?,
        View::TlsFailures => query::tls_failures(store, &window)?,
        View::FailureReports => query::failure_reports(store, &window)?,
    };
    let mut note = None;
    if table.rows.is_empty() && view.is_tls_or_failure() {
        let kind = if view == View::FailureReports {
            "DMARC failure reports"
        } else {
            "SMTP TLS reports"
        };
        let msg = format!(
            "No {kind} in the window ({}).",
            label(&args.window, default_days)
        );
        if args.format == Format::Table {
            writeln!(out, "{msg}")?;
            return Ok(None);
        }
        note = Some(msg);
    } else if table.rows.is_empty() {
        let now = chrono::Utc::now().timestamp();
        let msg =
            Empty::find(store, &window)?.message(&window, &label(&args.window, default_days), now);
        if args.format == Format::Table {
            writeln!(out, "{msg}")?;
            return Ok(None);
        }
        note = Some(msg);
    }
    if args.format == Format::Table {
        if view == View::Daily {
            render::add_bars(&mut table, fancy);
        }
        render::tag_ours(&mut table);
    }
    render::write(&table, args.format, fancy, out)?;
    Ok(note)
}

/// `dmarcdb alert`.
pub(super) fn cmd_alert(
    db: super::DbArgs,
    sa: &SettingsArgs,
    args: AlertArgs,
) -> anyhow::Result<Exit> {
    let settings = settings(sa, Some(&args.notify))?;
    note_nets(&settings);
    let store = open_store(db)?;
    let window = args.window.window(Some(7));
    let label = label(&args.window, Some(7));
    run_alert(
        &store,
        &settings,
        window,
        &label,
        args.format,
        args.notify.notify,
    )
}

/// Settings for `--alert`, read before ingesting so a bad config file
/// stops the run before anything is stored; `None` without `--alert`.
pub fn prepare_after_ingest(
    sa: &SettingsArgs,
    a: &AfterIngest,
) -> anyhow::Result<Option<Settings>> {
    if !a.alert {
        return Ok(None);
    }
    let s = settings(sa, Some(&a.notify))?;
    note_nets(&s);
    Ok(Some(s))
}

/// Runs `--alert` after an ingest (a blank line, then the summary, as the
/// Python script printed it). `Exit::Ok` when `settings` is `None`.
pub fn alert_after_ingest(
    store: &Store,
    settings: Option<&Settings>,
    a: &AfterIngest,
) -> anyhow::Result<Exit> {
    let Some(settings) = settings else {
        return Ok(Exit::Ok);
    };
    println!();
    let now = chrono::Utc::now().timestamp();
    let window = Window::last_days(a.summary_days, now);
    let label = last_days(a.summary_days);
    run_alert(
        store,
        settings,
        window,
        &label,
        Format::Table,
        a.notify.notify,
    )
}

/// Checks, prints in `format`, notifies when asked and there are problems.
fn run_alert(
    store: &Store,
    settings: &Settings,
    window: Window,
    label: &str,
    format: Format,
    notify: bool,
) -> anyhow::Result<Exit> {
    let cat = crate::enrich::catalogue::Catalogue::new(settings.senders.clone());
    let o = alert::check(
        store,
        window,
        &settings.our_nets,
        &cat,
        &settings.thresholds,
    )?;
    let empty = if o.sources.is_empty() {
        let now = chrono::Utc::now().timestamp();
        Some(Empty::find(store, &window)?.message(&window, label, now))
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => {
            let text = alert::report_text(&o, label, empty.as_deref());
            writeln!(out, "{}", untrusted::visible_block(&text))?
        }
        Format::Json => {
            untrusted::write_json(&mut out, &alert::to_json(&o))?;
            writeln!(out)?;
        }
        Format::Csv => render::write(&alert::to_table(&o), Format::Csv, false, &mut out)?,
    }
    drop(out);
    if let (Some(e), false) = (&empty, format == Format::Table) {
        eprintln!("dmarcdb: {e}");
    }
    if notify {
        send(settings, &o, label);
    }
    Ok(if o.has_problems() {
        Exit::Problems
    } else {
        Exit::Ok
    })
}

/// Sends the problems, if any, warning about what did not go out.
fn send(settings: &Settings, o: &Outcome, label: &str) {
    let ch = &settings.channels;
    if ch.telegram.is_none() && ch.webhook.is_none() && ch.email.is_none() {
        eprintln!(
            "dmarcdb: warning: --notify: no channel configured (TELEGRAM_BOT_TOKEN and \
             TELEGRAM_CHAT_ID, --webhook / DMARCDB_WEBHOOK, --email with an SMTP server, \
             or [notify] in the config file)"
        );
        return;
    }
    if !o.has_problems() {
        return;
    }
    let text = alert::notification_text(o, label);
    let msg = Message {
        text: &text,
        json: alert::to_json(o),
    };
    let (_, failed) = notify::send(ch, &msg);
    for e in failed {
        eprintln!("dmarcdb: warning: {}", Visible(&e.to_string()));
    }
}
