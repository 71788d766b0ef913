//! The command line of the pictures: `report --html`, `serve` and
//! `digest`. Glue like the rest of `cli`: it reads flags and settings,
//! calls [`overview`](crate::overview), [`page`](crate::page),
//! [`serve`](crate::serve) and [`mail`](crate::mail), and prints.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::analysis::{config_file, label, note_nets, settings};
use super::{db_location, open_store, DbArgs, FilterArgs, SettingsArgs, WindowArgs};
use crate::config::{read_secret, resolve_smtp, Settings, SmtpFlags};
use crate::exit::Exit;
use crate::mail::{self, Security};
use crate::overview;
use crate::page;
use crate::query::Filter;
use crate::serve;
use crate::site::Pages;
use crate::store::Store;

/// `dmarcdb report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the report as one self-contained HTML file (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// `dmarcdb serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080, or [serve] listen].
    /// Anything but loopback needs a token.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// A file whose first line is the token every request must carry
    /// (`Authorization: Bearer TOKEN`, or any user name with the token as
    /// password) [default: [serve] token_file].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// `dmarcdb digest`.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Recipient (repeatable, or comma-separated).
    #[arg(long, required = true, value_delimiter = ',', value_name = "ADDR")]
    pub to: Vec<String>,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub smtp: SmtpArgs,
}

/// Where mail goes out. Each flag falls back to its environment variable,
/// then to `[smtp]` in the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct SmtpArgs {
    /// SMTP server [env: DMARCDB_SMTP_HOST].
    #[arg(long, value_name = "HOST")]
    pub smtp_host: Option<String>,
    /// Its port [env: DMARCDB_SMTP_PORT; default 587, 465 with tls, 25 plain].
    #[arg(long, value_name = "PORT")]
    pub smtp_port: Option<u16>,
    /// starttls (required upgrade), tls (implicit), or plain (loopback
    /// only) [env: DMARCDB_SMTP_SECURITY; default starttls].
    #[arg(long, value_enum, value_name = "MODE")]
    pub smtp_security: Option<Security>,
    /// Login name [env: DMARCDB_SMTP_USER]; no login without one.
    #[arg(long, value_name = "USER")]
    pub smtp_user: Option<String>,
    /// A file holding the password (first line). Otherwise DMARCDB_SMTP_PASS.
    #[arg(long, value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// The From address [env: DMARCDB_SMTP_FROM; default the login name].
    #[arg(long, value_name = "ADDR")]
    pub smtp_from: Option<String>,
    /// Also trust this CA (PEM), for a server with a private certificate.
    #[arg(long, value_name = "PEM")]
    pub smtp_ca_file: Option<PathBuf>,
}

impl SmtpArgs {
    fn flags(&self) -> SmtpFlags {
        SmtpFlags {
            host: self.smtp_host.clone(),
            port: self.smtp_port,
            security: self.smtp_security,
            user: self.smtp_user.clone(),
            password_file: self.smtp_password_file.clone(),
            from: self.smtp_from.clone(),
            ca_file: self.smtp_ca_file.clone(),
        }
    }
}

/// The filters in words, for a page's header.
fn filter_words(f: &Filter) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(o) = &f.org {
        out.push(("reporter".to_string(), o.clone()));
    }
    if let Some(d) = &f.domain {
        out.push(("domain".to_string(), d.clone()));
    }
    if let Some(ip) = f.ip {
        out.push(("IP".to_string(), ip.to_string()));
    }
    out
}

fn gather(
    store: &Store,
    settings: &Settings,
    window: &WindowArgs,
    filter: &FilterArgs,
) -> anyhow::Result<page::Report> {
    let f = filter.filter();
    let req = overview::Request {
        window: window.window(Some(7)),
        filter: &f,
        filter_words: filter_words(&f),
        settings,
        now: chrono::Utc::now().timestamp(),
        rows: filter.limit.map_or(overview::ROWS, |n| n as usize),
    };
    Ok(overview::gather(store, &req)?)
}

