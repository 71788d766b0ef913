//! The write path of one report on PostgreSQL, and of an input that could
//! not be stored. A report's row is one INSERT, which also tells a
//! duplicate; everything else it adds waits in the group's
//! [`Loader`](super::load::Loader) (`load.rs`) and goes in with the other
//! reports' rows.

use postgres::types::ToSql;
use sha2::{Digest, Sha256};

use super::super::write::{gzip, header_errors, keep_bytes, kept_sha, KeptSha, Totals};
use super::super::{variant, DbError, StoreError, Stored};
use super::load::Mark;
use super::variant::{stored_id, Guarded, Savepoint};
use super::{nul, undo, Conn, Pg};
use crate::extract::{Limits, Payload};
use crate::model::{Record, ReportHeader};
use crate::parse::ParseError;

impl Pg {
    /// See [`crate::store::Store::store_parsed`]. The report row goes in
    /// first, with `ON CONFLICT DO NOTHING` on the identity key: no row
    /// back means a duplicate, found before any record is asked for (one
    /// round trip, the only one of a report that fits the buffer). The
    /// rest waits in the group's [`Loader`] for the next load. A report
    /// that then fails (a parse error, no records) is taken out of the
    /// buffer and its row deleted, with whatever of it a load had written
    /// already and the auth-result sets it was the first to use (`undo.rs`):
    /// nothing of it stays, and the group's other reports do.
    /// A stored identity with other content is settled by
    /// [`variant::settle`] (under a savepoint of its own in a group).
    pub fn store_parsed(
        &mut self,
        payload: &Payload,
        sha: &KeptSha,
        limits: &Limits,
        source: &str,
        header: ReportHeader,
        next_records: &mut dyn FnMut(&mut Vec<Record>) -> Result<(), StoreError>,
    ) -> Result<Stored, StoreError> {
        let grouped = self.batching;
        self.in_group(|client| {
            nul::header(&header, source)?;
            let Some(id) = insert_report(client, &header, source)? else {
                return conflict(client, grouped, payload, limits, source, header);
            };
            let mark = client.load.mark();
            let records = || -> Result<Totals, StoreError> {
                let mut t = Totals::default();
                let mut chunk = Vec::new();
                loop {
                    next_records(&mut chunk)?;
                    if chunk.is_empty() {
                        break;
                    }
                    for rec in chunk.drain(..) {
                        nul::record(&rec)?;
                        t.add(&rec);
                        client.push(id, t.records as i64 - 1, rec)?;
                    }
                }
                if t.records == 0 {
                    return Err(ParseError::NotAReport("no <record> elements".into()).into());
                }
                Ok(t)
            };
            // A panic part-way (a bug, ours or a parsing library's on
            // hostile bytes) is caught by the ingest loop, which goes on
            // with the group: the report is taken out as for a parse
            // error before the panic goes on unwinding, or its first
            // records would be committed with the group.
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(records));
            let mut t = match read {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    if matches!(e, StoreError::Parse(_)) {
                        take_out(client, id, mark)?;
                    }
                    return Err(e);
                }
                Err(panic) => {
                    take_out(client, id, mark)?;
                    std::panic::resume_unwind(panic);
                }
            };
            let blob = keep_bytes(payload).into_owned();
            let sha = kept_sha(sha, &blob).to_vec();
            // `Totals` gathered the records' address hashes.
            let ips = t.ips.blob();
            client.load.finish(id, &t, sha, blob, ips);
            Ok(Stored::New {
                id,
                header: Box::new(header),
                records: t.records,
                messages: t.messages,
                messages_fail: t.messages_fail,
            })
        })
    }

    /// See [`crate::store::Store::quarantine`].
    pub fn quarantine(&mut self, source: &str, reason: &str, bytes: &[u8]) -> Result<(), DbError> {
        let now = chrono::Utc::now().timestamp();
        let sha = Sha256::digest(bytes).to_vec();
        self.client.get_mut().execute(
            "INSERT INTO quarantine (sha256, source, reason, gzip, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (sha256) DO UPDATE SET source = excluded.source,
               reason = excluded.reason, last_seen = excluded.last_seen,
               attempts = quarantine.attempts + 1",
            &[
                &sha,
                &nul::shown(source).as_ref(),
                &nul::shown(reason).as_ref(),
                &gzip(bytes),
                &now,
            ],
        )?;
        Ok(())
    }
}

