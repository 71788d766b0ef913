//! The write path of one report on PostgreSQL, and of an input that could
//! not be stored. The header is one INSERT; the records are buffered (at
//! most [`CHUNK`] at a time) and loaded with binary COPY, the fastest way
//! into PostgreSQL; between two loads the connection is free for the few
//! auth-result sets not seen before (see `insert.rs`'s [`AuthSets`]).

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use sha2::{Digest, Sha256};

use super::super::insert::{auth_key, fingerprint, AuthSets};
use super::super::report_ips::IpHashes;
use super::super::write::{gzip, header_errors, keep_bytes, Totals};
use super::super::{ip_bin, variant, DbError, StoreError, Stored};
use super::{Conn, Pg};
use crate::extract::{Limits, Payload};
use crate::model::{Record, ReportHeader};
use crate::parse::ParseError;

/// Records buffered before a COPY.
const CHUNK: usize = 4096;

impl Pg {
    /// See [`crate::store::Store::store_parsed`]. A report of up to
    /// [`CHUNK`] records costs four round trips to the server: the identity
    /// check, the report row with its bytes (once its records are parsed and
    /// counted), the COPY and its data. Its savepoint is only opened when
    /// the records overflow the buffer and have to be loaded before the last
    /// is parsed; until then nothing of the report is written but new auth
    /// sets, which are shared and harmless to keep.
    pub fn store_parsed(
        &mut self,
        payload: &Payload,
        limits: &Limits,
        source: &str,
        header: ReportHeader,
        next_record: &mut dyn FnMut() -> Result<Option<Record>, StoreError>,
    ) -> Result<Stored, StoreError> {
        self.in_group(|client, sets, sp| {
            if let Some(id) = super::variant::stored_id(client, &header)? {
                let mut copies = super::variant::Guarded { client, sp };
                return variant::settle(&mut copies, id, payload, limits, source, header);
            }
            let blob = keep_bytes(payload);
            let row = NewReport {
                header: &header,
                source,
                blob: &blob,
            };
            let mut loader = Loader::new(None);
            let mut t = Totals::default();
            let mut id = None;
            while let Some(rec) = next_record()? {
                t.add(&rec);
                loader.push(client, sets, &rec)?;
                if loader.is_full() && id.is_none() {
                    // Too big to hold: the report row first, then its
                    // records in chunks, all under a savepoint.
                    sp.open(client)?;
                    let Some(new) = row.insert(client, &Totals::default(), &[])? else {
                        return Ok(Stored::Duplicate {
                            header: Box::new(header),
                        });
                    };
                    id = Some(new);
                    loader.report = id;
                    loader.flush(client)?;
                }
            }
            if t.records == 0 {
                return Err(ParseError::NotAReport("no <record> elements".into()).into());
            }
            let id = match id {
                Some(id) => {
                    loader.flush(client)?;
                    set_totals(client, id, &t)?;
                    super::report_ips::put(client, id, &loader.ips.blob())?;
                    id
                }
                None => {
                    let Some(id) = row.insert(client, &t, &loader.ips.blob())? else {
                        return Ok(Stored::Duplicate {
                            header: Box::new(header),
                        });
                    };
                    loader.report = Some(id);
                    loader.flush(client)?;
                    id
                }
            };
            Ok(Stored::New {
                id,
                header: Box::new(header),
                records: t.records,
                messages: t.messages,
                messages_fail: t.messages_fail,
            })
        })
    }

    /// See [`crate::store::Store::quarantine`].
    pub fn quarantine(&mut self, source: &str, reason: &str, bytes: &[u8]) -> Result<(), DbError> {
        let now = chrono::Utc::now().timestamp();
        let sha = Sha256::digest(bytes).to_vec();
        self.client.get_mut().execute(
            "INSERT INTO quarantine (sha256, source, reason, gzip, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (sha256) DO UPDATE SET source = excluded.source,
               reason = excluded.reason, last_seen = excluded.last_seen,
               attempts = quarantine.attempts + 1",
            &[&sha, &source, &reason, &gzip(bytes), &now],
        )?;
        Ok(())
    }
}

/// Whether a report with `header`'s identity key is committed (or written
/// by this transaction).
pub fn is_stored(client: &mut Conn, header: &ReportHeader) -> Result<bool, DbError> {
    let k = header.key();
    let row = client.query_opt(
        "SELECT 1 FROM report WHERE org_name = $1 AND report_id = $2
         AND policy_domain = $3 AND date_begin = $4 AND date_end = $5",
        &[
            &k.org_name,
            &k.report_id,
            &k.policy_domain,
            &k.date_begin,
            &k.date_end,
        ],
    )?;
    Ok(row.is_some())
}

