//! Untrusted text: how text that came from outside (report fields, file and
//! zip member names, mail subjects, folder names, quarantine reasons that
//! quote them) is shown to a person.
//!
//! Anyone can send a domain owner a report, so every text field is
//! attacker-controlled. Stored data stays byte-faithful; only *display*
//! changes, and each output kind has one named rule:
//!
//! - terminal text (tables, summaries, progress and stderr lines, alert
//!   texts, notifications): [`visible`] makes every control character
//!   visible as an escape, so no report can move the cursor, clear the
//!   screen, set the window title, hide a link (OSC 8) or reorder what is
//!   shown (Trojan Source bidi controls, CVE-2021-42574);
//! - CSV: text cells through [`visible`] too (a CSV is often just looked
//!   at in a terminal), then [`csv_cell`], which keeps spreadsheets from
//!   running a cell as a formula;
//! - JSON: [`write_json`], exact (the text parses back to the original)
//!   with every control character as a `\uXXXX` escape.
//!
//! What counts as a control character ([`is_control`]): C0 (U+0000–U+001F),
//! DEL (U+007F), C1 (U+0080–U+009F, which some terminals obey as 8-bit
//! CSI/OSC), the bidi embeddings, overrides and isolates (U+202A–U+202E,
//! U+2066–U+2069), the bidi marks (U+200E, U+200F, U+061C), and the line
//! and paragraph separators (U+2028, U+2029), which some viewers break
//! lines at. They are written `\t`, `\n`, `\r`, `\xNN` for other C0 and
//! DEL, `\u{NNNN}` for the rest; everything else, including all other
//! non-ASCII text, is shown as is.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io;

/// Whether `c` is a character [`visible`] escapes (see the module doc).
pub fn is_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character made visible, for a one-line context
/// (a table cell, a message line): tab and newline are escaped too, so a
/// report cannot forge a table row or a second message line.
pub fn visible(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Like [`visible`], but keeps tab and newline as they are, for a block of
/// text whose layout allows line breaks (a notification body).
pub fn visible_block(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// [`visible`] as a `Display` wrapper, for `format!` without a copy:
/// `format!("rejected {}", Visible(&name))`.
#[derive(Debug, Clone, Copy)]
pub struct Visible<'a>(pub &'a str);

impl fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&visible(self.0))
    }
}

fn escape(s: &str, keep_layout: bool) -> Cow<'_, str> {
    let kept = |c: char| keep_layout && (c == '\n' || c == '\t');
    // Fast path: most text is printable ASCII and is returned as is.
    let needs = |c: char| is_control(c) && !kept(c);
    let Some(first) = s.find(needs) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if !needs(c) {
            out.push(c);
            continue;
        }
        // Writing to a String cannot fail.
        let _ = match c {
            '\t' => out.write_str("\\t"),
            '\n' => out.write_str("\\n"),
            '\r' => out.write_str("\\r"),
            '\u{0}'..='\u{1f}' | '\u{7f}' => write!(out, "\\x{:02x}", c as u32),
            _ => write!(out, "\\u{{{:x}}}", c as u32),
        };
    }
    Cow::Owned(out)
}

