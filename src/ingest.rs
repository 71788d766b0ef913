//! Ingest: drives one run of the pipeline, source → extract → parse/store
//! → ack, and counts what happened.
//!
//! Per input: everything found in it is stored (or found to be stored
//! already, or quarantined with its reason) and only then is the input
//! acknowledged, so a mail is marked seen only after its reports are
//! committed. A bad input never stops the run; a database error does,
//! because nothing after it could be stored either.
//!
//! A run that stores extracts and parses on a second thread while this one
//! writes ([`ahead`]); a dry run does everything on this thread.
//!
//! This module prints nothing: it reports [`Event`]s to a callback, and the
//! CLI decides what a person sees.

mod ahead;

use crate::extract::{self, ExtractError, Limits, Payload};
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
    /// Not an error `source`: its text is in the message, and `{:#}`
    /// would print it twice.
    #[error("database error: {0}")]
    Db(rusqlite::Error),
    #[error("{0}")]
    Source(SourceError),
}

impl From<rusqlite::Error> for Fatal {
    fn from(e: rusqlite::Error) -> Fatal {
        Fatal::Db(e)
    }
}

/// Runs the pipeline over `source`. `store` may be `None` only in a dry run.
///
/// Reports are committed in groups ([`Store::set_batching`]); an input is
/// acknowledged once the group holding its reports is committed, so a mail
/// is still never marked seen before its reports are on disk. The next
/// inputs are extracted and parsed on a second thread meanwhile
/// ([`ahead`]), which changes none of this.
pub fn run(
    source: &mut dyn Source,
    mut store: Option<&mut Store>,
    opts: &Options,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<Summary, Fatal> {
    let mut sum = Summary::default();
    let mut unacked = Vec::new();
    if opts.dry_run {
        store = None;
    }
    if let Some(store) = store.as_deref_mut() {
        store.set_batching(true)?;
    }
    let result = match store.as_deref_mut() {
        Some(store) => ahead::drive(source, store, opts, &mut sum, &mut unacked, on_event),
        None => dry_drive(source, opts, &mut sum, on_event),
    };
    if let Some(store) = store {
        // Whatever ended the run, what is stored is committed and
        // acknowledged, unless the database itself failed (then the open
        // group is rolled back and its inputs are read again next time).
        if !matches!(result, Err(Fatal::Db(_))) {
            store.set_batching(false)?;
            ack_all(source, &mut unacked, &mut sum)?;
            ack_errors(source.ack_wait(), &mut sum)?;
        }
    }
    result?;
    source.finish().map_err(Fatal::Source)?;
    Ok(sum)
}

/// The loop of a dry run: every input parsed, nothing stored. (A run
/// that stores is [`ahead::drive`].)
fn dry_drive(
    source: &mut dyn Source,
    opts: &Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    while let Some(next) = source.next_input() {
        let input = match next {
            Ok(input) => input,
            Err(e) if e.fatal => return Err(Fatal::Source(e)),
            Err(e) => {
                reject(sum, on_event, e.name, e.reason);
                continue;
            }
        };
        sum.inputs += 1;
        if let Err(bug) = isolate(|| dry_run_input(&input, opts, sum, on_event)) {
            let reason = format!("internal error, please report: {bug}");
            reject(sum, on_event, input.name.clone(), reason);
        }
        on_event(&Event::InputDone);
    }
    Ok(())
}

/// Runs the work on one input, turning a panic into its message. A panic
/// is a bug (ours, or a parsing library's on hostile bytes: fuzzing found
/// a `debug_assert!` in mail-parser); caught here, it rejects that input
/// instead of ending the run, so one poisonous message cannot stop every
/// later run from cron. The report's savepoint rolls back as the panic
/// unwinds through it.
fn isolate<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string())
    })
}

/// Acknowledges committed inputs, in order, as one group (one round trip
/// for IMAP, however many messages).
fn ack_all(
    source: &mut dyn Source,
    unacked: &mut Vec<Input>,
    sum: &mut Summary,
) -> Result<(), Fatal> {
    if unacked.is_empty() {
        return Ok(());
    }
    let errors = source.ack_group(unacked);
    unacked.clear();
    ack_errors(errors, sum)
}

/// A fatal acknowledgement error ends the run; the others are warnings.
fn ack_errors(errors: Vec<SourceError>, sum: &mut Summary) -> Result<(), Fatal> {
    for e in errors {
        if e.fatal {
            return Err(Fatal::Source(e));
        }
        // A failed ack only means the message is read again next
        // time, where its reports are duplicates.
        sum.warnings.push(e.to_string());
    }
    Ok(())
}

/// Inputs that needed no commit (duplicates, mail without a report) are
/// acknowledged with the next commit's group, or once this many wait, so
/// that a backfill of duplicates is not one acknowledgement per input.
const ACK_WITHOUT_COMMIT: usize = 200;

