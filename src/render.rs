//! Render: turn rows into a terminal table, CSV or JSON.
//!
//! Every view produces a [`Table`] of named columns and JSON-valued cells;
//! this module only decides how it looks. JSON output is an array of objects
//! keyed by the column names, which are the documented, stable keys scripts
//! rely on. Tables use UTF-8 borders on a terminal and plain ASCII when
//! piped or when `NO_COLOR` is set, so logs and mail stay readable.
//!
//! Cells hold report text, which strangers write: a table shows every cell
//! through [`untrusted::visible`] (no control character reaches the
//! terminal), CSV writes text cells through it too and then through
//! [`untrusted::csv_cell`] (no cell runs as a spreadsheet formula), JSON
//! keeps the text exactly, with every control character as a `\uXXXX`
//! escape ([`untrusted::write_json`]).

use std::io::{self, IsTerminal, Write};

use comfy_table::{presets, CellAlignment, ContentArrangement};
use serde_json::Value;

use crate::untrusted;

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
            untrusted::write_json(&mut *out, &table.to_json())?;
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
        w.write_record(row.iter().map(csv_text))?;
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
        t.add_row(
            row.iter()
                .map(|v| untrusted::visible(&plain(v)).into_owned()),
        );
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

/// A cell for CSV: text with control characters made visible, then by the
/// formula rule; numbers as they are.
fn csv_text(v: &Value) -> String {
    match v {
        Value::String(s) => untrusted::csv_cell(&untrusted::visible(s)).into_owned(),
        other => plain(other),
    }
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

/// The table form of `daily`: appends a `bar` column drawing each day's
/// messages (scaled to the busiest day), passing part then failing part.
/// Only for people; JSON and CSV carry the numbers.
pub fn add_bars(t: &mut Table, fancy: bool) {
    let col = |key: &str| t.columns.iter().position(|c| c.key == key);
    let (Some(m), Some(f)) = (col("messages"), col("messages_fail")) else {
        return;
    };
    let num = |row: &[Value], i: usize| row.get(i).and_then(Value::as_i64).unwrap_or(0);
    let max = t.rows.iter().map(|r| num(r, m)).max().unwrap_or(0);
    for row in &mut t.rows {
        let b = bar(num(row, m), num(row, f), max, fancy);
        row.push(Value::String(b));
    }
    t.columns.push(Column::text("bar"));
}

/// The table form of any view with an `ours` column: `ours` / `EXTERNAL`
/// (the Python script's words) instead of `true` / `false`.
pub fn tag_ours(t: &mut Table) {
    let Some(i) = t.columns.iter().position(|c| c.key == "ours") else {
        return;
    };
    for row in &mut t.rows {
        if let Some(v) = row.get_mut(i) {
            if let Some(b) = v.as_bool() {
                *v = Value::String(if b { "ours" } else { "EXTERNAL" }.into());
            }
        }
    }
}

/// Width of the longest bar, in characters.
const BAR_WIDTH: usize = 30;

/// A bar for `messages` of which `fail` failed, scaled so `max` fills
/// [`BAR_WIDTH`]: the passing part then the failing part (`█`/`░` with
/// `fancy`, `#`/`x` in plain ASCII). A day with any messages gets at least
/// one character, and any failure at least one failing character.
fn bar(messages: i64, fail: i64, max: i64, fancy: bool) -> String {
    if messages <= 0 || max <= 0 {
        return String::new();
    }
    let width = ((messages as f64 / max as f64) * BAR_WIDTH as f64)
        .round()
        .max(1.0) as usize;
    let mut bad = ((fail as f64 / messages as f64) * width as f64).round() as usize;
    if fail > 0 {
        bad = bad.max(1);
    }
    let good = width.saturating_sub(bad);
    let (g, b) = if fancy { ("█", "░") } else { ("#", "x") };
    format!("{}{}", g.repeat(good), b.repeat(bad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bars_scale_and_show_failures() {
        assert_eq!(bar(100, 0, 100, false), "#".repeat(30));
        assert_eq!(
            bar(50, 25, 100, false),
            format!("{}{}", "#".repeat(7), "x".repeat(8))
        );
        assert_eq!(bar(1, 1, 1000, false), "x");
        assert_eq!(bar(0, 0, 10, true), "");
    }

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
    fn text_cells_are_escaped_in_tables_and_guarded_in_csv() {
        let mut t = Table::new(vec![Column::text("name"), Column::num("n")]);
        t.rows
            .push(vec![json!("=HYPERLINK(\"x\")\u{1b}[2J"), json!(-3)]);
        t.rows.push(vec![json!("-1"), json!(1.5)]);
        let mut out = Vec::new();
        write(&t, Format::Csv, false, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,n\n\"'=HYPERLINK(\"\"x\"\")\\x1b[2J\",-3\n'-1,1.5\n"
        );
        let mut out = Vec::new();
        write(&t, Format::Table, false, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("=HYPERLINK(\"x\")\\x1b[2J"), "{s}");
        assert!(!s.contains('\u{1b}'), "{s}");
        let mut out = Vec::new();
        write(&t, Format::Json, false, &mut out).unwrap();
        assert!(!out.contains(&0x1b), "raw ESC in JSON");
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["name"], "=HYPERLINK(\"x\")\u{1b}[2J");
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
