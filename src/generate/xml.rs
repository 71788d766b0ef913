//! The XML of a generated report, element order and indentation as each
//! reporter writes them.

use std::fmt::Write as _;

use super::{ReportSpec, Reporter};
use crate::model::Record;

pub(super) fn header_xml(spec: &ReportSpec, s: &mut String) {
    let r = spec.reporter;
    match r {
        Reporter::Google => s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<feedback>\n"),
        Reporter::Microsoft => s.push_str(
            "<?xml version=\"1.0\"?>\n<feedback xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  <version>1.0</version>\n",
        ),
        Reporter::Yahoo => s.push_str("<?xml version=\"1.0\"?>\n<feedback>\n"),
    }
    s.push_str("  <report_metadata>\n");
    leaf(s, 4, "org_name", r.org_name());
    leaf(s, 4, "email", r.email());
    if r == Reporter::Google {
        leaf(
            s,
            4,
            "extra_contact_info",
            "https://support.google.com/a/answer/2466580",
        );
    }
    leaf(s, 4, "report_id", &spec.report_id);
    let _ = write!(
        s,
        "    <date_range>\n      <begin>{}</begin>\n      <end>{}</end>\n    </date_range>\n",
        spec.date_begin,
        spec.date_end()
    );
    s.push_str("  </report_metadata>\n  <policy_published>\n");
    leaf(s, 4, "domain", &spec.policy_domain);
    for (k, v) in [
        ("adkim", "r"),
        ("aspf", "r"),
        ("p", "reject"),
        ("sp", "reject"),
        ("pct", "100"),
    ] {
        leaf(s, 4, k, v);
    }
    if r == Reporter::Microsoft {
        leaf(s, 4, "fo", "0");
    }
    s.push_str("  </policy_published>\n");
}

pub(super) fn record_xml(r: Reporter, rec: &Record, s: &mut String) {
    let pe = &rec.policy_evaluated;
    s.push_str("  <record>\n    <row>\n");
    leaf(s, 6, "source_ip", &rec.source_ip);
    let _ = writeln!(s, "      <count>{}</count>", rec.count);
    s.push_str("      <policy_evaluated>\n");
    leaf(s, 8, "disposition", pe.disposition.as_str());
    leaf(s, 8, "dkim", pe.dkim.as_str());
    leaf(s, 8, "spf", pe.spf.as_str());
    for reason in &pe.reasons {
        s.push_str("        <reason>\n");
        leaf(s, 10, "type", &reason.kind);
        match (&reason.comment, r) {
            (Some(c), _) => leaf(s, 10, "comment", c),
            // Microsoft writes an empty comment rather than none.
            (None, Reporter::Microsoft) => s.push_str("          <comment></comment>\n"),
            (None, _) => {}
        }
        s.push_str("        </reason>\n");
    }
    s.push_str("      </policy_evaluated>\n    </row>\n    <identifiers>\n");
    let ids = &rec.identifiers;
    if let Some(to) = &ids.envelope_to {
        leaf(s, 6, "envelope_to", to);
    }
    if let Some(from) = &ids.envelope_from {
        leaf(s, 6, "envelope_from", from);
    }
    leaf(s, 6, "header_from", &ids.header_from);
    s.push_str("    </identifiers>\n    <auth_results>\n");
    for d in &rec.dkim {
        s.push_str("      <dkim>\n");
        leaf(s, 8, "domain", &d.domain);
        let selector = d.selector.as_deref().unwrap_or("");
        if r == Reporter::Google {
            leaf(s, 8, "result", d.result.as_str());
            leaf(s, 8, "selector", selector);
        } else {
            leaf(s, 8, "selector", selector);
            leaf(s, 8, "result", d.result.as_str());
        }
        s.push_str("      </dkim>\n");
    }
    for p in &rec.spf {
        s.push_str("      <spf>\n");
        leaf(s, 8, "domain", &p.domain);
        if let Some(scope) = &p.scope {
            leaf(s, 8, "scope", scope);
        }
        leaf(s, 8, "result", p.result.as_str());
        s.push_str("      </spf>\n");
    }
    s.push_str("    </auth_results>\n  </record>\n");
}

/// `<name>value</name>` on its own line, indented, value escaped.
fn leaf(s: &mut String, indent: usize, name: &str, value: &str) {
    for _ in 0..indent {
        s.push(' ');
    }
    let _ = write!(s, "<{name}>");
    for c in value.chars() {
        match c {
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '&' => s.push_str("&amp;"),
            _ => s.push(c),
        }
    }
    let _ = writeln!(s, "</{name}>");
}
