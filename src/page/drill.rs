//! Drill-down pages of the dashboard: one source's records, and one report
//! with its records and its original XML (shown as escaped text, never
//! interpreted).

use chrono::{DateTime, Utc};

use super::escape::{escape_html, escape_query};
use super::layout::document;
use super::sections::{section, table, Cell};
use super::Links;
use crate::store::{RecordRow, ReportDetail};

fn time(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M").to_string())
}

fn nav(links: &Links) -> String {
    format!(
        "<nav><a href=\"{}\">← Dashboard</a></nav>",
        escape_html(&links.with("/"))
    )
}

fn record_rows(records: &[RecordRow], links: &Links, with_report: bool) -> Vec<Vec<Cell>> {
    records
        .iter()
        .map(|r| {
            let mut row = Vec::new();
            if with_report {
                row.push(Cell::Text(time(r.date_begin)));
                row.push(Cell::Text(r.org_name.clone()));
                row.push(Cell::Link {
                    text: r.report_id.clone(),
                    href: links.with(&format!("/report?id={}", r.report)),
                });
            } else {
                row.push(Cell::Link {
                    text: r.source_ip.clone(),
                    href: links.source(&r.source_ip),
                });
            }
            row.extend([
                Cell::Count(r.count),
                Cell::Text(if r.dmarc_pass { "pass" } else { "FAIL" }.into()),
                Cell::Text(r.header_from.clone()),
                Cell::Text(r.envelope_from.clone().unwrap_or_default()),
                Cell::Text(r.dkim.clone()),
                Cell::Text(r.spf.clone()),
                Cell::Text(r.disposition.clone()),
            ]);
            row
        })
        .collect()
}

const RECORD_HEADS: [&str; 7] = [
    "Messages",
    "DMARC",
    "header_from",
    "envelope_from",
    "DKIM",
    "SPF",
    "Disposition",
];

/// The records of one source IP in the window.
pub fn source_page(ip: &str, window: &str, records: &[RecordRow], links: &Links) -> String {
    let mut heads = vec!["Report begins", "Reporter", "Report"];
    heads.extend(RECORD_HEADS);
    let body = format!(
        "{}<header><h1>Source {}</h1><p>{}</p></header>{}",
        nav(links),
        escape_html(ip),
        escape_html(window),
        section(
            "records",
            "Records",
            &table(
                "Each row is one <record> of a report; the report link shows the report and its XML",
                &heads,
                &record_rows(records, links, true),
                "No records of this source in the window.",
            )
        )
    );
    document(&format!("Source {ip}"), &body)
}

/// One report: its metadata, its records and its XML.
pub fn report_page(d: &ReportDetail, links: &Links) -> String {
    let m = &d.meta;
    let meta = [
        ("Reporter", m.org_name.clone()),
        ("Contact", m.email.clone()),
        ("Report ID", m.report_id.clone()),
        ("Policy domain", m.policy_domain.clone()),
        ("Begins", time(m.date_begin)),
        ("Ends", time(m.date_end)),
        (
            "Policy",
            format!(
                "p={} pct={}",
                m.policy_p.clone().unwrap_or_default(),
                m.policy_pct.map_or(String::new(), |p| p.to_string())
            ),
        ),
        ("Records", m.records.to_string()),
        (
            "Messages",
            format!("{} ({} passing DMARC)", m.messages, m.messages_pass),
        ),
        ("Received from", m.source.clone()),
    ];
    let mut dl = String::from("<dl class=\"meta\">");
    for (k, v) in meta {
        dl.push_str(&format!(
            "<dt>{}</dt><dd>{}</dd>",
            escape_html(k),
            escape_html(&v)
        ));
    }
    dl.push_str("</dl>");
    let mut heads = vec!["Source IP"];
    heads.extend(RECORD_HEADS);
    let shown = if (d.records.len() as i64) < m.records {
        format!("The first {} of {} records", d.records.len(), m.records)
    } else {
        "Every record".to_string()
    };
    let xml = match &d.xml {
        Some(x) => format!(
            "{}<pre class=\"xml\">{}</pre>",
            if d.xml_cut {
                "<p>Only the beginning is shown.</p>"
            } else {
                ""
            },
            escape_html(x)
        ),
        None => "<p class=\"empty\">The stored bytes could not be read.</p>".to_string(),
    };
    let body = format!(
        "{}<header><h1>Report {} from {}</h1></header>{dl}{}{}",
        nav(links),
        escape_html(&m.report_id),
        escape_html(&m.org_name),
        section(
            "records",
            "Records",
            &table(
                &shown,
                &heads,
                &record_rows(&d.records, links, false),
                "No records."
            )
        ),
        section("xml", "The report as received", &xml),
    );
    document(
        &format!("Report {} from {}", m.report_id, m.org_name),
        &body,
    )
}

/// A link to the JSON API for `view` with the current filters.
pub fn api_link(view: &str, links: &Links) -> String {
    links.with(&format!("/api/{}", escape_query(view)))
}
