//! The command line of enrichment: `enrich`, `--enrich` after ingesting,
//! `readiness`. Glue that prints, like the rest of `cli`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::analysis::{settings, SettingsArgs};
use super::open_store;
use crate::config::{EnrichFile, File, Settings};
use crate::enrich::catalogue::Catalogue;
use crate::enrich::geo::Geo;
use crate::enrich::readiness::{Readiness, Target};
use crate::enrich::{rdns, run};
use crate::exit::Exit;
use crate::query::{self, Filter, Scope, Window};
use crate::render::{self, Column, Format, Table};
use crate::store::Store;

/// Where the facts come from (flags of `enrich`; `--enrich` reads the
/// environment and the config file only).
#[derive(Debug, Clone, Default, Args)]
pub struct EnrichArgs {
    /// AS numbers and names: a MaxMind-format database (GeoLite2-ASN,
    /// DB-IP ASN Lite, IPinfo Lite).
    #[arg(long, env = "DMARCDB_ASN_DB", value_name = "FILE")]
    pub asn_db: Option<PathBuf>,
    /// Countries: a MaxMind-format database (GeoLite2-Country, DB-IP
    /// Country Lite, IPinfo Lite).
    #[arg(long, env = "DMARCDB_COUNTRY_DB", value_name = "FILE")]
    pub country_db: Option<PathBuf>,
    /// Also look up reverse DNS (PTR names, confirmed forward).
    #[arg(long)]
    pub rdns: bool,
    /// The DNS server for --rdns [default: the system's resolver].
    #[arg(long, value_name = "IP:PORT")]
    pub dns_server: Option<SocketAddr>,
    /// Look every known address up again in the databases (after
    /// downloading new ones).
    #[arg(long)]
    pub refresh: bool,
}

/// `--enrich` for the commands that ingest.
#[derive(Debug, Clone, Default, Args)]
pub struct AfterIngestEnrich {
    /// Afterwards, enrich the new source addresses like `dmarcdb enrich`
    /// (databases from DMARCDB_ASN_DB / DMARCDB_COUNTRY_DB or [enrich] in
    /// the config file; reverse DNS when [enrich] rdns = true).
    #[arg(long)]
    pub enrich: bool,
}

/// `dmarcdb readiness`.
#[derive(Debug, Clone, Args)]
pub struct ReadinessArgs {
    /// The domain whose policy would change.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: String,
    /// The policy to judge.
    #[arg(long, value_enum, default_value_t = PolicyArg::Reject)]
    pub policy: PolicyArg,
    /// The last N days of reports.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub days: u32,
    /// Output format: table prints the verdict and its reasons; json
    /// {"domain", "policy", "ready", "blockers", ...}; csv one line per sender.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    Quarantine,
    Reject,
}

/// Reads the config file's `[enrich]` (and nothing else) for `--enrich`.
fn enrich_file(sa: &SettingsArgs) -> anyhow::Result<EnrichFile> {
    let explicit = sa.config.as_ref().filter(|p| !p.as_os_str().is_empty());
    let file = match explicit {
        Some(p) => File::load(p, true)?,
        None => match crate::config::default_path() {
            Some(p) => File::load(&p, false)?,
            None => File::default(),
        },
    };
    Ok(file.enrich)
}