/// The header's columns and values, in one order (`report` table).
pub(super) fn header_params<'a>(
    h: &'a ReportHeader,
    errors: &'a Option<String>,
) -> [(&'static str, &'a (dyn ToSql + Sync)); 20] {
    let m = &h.metadata;
    let p = &h.policy;
    [
        ("org_name", &m.org_name),
        ("email", &m.email),
        ("extra_contact_info", &m.extra_contact_info),
        ("report_id", &m.report_id),
        ("date_begin", &m.date_begin),
        ("date_end", &m.date_end),
        ("errors", errors),
        ("generator", &m.generator),
        ("version", &h.version),
        ("xml_namespace", &h.namespace),
        ("policy_domain", &p.domain),
        ("policy_adkim", &p.adkim),
        ("policy_aspf", &p.aspf),
        ("policy_p", &p.p),
        ("policy_sp", &p.sp),
        ("policy_np", &p.np),
        ("policy_pct", &p.pct),
        ("policy_fo", &p.fo),
        ("policy_testing", &p.testing),
        ("policy_discovery_method", &p.discovery_method),
    ]
}

/// A report row to insert, with its original bytes.
struct NewReport<'a> {
    header: &'a ReportHeader,
    source: &'a str,
    blob: &'a [u8],
}

impl NewReport<'_> {
    /// Inserts the report row with totals `t`, its bytes and its
    /// `report_ips` row (`ips`), in one statement; `None` when another
    /// writer stored the same identity meanwhile (not under the write
    /// lock: a backstop).
    fn insert(&self, client: &mut Conn, t: &Totals, ips: &[u8]) -> Result<Option<i64>, DbError> {
        let errors = header_errors(self.header);
        let now = chrono::Utc::now().timestamp();
        let (records, passed) = (t.records as i64, t.messages - t.messages_fail);
        let sha = Sha256::digest(self.blob).to_vec();
        let cols = header_params(self.header, &errors);
        let mut values: Vec<&(dyn ToSql + Sync)> = cols.iter().map(|(_, v)| *v).collect();
        values.extend([
            &self.source as &(dyn ToSql + Sync),
            &now,
            &records,
            &t.messages,
            &passed,
            &sha,
            &self.blob,
            &ips,
        ]);
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let sql = SQL.get_or_init(|| {
            let mut names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
            names.extend([
                "source",
                "ingested_at",
                "record_count",
                "message_count",
                "pass_count",
            ]);
            let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            let (sha, gzip, ips) = (names.len() + 1, names.len() + 2, names.len() + 3);
            format!(
                "WITH r AS (INSERT INTO report ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING id),
                 b AS (INSERT INTO report_blob (report, sha256, gzip) SELECT id, ${sha}, ${gzip} FROM r),
                 i AS (INSERT INTO report_ips (report, hashes) SELECT id, ${ips} FROM r)
                 SELECT id FROM r",
                names.join(", "),
                marks.join(", ")
            )
        });
        let row = client.query_opt(sql, &values)?;
        Ok(row.map(|r| r.get(0)))
    }
}

/// The sums kept in the `report` row.
pub(super) fn set_totals(client: &mut Conn, id: i64, t: &Totals) -> Result<(), DbError> {
    client.execute(
        "UPDATE report SET record_count = $2, message_count = $3, pass_count = $4 WHERE id = $1",
        &[
            &id,
            &(t.records as i64),
            &t.messages,
            &(t.messages - t.messages_fail),
        ],
    )?;
    Ok(())
}

/// One `record` row, owned until its COPY.
struct Row {
    seq: i64,
    source_ip: String,
    ip_bin: Option<Vec<u8>>,
    count: i64,
    disposition: String,
    dkim: String,
    spf: String,
    dmarc_pass: bool,
    header_from: String,
    envelope_from: Option<String>,
    envelope_to: Option<String>,
    auth: Option<i64>,
}

/// The column types of `record`, in the COPY's order.
const TYPES: [Type; 13] = [
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::BYTEA,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BOOL,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
];

/// A report's records on their way in, numbered (`seq`) in order.
pub(super) struct Loader {
    /// The report's id, once its row is written.
    pub report: Option<i64>,
    seq: i64,
    rows: Vec<Row>,
    /// (record seq, reason seq, type, comment).
    reasons: Vec<(i64, i64, String, Option<String>)>,
    key: String,
    /// The records' source IPs, for the report's `report_ips` row.
    pub ips: IpHashes,
}

impl Loader {
    pub fn new(report: Option<i64>) -> Loader {
        Loader {
            report,
            seq: 0,
            rows: Vec::new(),
            reasons: Vec::new(),
            key: String::new(),
            ips: IpHashes::default(),
        }
    }

    /// Adds the report's next record (its auth set stored first if new),
    /// loading the buffer when full.
    pub fn push(
        &mut self,
        client: &mut Conn,
        sets: &mut AuthSets,
        r: &Record,
    ) -> Result<(), DbError> {
        let auth = self.auth_set(client, sets, r)?;
        let pe = &r.policy_evaluated;
        let ids = &r.identifiers;
        self.ips.add(&r.source_ip);
        for (i, o) in pe.reasons.iter().enumerate() {
            self.reasons
                .push((self.seq, i as i64, o.kind.clone(), o.comment.clone()));
        }
        self.rows.push(Row {
            seq: self.seq,
            source_ip: r.source_ip.clone(),
            ip_bin: ip_bin(&r.source_ip).map(|b| b.to_vec()),
            count: r.count,
            disposition: pe.disposition.as_str().to_string(),
            dkim: pe.dkim.as_str().to_string(),
            spf: pe.spf.as_str().to_string(),
            dmarc_pass: r.dmarc_pass(),
            header_from: ids.header_from.clone(),
            envelope_from: ids.envelope_from.clone(),
            envelope_to: ids.envelope_to.clone(),
            auth,
        });
        self.seq += 1;
        if self.is_full() && self.report.is_some() {
            self.flush(client)?;
        }
        Ok(())
    }

