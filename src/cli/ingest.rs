//! `dmarcdb ingest` (and the ingest that `imap` runs): the source from
//! the paths, the run with a progress bar, each event printed as it
//! happens, the summary, and the exit code it comes to.

use std::io::{IsTerminal, Write};

use super::{
    analysis, db_location, enrich, open_store, AfterIngest, DbArgs, IngestArgs, SettingsArgs,
};
use crate::exit::Exit;
use crate::extract::Limits;
use crate::ingest::{self, Event, Summary, Target};
use crate::source::files::{self, PathOptions};
use crate::source::own::OwnFiles;
use crate::source::Source;
use crate::store::variant::Kept;
use crate::store::Location;
use crate::untrusted::{visible, Visible};

pub(super) fn cmd_ingest(db: DbArgs, sa: &SettingsArgs, args: IngestArgs) -> anyhow::Result<Exit> {
    if args.dry_run && args.alert.alert {
        anyhow::bail!("--alert needs the database; it cannot be combined with --dry-run");
    }
    if args.dry_run && args.enrich.enrich {
        anyhow::bail!("--enrich needs the database; it cannot be combined with --dry-run");
    }
    let alert_settings = analysis::prepare_after_ingest(sa, &args.alert)?;
    let enrich_opts = enrich::prepare_after_ingest(sa, &args.enrich)?;
    let max = args.max_size.saturating_mul(1024 * 1024);
    let opts = ingest::Options {
        dry_run: args.dry_run,
        limits: Limits {
            max_decompressed: max,
            ..Limits::default()
        },
        redact: args.redact || analysis::settings(sa, None)?.redact,
    };
    let loc = db_location(&db)?;
    // A dry run skips them too, so it shows what the real run does.
    let own = std::sync::Arc::new(match &loc {
        Location::File(path) => OwnFiles::database(path),
        Location::Postgres(_) => OwnFiles::default(),
    });
    // A Maildir message is marked seen right after its commit: make the
    // commit survive a power cut first (see store.rs).
    let durable = args
        .paths
        .iter()
        .any(|p| crate::source::maildir::is_maildir(p));
    // A new file is made while the first inputs are parsed, unless the
    // walk could meet it (see `OwnFiles::within`).
    let mut opening = match &loc {
        Location::File(path) if !args.dry_run && !own.within(&args.paths) => {
            let wait = std::time::Duration::from_secs(db.busy_timeout);
            if path.symlink_metadata().is_err() {
                // Memory for the new file's page cache, faulted in while
                // the file is made (`store::pagecache`). SAFETY: nothing
                // has used SQLite in this process yet, and no other thread
                // does: the parsing threads and the file's own start later.
                unsafe { crate::store::reserve_page_cache() };
            }
            ingest::Opening::start_new(path, wait, durable)
        }
        _ => None,
    };
    let mut store = None;
    let target = match &mut opening {
        _ if args.dry_run => Target::Nowhere,
        Some(opening) => Target::Opening(opening),
        None => {
            let store = store.insert(open_store(db)?);
            if durable {
                store.set_durable(true)?;
            }
            Target::Store(store)
        }
    };
    let mut source = files::open_paths(
        &args.paths,
        &PathOptions {
            all: args.all,
            recursive: args.recursive,
            dry_run: args.dry_run,
            max_input: max,
            own,
        },
    );
    ingest_and_report(
        source.as_mut(),
        target,
        &opts,
        enrich_opts.as_ref(),
        &args.alert,
        alert_settings.as_ref(),
    )
}

/// The end every ingest command shares: run the pipeline, print the
/// summary, run `--alert` when asked, and return the most severe outcome.
pub(super) fn ingest_and_report(
    source: &mut dyn Source,
    mut target: Target<'_>,
    opts: &ingest::Options,
    enrich_opts: Option<&crate::enrich::run::Options>,
    after: &AfterIngest,
    alert_settings: Option<&crate::config::Settings>,
) -> anyhow::Result<Exit> {
    let summary = run_ingest(source, target.reborrow(), opts)?;
    print_summary(&summary, opts.dry_run);
    let mut exit = ingest_exit(&summary);
    if let Some(store) = target.store() {
        // Enriched first, so the alert can name the senders.
        exit = exit.max(enrich::enrich_after_ingest(store, enrich_opts)?);
        exit = exit.max(analysis::alert_after_ingest(store, alert_settings, after)?);
    }
    Ok(exit)
}