/// `dmarcdb report --html FILE`.
pub(super) fn cmd_report(db: DbArgs, sa: &SettingsArgs, args: ReportArgs) -> anyhow::Result<Exit> {
    let settings = settings(sa, None)?;
    note_nets(&settings);
    let store = open_store(db)?;
    let report = gather(&store, &settings, &args.window, &args.filter)?;
    let html = page::report_html(&report);
    if args.html.as_os_str() == "-" {
        std::io::stdout().lock().write_all(html.as_bytes())?;
    } else {
        std::fs::write(&args.html, html)
            .with_context(|| format!("cannot write {}", args.html.display()))?;
        eprintln!(
            "dmarcdb: wrote {} ({})",
            args.html.display(),
            label(&args.window, Some(7))
        );
    }
    Ok(Exit::Ok)
}

/// `dmarcdb serve`.
pub(super) fn cmd_serve(db: DbArgs, sa: &SettingsArgs, args: ServeArgs) -> anyhow::Result<Exit> {
    let settings = settings(sa, None)?;
    note_nets(&settings);
    let file = config_file(sa)?;
    let listen = match (args.listen, &file.serve.listen) {
        (Some(a), _) => a,
        (None, Some(s)) => s
            .parse()
            .with_context(|| format!("[serve] listen = {s:?} is not ADDR:PORT"))?,
        (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    let token = match args.token_file.as_ref().or(file.serve.token_file.as_ref()) {
        Some(p) => {
            let t = read_secret(p)?;
            anyhow::ensure!(
                !t.trim().is_empty(),
                "the token file {} is empty",
                p.display()
            );
            Some(t.trim().to_string())
        }
        None => None,
    };
    let loc = db_location(&db)?;
    let wait = std::time::Duration::from_secs(db.busy_timeout);
    // Open (and migrate) once here, so that an unusable file stops the
    // command before it listens.
    drop(open_store(db)?);
    let opts = serve::Options { listen, token };
    serve::run(
        &opts,
        || {
            Ok(Pages {
                store: Store::connect_waiting(&loc, wait).map_err(|e| e.explain())?,
                settings: settings.clone(),
            })
        },
        |addr| {
            eprintln!("dmarcdb: serving http://{addr}/ (read-only; Ctrl-C stops)");
        },
    )?;
    Ok(Exit::Ok)
}

/// `dmarcdb digest --to ADDR`.
pub(super) fn cmd_digest(db: DbArgs, sa: &SettingsArgs, args: DigestArgs) -> anyhow::Result<Exit> {
    let settings = settings(sa, None)?;
    let file = config_file(sa)?;
    let smtp = resolve_smtp(&args.smtp.flags(), &file.smtp, &|k| std::env::var(k).ok())?.context(
        "no SMTP server: --smtp-host, DMARCDB_SMTP_HOST or [smtp] host in the config file",
    )?;
    let store = open_store(db)?;
    let report = gather(&store, &settings, &args.window, &args.filter)?;
    let subject = subject(&report);
    let mail = mail::Mail {
        to: args.to.clone(),
        subject,
        text: page::report_text(&report),
        html: page::report_html(&report),
    };
    mail::send(&smtp, &mail)?;
    eprintln!("dmarcdb: digest sent to {}", args.to.join(", "));
    Ok(Exit::Ok)
}

/// "DMARC digest 2024-01-01 to 2024-01-07: 1,234 messages, 98.5 % pass".
fn subject(r: &page::Report) -> String {
    let figure = |label: &str| {
        r.headline
            .iter()
            .find(|f| f.label == label)
            .map(|f| page::sections::value(f.now))
            .unwrap_or_default()
    };
    format!(
        "DMARC digest {} to {}: {} messages, {} pass",
        r.period.since,
        r.period.until,
        figure("Messages"),
        figure("DMARC pass")
    )
}
