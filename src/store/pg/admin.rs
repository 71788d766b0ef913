//! PostgreSQL's statements for the quarantine's admin, the `sender`
//! table (first report date per source IP, for the "new sender" alert)
//! and `reparse`: the same jobs as SQLite's `quarantine.rs`,
//! `report_ips.rs` and `rebuild.rs`, whose doc comments say what each does.

use std::io;

use sha2::{Digest, Sha256};

use super::super::rebuild::{feed, NOT_CONTENT, ROWS};
use super::super::write::{header_errors, Totals};
use super::super::{inflate_to, DbError, Dropped, Quarantined, Rebuilt, StoreError};
use super::write::{header_params, set_totals};
use super::{lock, Conn, Pg};
use crate::model::{Record, ReportHeader};
use crate::parse::ParseError;

impl Pg {
    /// See [`crate::store::Store::seen_before`]: answered from `sender`,
    /// brought up to date first.
    pub fn seen_before(&self, before: i64, candidates: &[&str]) -> Result<Vec<bool>, DbError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        self.refresh_senders()?;
        let ips: Vec<&str> = candidates.to_vec();
        let rows = self.client.borrow_mut().client.query(
            "SELECT source_ip FROM sender WHERE source_ip = ANY($1) AND first_seen < $2",
            &[&ips, &before],
        )?;
        let old: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(ips.iter().map(|ip| old.contains(*ip)).collect())
    }

    /// Folds the reports stored since the last call into `sender` (each
    /// source IP's first report date).
    fn refresh_senders(&self) -> Result<(), DbError> {
        let mut client = self.loaded()?;
        if self.batch.is_some() {
            // Inside the open group, which holds the write lock.
            return fold(&mut client);
        }
        client.batch_execute("BEGIN")?;
        let done = lock(&mut client)
            .map_err(DbError::from)
            .and_then(|()| fold(&mut client))
            .and_then(|()| Ok(client.batch_execute("COMMIT")?));
        if done.is_err() {
            let _ = client.batch_execute("ROLLBACK");
        }
        done
    }

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

fn rebuild(
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
    let done = (|| -> Result<(), StoreError> {
        while let Some(rec) = next_record()? {
            t.add(&rec);
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
    client.batch_execute("DELETE FROM sender; DELETE FROM state WHERE key = 'sender_report'")?;
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

/// Folds the reports stored since the last time into `sender`.
fn fold(client: &mut Conn) -> Result<(), DbError> {
    let done: i64 = client
        .query_one(
            "SELECT coalesce((SELECT value FROM state WHERE key = 'sender_report'), 0)",
            &[],
        )?
        .get(0);
    let last: i64 = client
        .query_one("SELECT coalesce(max(id), 0) FROM report", &[])?
        .get(0);
    if last <= done {
        return Ok(());
    }
    client.execute(
        "INSERT INTO sender (source_ip, first_seen)
         SELECT c.source_ip, min(r.date_begin)
         FROM report r JOIN record c ON c.report = r.id
         WHERE r.id > $1 AND r.id <= $2
         GROUP BY c.source_ip
         ON CONFLICT (source_ip) DO UPDATE
         SET first_seen = least(sender.first_seen, excluded.first_seen)",
        &[&done, &last],
    )?;
    client.execute(
        "INSERT INTO state (key, value) VALUES ('sender_report', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&last],
    )?;
    Ok(())
}
