//! Ingest: drives one run of the pipeline, source → extract → parse/store
//! → ack, and counts what happened.
//!
//! Per input: everything found in it is stored (or found to be stored
//! already, or quarantined with its reason) and only then is the input
//! acknowledged, so a mail is marked seen only after its reports are
//! committed. A bad input never stops the run; a database error does,
//! because nothing after it could be stored either.
//!
//! Every run goes through one driver (`pipeline`): inputs are extracted
//! and parsed on other threads while this one writes them to a `Sink`
//! — the store, or nothing at all for a dry run — so a dry run, an ingest
//! and `reparse`'s retry of the quarantine take the same path.
//!
//! This module prints nothing: it reports [`Event`]s to a callback, and the
//! CLI decides what a person sees.

mod opening;
mod pipeline;

pub use opening::Opening;

use crate::extract::{ExtractError, Limits};
use crate::source::{Input, InputKind, Source, SourceError};
use crate::store::{DbError, Store, Stored};

/// How a run behaves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parse and report, write nothing, acknowledge nothing.
    pub dry_run: bool,
    pub limits: Limits,
    /// Store failure reports redacted (see `store::failure`).
    pub redact: bool,
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
    /// Aggregate reports stored now.
    pub new: u64,
    /// SMTP TLS reports stored now.
    pub tls_new: u64,
    /// DMARC failure reports stored now.
    pub failure_new: u64,
    /// Reports of any kind that were already stored.
    pub duplicate: u64,
    /// Reports whose identity was stored with other content (one copy is
    /// the report, the other a variant; see `store::variant`).
    pub conflicting: u64,
    /// Mail messages holding no report (also failure report mails of
    /// another feedback type, such as abuse reports).
    pub not_report: u64,
    /// Records stored now.
    pub records: u64,
    /// Inputs or reports rejected, each with its reason.
    pub rejected: Vec<Rejection>,
    /// Reports seen in a dry run (parsed, not stored).
    pub parsed: u64,
    /// Problems that lost nothing (a message that could not be marked seen).
    pub warnings: Vec<String>,
    /// Files met that this run writes itself (the database), not read.
    pub own_skipped: u64,
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
    /// An SMTP TLS or failure report was stored (`new`) or was already there.
    StoredOther {
        name: &'a str,
        kind: ReportKind,
        new: bool,
    },
    /// An SMTP TLS or failure report was parsed in a dry run.
    DryRunOther { name: &'a str, kind: ReportKind },
    /// Something was rejected.
    Rejected(&'a Rejection),
    /// An input is done (for progress display).
    InputDone,
}

/// The report kinds besides aggregate reports, for events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Tls,
    Failure,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Tls => "SMTP TLS report",
            ReportKind::Failure => "failure report",
        }
    }
}

impl Summary {
    /// New reports of every kind.
    pub fn new_total(&self) -> u64 {
        self.new + self.tls_new + self.failure_new
    }
}

/// A failure that ends the run.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// Not an error `source`: its text is in the message, and `{:#}`
    /// would print it twice.
    #[error("database error: {0}")]
    Db(DbError),
    /// The database of an [`Opening`] could not be opened (nothing was
    /// written or acknowledged).
    #[error("cannot open the database: {0}")]
    Open(DbError),
    #[error("{0}")]
    Source(SourceError),
}

impl From<DbError> for Fatal {
    fn from(e: DbError) -> Fatal {
        Fatal::Db(e)
    }
}

/// Where a run stores what it reads.
pub enum Target<'a> {
    /// Nowhere: a dry run.
    Nowhere,
    /// An open store.
    Store(&'a mut Store),
    /// A new file being made on a thread of its own: the first inputs are
    /// parsed meanwhile, and the run waits for it before it writes.
    Opening(&'a mut Opening),
}

impl<'a> From<Option<&'a mut Store>> for Target<'a> {
    fn from(store: Option<&'a mut Store>) -> Target<'a> {
        store.map_or(Target::Nowhere, Target::Store)
    }
}

impl<'a> Target<'a> {
    /// The same target, borrowed for one run.
    pub fn reborrow(&mut self) -> Target<'_> {
        match self {
            Target::Nowhere => Target::Nowhere,
            Target::Store(store) => Target::Store(store),
            Target::Opening(opening) => Target::Opening(opening),
        }
    }

    /// The store, once open (after a run, an [`Opening`]'s too).
    pub fn store(self) -> Option<&'a mut Store> {
        match self {
            Target::Nowhere => None,
            Target::Store(store) => Some(store),
            Target::Opening(opening) => opening.store(),
        }
    }
}

