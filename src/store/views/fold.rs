//! Folding a window's records in one streaming pass, for the views that
//! group many records by keys with many values (source IP, auth set,
//! header From).
//!
//! SQLite groups only by sorting: `GROUP BY c.source_ip, ...` over the
//! 900,000 records of a 30-day window of the benchmark's 10-million-record
//! file spends three quarters of the query in its sorter (`perf`:
//! `vdbeSorterSort`), while reading the same records unsorted takes a
//! tenth of that. So on SQLite these views read the records ungrouped, in
//! key order, and the caller sums them into a hash map as they stream by
//! (no row is kept); PostgreSQL groups them itself (a hash aggregate) and
//! the same fold sums its already-grouped rows — a sum of sums is the same
//! sum, so both backends answer alike. The pieces of SQL that differ are
//! here ([`Sql::fold_sum`], [`Sql::fold_max`], [`Sql::fold_group`]); the
//! rows reach the caller borrowed ([`RowRef`]), with no copy per cell.

use rusqlite::params_from_iter;
use rusqlite::types::ValueRef;

use super::sql::{Dialect, Sql};
use super::{Cells, Scope};
use crate::store::{Backend, DbError, Store};

/// One row being folded: SQLite's own (borrowed) row, or a PostgreSQL row.
pub(crate) enum RowRef<'a> {
    Lite(&'a rusqlite::Row<'a>),
    Cells(&'a Cells),
}

fn conversion(i: usize, v: ValueRef<'_>, e: rusqlite::types::FromSqlError) -> DbError {
    DbError::from(rusqlite::Error::FromSqlConversionFailure(
        i,
        v.data_type(),
        Box::new(e),
    ))
}

impl RowRef<'_> {
    fn cell(&self, i: usize) -> Result<ValueRef<'_>, DbError> {
        match self {
            RowRef::Lite(r) => Ok(r.get_ref(i)?),
            RowRef::Cells(c) => Ok(c.0.get(i).map_or(ValueRef::Null, ValueRef::from)),
        }
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> Result<&str, DbError> {
        let v = self.cell(i)?;
        v.as_str().map_err(|e| conversion(i, v, e))
    }

    /// Column `i` as an integer (PostgreSQL's booleans read as 0 and 1).
    pub fn int(&self, i: usize) -> Result<i64, DbError> {
        let v = self.cell(i)?;
        v.as_i64().map_err(|e| conversion(i, v, e))
    }

    /// Column `i` as an integer, `None` for NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        let v = self.cell(i)?;
        v.as_i64_or_null().map_err(|e| conversion(i, v, e))
    }
}

/// `a + b`, or SQLite's own error for a sum that overflows (what `sum()`
/// says in SQL).
pub(crate) fn add(a: i64, b: i64) -> Result<i64, DbError> {
    a.checked_add(b).ok_or_else(|| {
        DbError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some("integer overflow".into()),
        ))
    })
}

impl Sql {
    /// `e` for a folded view: summed over the group on PostgreSQL, the
    /// record's own value on SQLite (the caller sums).
    pub fn fold_sum(&self, e: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => e.to_string(),
            Dialect::Postgres => format!("sum({e})::bigint"),
        }
    }

    /// The largest `e` of the group on PostgreSQL, the record's own on
    /// SQLite.
    pub fn fold_max(&self, e: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => e.to_string(),
            Dialect::Postgres => format!("max({e})"),
        }
    }

    /// `GROUP BY keys` on PostgreSQL; nothing on SQLite.
    pub fn fold_group(&self, keys: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!("GROUP BY {keys}"),
        }
    }
}

impl Store {
    /// Runs `text` with `sql`'s parameters and hands each row to `f` as it
    /// comes (SQLite), or each of the rows PostgreSQL sent.
    pub(crate) fn fold(
        &self,
        text: &str,
        sql: &Sql,
        mut f: impl FnMut(&RowRef<'_>) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => {
                let mut st = lite.conn.prepare_cached(text)?;
                let mut rows = st.query(params_from_iter(sql.args.iter()))?;
                while let Some(r) = rows.next()? {
                    f(&RowRef::Lite(r))?;
                }
            }
            Backend::Postgres(pg) => {
                for c in pg.cells(text, &sql.args)? {
                    f(&RowRef::Cells(&c))?;
                }
            }
        }
        Ok(())
    }
}

/// Messages per auth set in a scope, as a table `(auth, n)` for the DKIM
/// and SPF views to join their results to.
pub(crate) enum AuthSums {
    /// Taken by a fold (SQLite): `[[auth, n], ...]` as JSON text.
    Json(String),
    /// Left to the database (PostgreSQL groups without sorting).
    Grouped,
}

impl AuthSums {
    /// The sums of `q`'s records: on SQLite one fold pass, on PostgreSQL
    /// nothing yet (the view's SQL groups).
    pub fn of(store: &Store, q: &Scope<'_>) -> Result<AuthSums, DbError> {
        let mut sql = store.sql();
        if sql.dialect == Dialect::Postgres {
            return Ok(AuthSums::Grouped);
        }
        let from = sql.from();
        let cond = sql.where_all(q);
        let text = format!("SELECT c.auth, c.count {from} {cond}");
        let mut sums: std::collections::HashMap<Option<i64>, i64> = Default::default();
        store.fold(&text, &sql, |r| {
            let n = sums.entry(r.opt_int(0)?).or_default();
            *n = add(*n, r.int(1)?)?;
            Ok(())
        })?;
        let pairs: Vec<(Option<i64>, i64)> = sums.into_iter().collect();
        Ok(AuthSums::Json(
            serde_json::to_string(&pairs).unwrap_or_default(),
        ))
    }

    /// `SELECT ... AS auth, ... AS n ...` for `q` in `sql` (binding what it
    /// needs there).
    pub fn select(&self, sql: &mut Sql, q: &Scope<'_>) -> String {
        match self {
            AuthSums::Json(json) => {
                let p = sql.bind(json.clone());
                format!(
                    "SELECT json_extract(value, '$[0]') AS auth, json_extract(value, '$[1]') AS n
                     FROM json_each({p})"
                )
            }
            AuthSums::Grouped => {
                let from = sql.from();
                let cond = sql.where_all(q);
                format!("SELECT c.auth AS auth, sum(c.count) AS n {from} {cond} GROUP BY c.auth")
            }
        }
    }
}
