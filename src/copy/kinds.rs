//! The part of `copy` for what is not an aggregate report: SMTP TLS
//! reports (from their original bytes, through the destination's ordinary
//! write path, like aggregate reports), the `--redact` key, failure reports
//! and the variants of aggregate reports (row by row, as stored: see
//! `store/import_kinds.rs` for why). Run after the aggregate reports, whose
//! variants need their report in the destination.

use crate::extract::Limits;
use crate::ingest::Rejection;
use crate::parse::tls::read_tls;
use crate::store::{DbError, Store, TlsStored};

/// Copied and already there, for one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub copied: u64,
    pub already: u64,
}

impl Counts {
    fn add(&mut self, new: bool) {
        match new {
            true => self.copied += 1,
            false => self.already += 1,
        }
    }
}

/// Totals of the kinds this module copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindSummary {
    pub tls: Counts,
    pub failure: Counts,
    pub variants: Counts,
}

/// Copies TLS reports, the redaction key, failure reports and variants
/// from `from` into `to`; a stored TLS report whose bytes no longer parse
/// goes to `failed`.
pub fn run(
    from: &Store,
    to: &mut Store,
    limits: &Limits,
    failed: &mut Vec<Rejection>,
) -> Result<KindSummary, DbError> {
    let mut sum = KindSummary::default();
    for id in from.tls_report_ids()? {
        let Some(payload) = from.tls_report_bytes(id)? else {
            continue;
        };
        match read_tls(payload.reader(limits)) {
            Ok(report) => {
                let stored = to.store_tls(&payload, &payload.name, report)?;
                sum.tls.add(matches!(stored, TlsStored::New { .. }));
            }
            Err(e) => failed.push(Rejection {
                name: payload.name.clone(),
                reason: format!("stored TLS report {id} not copied: {e}"),
            }),
        }
    }
    // The key first: the copied redacted reports were hashed under it.
    for (name, value) in from.secrets()? {
        to.import_secret(&name, &value)?;
    }
    for f in from.failure_copies()? {
        sum.failure.add(to.import_failure(&f)?);
    }
    for v in from.variant_copies()? {
        sum.variants.add(to.import_variant(&v)?);
    }
    Ok(sum)
}
