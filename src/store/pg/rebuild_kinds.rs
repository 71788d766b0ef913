//! PostgreSQL's side of rewriting a stored SMTP TLS or failure report from
//! its bytes, for `reparse` (`store/rebuild_kinds.rs` says what and why):
//! the transaction, under the write lock, and the fingerprint of the
//! report's rows, taken from each row as `jsonb` less the columns that are
//! not content (so every column counts, those a later migration adds too,
//! and `jsonb` columns compare by value).

use sha2::{Digest, Sha256};

use super::super::rebuild::NOT_CONTENT;
use super::super::rebuild_kinds::{rewrite_failure, rewrite_tls, Rows, FAILURE_ROWS, TLS_ROWS};
use super::super::views::sql::Dialect;
use super::super::{DbError, Rebuilt};
use super::tls::write_policies;
use super::{lock, Conn, Pg};
use crate::model::failure::FailureReport;
use crate::model::tls::TlsReport;

impl Pg {
    /// See [`crate::store::Store::rebuild_tls`].
    pub fn rebuild_tls(&mut self, id: i64, report: &TlsReport) -> Result<Rebuilt, DbError> {
        self.rebuild_rows(id, TLS_ROWS, |client| {
            rewrite_tls(client, Dialect::Postgres, id, report)?;
            write_policies(client, id, report)
        })
    }

    /// See [`crate::store::Store::rebuild_failure`].
    pub fn rebuild_failure(&mut self, id: i64, report: &FailureReport) -> Result<Rebuilt, DbError> {
        self.rebuild_rows(id, FAILURE_ROWS, |client| {
            rewrite_failure(client, Dialect::Postgres, id, report)
        })
    }

    /// Runs `rewrite` on report `id` (described by `rows`) in one
    /// transaction that takes the write lock first, committed only when
    /// the fingerprint of `rows` changed.
    fn rebuild_rows(
        &mut self,
        id: i64,
        rows: &[Rows],
        rewrite: impl FnOnce(&mut Conn) -> Result<(), DbError>,
    ) -> Result<Rebuilt, DbError> {
        let client = self.client.get_mut();
        client.batch_execute("BEGIN")?;
        let done = rebuild(client, id, rows, rewrite);
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
    rows: &[Rows],
    rewrite: impl FnOnce(&mut Conn) -> Result<(), DbError>,
) -> Result<Rebuilt, DbError> {
    lock(client)?;
    let exists = format!("SELECT 1 FROM {} WHERE id = $1", rows[0].table);
    if client.client.query_opt(&exists, &[&id])?.is_none() {
        return Ok(Rebuilt::Gone);
    }
    let before = fingerprint(client, id, rows)?;
    rewrite(client)?;
    if fingerprint(client, id, rows)? == before {
        return Ok(Rebuilt::Unchanged);
    }
    Ok(Rebuilt::Changed)
}

/// A digest of every content column of report `id`'s `rows`.
fn fingerprint(client: &mut Conn, id: i64, rows: &[Rows]) -> Result<[u8; 32], DbError> {
    let skip: Vec<&str> = NOT_CONTENT.to_vec();
    let mut h = Sha256::new();
    for r in rows {
        let sql = format!(
            "SELECT (to_jsonb(t) - $2::text[])::text FROM {} t WHERE t.{} = $1 ORDER BY {}",
            r.table, r.key, r.order
        );
        for row in client.client.query(&sql, &[&id, &skip])? {
            let text: String = row.get(0);
            h.update(b"\x1erow");
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
    }
    Ok(h.finalize().into())
}
