//! A view's rows as they arrive from the server, for the folded views
//! (`views/fold.rs`): each row is handed on while the rest are still on
//! their way, and none is kept or converted to cells. The connection is
//! busy until the last row: whatever else the fold needs is read before.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::Row;
use rusqlite::types::Value;

use super::super::DbError;
use super::{arg, Pg};

impl Pg {
    /// Runs `text` with `args` bound and calls `f` with each row as it
    /// comes (the server sends them all in one go: no round trip per row
    /// or per batch).
    pub(crate) fn each_row(
        &self,
        text: &str,
        args: &[Value],
        mut f: impl FnMut(&Row) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let args: Vec<arg::Arg<'_>> = args.iter().map(arg::Arg).collect();
        let params = args.iter().map(|a| a as &(dyn ToSql + Sync));
        let mut conn = self.loaded()?;
        let mut rows = conn.client.query_raw(text, params)?;
        while let Some(row) = rows.next()? {
            f(&row)?;
        }
        Ok(())
    }
}

/// Column `i` of `row` as an integer (`None` for NULL): a bigint, an
/// integer, a smallint, or a boolean as 0 and 1.
pub(crate) fn int(row: &Row, i: usize) -> Result<Option<i64>, DbError> {
    let ty = row.columns().get(i).map(|c| c.type_());
    Ok(match ty {
        Some(&Type::INT4) => row.try_get::<_, Option<i32>>(i)?.map(i64::from),
        Some(&Type::INT2) => row.try_get::<_, Option<i16>>(i)?.map(i64::from),
        Some(&Type::BOOL) => row.try_get::<_, Option<bool>>(i)?.map(i64::from),
        _ => row.try_get::<_, Option<i64>>(i)?,
    })
}
