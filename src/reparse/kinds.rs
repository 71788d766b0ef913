//! Reparse's pass over the stored SMTP TLS reports (RFC 8460) and DMARC
//! failure reports (RFC 6591): each report's original bytes (the JSON, the
//! failure report mail) are parsed again by ingest's own parsers, and the
//! store rewrites the report's rows, one transaction per report, kept only
//! when they changed ([`Store::rebuild_tls`], [`Store::rebuild_failure`]).
//! As for aggregate reports, a report whose bytes no longer parse (or now
//! parse to another stored report's identity) is kept as it was and
//! reported. A failure report stored redacted kept no mail: it is counted,
//! not rebuilt.

use std::io::Read;

use super::{Event, KindSummary};
use crate::extract::Payload;
use crate::ingest::{self, Fatal, Rejection, ReportKind};
use crate::parse::arf::{parse_arf, Arf, MAX_MAIL};
use crate::parse::tls::read_tls;
use crate::store::{DbError, Rebuilt, Store};

/// What re-parsing one report's bytes gave: a description of it for the
/// events ("org report-id" for a TLS report, "domain source-ip" for a
/// failure report), or why it is kept as it was.
type Parsed<T> = Result<(T, String), String>;

/// Rebuilds every stored TLS report from its bytes.
pub(super) fn rebuild_tls_reports(
    store: &mut Store,
    opts: &ingest::Options,
    sum: &mut KindSummary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    for id in store.tls_report_ids()? {
        let Some(payload) = store.tls_report_bytes(id)? else {
            continue; // Deleted meanwhile.
        };
        let parsed = read_tls(payload.reader(&opts.limits))
            .map(|r| {
                let what = format!("{} {}", r.organization_name, r.report_id);
                (r, what)
            })
            .map_err(|e| e.to_string());
        let kind = ReportKind::Tls;
        let done = parsed.map(|(r, what)| (store.rebuild_tls(id, &r), what));
        tally(kind, id, &payload, done, sum, on_event)?;
    }
    Ok(())
}

/// Rebuilds every stored failure report from its mail; those stored
/// redacted (no mail kept) are counted.
pub(super) fn rebuild_failure_reports(
    store: &mut Store,
    opts: &ingest::Options,
    sum: &mut KindSummary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    for id in store.failure_report_ids()? {
        let Some(payload) = store.failure_report_bytes(id)? else {
            sum.redacted += 1;
            continue;
        };
        let kind = ReportKind::Failure;
        let done =
            parse_failure(&payload, opts).map(|(r, what)| (store.rebuild_failure(id, &r), what));
        tally(kind, id, &payload, done, sum, on_event)?;
    }
    Ok(())
}

/// The failure report in `payload`'s mail, as ingest parses it.
fn parse_failure(
    payload: &Payload,
    opts: &ingest::Options,
) -> Parsed<crate::model::failure::FailureReport> {
    let mut mail = Vec::new();
    payload
        .reader(&opts.limits)
        .take(MAX_MAIL as u64 + 1)
        .read_to_end(&mut mail)
        .map_err(|e| format!("stored mail unreadable: {e}"))?;
    match parse_arf(&mail) {
        Ok(Arf::Failure(r)) => {
            let ip = r.source_ip.as_deref().unwrap_or("-");
            let what = format!("{} {ip}", r.reported_domain());
            Ok((*r, what))
        }
        Ok(Arf::OtherFeedback(t)) => Err(format!(
            "no longer a DMARC failure report (feedback type {})",
            t.as_str()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Counts one report's outcome and tells the caller; only a database
/// error (other than a collision of identities) ends the run.
fn tally(
    kind: ReportKind,
    id: i64,
    payload: &Payload,
    done: Result<(Result<Rebuilt, DbError>, String), String>,
    sum: &mut KindSummary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    let source = payload.name.as_str();
    let reason = match done {
        Ok((Ok(Rebuilt::Changed), what)) => {
            sum.changed += 1;
            on_event(&Event::ChangedOther {
                kind,
                id,
                what: &what,
                source,
            });
            return Ok(());
        }
        Ok((Ok(Rebuilt::Unchanged | Rebuilt::Gone), _)) => {
            sum.unchanged += 1;
            return Ok(());
        }
        Ok((Err(e), _)) if e.is_constraint() => {
            "it now parses to the identity of another stored report".to_string()
        }
        Ok((Err(e), _)) => return Err(Fatal::Db(e)),
        Err(reason) => reason,
    };
    let r = Rejection {
        name: source.to_string(),
        reason: format!("stored {} {id} kept as it was: {reason}", kind.as_str()),
    };
    on_event(&Event::Rejected(&r));
    sum.failed.push(r);
    Ok(())
}
