//! Copy: everything one database holds into another (SQLite to PostgreSQL
//! and back, or between two of a kind): every report from its original
//! bytes, through the destination's ordinary write path, and every
//! quarantined input as it is. Idempotent: a report already in the
//! destination (by its identity key) and quarantined bytes already there
//! are skipped, so a copy can be run again, or resumed after a kill.
//!
//! Reports are re-parsed rather than copied row by row: the destination
//! gets exactly what ingesting the same bytes would give it (its own ids,
//! its own auth sets), and a database made by an older version comes out
//! as the current one would store it. `ingested_at` is the copy's time.
//! The sender facts (`net_fact`, `rdns`: what `enrich` learned about
//! source IPs) are copied as rows, each replacing the destination's only if
//! looked up later (see `store/sender_facts.rs`); `report_ips` is written
//! by the destination with each report.
//! SMTP TLS reports, failure reports, the `--redact` key and the variants
//! of aggregate reports are copied by `kinds.rs`.
//! Like `ingest`, this prints nothing: the caller hears progress.

use std::io;

use sha2::{Digest, Sha256};

mod kinds;

pub use kinds::{Counts, KindSummary};

use crate::extract::Limits;
use crate::ingest::Rejection;
use crate::parse::ReportReader;
use crate::store::{inflate_to, DbError, Store, StoreError, Stored};

/// Totals of a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Reports newly stored in the destination, and their records.
    pub reports: u64,
    pub records: u64,
    /// Reports the destination already held.
    pub already: u64,
    /// Stored reports whose bytes did not parse (left out).
    pub failed: Vec<Rejection>,
    /// Quarantined inputs added, and already there.
    pub quarantined: u64,
    pub quarantined_already: u64,
    /// Sender-fact rows (`net_fact` and `rdns`) written, and those the
    /// destination held as they are, or newer.
    pub facts: u64,
    pub facts_already: u64,
    /// SMTP TLS reports, failure reports and variants.
    pub kinds: KindSummary,
}

/// Copies `from` into `to`; `progress` hears (done, total) after each
/// report. Only a database error stops the copy.
pub fn run(
    from: &Store,
    to: &mut Store,
    limits: &Limits,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary, DbError> {
    let mut sum = Summary::default();
    let ids = from.report_ids()?;
    let total = ids.len() as u64;
    to.set_batching(true)?;
    for (i, id) in ids.into_iter().enumerate() {
        if let Some(payload) = from.report_bytes(id)? {
            let mut reader = ReportReader::new(payload.reader(limits));
            let stored = match reader.header() {
                Ok(header) => {
                    to.store_parsed(&payload, limits, &payload.name, header, &mut |out| {
                        reader.read_records(out, 64)?;
                        Ok(())
                    })
                }
                Err(e) => Err(StoreError::Parse(e)),
            };
            match stored {
                Ok(Stored::New { records, .. }) => {
                    sum.reports += 1;
                    sum.records += records;
                }
                // The destination holds the report already (maybe another
                // copy of it, then kept as a variant there).
                Ok(Stored::Duplicate { .. } | Stored::Conflicting { .. }) => sum.already += 1,
                Err(StoreError::Parse(e)) => sum.failed.push(Rejection {
                    name: payload.name.clone(),
                    reason: format!("stored report {id} not copied: {e}"),
                }),
                Err(StoreError::Db(e)) => return Err(e),
            }
        }
        to.commit_due()?;
        progress(i as u64 + 1, total);
    }
    to.set_batching(false)?;
    sum.kinds = kinds::run(from, to, limits, &mut sum.failed)?;
    for q in from.quarantined()? {
        let Some(gzip) = from.quarantined_gzip(q.id)? else {
            continue;
        };
        let mut hasher = HashWriter(Sha256::new());
        if inflate_to(&gzip, &mut hasher).is_err() {
            continue;
        }
        let sha = hasher.0.finalize();
        match to.import_quarantined(&q, &sha, &gzip)? {
            true => sum.quarantined += 1,
            false => sum.quarantined_already += 1,
        }
    }
    let net = from.net_fact_rows()?;
    let rdns = from.rdns_rows()?;
    sum.facts = to.import_net_facts(&net)? + to.import_rdns(&rdns)?;
    sum.facts_already = (net.len() + rdns.len()) as u64 - sum.facts;
    Ok(sum)
}

/// Hashes what is written to it.
struct HashWriter(Sha256);

impl io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
