//! Escaping: the one function every string that came from a report (or from
//! a URL) passes through before it becomes part of a page.
//!
//! Reports are written by strangers: an `org_name` of `<script>…</script>`
//! or `<img src=x onerror=…>` must show as text. [`escape_html`] makes a
//! string safe both as element text and inside a double- or single-quoted
//! attribute value; the page builders only ever put strings into those two
//! places (never into a tag name, an unquoted attribute, a `<script>` or a
//! `<style>`).

/// `s` with `&`, `<`, `>`, `"` and `'` replaced by entities.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` percent-encoded for a URL query value (every byte outside the
/// unreserved set), so a value cannot end its parameter or the URL.
/// The result still goes through [`escape_html`] when it lands in markup.
pub fn escape_query(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// RFC 3986 unreserved characters stay; everything else is encoded.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_text() {
        assert_eq!(
            escape_html("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            escape_html("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
    }

    #[test]
    fn quotes_cannot_leave_an_attribute() {
        assert_eq!(
            escape_html(r#"" onmouseover="x' y='"#),
            "&quot; onmouseover=&quot;x&#39; y=&#39;"
        );
    }

    #[test]
    fn entities_are_not_decoded_twice() {
        assert_eq!(
            escape_html("&lt;b&gt; &amp;"),
            "&amp;lt;b&amp;gt; &amp;amp;"
        );
    }

    #[test]
    fn plain_text_and_non_ascii_pass_unchanged() {
        for s in ["", "google.com", "Société Générale", "2001:db8::1", "日本"] {
            assert_eq!(escape_html(s), s);
        }
    }

    #[test]
    fn query_values_cannot_add_parameters() {
        assert_eq!(escape_query("a&b=c d"), "a%26b%3Dc%20d");
        assert_eq!(escape_query("2001:db8::1"), "2001%3Adb8%3A%3A1");
        assert_eq!(escape_query("x.example-1_~"), "x.example-1_~");
    }
}