/// Flags, environment, then `[enrich]`, into run options.
fn options(args: &EnrichArgs, f: &EnrichFile) -> anyhow::Result<run::Options> {
    let asn = args.asn_db.clone().or_else(|| f.asn_db.clone());
    let country = args.country_db.clone().or_else(|| f.country_db.clone());
    let geo = Geo::open(asn.as_deref(), country.as_deref())?;
    let server = match (&args.dns_server, &f.dns_server) {
        (Some(s), _) => Some(*s),
        (None, Some(s)) => Some(
            s.parse()
                .map_err(|_| anyhow::anyhow!("[enrich] dns_server: {s:?} is not IP:PORT"))?,
        ),
        (None, None) => None,
    };
    let d = rdns::Options::default();
    let rdns = (args.rdns || f.rdns == Some(true)).then(|| rdns::Options {
        server,
        timeout: f.rdns_timeout_ms.map_or(d.timeout, Duration::from_millis),
        concurrency: f.rdns_concurrency.unwrap_or(d.concurrency).max(1),
    });
    Ok(run::Options {
        geo,
        rdns,
        rdns_max_age: Duration::from_secs(u64::from(f.rdns_max_age_days.unwrap_or(30)) * 86_400),
        refresh: args.refresh,
    })
}

/// `dmarcdb enrich`.
pub(super) fn cmd_enrich(
    db: super::DbArgs,
    sa: &SettingsArgs,
    args: EnrichArgs,
) -> anyhow::Result<Exit> {
    let opts = options(&args, &enrich_file(sa)?)?;
    if opts.geo.is_empty() && opts.rdns.is_none() {
        anyhow::bail!(
            "nothing to look up: give --asn-db / --country-db (or DMARCDB_ASN_DB, \
             DMARCDB_COUNTRY_DB, [enrich] in the config file) and/or --rdns"
        );
    }
    let mut store = open_store(db)?;
    enrich_now(&mut store, &opts)
}

/// Settings for `--enrich`, read before ingesting so a missing database
/// file stops the run before anything is stored; `None` without it.
pub fn prepare_after_ingest(
    sa: &SettingsArgs,
    a: &AfterIngestEnrich,
) -> anyhow::Result<Option<run::Options>> {
    if !a.enrich {
        return Ok(None);
    }
    let env = EnrichArgs {
        asn_db: std::env::var_os("DMARCDB_ASN_DB")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        country_db: std::env::var_os("DMARCDB_COUNTRY_DB")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        ..EnrichArgs::default()
    };
    Ok(Some(options(&env, &enrich_file(sa)?)?))
}

/// Runs `--enrich` after an ingest.
pub fn enrich_after_ingest(store: &mut Store, opts: Option<&run::Options>) -> anyhow::Result<Exit> {
    match opts {
        Some(o) => enrich_now(store, o),
        None => Ok(Exit::Ok),
    }
}

fn enrich_now(store: &mut Store, opts: &run::Options) -> anyhow::Result<Exit> {
    let now = chrono::Utc::now().timestamp();
    let s = run::run(store, opts, now)?;
    for w in &s.warnings {
        eprintln!("dmarcdb: warning: {w}");
    }
    let mut parts = Vec::new();
    if !opts.geo.is_empty() {
        parts.push(format!(
            "{} address(es) looked up in the databases, {} known",
            s.geo_looked_up, s.geo_found
        ));
    }
    if opts.rdns.is_some() {
        parts.push(format!(
            "reverse DNS for {}: {} confirmed, {} without a name, {} failed",
            s.rdns_asked, s.rdns_confirmed, s.rdns_none, s.rdns_failed
        ));
    }
    println!("enrich: {}", parts.join("; "));
    Ok(Exit::Ok)
}

/// `dmarcdb readiness`: exit 0 when ready, 1 when not.
pub(super) fn cmd_readiness(
    db: super::DbArgs,
    sa: &SettingsArgs,
    args: ReadinessArgs,
) -> anyhow::Result<Exit> {
    let settings: Settings = settings(sa, None)?;
    let t = readiness_thresholds(sa)?;
    let store = open_store(db)?;
    let domain = args
        .domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let filter = Filter {
        domain: Some(domain),
        ..Filter::default()
    };
    let scope = Scope {
        window: Window::last_days(args.days, chrono::Utc::now().timestamp()),
        filter: &filter,
        nets: &settings.our_nets,
        limit: None,
    };
    let target = match args.policy {
        PolicyArg::Quarantine => Target::Quarantine,
        PolicyArg::Reject => Target::Reject,
    };
    let cat = Catalogue::new(settings.senders.clone());
    let r = query::readiness(&store, &scope, &cat, target, &t)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &r)?;
            writeln!(out)?;
        }
        Format::Csv => render::write(&readiness_table(&r), Format::Csv, false, &mut out)?,
        Format::Table => {
            write!(out, "{}", readiness_text(&r, args.days))?;
            if !r.blockers.is_empty() || !r.forwarders.is_empty() || !r.unknown.is_empty() {
                render::write(
                    &readiness_table(&r),
                    Format::Table,
                    render::fancy_stdout(),
                    &mut out,
                )?;
            }
        }
    }
    Ok(if r.ready { Exit::Ok } else { Exit::Problems })
}

