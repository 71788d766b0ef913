//! Reparse: rebuild what is stored from what was received, after a parser
//! fix or a schema migration, and give quarantined inputs another try.
//!
//! Its passes, each idempotent:
//!
//! 1. **Stored aggregate reports.** Every report's original bytes
//!    (`report_blob`, the XML as received, gzip-compressed) are parsed
//!    again and the store
//!    rewrites its header fields, records and their child rows, one
//!    transaction per report, kept only when the rows changed
//!    ([`Store::rebuild_report`]: a database built by the current version is
//!    left byte-for-byte alone). Auth results are shared sets found by
//!    their key (schema.sql, `auth_set`): a set is rebuilt when its content
//!    as parsed changes, but rows of a set edited by hand are not noticed.
//!    A report whose bytes no longer parse is kept as it was and reported:
//!    deleting data because a newer parser is stricter would lose it.
//! 2. **Stored SMTP TLS and failure reports** (`reparse/kinds.rs`): the
//!    same, from the JSON and the failure report mail as received, under
//!    the same rules (one transaction per report, kept only when its rows
//!    changed; a report that no longer parses kept and reported). A
//!    failure report stored redacted kept no mail, so it is counted and
//!    left alone.
//! 3. **Quarantine.** Every quarantined input is decompressed and run
//!    through ingest's own driver ([`ingest::run`]), like any input. When
//!    nothing of it is rejected any more, its quarantine row is deleted;
//!    otherwise the row stays, with the new reason and one more attempt
//!    counted.
//!
//! The SQL of every pass is the store's; this module parses and decides.
//! Like `ingest`, it prints nothing: the CLI hears [`Event`]s.

use std::io::Read;

use flate2::read::GzDecoder;

use crate::extract::Payload;
use crate::ingest::{self, Fatal, Rejection, ReportKind, Target};
use crate::model::ReportHeader;
use crate::parse::{ParseError, ReportReader};
use crate::source::{Input, InputKind, Source, SourceError};
use crate::store::{Rebuilt, Store, StoreError};

/// Totals of a reparse run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Stored aggregate reports whose rows were rewritten with different
    /// content.
    pub changed: u64,
    /// Stored aggregate reports that came out the same.
    pub unchanged: u64,
    /// Stored aggregate reports whose bytes no longer parse (kept as they
    /// were).
    pub failed: Vec<Rejection>,
    /// Stored SMTP TLS reports.
    pub tls: KindSummary,
    /// Stored failure reports.
    pub failure: KindSummary,
    /// Quarantined inputs now stored (their quarantine rows deleted).
    pub recovered: u64,
    /// Quarantined inputs that still fail, each rejection with its reason.
    pub still_failing: u64,
    /// Every rejection met while retrying the quarantine.
    pub rejected: Vec<Rejection>,
}

/// Totals of the stored reports of one kind besides aggregate reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindSummary {
    /// Reports whose rows were rewritten with different content.
    pub changed: u64,
    /// Reports that came out the same.
    pub unchanged: u64,
    /// Reports whose bytes no longer parse (kept as they were).
    pub failed: Vec<Rejection>,
    /// Failure reports stored redacted: no mail kept to parse again.
    pub redacted: u64,
}

impl Summary {
    /// Whether every stored report, of every kind, parsed again.
    pub fn all_parsed(&self) -> bool {
        self.failed.is_empty() && self.tls.failed.is_empty() && self.failure.failed.is_empty()
    }
}