fn reject(sum: &mut Summary, on_event: &mut dyn FnMut(&Event<'_>), name: String, reason: String) {
    let r = Rejection { name, reason };
    on_event(&Event::Rejected(&r));
    sum.rejected.push(r);
}

/// Extracts the payloads of one input; records extraction errors and
/// "no report in this mail". Returns the payloads and whether the input
/// goes to quarantine.
fn payloads_of(
    input: &Input,
    opts: &Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> (Vec<Payload>, bool) {
    let found = extract::extract_input(&input.name, &input.bytes, &opts.limits);
    let n = found.payloads.len();
    let failed = note_extracted(input, found.errors, found.is_mail, n, sum, on_event);
    (found.payloads, failed)
}

/// Records what extraction found besides `payloads` reports: its errors,
/// and an input without any report (an outcome for mail, else an error).
/// Returns whether the input goes to quarantine.
fn note_extracted(
    input: &Input,
    errors: Vec<ExtractError>,
    is_mail: bool,
    payloads: usize,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> bool {
    let failed = !errors.is_empty();
    for e in errors {
        let ExtractError::Bad { name, reason } = e;
        reject(sum, on_event, name, reason);
    }
    if payloads == 0 && !failed {
        if is_mail || input.kind == InputKind::Mail {
            sum.not_report += 1;
        } else {
            reject(
                sum,
                on_event,
                input.name.clone(),
                "no DMARC report found".into(),
            );
            return true;
        }
    }
    failed
}

/// Counts a stored (or duplicate) report and tells the callback.
fn stored_event(
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
    name: &str,
    outcome: &Stored,
) {
    match outcome {
        Stored::New { records, .. } => {
            sum.new += 1;
            sum.records += records;
        }
        Stored::Duplicate { .. } => sum.duplicate += 1,
    }
    on_event(&Event::Stored { name, outcome });
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
            Ok(outcome) => stored_event(sum, on_event, &p.name, &outcome),
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_error_is_printed_once() {
        let e = anyhow::Error::from(Fatal::Db(rusqlite::Error::InvalidQuery));
        let text = format!("{e:#}");
        assert_eq!(text.matches("Query is not read-only").count(), 1, "{text}");
        assert!(text.starts_with("database error: "), "{text}");
    }

    use std::path::{Path, PathBuf};

    use super::*;
    use crate::generate::{report_xml, CorpusSpec};

    /// Hands out generated reports, fails fatally after `fail_after` of
    /// them if set, and on every ack checks that the input's report is
    /// already committed, as seen by another connection.
    struct Reports {
        corpus: CorpusSpec,
        next: u64,
        fail_after: Option<u64>,
        db: PathBuf,
        acked: Vec<u64>,
    }

    impl Source for Reports {
        fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
            if Some(self.next) == self.fail_after {
                return Some(Err(SourceError {
                    name: "imap".into(),
                    reason: "connection lost".into(),
                    fatal: true,
                }));
            }
            if self.next == self.corpus.reports {
                return None;
            }
            let xml = report_xml(&self.corpus.report(self.next));
            self.next += 1;
            Some(Ok(Input {
                name: format!("r{}", self.next),
                bytes: xml.into_bytes().into(),
                kind: InputKind::Mail,
                token: self.next,
            }))
        }

        fn ack(&mut self, input: &Input) -> Result<(), SourceError> {
            let committed = reports_in(&self.db);
            assert!(
                committed >= input.token as i64,
                "input {} acknowledged with {committed} reports committed",
                input.token
            );
            self.acked.push(input.token);
            Ok(())
        }
    }

    fn reports_in(db: &Path) -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("SELECT count(*) FROM report", [], |r| r.get(0))
            .unwrap()
    }

    fn source(dir: &Path, reports: u64, fail_after: Option<u64>) -> Reports {
        Reports {
            corpus: CorpusSpec {
                reports,
                records: 20,
                seed: 5,
                end_date: chrono::NaiveDate::from_ymd_opt(2025, 1, 31).unwrap(),
                days_back: 30,
                domain: "example.com".into(),
            },
            next: 0,
            fail_after,
            db: dir.join("x.db"),
            acked: Vec::new(),
        }
    }

    #[test]
    fn inputs_are_acknowledged_in_order_only_after_their_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = source(dir.path(), 40, None);
        let mut store = Store::open(&src.db).unwrap();
        let sum = run(&mut src, Some(&mut store), &Options::default(), &mut |_| {}).unwrap();
        assert_eq!((sum.new, sum.records), (40, 800));
        assert_eq!(src.acked, (1..=40).collect::<Vec<_>>());
        assert_eq!(reports_in(&src.db), 40);
    }

    #[test]
    fn a_fatal_source_error_keeps_and_acknowledges_what_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = source(dir.path(), 40, Some(7));
        let mut store = Store::open(&src.db).unwrap();
        let r = run(&mut src, Some(&mut store), &Options::default(), &mut |_| {});
        assert!(matches!(r, Err(Fatal::Source(_))));
        assert_eq!(src.acked, (1..=7).collect::<Vec<_>>());
        assert_eq!(reports_in(&src.db), 7);
    }
}