fn readiness_thresholds(sa: &SettingsArgs) -> anyhow::Result<crate::config::ReadinessThresholds> {
    let explicit = sa.config.as_ref().filter(|p| !p.as_os_str().is_empty());
    let file = match explicit {
        Some(p) => File::load(p, true)?,
        None => match crate::config::default_path() {
            Some(p) => File::load(&p, false)?,
            None => File::default(),
        },
    };
    Ok(file.readiness.thresholds())
}

/// The verdict in words, for the table format.
fn readiness_text(r: &Readiness, days: u32) -> String {
    let mut s = format!(
        "{}: {} (last {days} days, {} messages)\nnext step: {}\n",
        r.domain, r.verdict, r.messages, r.next_step
    );
    let a = &r.would_act_on;
    s.push_str(&format!(
        "p={} would act on: {} of ours, {} from known services, {} forwarded, {} from unknown sources\n",
        r.policy.as_str(),
        a.ours,
        a.known_services,
        a.forwarded,
        a.unknown
    ));
    if let Some(p) = &r.published {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "published (newest report): p={} sp={} np={} pct={}\n",
            opt(&p.p),
            opt(&p.sp),
            opt(&p.np),
            p.pct.map_or("-".into(), |n| n.to_string())
        ));
    }
    if r.subdomains.messages > 0 || !r.subdomains.sp.is_empty() || !r.subdomains.np.is_empty() {
        s.push_str(&format!(
            "subdomains: {} messages; sp seen: {}; np seen: {}\n",
            r.subdomains.messages,
            list(&r.subdomains.sp),
            list(&r.subdomains.np)
        ));
    }
    for d in &r.drift {
        s.push_str(&format!(
            "DNS drift: {} last saw p={} sp={} pct={}\n",
            d.org_name,
            d.policy.p.as_deref().unwrap_or("-"),
            d.policy.sp.as_deref().unwrap_or("-"),
            d.policy.pct.map_or("-".into(), |n| n.to_string())
        ));
    }
    s
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// One row per sender that matters: blockers, forwarders, unknown.
fn readiness_table(r: &Readiness) -> Table {
    use serde_json::json;
    let mut t = Table::new(vec![
        Column::text("role"),
        Column::text("name"),
        Column::text("category"),
        Column::num("messages"),
        Column::num("messages_fail"),
        Column::num("messages_forwarded"),
        Column::num("pass_pct"),
        Column::text("advice"),
    ]);
    for b in &r.blockers {
        t.rows.push(vec![
            json!("blocker"),
            json!(b.name),
            json!(b.category.as_str()),
            json!(b.messages),
            json!(b.messages_fail),
            json!(0),
            json!(b.pass_pct),
            json!(b.advice),
        ]);
    }
    for (role, list) in [("forwarder", &r.forwarders), ("unknown", &r.unknown)] {
        for s in list {
            t.rows.push(vec![
                json!(role),
                json!(s.name),
                json!(s.category.as_str()),
                json!(s.messages),
                json!(s.messages_fail),
                json!(s.messages_forwarded),
                json!(s.pass_pct()),
                json!(""),
            ]);
        }
    }
    t
}