/// Where the driver's parsed reports go.
pub(crate) enum Sink<'a> {
    /// Stored, in groups of reports per transaction.
    Store(&'a mut Store),
    /// Nowhere: a dry run parses and reports, and writes nothing.
    Nowhere,
}

/// Runs the pipeline over `source` into `target` (`Nowhere` only in a dry
/// run).
///
/// Reports are committed in groups ([`Store::set_batching`]); an input is
/// acknowledged once the group holding its reports is committed, so a mail
/// is still never marked seen before its reports are on disk. The next
/// inputs are extracted and parsed on other threads meanwhile
/// (`pipeline`), which changes none of this. A dry run acknowledges
/// nothing. An [`Opening`] is waited for before the first input is
/// written; an error opening it ends the run with [`Fatal::Open`].
pub fn run(
    source: &mut dyn Source,
    target: Target<'_>,
    opts: &Options,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<Summary, Fatal> {
    let mut sum = Summary::default();
    let mut unacked = Vec::new();
    let (mut sink, opening) = match target {
        Target::Store(store) if !opts.dry_run => {
            store.set_batching(true)?;
            (Sink::Store(store), None)
        }
        // Nowhere until it is open; `pipeline` waits for it in time.
        Target::Opening(opening) if !opts.dry_run => (Sink::Nowhere, Some(opening)),
        _ => (Sink::Nowhere, None),
    };
    let result = pipeline::drive(
        source,
        &mut sink,
        opening,
        opts,
        &mut sum,
        &mut unacked,
        on_event,
    );
    if let Sink::Store(store) = sink {
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
    sum.own_skipped = source.own_files_skipped();
    Ok(sum)
}

/// Runs the work on one input, turning a panic into its message. A panic
/// is a bug (ours, or a parsing library's on hostile bytes: fuzzing found
/// a `debug_assert!` in mail-parser); caught here, it rejects that input
/// instead of ending the run, so one poisonous message cannot stop every
/// later run from cron. What the report wrote is deleted (or its
/// savepoint rolled back) as the panic unwinds through the store.
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
        reject(sum, on_event, name, reason.to_string());
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
        Stored::Conflicting { .. } => sum.conflicting += 1,
    }
    on_event(&Event::Stored { name, outcome });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_error_is_printed_once() {
        let e = anyhow::Error::from(Fatal::Db(DbError::for_test()));
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
                    reason: crate::source::SourceReason::Connect("connection lost".into()),
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
                opened: None,
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
        Store::open(db).unwrap().report_count().unwrap()
    }

    fn source(dir: &Path, reports: u64, fail_after: Option<u64>) -> Reports {
        Reports {
            corpus: CorpusSpec::for_tests(5, reports, 20, 30),
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
        let sum = run(
            &mut src,
            Target::Store(&mut store),
            &Options::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!((sum.new, sum.records), (40, 800));
        assert_eq!(src.acked, (1..=40).collect::<Vec<_>>());
        assert_eq!(reports_in(&src.db), 40);
    }

    #[test]
    fn a_store_being_made_is_waited_for_before_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = source(dir.path(), 40, None);
        let wait = crate::store::DEFAULT_BUSY_TIMEOUT;
        let mut opening = Opening::start_new(&src.db, wait, false).unwrap();
        let mut target = Target::Opening(&mut opening);
        let sum = run(
            &mut src,
            target.reborrow(),
            &Options::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!((sum.new, sum.records), (40, 800));
        // Acknowledged only after their commit, as with an open store.
        assert_eq!(src.acked, (1..=40).collect::<Vec<_>>());
        let store = target.store().unwrap();
        assert_eq!(store.report_count().unwrap(), 40);

        // A file that cannot be made ends the run before anything is
        // written or acknowledged.
        let mut src = source(dir.path(), 5, None);
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        let bad = dir.path().join("file/x.db");
        let mut opening = Opening::start_new(&bad, wait, false).unwrap();
        let r = run(
            &mut src,
            Target::Opening(&mut opening),
            &Options::default(),
            &mut |_| {},
        );
        assert!(matches!(r, Err(Fatal::Open(_))), "{r:?}");
        assert!(src.acked.is_empty());
    }

    #[test]
    fn a_fatal_source_error_keeps_and_acknowledges_what_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = source(dir.path(), 40, Some(7));
        let mut store = Store::open(&src.db).unwrap();
        let r = run(
            &mut src,
            Target::Store(&mut store),
            &Options::default(),
            &mut |_| {},
        );
        assert!(matches!(r, Err(Fatal::Source(_))));
        assert_eq!(src.acked, (1..=7).collect::<Vec<_>>());
        assert_eq!(reports_in(&src.db), 7);
    }
}
