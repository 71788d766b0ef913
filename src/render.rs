//! Render: turn rows into a terminal table, CSV or JSON.
//!
//! Every view produces a [`Table`] of named columns and JSON-valued cells;
//! this module only decides how it looks. JSON output is an array of objects
//! keyed by the column names, which are the documented, stable keys scripts
//! rely on. Tables use UTF-8 borders on a terminal and plain ASCII when
//! piped or when `NO_COLOR` is set, so logs and mail stay readable.

use std::io::{self, IsTerminal, Write};

use comfy_table::{presets, CellAlignment, ContentArrangement};
use serde_json::Value;

/// Output format, chosen with `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// One column: its stable key and whether it holds numbers (right-aligned).
#[derive(Debug, Clone)]
pub struct Column {
    pub key: &'static str,
    pub numeric: bool,
}

impl Column {
    pub const fn text(key: &'static str) -> Column {
        Column {
            key,
            numeric: false,
        }
    }
    pub const fn num(key: &'static str) -> Column {
        Column { key, numeric: true }
    }
}

/// Rows of a view.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// The rows as JSON objects keyed by column.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| {
                    let obj = self
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(c, v)| (c.key.to_string(), v.clone()))
                        .collect();
                    Value::Object(obj)
                })
                .collect(),
        )
    }
}

/// Writes `table` in `format` to `out`. `fancy` picks UTF-8 borders.
pub fn write(table: &Table, format: Format, fancy: bool, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &table.to_json())?;
            writeln!(out)
        }
        Format::Csv => write_csv(table, out),
        Format::Table => {
            writeln!(out, "{}", to_text(table, fancy))
        }
    }
}

/// Whether stdout is a terminal that may get UTF-8 borders.
pub fn fancy_stdout() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn write_csv(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(table.columns.iter().map(|c| c.key))?;
    for row in &table.rows {
        w.write_record(row.iter().map(plain))?;
    }
    w.flush()
}

fn to_text(table: &Table, fancy: bool) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(if fancy {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_MARKDOWN
    });
    t.set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(table.columns.iter().map(|c| c.key));
    for row in &table.rows {
        t.add_row(row.iter().map(plain));
    }
    for (i, c) in table.columns.iter().enumerate() {
        if c.numeric {
            if let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    t
}

/// A cell as plain text: strings unquoted, null empty, a list space-separated.
pub fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Array(a) => a.iter().map(plain).collect::<Vec<_>>().join(" "),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Table {
        let mut t = Table::new(vec![Column::text("name"), Column::num("n")]);
        t.rows.push(vec![json!("a,b"), json!(12)]);
        t.rows.push(vec![json!("c"), Value::Null]);
        t
    }

    #[test]
    fn json_uses_column_keys() {
        let v = sample().to_json();
        assert_eq!(v[0]["name"], "a,b");
        assert_eq!(v[0]["n"], 12);
        assert!(v[1]["n"].is_null());
    }

    #[test]
    fn csv_quotes_and_plain_table_is_ascii() {
        let mut out = Vec::new();
        write(&sample(), Format::Csv, false, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "name,n\n\"a,b\",12\nc,\n");
        let mut out = Vec::new();
        write(&sample(), Format::Table, false, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.is_ascii(), "{s}");
        assert!(s.contains("| a,b  | 12 |"), "{s}");
    }
}
