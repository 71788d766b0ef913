//! A PostgreSQL connection as the statement runner of `import_kinds.rs`
//! (what `dmarcdb copy` writes row by row, in a transaction).

use postgres::types::ToSql;
use rusqlite::types::Value;

use super::super::import_kinds::Exec;
use super::super::views::Cells;
use super::super::DbError;
use super::{arg, Conn};

impl Exec for Conn {
    fn rows(&mut self, text: &str, args: &[Value]) -> Result<Vec<Cells>, DbError> {
        let args: Vec<arg::Arg<'_>> = args.iter().map(arg::Arg).collect();
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self.client.query(text, &params)?;
        rows.iter().map(arg::cells).collect()
    }
}
