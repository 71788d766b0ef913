//! A database for the page tests: the bundled samples plus a report whose
//! `org_name`, `report_id` and `header_from` hold markup (what a stranger
//! could send), spread over three days of November 2025.

use std::path::{Path, PathBuf};

use super::cli::{dmarcdb, run_ok};

/// The window that holds every report of [`database`].
pub const SINCE: &str = "2025-11-01";
pub const UNTIL: &str = "2025-11-03";

/// Markup a hostile reporter wrote; must show as text.
pub const ORG: &str = "<script>console.error('xss-org')</script>";
pub const REPORT_ID: &str = "<img src=x onerror=console.error('xss-id')>";
pub const HEADER_FROM: &str = "<b onmouseover=console.error('xss-from')>evil</b>.example";
/// The hostile report's one source, failing: a "possible spoofing" problem.
pub const HOSTILE_IP: &str = "192.0.2.66";
pub const HOSTILE_COUNT: i64 = 30;

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The hostile report as XML.
pub fn hostile_xml() -> String {
    format!(
        r#"<?xml version="1.0"?>
<feedback>
  <report_metadata>
    <org_name>{org}</org_name>
    <email>abuse@hostile.example</email>
    <report_id>{id}</report_id>
    <date_range><begin>1762128000</begin><end>1762214399</end></date_range>
  </report_metadata>
  <policy_published><domain>example.org</domain><p>reject</p></policy_published>
  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>{from}</header_from></identifiers>
    <auth_results><spf><domain>{from}</domain><result>fail</result></spf></auth_results>
  </record>
</feedback>
"#,
        org = xml_text(ORG),
        id = xml_text(REPORT_ID),
        from = xml_text(HEADER_FROM),
        ip = HOSTILE_IP,
        count = HOSTILE_COUNT,
    )
}

/// A database in `dir` with the samples and the hostile report.
pub fn database(dir: &Path) -> PathBuf {
    let db = dir.join("pages.sqlite");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let hostile = dir.join("hostile.xml");
    std::fs::write(&hostile, hostile_xml()).unwrap();
    run_ok(dmarcdb(&db).arg("ingest").arg(&samples).arg(&hostile));
    db
}

/// `dmarcdb query VIEW --format json` over the whole test window.
pub fn query_json(db: &Path, view: &str) -> serde_json::Value {
    let out = run_ok(
        dmarcdb(db)
            .args(["query", view, "--format", "json", "--limit", "0"])
            .args(["--since", SINCE, "--until", UNTIL]),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The daily chart's bars in a DOM: (day, pass, fail, pass height, fail height).
pub fn bars(dom: &str) -> Vec<(String, i64, i64, f64, f64)> {
    let attr = |s: &str, name: &str| -> String {
        let key = format!("{name}=\"");
        let i = s.find(&key).unwrap_or_else(|| panic!("no {name} in {s}")) + key.len();
        s[i..].split('"').next().unwrap().to_string()
    };
    let mut out = Vec::new();
    for g in dom.split("<g class=\"day\"").skip(1) {
        let g = g.split("</g>").next().unwrap();
        let pass_rect = g.split("class=\"pass\"").nth(1).unwrap();
        let fail_rect = g.split("class=\"fail\"").nth(1).unwrap();
        out.push((
            attr(g, "data-day"),
            attr(g, "data-pass").parse().unwrap(),
            attr(g, "data-fail").parse().unwrap(),
            attr(pass_rect, "height").parse().unwrap(),
            attr(fail_rect, "height").parse().unwrap(),
        ));
    }
    out
}
