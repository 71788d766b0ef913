//! PostgreSQL's statements for the quarantine's admin and `reparse`
//! (which writes the report's `report_ips` row again): the same jobs as
//! SQLite's `quarantine.rs` and `rebuild.rs`, whose doc comments say what
//! each does.

use std::io;

use sha2::{Digest, Sha256};

use super::super::rebuild::{feed, NOT_CONTENT, ROWS};
use super::super::report_ips::IpHashes;
use super::super::write::{header_errors, Totals};
use super::super::{inflate_to, DbError, Dropped, Quarantined, Rebuilt, StoreError};
use super::write::{header_params, set_totals};
use super::{lock, Conn, Pg};
use crate::model::{Record, ReportHeader};
use crate::parse::ParseError;

impl Pg {
    /// See [`crate::store::Store::quarantined`].
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, DbError> {
        let rows = self.client.borrow_mut().client.query(
            "SELECT id, source, reason, gzip, attempts, first_seen, last_seen
             FROM quarantine ORDER BY id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| Quarantined {
                id: r.get(0),
                source: r.get(1),
                reason: r.get(2),
                bytes: inflate_to(r.get(3), &mut io::sink()).ok(),
                attempts: r.get(4),
                first_seen: r.get(5),
                last_seen: r.get(6),
            })
            .collect())
    }

    /// See [`crate::store::Store::drop_quarantined`].
    pub fn drop_quarantined(&mut self, ids: &[i64]) -> Result<Dropped, DbError> {
        let mut tx = self.client.get_mut().client.transaction()?;
        let mut out = Dropped::default();
        for &id in ids {
            match tx.execute("DELETE FROM quarantine WHERE id = $1", &[&id])? {
                0 => out.unknown.push(id),
                n => out.dropped += n,
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// See [`crate::store::Store::drop_all_quarantined`].
    pub fn drop_all_quarantined(&mut self) -> Result<u64, DbError> {
        Ok(self
            .client
            .get_mut()
            .execute("DELETE FROM quarantine", &[])?)
    }

    /// See [`crate::store::Store::rebuild_report`].
    pub fn rebuild_report(
        &mut self,
        id: i64,
        header: &ReportHeader,
        next_record: &mut dyn FnMut() -> Result<Option<Record>, ParseError>,
    ) -> Result<Rebuilt, StoreError> {
        let client = self.client.get_mut();
        client.batch_execute("BEGIN")?;
        let done = rebuild(client, id, header, next_record);
        match done {
            Ok(Rebuilt::Changed) => client.batch_execute("COMMIT")?,
            _ => {
                let _ = client.batch_execute("ROLLBACK");
            }
        }
        done
    }
}

/// Rewrites report `id` from `header` and its records, in the caller's
/// transaction (also a conflict's, `variant.rs`).
pub(super) fn rebuild(
    client: &mut Conn,
    id: i64,
    header: &ReportHeader,
    next_record: &mut dyn FnMut() -> Result<Option<Record>, ParseError>,
) -> Result<Rebuilt, StoreError> {
    lock(client)?;
    if client
        .query_opt("SELECT 1 FROM report WHERE id = $1", &[&id])?
        .is_none()
    {
        return Ok(Rebuilt::Gone);
    }
    let before = fingerprint(client, id)?;
    let errors = header_errors(header);
    let cols = header_params(header, &errors);
    let sets: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("{name} = ${}", i + 2))
        .collect();
    let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&id];
    values.extend(cols.iter().map(|(_, v)| *v));
    client.client.execute(
        &format!("UPDATE report SET {} WHERE id = $1", sets.join(", ")),
        &values,
    )?;
    client.execute("DELETE FROM override_reason WHERE report = $1", &[&id])?;
    client.execute("DELETE FROM record WHERE report = $1", &[&id])?;
    // A loader of its own: the sets it knows are this transaction's.
    let outer = std::mem::take(&mut client.load);
    let mut t = Totals::default();
    let mut ips = IpHashes::default();
    let done = (|| -> Result<(), StoreError> {
        while let Some(rec) = next_record()? {
            t.add(&rec);
            ips.add(&rec.source_ip);
            client.push(id, t.records as i64 - 1, rec)?;
        }
        Ok(client.flush()?)
    })();
    client.load = outer;
    done?;
    if t.records == 0 {
        return Err(ParseError::NotAReport("no <record> elements".into()).into());
    }
    set_totals(client, id, &t)?;
    if fingerprint(client, id)? == before {
        return Ok(Rebuilt::Unchanged);
    }
    super::report_ips::put(client, id, &ips.blob())?;
    Ok(Rebuilt::Changed)
}

/// A digest of everything stored about report `id`, as SQLite's
/// `rebuild.rs` takes it.
fn fingerprint(client: &mut Conn, id: i64) -> Result<[u8; 32], DbError> {
    let mut h = Sha256::new();
    for sql in ROWS {
        let rows = client.client.query(&sql.replace("?1", "$1"), &[&id])?;
        for row in &rows {
            h.update(b"\x1erow");
            let cells = super::arg::cells(row)?;
            for (col, v) in row.columns().iter().zip(&cells.0) {
                if !NOT_CONTENT.contains(&col.name()) {
                    feed(&mut h, col.name(), v.into());
                }
            }
        }
    }
    Ok(h.finalize().into())
}
