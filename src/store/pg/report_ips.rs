//! `report_ips` on PostgreSQL: each report's row written (by `write.rs`
//! and reparse through [`put`]), read by the "new sender" alert, and
//! filled for reports that lack one (stored before the table existed).
//! What the rows are and why: `store/report_ips.rs`, whose [`Search`]
//! looks through them on both backends.

use postgres::fallible_iterator::FallibleIterator;

use super::super::report_ips::{IpHashes, Search};
use super::super::DbError;
use super::{lock, Conn, Pg};

/// Writes (or replaces) report `id`'s row, inside the caller's
/// transaction.
pub(super) fn put(client: &mut Conn, id: i64, hashes: &[u8]) -> Result<(), postgres::Error> {
    client.execute(
        "INSERT INTO report_ips (report, hashes) VALUES ($1, $2)
         ON CONFLICT (report) DO UPDATE SET hashes = excluded.hashes",
        &[&id, &hashes],
    )?;
    Ok(())
}

impl Pg {
    /// See [`crate::store::Store::seen_before`]. The rows stream from the
    /// server; each is looked through until every candidate is found.
    pub fn seen_before(&self, before: i64, candidates: &[&str]) -> Result<Vec<bool>, DbError> {
        let mut search = Search::new(candidates);
        if candidates.is_empty() {
            return Ok(search.seen);
        }
        self.fill_report_ips()?;
        let mut client = self.loaded()?;
        let st = client.prepared(
            "SELECT i.hashes FROM report r JOIN report_ips i ON i.report = r.id
             WHERE r.date_begin < $1",
        )?;
        let mut rows = client.client.query_raw(&st, [&before])?;
        let mut done = false;
        // Read to the end even when done: the connection serves the next
        // statement only after this one's last row.
        while let Some(row) = rows.next()? {
            if !done {
                done = search.scan(row.try_get::<_, &[u8]>(0)?);
            }
        }
        Ok(search.seen)
    }

    /// Writes the rows of reports that have none, from their records, under
    /// the write lock (inside the open group, which holds it, if any).
    pub fn fill_report_ips(&self) -> Result<(), DbError> {
        let mut client = self.loaded()?;
        if missing(&mut client)?.is_empty() {
            return Ok(());
        }
        if self.batch.is_some() {
            return fill(&mut client);
        }
        client.batch_execute("BEGIN")?;
        let done = lock(&mut client)
            .map_err(DbError::from)
            .and_then(|()| fill(&mut client))
            .and_then(|()| Ok(client.batch_execute("COMMIT")?));
        if done.is_err() {
            let _ = client.batch_execute("ROLLBACK");
        }
        done
    }
}

/// The reports without a row.
fn missing(client: &mut Conn) -> Result<Vec<i64>, postgres::Error> {
    let rows = client.client.query(
        "SELECT r.id FROM report r
         WHERE NOT EXISTS (SELECT 1 FROM report_ips i WHERE i.report = r.id) ORDER BY r.id",
        &[],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn fill(client: &mut Conn) -> Result<(), DbError> {
    // Asked again under the lock: another process may have filled them.
    for id in missing(client)? {
        let mut h = IpHashes::default();
        let st = client.prepared("SELECT source_ip FROM record WHERE report = $1")?;
        for row in client.client.query(&st, &[&id])? {
            h.add(row.try_get::<_, &str>(0)?);
        }
        put(client, id, &h.blob())?;
    }
    Ok(())
}