    /// Whether the buffer holds a chunk.
    pub fn is_full(&self) -> bool {
        self.rows.len() >= CHUNK
    }

    /// Loads the buffered records (one binary COPY) and their reasons,
    /// under the report id (which must be known by now).
    pub fn flush(&mut self, client: &mut Conn) -> Result<(), DbError> {
        let report = self.report.unwrap_or_default();
        if !self.rows.is_empty() {
            let copy = client.prepared(
                "COPY record (report, seq, source_ip, ip_bin, count, disposition, dkim, spf,
                   dmarc_pass, header_from, envelope_from, envelope_to, auth)
                 FROM STDIN (FORMAT binary)",
            )?;
            let sink = client.client.copy_in(&copy)?;
            let mut w = BinaryCopyInWriter::new(sink, &TYPES);
            for r in self.rows.drain(..) {
                w.write(&[
                    &report,
                    &r.seq,
                    &r.source_ip,
                    &r.ip_bin,
                    &r.count,
                    &r.disposition,
                    &r.dkim,
                    &r.spf,
                    &r.dmarc_pass,
                    &r.header_from,
                    &r.envelope_from,
                    &r.envelope_to,
                    &r.auth,
                ])?;
            }
            w.finish()?;
        }
        for (record, seq, kind, comment) in self.reasons.drain(..) {
            client.execute(
                "INSERT INTO override_reason (report, record, seq, type, comment)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&report, &record, &seq, &kind, &comment],
            )?;
        }
        Ok(())
    }

    /// The id of `r`'s auth-result set, stored first if new; `None` when
    /// the record has no auth results.
    fn auth_set(
        &mut self,
        client: &mut Conn,
        sets: &mut AuthSets,
        r: &Record,
    ) -> Result<Option<i64>, DbError> {
        if r.dkim.is_empty() && r.spf.is_empty() {
            return Ok(None);
        }
        let fp = fingerprint(r);
        if let Some(id) = sets.get(fp, r) {
            return Ok(Some(id));
        }
        auth_key(r, &mut self.key);
        let found: Option<i64> = client
            .query_opt("SELECT id FROM auth_set WHERE key = $1", &[&self.key])?
            .map(|row| row.get(0));
        let id = match found {
            Some(id) => id,
            None => insert_set(client, r, &self.key)?,
        };
        sets.add(fp, r, id, found.is_none());
        Ok(Some(id))
    }
}

/// Stores a new auth-result set and its rows in one statement (one round
/// trip, however many results it has).
fn insert_set(client: &mut Conn, r: &Record, key: &str) -> Result<i64, DbError> {
    let col = |f: &dyn Fn(usize) -> Option<String>, n: usize| -> Vec<Option<String>> {
        (0..n).map(f).collect()
    };
    let (nd, ns) = (r.dkim.len(), r.spf.len());
    let d_domain = col(&|i| Some(r.dkim[i].domain.clone()), nd);
    let d_selector = col(&|i| r.dkim[i].selector.clone(), nd);
    let d_result = col(&|i| Some(r.dkim[i].result.as_str().to_string()), nd);
    let d_human = col(&|i| r.dkim[i].human_result.clone(), nd);
    let s_domain = col(&|i| Some(r.spf[i].domain.clone()), ns);
    let s_scope = col(&|i| r.spf[i].scope.clone(), ns);
    let s_result = col(&|i| Some(r.spf[i].result.as_str().to_string()), ns);
    let s_human = col(&|i| r.spf[i].human_result.clone(), ns);
    let row = client.query_one(
        "WITH s AS (INSERT INTO auth_set (key) VALUES ($1) RETURNING id),
         d AS (INSERT INTO dkim_result (auth_set, seq, domain, selector, result, human_result)
               SELECT s.id, t.n - 1, t.domain, t.selector, t.result, t.human
               FROM s, unnest($2::text[], $3::text[], $4::text[], $5::text[])
                 WITH ORDINALITY AS t (domain, selector, result, human, n)),
         f AS (INSERT INTO spf_result (auth_set, seq, domain, scope, result, human_result)
               SELECT s.id, t.n - 1, t.domain, t.scope, t.result, t.human
               FROM s, unnest($6::text[], $7::text[], $8::text[], $9::text[])
                 WITH ORDINALITY AS t (domain, scope, result, human, n))
         SELECT id FROM s",
        &[
            &key,
            &d_domain,
            &d_selector,
            &d_result,
            &d_human,
            &s_domain,
            &s_scope,
            &s_result,
            &s_human,
        ],
    )?;
    Ok(row.get(0))
}
