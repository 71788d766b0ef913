//! Ingest: drives one run of the pipeline, source → extract → parse/store
//! → ack, and counts what happened.
//!
//! Per input: everything found in it is stored (or found to be stored
//! already, or quarantined with its reason) and only then is the input
//! acknowledged, so a mail is marked seen only after its reports are
//! committed. A bad input never stops the run; a database error does,
//! because nothing after it could be stored either.
//!
//! This module prints nothing: it reports [`Event`]s to a callback, and the
//! CLI decides what a person sees.

use crate::extract::{self, Limits, Payload};
use crate::parse;
use crate::source::{Input, InputKind, Source, SourceError};
use crate::store::{Store, StoreError, Stored};

/// How a run behaves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parse and report, write nothing, acknowledge nothing.
    pub dry_run: bool,
    pub limits: Limits,
}

/// One input or report that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The input (path, `path::member`, IMAP UID ...).
    pub name: String,
    pub reason: String,
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Inputs read (files, messages).
    pub inputs: u64,
    /// Reports stored now.
    pub new: u64,
    /// Reports that were already stored.
    pub duplicate: u64,
    /// Mail messages holding no aggregate report.
    pub not_report: u64,
    /// Records stored now.
    pub records: u64,
    /// Inputs or reports rejected, each with its reason.
    pub rejected: Vec<Rejection>,
    /// Reports seen in a dry run (parsed, not stored).
    pub parsed: u64,
    /// Problems that lost nothing (a message that could not be marked seen).
    pub warnings: Vec<String>,
}

/// What the callback hears about, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A report was parsed in a dry run.
    DryRun {
        name: &'a str,
        org_name: &'a str,
        report_id: &'a str,
        records: u64,
        messages_fail: i64,
    },
    /// A report was stored (or was already there).
    Stored { name: &'a str, outcome: &'a Stored },
    /// Something was rejected.
    Rejected(&'a Rejection),
    /// An input is done (for progress display).
    InputDone,
}

/// A failure that ends the run.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Source(SourceError),
}

/// Runs the pipeline over `source`. `store` may be `None` only in a dry run.
pub fn run(
    source: &mut dyn Source,
    mut store: Option<&mut Store>,
    opts: &Options,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<Summary, Fatal> {
    let mut sum = Summary::default();
    while let Some(next) = source.next_input() {
        let input = match next {
            Ok(input) => input,
            Err(e) if e.fatal => return Err(Fatal::Source(e)),
            Err(e) => {
                reject(&mut sum, on_event, e.name, e.reason);
                continue;
            }
        };
        sum.inputs += 1;
        match store.as_deref_mut() {
            Some(store) if !opts.dry_run => {
                ingest_input(&input, store, opts, &mut sum, on_event)?;
                match source.ack(&input) {
                    Ok(()) => {}
                    Err(e) if e.fatal => return Err(Fatal::Source(e)),
                    // A failed ack only means the message is read again
                    // next time, where its reports are duplicates.
                    Err(e) => sum.warnings.push(e.to_string()),
                }
            }
            _ => dry_run_input(&input, opts, &mut sum, on_event),
        }
        on_event(&Event::InputDone);
    }
    source.finish().map_err(Fatal::Source)?;
    Ok(sum)
}

fn reject(sum: &mut Summary, on_event: &mut dyn FnMut(&Event<'_>), name: String, reason: String) {
    let r = Rejection { name, reason };
    on_event(&Event::Rejected(&r));
    sum.rejected.push(r);
}

/// Extracts the payloads of one input; records extraction errors and
/// "no report in this mail".
fn payloads_of(
    input: &Input,
    opts: &Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> (Vec<Payload>, bool) {
    let found = extract::extract(&input.name, &input.bytes, &opts.limits);
    let failed = !found.errors.is_empty();
    for e in found.errors {
        let extract::ExtractError::Bad { name, reason } = e;
        reject(sum, on_event, name, reason);
    }
    if found.payloads.is_empty() && !failed {
        if found.is_mail || input.kind == InputKind::Mail {
            sum.not_report += 1;
        } else {
            reject(
                sum,
                on_event,
                input.name.clone(),
                "no DMARC report found".into(),
            );
            return (Vec::new(), true);
        }
    }
    (found.payloads, failed)
}

/// Extracts and stores everything in one input (also used by `reparse` to
/// retry a quarantined input through the same path).
pub(crate) fn ingest_input(
    input: &Input,
    store: &mut Store,
    opts: &Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    let (payloads, failed) = payloads_of(input, opts, sum, on_event);
    if failed {
        let reason = sum
            .rejected
            .last()
            .map(|r| r.reason.clone())
            .unwrap_or_default();
        store.quarantine(&input.name, &reason, &input.bytes)?;
    }
    for p in &payloads {
        match store.store_report(p, &opts.limits, &p.name) {
            Ok(outcome) => {
                match &outcome {
                    Stored::New { records, .. } => {
                        sum.new += 1;
                        sum.records += records;
                    }
                    Stored::Duplicate { .. } => sum.duplicate += 1,
                }
                on_event(&Event::Stored {
                    name: &p.name,
                    outcome: &outcome,
                });
            }
            Err(StoreError::Parse(e)) => {
                let reason = e.to_string();
                store.quarantine(&p.name, &reason, &p.data)?;
                reject(sum, on_event, p.name.clone(), reason);
            }
            Err(StoreError::Db(e)) => return Err(Fatal::Db(e)),
        }
    }
    Ok(())
}

fn dry_run_input(
    input: &Input,
    opts: &Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) {
    let (payloads, _) = payloads_of(input, opts, sum, on_event);
    for p in &payloads {
        match dry_parse(p, &opts.limits) {
            Ok((header, records, messages_fail)) => {
                sum.parsed += 1;
                on_event(&Event::DryRun {
                    name: &p.name,
                    org_name: &header.metadata.org_name,
                    report_id: &header.metadata.report_id,
                    records,
                    messages_fail,
                });
            }
            Err(e) => reject(sum, on_event, p.name.clone(), e.to_string()),
        }
    }
}

/// Parses a whole payload without storing it, streaming like the store.
fn dry_parse(
    p: &Payload,
    limits: &Limits,
) -> Result<(crate::model::ReportHeader, u64, i64), parse::ParseError> {
    let mut rdr = parse::ReportReader::new(p.reader(limits));
    let header = rdr.header()?;
    let (mut n, mut fail) = (0u64, 0i64);
    while let Some(r) = rdr.next_record()? {
        n += 1;
        if !r.dmarc_pass() {
            fail = fail.saturating_add(r.count);
        }
    }
    if n == 0 {
        return Err(parse::ParseError::NotAReport("no <record> elements".into()));
    }
    Ok((header, n, fail))
}
