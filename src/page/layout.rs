//! Layout: the document shell every page shares — its CSS (inline, with a
//! print style sheet), its Content-Security-Policy, the header and the
//! dashboard's filter form.
//!
//! The policy allows exactly the one inline style sheet (by its SHA-256),
//! `data:` images (the empty favicon) and forms posting back to the page's
//! own origin; nothing else — no script, no font, no image, no frame, no
//! connection. It is sent as a header by `serve` and repeated in a `<meta>`
//! so a saved report file is as locked down as the live page. Because of it
//! the pages never use `style` attributes: SVG geometry is set with
//! presentation attributes instead.

use std::sync::OnceLock;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::escape::escape_html;

/// The style sheet: mobile first (390 px), wider grids from 700 px,
/// capped at 1200 px; patterns as well as colours tell pass from fail.
pub const CSS: &str = r#"
:root{--ink:#1d2433;--muted:#5a6475;--line:#d6dbe3;--bg:#fff;--card:#f5f7fa;--pass:#1f6f5c;--fail:#b3401a;--good:#1f6f5c;--bad:#b3401a}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1200px;margin:0 auto;padding:16px}
header h1{font-size:1.4rem;margin:0 0 4px}
header p{margin:0;color:var(--muted)}
h2{font-size:1.1rem;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
a{color:#1a4f9c}
.figures{display:grid;grid-template-columns:repeat(2,1fr);gap:8px;margin:16px 0;padding:0;list-style:none}
.figure{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px}
.figure .label{display:block;color:var(--muted);font-size:.85rem}
.figure .value{display:block;font-size:1.5rem;font-weight:600;font-variant-numeric:tabular-nums}
.change{display:block;font-size:.8rem;color:var(--muted)}
.change.good{color:var(--good)}.change.bad{color:var(--bad)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
caption{text-align:left;color:var(--muted);font-size:.85rem;padding:4px 0}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:.8rem;color:var(--muted);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
td.code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;white-space:nowrap}
td.text{overflow-wrap:anywhere;min-width:12ch}
.tag{display:inline-block;font-size:.75rem;padding:0 6px;border-radius:8px;border:1px solid var(--line)}
.tag.ext{border-style:dashed}
.meter{vertical-align:middle;margin-left:6px}
@media (max-width:600px){.meter{display:none}}
.meter .track{fill:#e4e8ee}.meter .fill{fill:var(--pass)}
.chart{margin:8px 0}
.chart .plot{display:inline-block;max-width:100%;vertical-align:top}
.chart svg.bars{display:block;max-width:100%;height:220px;border-left:1px solid var(--line);border-bottom:1px solid var(--line)}
.bars .pass{fill:var(--pass)}
.bars .fail{fill:url(#hatch)}
.axis{display:flex;justify-content:space-between;color:var(--muted);font-size:.8rem}
.legend{display:flex;flex-wrap:wrap;gap:16px;font-size:.85rem;margin:4px 0;padding:0;list-style:none}
.legend svg{vertical-align:middle;margin-right:4px}
.swatch-pass{fill:var(--pass)}.swatch-fail{fill:url(#hatch)}
.hatch-bg{fill:#f3d1c4}.hatch-line{stroke:var(--fail);stroke-width:3}
.problems{padding-left:20px}
.problems li{margin:4px 0}
.kind{font-weight:600}
.empty{color:var(--muted)}
details{margin:8px 0}
summary{cursor:pointer;color:var(--muted)}
nav{margin:0 0 8px;font-size:.9rem}
form.filters{display:grid;grid-template-columns:1fr 1fr;gap:6px 10px;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px;margin:12px 0}
form.filters label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
form.filters input{font:inherit;padding:4px;border:1px solid var(--line);border-radius:4px;min-width:0;width:100%}
form.filters button{font:inherit;padding:6px 12px;align-self:end}
pre.xml{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--card);border:1px solid var(--line);padding:10px;font-size:.8rem;max-height:60vh;overflow:auto}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;overflow-wrap:anywhere}
footer{margin:32px 0 8px;color:var(--muted);font-size:.8rem}
@media (min-width:700px){.figures{grid-template-columns:repeat(6,1fr)}form.filters{grid-template-columns:repeat(7,1fr)}main{padding:24px}}
@media print{
 body{font-size:11pt}main{max-width:none;padding:0}
 nav,form.filters,summary{display:none}
 details>*{display:block}
 .scroll{overflow:visible}
 a{color:inherit;text-decoration:none}
 section{break-inside:avoid-page}
 tr{break-inside:avoid}
 .figure{border-color:#999}
 pre.xml{max-height:none}
}
"#;

/// The Content-Security-Policy of every page (header and `<meta>`).
pub fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; \
             form-action 'self'; base-uri 'none'"
        )
    })
}

/// The full policy for the HTTP header: the `<meta>` one plus what only a
/// header can say (no framing).
pub fn csp_header() -> String {
    format!("{}; frame-ancestors 'none'", csp())
}

/// A complete HTML document around `body` (already markup). `title` is
/// text and is escaped here.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{title}</title><style>{CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n",
        csp = escape_html(csp()),
        title = escape_html(title),
    )
}

/// The dashboard's window and filter form, with the current values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterForm {
    pub days: String,
    pub since: String,
    pub until: String,
    pub domain: String,
    pub org: String,
    pub ip: String,
}

impl FilterForm {
    /// The form as markup (a GET to the dashboard; no script needed).
    pub fn html(&self) -> String {
        let field = |name: &str, label: &str, value: &str, kind: &str| {
            format!(
                "<label>{label}<input type=\"{kind}\" name=\"{name}\" value=\"{}\"></label>",
                escape_html(value)
            )
        };
        format!(
            "<form class=\"filters\" method=\"get\" action=\"/\">{}{}{}{}{}{}\
             <button type=\"submit\">Show</button></form>",
            field("days", "Last days", &self.days, "number"),
            field("since", "Since", &self.since, "date"),
            field("until", "Until", &self.until, "date"),
            field("domain", "Domain", &self.domain, "text"),
            field("org", "Reporter", &self.org, "text"),
            field("ip", "IP or CIDR", &self.ip, "text"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_allows_only_the_inline_sheet() {
        let p = csp();
        assert!(
            p.starts_with("default-src 'none'; style-src 'sha256-"),
            "{p}"
        );
        assert!(!p.contains("unsafe"), "{p}");
        assert!(!p.contains("script-src"), "{p}");
        assert!(csp_header().ends_with("frame-ancestors 'none'"));
    }

    #[test]
    fn title_is_escaped() {
        let d = document("<b>x</b>", "");
        assert!(d.contains("<title>&lt;b&gt;x&lt;/b&gt;</title>"), "{d}");
    }

    #[test]
    fn form_values_stay_inside_their_attribute() {
        let f = FilterForm {
            org: "\"><script>x</script>".into(),
            ..FilterForm::default()
        };
        let h = f.html();
        assert!(
            h.contains("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""),
            "{h}"
        );
    }
}
