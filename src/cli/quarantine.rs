//! `dmarcdb quarantine`: look at, export and drop the inputs that could
//! not be stored, so that one that will never parse (an SMTP TLS report in
//! the DMARC mailbox) stops making `reparse` exit 3. The SQL is the
//! store's ([`Store::quarantined`] and friends).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use super::open_store;
use crate::exit::Exit;
use crate::query::iso;
use crate::render::{self, Column, Format, Table};
use crate::store::{self, Store};

#[derive(Debug, Args)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Action {
    /// List the quarantined inputs.
    ///
    /// One row each: id, source, reason, bytes (size as received),
    /// attempts, first_seen, last_seen (RFC 3339, UTC).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Delete quarantined inputs for good.
    ///
    /// Exit 3 if an ID is unknown; the known ones are still deleted.
    Drop(DropArgs),
    /// Write a quarantined input's original bytes to a file, to see what
    /// failed.
    Export {
        /// The input's id (see `quarantine list`).
        id: i64,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct DropArgs {
    /// Every quarantined input.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// The ids to drop (see `quarantine list`).
    #[arg(value_name = "ID", required_unless_present = "all")]
    pub ids: Vec<i64>,
}

pub fn cmd_quarantine(db: super::DbArgs, args: QuarantineArgs) -> anyhow::Result<Exit> {
    let mut store = open_store(db)?;
    match args.action {
        Action::List { format } => list(&store, format),
        Action::Drop(d) => drop(&mut store, &d),
        Action::Export { id, out } => export(&store, id, &out),
    }
}

fn list(store: &Store, format: Format) -> anyhow::Result<Exit> {
    let rows = store.quarantined()?;
    if rows.is_empty() && format == Format::Table {
        println!("The quarantine is empty.");
        return Ok(Exit::Ok);
    }
    let mut table = Table::new(vec![
        Column::num("id"),
        Column::text("source"),
        Column::text("reason"),
        Column::num("bytes"),
        Column::num("attempts"),
        Column::text("first_seen"),
        Column::text("last_seen"),
    ]);
    for q in rows {
        table.rows.push(vec![
            json!(q.id),
            json!(q.source),
            json!(q.reason),
            json!(q.bytes),
            json!(q.attempts),
            iso(q.first_seen),
            iso(q.last_seen),
        ]);
    }
    let mut out = std::io::stdout().lock();
    render::write(&table, format, render::fancy_stdout(), &mut out)?;
    Ok(Exit::Ok)
}

fn drop(store: &mut Store, args: &DropArgs) -> anyhow::Result<Exit> {
    if args.all {
        let n = store.drop_all_quarantined()?;
        println!("{n} quarantined input(s) dropped.");
        return Ok(Exit::Ok);
    }
    let d = store.drop_quarantined(&args.ids)?;
    for id in &d.unknown {
        eprintln!("dmarcdb: no quarantined input with id {id}");
    }
    println!("{} quarantined input(s) dropped.", d.dropped);
    Ok(if d.unknown.is_empty() {
        Exit::Ok
    } else {
        Exit::Rejected
    })
}

fn export(store: &Store, id: i64, out: &std::path::Path) -> anyhow::Result<Exit> {
    let Some(gzip) = store.quarantined_gzip(id)? else {
        eprintln!("dmarcdb: no quarantined input with id {id}");
        return Ok(Exit::Rejected);
    };
    let mut file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let n = store::inflate_to(&gzip, &mut file)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("{n} bytes written to {}", out.display());
    Ok(Exit::Ok)
}
