//! What `dmarcdb copy` writes besides reports (which go through the
//! ordinary write path, [`Store::store_parsed`]): quarantined inputs as
//! they are, with their counts and dates. Written once for both backends
//! with the views' SQL builder.

use rusqlite::types::Value;

use super::{Backend, DbError, Quarantined, Store};

impl Store {
    /// Keeps quarantined input `q` (its stored gzip `gzip`, the sha256 of
    /// the original bytes `sha256`) unless the same bytes are already in
    /// the quarantine. Returns whether it was added.
    pub fn import_quarantined(
        &mut self,
        q: &Quarantined,
        sha256: &[u8],
        gzip: &[u8],
    ) -> Result<bool, DbError> {
        let mut sql = self.sql();
        let values: Vec<Value> = vec![
            sha256.to_vec().into(),
            q.source.clone().into(),
            q.reason.clone().into(),
            gzip.to_vec().into(),
            q.first_seen.into(),
            q.last_seen.into(),
            q.attempts.into(),
        ];
        let marks: Vec<String> = values.into_iter().map(|v| sql.bind(v)).collect();
        let text = format!(
            "INSERT INTO quarantine (sha256, source, reason, gzip, first_seen, last_seen, attempts)
             VALUES ({}) ON CONFLICT (sha256) DO NOTHING",
            marks.join(", ")
        );
        let n = match &self.backend {
            Backend::Sqlite(s) => s.execute(&text, &sql.args)?,
            Backend::Postgres(p) => p.execute(&text, &sql.args)?,
        };
        Ok(n > 0)
    }
}
