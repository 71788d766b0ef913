//! The writer's side of the report kinds besides aggregate reports: an
//! SMTP TLS report or a failure report mail arrives parsed whole; it is
//! stored (one savepoint, in the open group like any report), or, in a dry
//! run, only reported; a parse error quarantines the payload with its
//! reason, and a failure report mail of another feedback type is counted
//! as "not a report".

use super::Writer;
use crate::extract::Payload;
use crate::ingest::{reject, Event, Fatal, ReportKind, Sink};
use crate::model::tls::TlsReport;
use crate::parse::arf::{Arf, ArfError};
use crate::parse::tls::TlsError;
use crate::store::{FailureStored, TlsStored};

impl Writer<'_, '_> {
    pub(super) fn store_tls(
        &mut self,
        payload: &Payload,
        report: Result<TlsReport, TlsError>,
    ) -> Result<(), Fatal> {
        let report = match report {
            Ok(r) => r,
            Err(e) => return self.bad_payload(payload, e.to_string()),
        };
        let new = match self.sink {
            Sink::Store(store) => matches!(
                store.store_tls(payload, &payload.name, report)?,
                TlsStored::New { .. }
            ),
            Sink::Nowhere => {
                self.dry_run(payload, ReportKind::Tls);
                return Ok(());
            }
        };
        self.stored(payload, ReportKind::Tls, new);
        Ok(())
    }

    pub(super) fn store_failure(
        &mut self,
        payload: &Payload,
        report: Result<Arf, ArfError>,
    ) -> Result<(), Fatal> {
        let report = match report {
            Ok(Arf::Failure(r)) => r,
            Ok(Arf::OtherFeedback(_)) => {
                self.sum.not_report += 1;
                return Ok(());
            }
            Err(e) => return self.bad_payload(payload, e.to_string()),
        };
        let new = match self.sink {
            Sink::Store(store) => matches!(
                store.store_failure(payload, &payload.name, *report, self.redact)?,
                FailureStored::New { .. }
            ),
            Sink::Nowhere => {
                self.dry_run(payload, ReportKind::Failure);
                return Ok(());
            }
        };
        self.stored(payload, ReportKind::Failure, new);
        Ok(())
    }

    fn bad_payload(&mut self, payload: &Payload, reason: String) -> Result<(), Fatal> {
        self.quarantine(&payload.name, &reason, &payload.data)?;
        reject(self.sum, self.on_event, payload.name.clone(), reason);
        Ok(())
    }

    fn dry_run(&mut self, payload: &Payload, kind: ReportKind) {
        self.sum.parsed += 1;
        (self.on_event)(&Event::DryRunOther {
            name: &payload.name,
            kind,
        });
    }

    fn stored(&mut self, payload: &Payload, kind: ReportKind, new: bool) {
        match (kind, new) {
            (ReportKind::Tls, true) => self.sum.tls_new += 1,
            (ReportKind::Failure, true) => self.sum.failure_new += 1,
            (_, false) => self.sum.duplicate += 1,
        }
        (self.on_event)(&Event::StoredOther {
            name: &payload.name,
            kind,
            new,
        });
    }
}
