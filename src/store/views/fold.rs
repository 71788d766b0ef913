//! Folding a window's records in one streaming pass, for the views that
//! group many records by keys with many values (source IP, auth set,
//! header From).
//!
//! SQLite groups only by sorting: `GROUP BY c.source_ip, ...` over the
//! 900,000 records of a 30-day window of the benchmark's 10-million-record
//! file spends three quarters of the query in its sorter (`perf`:
//! `vdbeSorterSort`), while reading the same records unsorted takes a
//! tenth of that. PostgreSQL groups them by hashing, but its hash
//! aggregate of the same records into 384,000 (IP, auth set, From) groups
//! took 1.3 s, four times as long as reaching them. So on both backends
//! these views read the records ungrouped and the caller sums them into a
//! hash map as they stream by (no row is kept): SQLite's rows in key
//! order; PostgreSQL's a row per report, each column an array of its
//! records' values (`array_agg`), unrolled here (`pg/stream.rs`: a row
//! per record cost the client more than the server). The rows reach the
//! caller borrowed ([`RowRef`]), with no copy per cell.

use rusqlite::params_from_iter;
use rusqlite::types::ValueRef;

use super::sql::{Dialect, Sql};
use super::Scope;
use crate::store::{pg, Backend, DbError, Store};

/// One row being folded: SQLite's own (borrowed) row, or element `j`
/// of each of PostgreSQL's arrays as received.
pub(crate) enum RowRef<'a> {
    Lite(&'a rusqlite::Row<'a>),
    Arrays(&'a [pg::Col<'a>], usize),
}

fn conversion(i: usize, v: ValueRef<'_>, e: rusqlite::types::FromSqlError) -> DbError {
    DbError::from(rusqlite::Error::FromSqlConversionFailure(
        i,
        v.data_type(),
        Box::new(e),
    ))
}

impl RowRef<'_> {
    /// Column `i` (inlined: SQLite's fold reads 7 million cells through
    /// it, and the call cost 4 % of `senders` there).
    #[inline(always)]
    fn cell(&self, i: usize) -> Result<ValueRef<'_>, DbError> {
        match self {
            RowRef::Lite(r) => Ok(r.get_ref(i)?),
            RowRef::Arrays(cols, j) => Ok(match cols.get(i) {
                Some(pg::Col::Text(v)) => {
                    v[*j].map_or(ValueRef::Null, |s| ValueRef::Text(s.as_bytes()))
                }
                Some(pg::Col::Int(v)) => v[*j].map_or(ValueRef::Null, ValueRef::Integer),
                None => ValueRef::Null,
            }),
        }
    }

    /// Column `i` as text (PostgreSQL's arrays hold it checked already).
    pub fn text(&self, i: usize) -> Result<&str, DbError> {
        if let RowRef::Arrays(cols, j) = self {
            if let Some(pg::Col::Text(v)) = cols.get(i) {
                if let Some(Some(s)) = v.get(*j) {
                    return Ok(s);
                }
            }
        }
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

impl Store {
    /// Runs `text` with `sql`'s parameters and hands each row to `f` as it
    /// comes: on PostgreSQL `text` selects arrays, one element per record
    /// (see the module doc), and `f` gets each record's elements.
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
            // A row per batch of records, a column per array.
            Backend::Postgres(pg) => pg.each_batch(text, &sql.args, |cols, n| {
                (0..n).try_for_each(|j| f(&RowRef::Arrays(cols, j)))
            })?,
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