/// Takes report `id` out of the group: its rows still in the buffer
/// (pushed since `mark`) and whatever a load wrote of it already.
fn take_out(client: &mut Conn, id: i64, mark: Mark) -> Result<(), DbError> {
    let loaded = client.load.loaded_since(mark);
    let sets = client.load.discard(mark);
    undo::remove(client, id, loaded, &sets)
}

/// A report whose identity key is stored already: the same copy, or one
/// with other content, settled as a variant (see `store/variant.rs`).
fn conflict(
    client: &mut Conn,
    grouped: bool,
    payload: &Payload,
    limits: &Limits,
    source: &str,
    header: ReportHeader,
) -> Result<Stored, StoreError> {
    let Some(id) = stored_id(client, &header)? else {
        return Ok(Stored::Duplicate {
            header: Some(Box::new(header)),
        });
    };
    // The stored copy may still wait in the buffer (same group).
    client.flush()?;
    let mut sp = Savepoint::new(grouped);
    let done = variant::settle(
        &mut Guarded {
            client,
            sp: &mut sp,
        },
        id,
        payload,
        limits,
        source,
        header,
    );
    sp.close(client, done.is_ok())?;
    done
}

/// Inserts the row of a new report (totals zero until its load); `None`
/// when a report with its identity key is stored already.
fn insert_report(
    client: &mut Conn,
    header: &ReportHeader,
    source: &str,
) -> Result<Option<i64>, DbError> {
    let errors = header_errors(header);
    let now = chrono::Utc::now().timestamp();
    let cols = header_params(header, &errors);
    let mut values: Vec<&(dyn ToSql + Sync)> = cols.iter().map(|(_, v)| *v).collect();
    values.extend([&source as &(dyn ToSql + Sync), &now]);
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let mut names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
        names.extend(["source", "ingested_at"]);
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO report ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING id",
            names.join(", "),
            marks.join(", ")
        )
    });
    let row = client.query_opt(sql, &values)?;
    Ok(row.map(|r| r.get(0)))
}

/// Whether a report with `header`'s identity key is committed (or written
/// by this transaction).
pub fn is_stored(client: &mut Conn, header: &ReportHeader) -> Result<bool, DbError> {
    Ok(stored_id(client, header)?.is_some())
}

/// The header's columns and values, in one order (`report` table).
pub(super) fn header_params<'a>(
    h: &'a ReportHeader,
    errors: &'a Option<String>,
) -> [(&'static str, &'a (dyn ToSql + Sync)); 20] {
    let m = &h.metadata;
    let p = &h.policy;
    [
        ("org_name", &m.org_name),
        ("email", &m.email),
        ("extra_contact_info", &m.extra_contact_info),
        ("report_id", &m.report_id),
        ("date_begin", &m.date_begin),
        ("date_end", &m.date_end),
        ("errors", errors),
        ("generator", &m.generator),
        ("version", &h.version),
        ("xml_namespace", &h.namespace),
        ("policy_domain", &p.domain),
        ("policy_adkim", &p.adkim),
        ("policy_aspf", &p.aspf),
        ("policy_p", &p.p),
        ("policy_sp", &p.sp),
        ("policy_np", &p.np),
        ("policy_pct", &p.pct),
        ("policy_fo", &p.fo),
        ("policy_testing", &p.testing),
        ("policy_discovery_method", &p.discovery_method),
    ]
}

/// The sums kept in the `report` row.
pub(super) fn set_totals(client: &mut Conn, id: i64, t: &Totals) -> Result<(), DbError> {
    client.execute(
        "UPDATE report SET record_count = $2, message_count = $3, pass_count = $4 WHERE id = $1",
        &[
            &id,
            &(t.records as i64),
            &t.messages,
            &(t.messages - t.messages_fail),
        ],
    )?;
    Ok(())
}
