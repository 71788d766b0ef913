//! An auth-result set's key (`auth_set.key` in schema.sql): the JSON text
//! SQLite's `json_array()` makes of a record's results, written here
//! without SQLite so the inserts and the migration that builds keys in
//! SQL agree.

use super::entries;
use crate::model::Record;

/// Writes into `out` the key of `r`'s auth results: the JSON text SQLite's
/// `json_array()` makes of them (schema.sql, `auth_set`), so that the
/// migration from version 1, which builds keys in SQL, and the inserts
/// agree (tested in `store::tests`).
pub fn auth_key(r: &Record, out: &mut String) {
    out.clear();
    out.push('[');
    for (i, (kind, fields)) in entries(r).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("[\"");
        out.push_str(kind);
        out.push('"');
        for f in fields {
            out.push(',');
            match f {
                Some(s) => json_string(out, s),
                None => out.push_str("null"),
            }
        }
        out.push(']');
    }
    out.push(']');
}

/// `s` as a JSON string, escaped the way SQLite's JSON functions escape:
/// `"` and `\` by a backslash, control characters as `\b \t \n \f \r` or
/// `\u00xx`, everything else as it is.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
