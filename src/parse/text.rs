//! Text runs: decoded to a `str` (UTF-8, the declared encoding or
//! windows-1252), entities replaced, trimmed.

use std::borrow::Cow;

/// A run of text between two pieces of markup, or a CDATA section.
#[derive(Debug, Clone, Copy)]
pub(super) struct Text<'a> {
    pub(super) raw: &'a [u8],
    /// `raw` as a `str`, when the window knows it is UTF-8: it checks a
    /// buffer at a time, as checking every value took a tenth of the
    /// parsing time.
    pub(super) utf8: Option<&'a str>,
    /// [`ESCAPED`](Text::ESCAPED) and [`BLANK`](Text::BLANK), in one
    /// word: the window makes a `Text` and moves it on, and two `bool`s
    /// were stored as two bytes and copied as a word with the padding
    /// behind them, a load that waited on every end tag (perf: 5 % of the
    /// tokenizer's samples; bench/README.md, eleventh round).
    flags: usize,
}

impl<'a> Text<'a> {
    pub(super) const NONE: Text<'static> = Text::new(b"", true);

    /// Entity and character references are to be replaced: not in CDATA,
    /// nor in a run the window saw has no `&`.
    pub(super) const ESCAPED: usize = 1;
    /// `raw` is known to be all ASCII whitespace (the window skipped it as
    /// such); not set says nothing.
    pub(super) const BLANK: usize = 2;

    pub(super) const fn new(raw: &'a [u8], escaped: bool) -> Self {
        Text {
            raw,
            utf8: None,
            flags: if escaped { Text::ESCAPED } else { 0 },
        }
    }

    /// `raw` (checked as UTF-8 when `utf8` is set) with these flags.
    #[inline(always)]
    pub(super) const fn with(raw: &'a [u8], utf8: Option<&'a str>, flags: usize) -> Self {
        Text { raw, utf8, flags }
    }

    /// Whether references are to be replaced (see [`Text::ESCAPED`]).
    #[inline(always)]
    pub(super) fn escaped(&self) -> bool {
        self.flags & Text::ESCAPED != 0
    }

    /// Whether the run is all ASCII whitespace (indentation).
    #[inline]
    pub(super) fn is_blank(&self) -> bool {
        self.flags & Text::BLANK != 0 || self.raw.iter().all(u8::is_ascii_whitespace)
    }

    /// The text decoded (see [`decode`]) and unescaped.
    #[inline]
    pub(super) fn value(self, declared: Option<&'static encoding_rs::Encoding>) -> Cow<'a, str> {
        let decoded = match self.utf8 {
            Some(s) => Cow::Borrowed(s),
            None => decode(self.raw, declared),
        };
        if self.escaped() {
            unescape(decoded)
        } else {
            decoded
        }
    }
}

/// Decodes one text run: UTF-8 when it is valid UTF-8 (whatever the
/// declaration says — mislabelled files are common), else the declared
/// encoding, else windows-1252 (a superset of ISO-8859-1 that also maps the
/// smart quotes real reporters leak into UTF-8 files).
fn decode<'a>(raw: &'a [u8], declared: Option<&'static encoding_rs::Encoding>) -> Cow<'a, str> {
    match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            let enc = declared.unwrap_or(encoding_rs::WINDOWS_1252);
            let (s, _, _) = enc.decode(raw);
            s
        }
    }
}

/// Replaces the five predefined entities and character references. An
/// undefined entity (`&lol;`) stays literal: it is never expanded.
fn unescape(text: Cow<'_, str>) -> Cow<'_, str> {
    if super::scan::find(text.as_bytes(), [b'&']).is_none() {
        return text;
    }
    match quick_xml::escape::unescape(&text) {
        Ok(Cow::Owned(s)) => Cow::Owned(s),
        _ => text,
    }
}

/// `s.trim()`, without its work for the usual value that starts and ends
/// with a visible ASCII character.
#[inline]
pub(super) fn trim(s: &str) -> &str {
    let visible = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_graphic());
    let bytes = s.as_bytes();
    if visible(bytes.first()) && visible(bytes.last()) {
        return s;
    }
    s.trim()
}
