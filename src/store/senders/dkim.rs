//! The DKIM results of the auth sets the senders fold meets, read once
//! per set ([`DkimSets`]), and where the fold looks them up
//! ([`Results`]): on SQLite read on first use ([`Loading`]); on
//! PostgreSQL all read before the records stream (the connection is busy
//! while they do; see `later.rs`), and shared read-only by the
//! connections that fold the window's parts at once (`split.rs`).

use rustc_hash::FxHashMap as HashMap;

use super::{DbError, Store};

/// The DKIM results of each auth set, read once: (domain, result), the
/// domain lower case.
#[derive(Default)]
pub(super) struct DkimSets {
    pub sets: HashMap<i64, Vec<(String, String)>>,
}

/// Where [`Fold::add`](super::Fold) finds an auth set's DKIM results.
pub(super) trait Results {
    /// The DKIM results of set `auth` (none for no set).
    fn of(&mut self, auth: Option<i64>) -> Result<&[(String, String)], DbError>;
}

/// Sets read on first use (SQLite: a statement per set between rows, on
/// the connection that reads the rows: each part of a shared read has its
/// own, `split.rs`).
pub(super) struct Loading<'a> {
    pub conn: &'a rusqlite::Connection,
    pub sets: DkimSets,
}

impl Results for Loading<'_> {
    fn of(&mut self, auth: Option<i64>) -> Result<&[(String, String)], DbError> {
        let Some(id) = auth else {
            return Ok(&[]);
        };
        if let std::collections::hash_map::Entry::Vacant(e) = self.sets.sets.entry(id) {
            let mut st = self
                .conn
                .prepare_cached("SELECT domain, result FROM dkim_result WHERE auth_set = ?1")?;
            let rows = st.query_map([id], |r| {
                let d: String = r.get(0)?;
                let res: String = r.get(1)?;
                Ok((d.trim().trim_end_matches('.').to_ascii_lowercase(), res))
            })?;
            e.insert(rows.collect::<Result<Vec<_>, _>>()?);
        }
        Ok(self.sets.sets.get(&id).map(Vec::as_slice).unwrap_or(&[]))
    }
}

/// Sets all read before: a record of any other set is summed aside
/// (`later.rs`) and never reaches the fold before its set is read.
impl Results for &DkimSets {
    fn of(&mut self, auth: Option<i64>) -> Result<&[(String, String)], DbError> {
        let Some(id) = auth else {
            return Ok(&[]);
        };
        self.sets.get(&id).map(Vec::as_slice).ok_or_else(|| {
            DbError::setup(format!(
                "the DKIM results of auth set {id} were not read before the fold"
            ))
        })
    }
}

impl DkimSets {
    /// Reads the DKIM results of the newest `n` auth sets (by id) in one
    /// query; a set without any is read as having none.
    pub fn fetch_recent(&mut self, store: &Store, n: i64) -> Result<(), DbError> {
        let mut sql = store.sql();
        let text = format!(
            "SELECT a.id, d.domain, d.result
             FROM (SELECT id FROM auth_set ORDER BY id DESC LIMIT {}) a
             LEFT JOIN dkim_result d ON d.auth_set = a.id",
            sql.bind(n)
        );
        let rows = store.rows(&text, &sql, |r| {
            let id: i64 = r.get(0)?;
            let d: Option<String> = r.get(1)?;
            let res: Option<String> = r.get(2)?;
            Ok((id, d.zip(res)))
        })?;
        for (id, dkim) in rows {
            let set = self.sets.entry(id).or_default();
            if let Some((d, res)) = dkim {
                set.push((d.trim().trim_end_matches('.').to_ascii_lowercase(), res));
            }
        }
        Ok(())
    }

    /// Reads the sets `ids` in one query (a query per set is a round trip
    /// to the server: a thousand of them took longer than the grouping
    /// query on the 10M-record benchmark database).
    pub fn fetch_all(
        &mut self,
        store: &Store,
        ids: impl Iterator<Item = i64>,
    ) -> Result<(), DbError> {
        let mut ids: Vec<i64> = ids.collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        let mut sql = store.sql();
        let text = format!(
            "SELECT auth_set, domain, result FROM dkim_result
             WHERE auth_set = ANY(string_to_array({}, ',')::bigint[])",
            sql.bind(list.join(","))
        );
        for id in ids {
            self.sets.insert(id, Vec::new());
        }
        let rows = store.rows(&text, &sql, |r| {
            let (id, d, res): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok((id, d, res))
        })?;
        for (id, d, res) in rows {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            self.sets.entry(id).or_default().push((d, res));
        }
        Ok(())
    }
}