/// What the caller hears about, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A stored report's rows were rebuilt with different content.
    Changed {
        id: i64,
        header: &'a ReportHeader,
        source: &'a str,
    },
    /// A stored SMTP TLS or failure report's rows were rebuilt with
    /// different content; `what` names it ("org report-id" for a TLS
    /// report, "reported-domain source-ip" for a failure report).
    ChangedOther {
        kind: ReportKind,
        id: i64,
        what: &'a str,
        source: &'a str,
    },
    /// A stored report could not be re-parsed, or a quarantined input (or a
    /// report in it) was rejected again.
    Rejected(&'a Rejection),
    /// A quarantined input is now stored.
    Recovered { source: &'a str },
}

/// Runs every pass over `store`. Only a database error stops the run.
pub fn run(
    store: &mut Store,
    opts: &ingest::Options,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<Summary, Fatal> {
    let mut sum = Summary::default();
    rebuild_reports(store, opts, &mut sum, on_event)?;
    kinds::rebuild_tls_reports(store, opts, &mut sum.tls, on_event)?;
    kinds::rebuild_failure_reports(store, opts, &mut sum.failure, on_event)?;
    retry_quarantine(store, opts, &mut sum, on_event)?;
    Ok(sum)
}

fn rebuild_reports(
    store: &mut Store,
    opts: &ingest::Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    for id in store.report_ids()? {
        match rebuild(store, id, opts) {
            Ok(None) => sum.unchanged += 1,
            Ok(Some((header, source))) => {
                sum.changed += 1;
                on_event(&Event::Changed {
                    id,
                    header: &header,
                    source: &source,
                });
            }
            Err(Failure::Report(name, reason)) => {
                let r = Rejection {
                    name,
                    reason: format!("stored report {id} kept as it was: {reason}"),
                };
                on_event(&Event::Rejected(&r));
                sum.failed.push(r);
            }
            Err(Failure::Db(e)) => return Err(Fatal::Db(e)),
        }
    }
    Ok(())
}

/// Why one report could not be rebuilt.
enum Failure {
    /// Its bytes do not parse (or would collide with another report): the
    /// report is left alone. Carries the report's source and the reason.
    Report(String, String),
    Db(crate::store::DbError),
}

/// Parses report `id`'s stored bytes and has the store rewrite it; the
/// header and source when its rows changed, `None` when they did not.
fn rebuild(
    store: &mut Store,
    id: i64,
    opts: &ingest::Options,
) -> Result<Option<(ReportHeader, String)>, Failure> {
    let Some(payload) = store.report_bytes(id).map_err(Failure::Db)? else {
        // Deleted meanwhile, or stored without its bytes: nothing to rebuild from.
        return Ok(None);
    };
    let source = payload.name.clone();
    let rebuilt = parse_and_rebuild(store, id, &payload, opts);
    match rebuilt {
        Ok((Rebuilt::Changed, header)) => Ok(Some((header, source))),
        Ok(_) => Ok(None),
        Err(StoreError::Parse(e)) => Err(Failure::Report(source, e.to_string())),
        Err(StoreError::Db(e)) if e.is_constraint() => {
            let reason = "it now parses to the identity of another stored report".to_string();
            Err(Failure::Report(source, reason))
        }
        Err(StoreError::Db(e)) => Err(Failure::Db(e)),
    }
}

fn parse_and_rebuild(
    store: &mut Store,
    id: i64,
    payload: &Payload,
    opts: &ingest::Options,
) -> Result<(Rebuilt, ReportHeader), StoreError> {
    let mut reader = ReportReader::new(payload.reader(&opts.limits));
    let header = reader.header()?;
    let mut next = || -> Result<_, ParseError> { reader.next_record() };
    let rebuilt = store.rebuild_report(id, &header, &mut next)?;
    Ok((rebuilt, header))
}

/// One input, handed out once: a quarantined input going through ingest.
struct Once(Option<Input>);

impl Source for Once {
    fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
        self.0.take().map(Ok)
    }
}

/// Retries every quarantined input that was there when the pass started.
fn retry_quarantine(
    store: &mut Store,
    opts: &ingest::Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    for id in store.quarantined_ids()? {
        let Some((source, gzip)) = store.quarantined_input(id)? else {
            continue; // Retried by a concurrent run meanwhile.
        };
        let bytes = match gunzip(&gzip, opts.limits.max_decompressed) {
            Ok(bytes) => bytes,
            Err(reason) => {
                let r = Rejection {
                    name: source,
                    reason,
                };
                on_event(&Event::Rejected(&r));
                sum.rejected.push(r);
                sum.still_failing += 1;
                continue;
            }
        };
        // The quarantine does not say whether this was a mail; extraction
        // tells by content, and a mail holding no report is then "not a
        // report" rather than a rejection.
        let input = Input {
            name: source.clone(),
            bytes: bytes.into(),
            kind: InputKind::File,
            token: 0,
            opened: None,
        };
        let mut forward = |ev: &ingest::Event<'_>| {
            if let ingest::Event::Rejected(r) = ev {
                on_event(&Event::Rejected(r));
            }
        };
        let retry = ingest::run(
            &mut Once(Some(input)),
            Target::Store(store),
            opts,
            &mut forward,
        )?;
        if retry.rejected.is_empty() {
            store.drop_quarantined(&[id])?;
            sum.recovered += 1;
            on_event(&Event::Recovered { source: &source });
        } else {
            sum.still_failing += 1;
            sum.rejected.extend(retry.rejected);
        }
    }
    Ok(())
}

/// The quarantined bytes, at most `max` of them (the same cap as an input
/// file: a run with a smaller `--max-size` does not read more).
fn gunzip(gzip: &[u8], max: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    GzDecoder::new(gzip)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("quarantined bytes unreadable: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!("over the limit of {max} bytes; not read"));
    }
    Ok(out)
}

mod kinds;

#[cfg(test)]
mod tests;