/// Runs the pipeline with progress on a terminal and one line per rejection.
pub(crate) fn run_ingest(
    source: &mut dyn Source,
    target: Target<'_>,
    opts: &ingest::Options,
) -> anyhow::Result<Summary> {
    let bar = progress_bar(source.len_hint());
    let mut out = std::io::stdout().lock();
    let mut on_event = |ev: &Event<'_>| match ev {
        Event::DryRun {
            name,
            org_name,
            report_id,
            records,
            messages_fail,
        } => {
            let (org_name, report_id) = (visible(org_name), visible(report_id));
            let line = format!(
                "{org_name:<28} report={report_id:<32} records={records} fail_msgs={messages_fail}  ({})",
                Visible(name)
            );
            match &bar {
                Some(b) => b.println(line),
                None => {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        Event::Rejected(r) => {
            let line = format!(
                "dmarcdb: rejected {}: {}",
                Visible(&r.name),
                Visible(&r.reason)
            );
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
        Event::Stored {
            name,
            outcome: crate::store::Stored::Conflicting { header, kept },
        } => {
            let line = conflict_line(name, header, *kept);
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
        Event::DryRunOther { name, kind } => {
            let line = format!("{:<28} ({name})", kind.as_str());
            match &bar {
                Some(b) => b.println(line),
                None => {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        Event::Stored { .. } | Event::StoredOther { .. } => {}
        Event::InputDone => {
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
    };
    let path = match &target {
        Target::Store(store) => store.path().map(str::to_owned),
        Target::Opening(opening) => Some(opening.path().display().to_string()),
        Target::Nowhere => None,
    };
    let result = ingest::run(source, target, opts, &mut on_event);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match result {
        Ok(summary) => Ok(summary),
        Err(ingest::Fatal::Db(e)) => Err(anyhow::anyhow!(
            "database {}: {}",
            path.as_deref().unwrap_or("(in memory)"),
            e.explain()
        )),
        // As `open_store` words it: the same error, found later.
        Err(ingest::Fatal::Open(e)) => Err(anyhow::anyhow!(
            "cannot open database {}: {}",
            path.as_deref().unwrap_or("(in memory)"),
            e.explain()
        )),
        Err(e) => Err(e.into()),
    }
}

/// One line about a conflicting copy: which report, and which copy won.
pub(super) fn conflict_line(name: &str, header: &crate::model::ReportHeader, kept: Kept) -> String {
    let m = &header.metadata;
    let outcome = match kept {
        Kept::Stored => "the stored copy stays; this one is kept as a variant",
        Kept::New => "it replaced the stored copy, which needed markup repair (kept as a variant)",
    };
    format!(
        "dmarcdb: conflicting copy of report {} from {} in {}: {outcome}",
        Visible(&m.report_id),
        Visible(&m.org_name),
        Visible(name)
    )
}

pub(super) fn progress_bar(len: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    Some(bar)
}

pub(super) fn print_summary(s: &Summary, dry_run: bool) {
    for w in &s.warnings {
        eprintln!("dmarcdb: warning: {}", Visible(w));
    }
    if s.own_skipped > 0 {
        println!(
            "Skipped {} file(s) this run writes itself (the database and its -wal/-shm/-journal).",
            s.own_skipped
        );
    }
    if dry_run {
        println!(
            "DRY-RUN: {} input(s), {} report(s) parsed, {} not a report, {} rejected; nothing written.",
            s.inputs,
            s.parsed,
            s.not_report,
            s.rejected.len()
        );
    } else {
        let conflicting = match s.conflicting {
            0 => String::new(),
            n => format!(", {n} conflicting"),
        };
        // Aggregate reports only: the words of earlier versions.
        let new = if s.tls_new + s.failure_new == 0 {
            format!("{} new report(s) ({} records)", s.new, s.records)
        } else {
            format!(
                "{} new report(s) ({} aggregate with {} records, {} TLS, {} failure)",
                s.new_total(),
                s.new,
                s.records,
                s.tls_new,
                s.failure_new
            )
        };
        println!(
            "{new}, {} already stored{conflicting}, {} not a report, {} rejected.",
            s.duplicate,
            s.not_report,
            s.rejected.len()
        );
    }
}

pub(super) fn ingest_exit(s: &Summary) -> Exit {
    if s.rejected.is_empty() {
        Exit::Ok
    } else {
        Exit::Rejected
    }
}
