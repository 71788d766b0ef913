//! The folded views' rows on PostgreSQL (`views/fold.rs`), as they arrive:
//! each row a batch of records (a report's), each column an array with an
//! element per record, decoded in place ([`Col`]: the text borrowed from
//! the message, no copy). A row per record cost the client more than the
//! server took to find them: the driver's work per message (about 2,800
//! instructions, on top of reading its cells) for 900,000 messages; an
//! array's element costs a few. The connection is busy until the last row:
//! whatever else the fold needs is read before.

use std::error::Error;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, Kind, ToSql, Type};
use postgres::{Client, Row};
use postgres_protocol::types::{array_from_sql, ArrayValues};
use rusqlite::types::Value;

use super::super::DbError;
use super::{arg, Pg};

/// One column of a row of arrays: an element per record, `None` for NULL.
pub(crate) enum Col<'a> {
    Text(Vec<Option<&'a str>>),
    /// bigint, integer, smallint or boolean (as 0 and 1).
    Int(Vec<Option<i64>>),
}

impl Col<'_> {
    pub fn len(&self) -> usize {
        match self {
            Col::Text(v) => v.len(),
            Col::Int(v) => v.len(),
        }
    }
}

type BoxError = Box<dyn Error + Sync + Send>;

fn int<const N: usize>(b: &[u8]) -> Result<[u8; N], BoxError> {
    b.try_into().map_err(|_| "integer of the wrong size".into())
}

/// The elements of an integer array, each read by `read`.
fn ints(
    values: ArrayValues<'_>,
    read: fn(&[u8]) -> Result<i64, BoxError>,
) -> Result<Col<'static>, BoxError> {
    Ok(Col::Int(values.map(|v| v.map(read).transpose()).collect()?))
}

impl<'a> FromSql<'a> for Col<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Col<'a>, BoxError> {
        let array = array_from_sql(raw)?;
        let values = array.values();
        match Type::from_oid(array.element_type()).unwrap_or(Type::UNKNOWN) {
            Type::TEXT | Type::VARCHAR => Ok(Col::Text(
                values
                    .map(|v| Ok(v.map(std::str::from_utf8).transpose()?))
                    .collect()?,
            )),
            Type::INT8 => ints(values, |b| Ok(i64::from_be_bytes(int(b)?))),
            Type::INT4 => ints(values, |b| Ok(i32::from_be_bytes(int(b)?).into())),
            Type::INT2 => ints(values, |b| Ok(i16::from_be_bytes(int(b)?).into())),
            Type::BOOL => ints(values, |b| Ok(i64::from(int::<1>(b)?[0] != 0))),
            other => Err(format!("an array of {other} in a folded view").into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Array(_))
    }
}

impl Pg {
    /// Runs `text` with `args` bound and calls `f` with each row's columns
    /// as it comes (see [`batches`]).
    pub(crate) fn each_batch(
        &self,
        text: &str,
        args: &[Value],
        f: impl FnMut(&[Col<'_>], usize) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        batches(&mut self.loaded()?.client, text, args, f)
    }
}

/// Runs `text` with `args` bound on `client` and calls `f` with each row's
/// columns as it comes (the server sends them all in one go: no round trip
/// per row or per batch), and the number of elements each holds. A NULL
/// column (no records) reads as empty.
pub(crate) fn batches(
    client: &mut Client,
    text: &str,
    args: &[Value],
    mut f: impl FnMut(&[Col<'_>], usize) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let args: Vec<arg::Arg<'_>> = args.iter().map(arg::Arg).collect();
    let params = args.iter().map(|a| a as &(dyn ToSql + Sync));
    let mut rows = client.query_raw(text, params)?;
    while let Some(row) = rows.next()? {
        let cols = columns(&row)?;
        let n = cols.first().map_or(0, Col::len);
        if let Some(i) = cols.iter().position(|c| c.len() != n) {
            return Err(DbError::from(rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Blob,
                "arrays of different lengths in one row".into(),
            )));
        }
        f(&cols, n)?;
    }
    Ok(())
}

/// Every column of `row`, each an array (NULL: none).
fn columns(row: &Row) -> Result<Vec<Col<'_>>, DbError> {
    (0..row.len())
        .map(|i| {
            Ok(row
                .try_get::<_, Option<Col<'_>>>(i)?
                .unwrap_or(Col::Int(Vec::new())))
        })
        .collect()
}
