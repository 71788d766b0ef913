//! `dmarcdb copy --from DB --to DB`: the CLI side of [`crate::copy`].

use std::ffi::OsString;

use anyhow::Context;
use clap::Args;

use super::progress_bar;
use crate::exit::Exit;
use crate::extract::Limits;
use crate::store::{Location, Store};

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy from: a SQLite file or a postgres:// URL.
    #[arg(long, value_name = "PATH|URL")]
    pub from: OsString,
    /// The database to copy into (created if needed).
    #[arg(long, value_name = "PATH|URL")]
    pub to: OsString,
}

pub fn cmd_copy(args: CopyArgs) -> anyhow::Result<Exit> {
    let (from, to) = (Location::parse(&args.from), Location::parse(&args.to));
    if from == to {
        anyhow::bail!("--from and --to are the same database");
    }
    if let Location::File(p) = &from {
        if !p.exists() {
            anyhow::bail!("cannot open database {}: no such file", from.display());
        }
    }
    let src = Store::connect(&from)
        .with_context(|| format!("cannot open database {}", from.display()))?;
    let mut dst =
        Store::connect(&to).with_context(|| format!("cannot open database {}", to.display()))?;
    let bar = progress_bar(None);
    let mut progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let s = crate::copy::run(&src, &mut dst, &Limits::default(), &mut progress)
        .with_context(|| format!("copying into {}", to.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for r in &s.failed {
        eprintln!("dmarcdb: rejected {}: {}", r.name, r.reason);
    }
    println!(
        "{} report(s) copied ({} records), {} already there, {} not copied; \
         quarantine: {} copied, {} already there; \
         sender facts: {} copied, {} already there.",
        s.reports,
        s.records,
        s.already,
        s.failed.len(),
        s.quarantined,
        s.quarantined_already,
        s.facts,
        s.facts_already
    );
    let k = &s.kinds;
    for (what, c) in [
        ("SMTP TLS reports", k.tls),
        ("failure reports", k.failure),
        ("report variants", k.variants),
    ] {
        if c.copied + c.already > 0 {
            println!("{what}: {} copied, {} already there.", c.copied, c.already);
        }
    }
    Ok(if s.failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Rejected
    })
}