/// The first characters that make a spreadsheet (Excel, LibreOffice, Google
/// Sheets) read a CSV cell as a formula or a command: `=`, `+`, `-`, `@`,
/// tab and carriage return (OWASP's list for CSV injection).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell for CSV output: one `'` is put in front of a cell that
/// begins with a formula character (`FORMULA_START`) or with `'` itself, so
/// a spreadsheet shows it as text instead of running it. The rule applies
/// to text cells only (numbers are never changed) and is exactly
/// reversible: drop one leading `'` from any text cell that begins with
/// `'`. Everything else in the cell is kept byte for byte (the CSV writer
/// quotes it as needed).
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some(c) if c == '\'' || FORMULA_START.contains(&c) => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// Writes `value` as pretty JSON in which every control character (see
/// [`is_control`]) is a `\uXXXX` escape: serde_json escapes C0 itself but
/// writes DEL, C1 and the bidi controls raw, which a terminal showing the
/// JSON would obey. The JSON still parses back to exactly the same text.
pub fn write_json(out: &mut dyn io::Write, value: &impl serde::Serialize) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, SafeJson::default());
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// serde_json's pretty layout, with [`write_json`]'s string escaping.
#[derive(Default)]
struct SafeJson(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(is_control) {
            w.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            // Every control character is in the Basic Multilingual Plane.
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_borrowed_unchanged() {
        for s in [
            "",
            "google.com",
            "Ümlaut ÿ € 日本語 🙂",
            "a\\x1b",
            "tab-free",
        ] {
            assert!(matches!(visible(s), Cow::Borrowed(t) if t == s), "{s}");
        }
    }

    #[test]
    fn every_c0_del_and_c1_character_is_escaped() {
        for cp in (0..0x20).chain(0x7f..0xa0) {
            let c = char::from_u32(cp).unwrap();
            let shown = visible(&format!("a{c}b")).into_owned();
            let expected = match c {
                '\t' => "a\\tb".to_string(),
                '\n' => "a\\nb".to_string(),
                '\r' => "a\\rb".to_string(),
                _ if cp < 0x80 => format!("a\\x{cp:02x}b"),
                _ => format!("a\\u{{{cp:x}}}b"),
            };
            assert_eq!(shown, expected, "U+{cp:04X}");
            assert!(shown.chars().all(|c| !is_control(c)), "U+{cp:04X}");
        }
    }

    #[test]
    fn bidi_controls_and_separators_are_escaped() {
        let list = [
            0x61c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066,
            0x2067, 0x2068, 0x2069,
        ];
        for cp in list {
            let c = char::from_u32(cp).unwrap();
            assert!(is_control(c));
            assert_eq!(visible(&c.to_string()), format!("\\u{{{cp:x}}}"));
        }
    }

    #[test]
    fn exactly_the_documented_set_is_control() {
        // Walks every Unicode scalar value: nothing outside the set is
        // touched (so names in any script show as they are).
        let count = (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| is_control(c))
            .count();
        assert_eq!(count, 0x20 + 0x21 + 1 + 2 + 7 + 4);
        for c in [
            '\u{a0}', '\u{200b}', '\u{202f}', '\u{2065}', '\u{206a}', 'ÿ',
        ] {
            assert!(!is_control(c), "{c:?}");
        }
    }

    #[test]
    fn terminal_attacks_are_defused() {
        let cases = [
            ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
            ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
            (
                "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
                "\\x1b]8;;https://evil.example\\x1b\\click\\x1b]8;;\\x1b\\",
            ),
            ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("abc\u{202e}lmx.exe", "abc\\u{202e}lmx.exe"),
            ("nul\0byte", "nul\\x00byte"),
            ("two\nlines\r\n", "two\\nlines\\r\\n"),
        ];
        for (raw, shown) in cases {
            assert_eq!(visible(raw), shown);
            assert_eq!(Visible(raw).to_string(), shown);
        }
    }

    #[test]
    fn block_text_keeps_tab_and_newline_only() {
        assert_eq!(
            visible_block("a\tb\nc\r\x1b[1m\u{202e}"),
            "a\tb\nc\\r\\x1b[1m\\u{202e}"
        );
        assert!(matches!(visible_block("a\nb"), Cow::Borrowed(_)));
    }

    #[test]
    fn csv_formula_cells_get_a_quote() {
        for s in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'x", "'"] {
            assert_eq!(csv_cell(s), format!("'{s}"), "{s:?}");
        }
        for s in ["", "x=1", "1-2", "google.com", " =1", "2024-01-01", "ä"] {
            assert!(matches!(csv_cell(s), Cow::Borrowed(t) if t == s), "{s:?}");
        }
    }

    #[test]
    fn json_escapes_every_control_and_parses_back() {
        let text = "a\u{1b}[1m\u{7f}\u{9b}\u{202e}\u{2066}\u{2028}\"\\ é 🙂";
        let v = serde_json::json!([{"k": text, "n": 1}, []]);
        let mut out = Vec::new();
        write_json(&mut out, &v).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.chars().all(|c| c == '\n' || !is_control(c)), "{s}");
        assert!(
            s.contains("\\u202e") && s.contains("\\u009b") && s.contains("é 🙂"),
            "{s}"
        );
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
        // The layout is serde_json's pretty one.
        let mut pretty = Vec::new();
        write_json(&mut pretty, &serde_json::json!({"a": [1, 2]})).unwrap();
        assert_eq!(
            String::from_utf8(pretty).unwrap(),
            serde_json::to_string_pretty(&serde_json::json!({"a": [1, 2]})).unwrap()
        );
    }

    #[test]
    fn csv_rule_is_reversible() {
        let undo = |s: &str| s.strip_prefix('\'').unwrap_or(s).to_string();
        for s in ["=x", "''=x", "'", "plain", "-", "@", "'=", "\r\n", ""] {
            assert_eq!(undo(&csv_cell(s)), s, "{s:?}");
        }
    }
}
