//! Drill-down reads for the dashboard: the records of one source IP in a
//! window, and one report with its records and its original XML.
//!
//! Read-only, bound parameters only, written once for both backends with
//! the views' SQL builder. Records are reached through the reports of the
//! window (`report_date_begin`) and their key, like the views; a source
//! without reports in the window costs a scan of the window's records,
//! never of the whole table.

use std::io::Read;

use flate2::read::GzDecoder;

use super::views::Cells;
use super::{DbError, Store};

/// The most XML bytes a report page shows (a report can be far larger).
pub const XML_SHOWN: u64 = 4 << 20;

/// One record, with the report it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordRow {
    /// The report's row id (for its page).
    pub report: i64,
    pub org_name: String,
    pub report_id: String,
    pub date_begin: i64,
    pub source_ip: String,
    pub count: i64,
    pub disposition: String,
    pub dkim: String,
    pub spf: String,
    pub dmarc_pass: bool,
    pub header_from: String,
    pub envelope_from: Option<String>,
}

const RECORD_COLUMNS: &str = "r.id, r.org_name, r.report_id, r.date_begin, c.source_ip, c.count, \
     c.disposition, c.dkim, c.spf, c.dmarc_pass, c.header_from, c.envelope_from";

impl RecordRow {
    fn from_cells(r: &Cells) -> Result<RecordRow, DbError> {
        Ok(RecordRow {
            report: r.get(0)?,
            org_name: r.get(1)?,
            report_id: r.get(2)?,
            date_begin: r.get(3)?,
            source_ip: r.get(4)?,
            count: r.get(5)?,
            disposition: r.get(6)?,
            dkim: r.get(7)?,
            spf: r.get(8)?,
            dmarc_pass: r.get(9)?,
            header_from: r.get(10)?,
            envelope_from: r.get(11)?,
        })
    }
}

/// One report's metadata.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportMeta {
    pub id: i64,
    pub org_name: String,
    pub email: String,
    pub report_id: String,
    pub policy_domain: String,
    pub date_begin: i64,
    pub date_end: i64,
    pub policy_p: Option<String>,
    pub policy_pct: Option<i64>,
    pub records: i64,
    pub messages: i64,
    pub messages_pass: i64,
    pub source: String,
}

/// A report with its records and XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDetail {
    pub meta: ReportMeta,
    pub records: Vec<RecordRow>,
    /// The XML as received (at most [`XML_SHOWN`] bytes, decoded lossily);
    /// `None` if the stored bytes could not be inflated.
    pub xml: Option<String>,
    /// Whether `xml` was cut at [`XML_SHOWN`].
    pub xml_cut: bool,
}

impl Store {
    /// The records of `source_ip` (exactly as the reporter wrote it) in
    /// reports beginning in `[since, until)`, newest report first.
    pub fn source_records(
        &self,
        source_ip: &str,
        since: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<RecordRow>, DbError> {
        let mut sql = self.sql();
        let (lo, hi) = (sql.bind(since), sql.bind(until));
        let ip = sql.bind(source_ip.to_string());
        let limit = sql.bind(limit);
        let from = sql.from();
        let text = format!(
            "SELECT {RECORD_COLUMNS} {from}
             WHERE r.date_begin >= {lo} AND r.date_begin < {hi} AND c.source_ip = {ip}
             ORDER BY r.date_begin DESC, r.id DESC, c.seq LIMIT {limit}"
        );
        self.rows(&text, &sql, RecordRow::from_cells)
    }

    /// Report `id` with up to `limit` records and its XML; `None` if there
    /// is no such report.
    pub fn report_detail(&self, id: i64, limit: i64) -> Result<Option<ReportDetail>, DbError> {
        let mut sql = self.sql();
        let text = format!(
            "SELECT id, org_name, email, report_id, policy_domain, date_begin, date_end,
                    policy_p, policy_pct, record_count, message_count, pass_count, source
             FROM report WHERE id = {}",
            sql.bind(id)
        );
        let meta = self.rows(&text, &sql, |r| {
            Ok(ReportMeta {
                id: r.get(0)?,
                org_name: r.get(1)?,
                email: r.get(2)?,
                report_id: r.get(3)?,
                policy_domain: r.get(4)?,
                date_begin: r.get(5)?,
                date_end: r.get(6)?,
                policy_p: r.get(7)?,
                policy_pct: r.get(8)?,
                records: r.get(9)?,
                messages: r.get(10)?,
                messages_pass: r.get(11)?,
                source: r.get(12)?,
            })
        })?;
        let Some(meta) = meta.into_iter().next() else {
            return Ok(None);
        };
        let mut sql = self.sql();
        let (idp, limit) = (sql.bind(id), sql.bind(limit));
        let from = sql.from();
        let text = format!(
            "SELECT {RECORD_COLUMNS} {from} WHERE r.id = {idp} ORDER BY c.seq LIMIT {limit}"
        );
        let records = self.rows(&text, &sql, RecordRow::from_cells)?;
        let mut sql = self.sql();
        let text = format!(
            "SELECT gzip FROM report_blob WHERE report = {}",
            sql.bind(id)
        );
        let gzip = self.rows(&text, &sql, |r| r.get::<Vec<u8>>(0))?;
        let (xml, xml_cut) = match gzip.first().map(|g| inflate(g)) {
            Some(Some((x, cut))) => (Some(x), cut),
            _ => (None, false),
        };
        Ok(Some(ReportDetail {
            meta,
            records,
            xml,
            xml_cut,
        }))
    }
}

/// The first [`XML_SHOWN`] bytes of a stored gzip, as text.
fn inflate(gzip: &[u8]) -> Option<(String, bool)> {
    let mut out = Vec::new();
    GzDecoder::new(gzip)
        .take(XML_SHOWN + 1)
        .read_to_end(&mut out)
        .ok()?;
    let cut = out.len() as u64 > XML_SHOWN;
    out.truncate(XML_SHOWN as usize);
    Some((String::from_utf8_lossy(&out).into_owned(), cut))
}
