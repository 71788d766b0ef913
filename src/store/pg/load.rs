//! Records on their way into PostgreSQL. What a report adds besides its
//! `report` row (records, override reasons, original bytes, totals) is
//! buffered across the reports of the open transaction and loaded in one
//! go ([`Loader::flush`]): the auth-result sets not seen before in one
//! statement, the records in one binary COPY, the rest in one statement.
//! A group of 100 reports of 100 records thus costs a handful of round
//! trips to the server, not several per report (each a wait for the
//! server process to be scheduled: on a busy machine they were most of
//! the time, see bench/README.md).
//!
//! The buffer is loaded before the transaction commits, and whenever it
//! holds [`CAPACITY`] records (a big report then goes in several loads).
//! A report that fails part-way is taken out again ([`Loader::discard`]),
//! with the auth-result sets it was the first to use: those still waiting
//! are dropped, those a load stored already are handed back to be deleted
//! (`undo.rs`), so the database is as if the report had never come. Sets
//! the group's earlier reports use stay (the loader knows which of the
//! waiting sets are the current report's: [`Loader::mark`]).

use std::collections::HashMap;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;

use super::super::insert::{auth_key, fingerprint, AuthSets};
use super::super::write::Totals;
use super::super::DbError;
use super::Conn;
use crate::model::{AuthResult, Disposition, Record, SourceIp, Str};

/// Records buffered before a load.
pub(super) const CAPACITY: usize = 8192;

/// Where a buffered record's auth-result set is.
enum Auth {
    None,
    Known(i64),
    /// `Loader::new_sets[i]`, stored at the next load.
    New(usize),
}

/// One `record` row, owned until its COPY.
struct Row {
    report: i64,
    seq: i64,
    source_ip: SourceIp,
    count: i64,
    disposition: Disposition,
    dkim: AuthResult,
    spf: AuthResult,
    dmarc_pass: bool,
    header_from: Str,
    envelope_from: Option<Str>,
    envelope_to: Option<Str>,
    auth: Auth,
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

/// A set of auth results not known to be stored yet.
struct NewSet {
    fp: u64,
    /// Only its `dkim` and `spf`.
    record: Record,
    key: String,
}

/// The rows of one table, column by column (bound as arrays).
#[derive(Default)]
struct Reasons {
    report: Vec<i64>,
    record: Vec<i64>,
    seq: Vec<i64>,
    kind: Vec<String>,
    comment: Vec<Option<String>>,
}

#[derive(Default)]
struct Blobs {
    report: Vec<i64>,
    sha256: Vec<Vec<u8>>,
    gzip: Vec<Vec<u8>>,
    /// The report's `report_ips` row.
    ips: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Sums {
    report: Vec<i64>,
    records: Vec<i64>,
    messages: Vec<i64>,
    passed: Vec<i64>,
}

/// Where a report's rows begin in the buffer, to take them out again.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    rows: usize,
    reasons: usize,
    /// Loads done before the report began: more by its end means some of
    /// its rows are in the database.
    loads: u64,
}

/// What the open transaction has yet to load, and the auth-result sets
/// known to be stored.
#[derive(Default)]
pub(crate) struct Loader {
    pub sets: AuthSets,
    rows: Vec<Row>,
    reasons: Reasons,
    blobs: Blobs,
    sums: Sums,
    new_sets: Vec<NewSet>,
    /// `new_sets` by key.
    by_key: HashMap<String, usize>,
    /// Where the current report's sets begin in `new_sets` (those before
    /// are earlier reports'; zero after a load).
    own_from: usize,
    /// The sets the current report was the first to use that a load
    /// stored (inserted, not found) since it began, by id.
    own_stored: Vec<i64>,
    key: String,
    loads: u64,
}

impl Loader {
    /// Where the next report's rows (and new sets) begin.
    pub fn mark(&mut self) -> Mark {
        self.own_from = self.new_sets.len();
        self.own_stored.clear();
        // The sets stored so far are earlier reports', kept with them.
        self.sets.keep();
        Mark {
            rows: self.rows.len(),
            reasons: self.reasons.report.len(),
            loads: self.loads,
        }
    }

    /// Whether some rows of the report begun at `m` were loaded.
    pub fn loaded_since(&self, m: Mark) -> bool {
        self.loads != m.loads
    }

    /// Takes the rows of the report begun at `m` out of the buffer, and
    /// the sets it was the first to use out of the buffer and of
    /// [`Loader::sets`]. Those of its rows and sets that were loaded
    /// already are the caller's to delete: the sets' ids are returned.
    pub fn discard(&mut self, m: Mark) -> Vec<i64> {
        for set in self.new_sets.drain(self.own_from..) {
            self.by_key.remove(&set.key);
        }
        // Pending in `sets` are the stored ones of `own_stored` (the
        // group's sets are kept after each report).
        self.sets.forget();
        if self.loads != m.loads {
            self.rows.clear();
            self.reasons = Reasons::default();
        } else {
            self.rows.truncate(m.rows);
            let r = &mut self.reasons;
            r.report.truncate(m.reasons);
            r.record.truncate(m.reasons);
            r.seq.truncate(m.reasons);
            r.kind.truncate(m.reasons);
            r.comment.truncate(m.reasons);
        }
        std::mem::take(&mut self.own_stored)
    }

    /// Forgets everything buffered (the transaction rolled back; what it
    /// did to [`Loader::sets`] is the caller's to undo).
    pub fn clear(&mut self) {
        let sets = std::mem::take(&mut self.sets);
        *self = Loader {
            sets,
            loads: self.loads + 1,
            ..Loader::default()
        };
    }

    /// Whether nothing waits to be loaded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.sums.report.is_empty()
    }

    /// Adds record number `seq` of report `report`; whether the buffer is
    /// full now (see [`Conn::push`]).
    pub fn push(&mut self, report: i64, seq: i64, r: Record) -> bool {
        let auth = self.auth_set(&r);
        let dmarc_pass = r.dmarc_pass();
        let pe = r.policy_evaluated;
        for (i, o) in pe.reasons.into_iter().enumerate() {
            let rs = &mut self.reasons;
            rs.report.push(report);
            rs.record.push(seq);
            rs.seq.push(i as i64);
            rs.kind.push(o.kind.into());
            rs.comment.push(o.comment.map(Into::into));
        }
        self.rows.push(Row {
            report,
            seq,
            source_ip: r.source_ip,
            count: r.count,
            disposition: pe.disposition,
            dkim: pe.dkim,
            spf: pe.spf,
            dmarc_pass,
            header_from: r.identifiers.header_from,
            envelope_from: r.identifiers.envelope_from,
            envelope_to: r.identifiers.envelope_to,
            auth,
        });
        self.rows.len() >= CAPACITY
    }

    /// Adds the end of report `id`: its totals, its original bytes and its
    /// source IPs' hashes (`report_ips`).
    pub fn finish(&mut self, id: i64, t: &Totals, sha256: Vec<u8>, gzip: Vec<u8>, ips: Vec<u8>) {
        let s = &mut self.sums;
        s.report.push(id);
        s.records.push(t.records as i64);
        s.messages.push(t.messages);
        s.passed.push(t.messages - t.messages_fail);
        let b = &mut self.blobs;
        b.report.push(id);
        b.sha256.push(sha256);
        b.gzip.push(gzip);
        b.ips.push(ips);
    }

    /// `r`'s auth-result set: known, or to be stored at the next load.
    fn auth_set(&mut self, r: &Record) -> Auth {
        if r.dkim.is_empty() && r.spf.is_empty() {
            return Auth::None;
        }
        let fp = fingerprint(r);
        if let Some(id) = self.sets.get(fp, r) {
            return Auth::Known(id);
        }
        auth_key(r, &mut self.key);
        if let Some(&i) = self.by_key.get(&self.key) {
            return Auth::New(i);
        }
        let i = self.new_sets.len();
        self.new_sets.push(NewSet {
            fp,
            record: Record {
                dkim: r.dkim.clone(),
                spf: r.spf.clone(),
                ..Record::default()
            },
            key: self.key.clone(),
        });
        self.by_key.insert(self.key.clone(), i);
        Auth::New(i)
    }

    /// Loads everything buffered: new auth sets, records, the rest (the
    /// connection's own loader is not this one: see [`Conn::flush`]).
    pub fn flush(&mut self, client: &mut Conn) -> Result<(), DbError> {
        let ids = self.store_sets(client)?;
        if !self.rows.is_empty() {
            self.copy_rows(client, &ids)?;
        }
        if !self.reasons.report.is_empty()
            || !self.blobs.report.is_empty()
            || !self.sums.report.is_empty()
        {
            self.store_rest(client)?;
        }
        self.loads += 1;
        Ok(())
    }

    /// Stores the new auth-result sets (those another writer stored
    /// meanwhile are looked up instead) in one statement; their ids, in
    /// the order of `new_sets`.
    fn store_sets(&mut self, client: &mut Conn) -> Result<Vec<i64>, DbError> {
        if self.new_sets.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = Vec::with_capacity(self.new_sets.len());
        let mut d = ResultRows::default();
        let mut s = ResultRows::default();
        for (n, set) in self.new_sets.iter().enumerate() {
            let n = n as i64 + 1;
            keys.push(set.key.as_str());
            for (i, r) in set.record.dkim.iter().enumerate() {
                d.push(
                    n,
                    i,
                    &r.domain,
                    &r.selector,
                    r.result.as_str(),
                    &r.human_result,
                );
            }
            for (i, r) in set.record.spf.iter().enumerate() {
                s.push(
                    n,
                    i,
                    &r.domain,
                    &r.scope,
                    r.result.as_str(),
                    &r.human_result,
                );
            }
        }
        let rows = client.query(
            "WITH k AS (SELECT t.key COLLATE \"C\" AS key, t.n
                        FROM unnest($1::text[]) WITH ORDINALITY AS t (key, n)),
             s AS (INSERT INTO auth_set (key) SELECT key FROM k ORDER BY n
                   ON CONFLICT (key) DO NOTHING RETURNING id, key),
             d AS (INSERT INTO dkim_result (auth_set, seq, domain, selector, result, human_result)
                   SELECT s.id, t.seq, t.domain, t.selector, t.result, t.human
                   FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[],
                               $7::text[]) AS t (n, seq, domain, selector, result, human)
                   JOIN k ON k.n = t.n JOIN s ON s.key = k.key),
             f AS (INSERT INTO spf_result (auth_set, seq, domain, scope, result, human_result)
                   SELECT s.id, t.seq, t.domain, t.scope, t.result, t.human
                   FROM unnest($8::int8[], $9::int8[], $10::text[], $11::text[], $12::text[],
                               $13::text[]) AS t (n, seq, domain, scope, result, human)
                   JOIN k ON k.n = t.n JOIN s ON s.key = k.key)
             SELECT coalesce(s.id, a.id), s.id IS NOT NULL
             FROM k LEFT JOIN s ON s.key = k.key LEFT JOIN auth_set a ON a.key = k.key
             ORDER BY k.n",
            &[
                &keys, &d.n, &d.seq, &d.domain, &d.field, &d.result, &d.human, &s.n, &s.seq,
                &s.domain, &s.field, &s.result, &s.human,
            ],
        )?;
        let mut ids = Vec::with_capacity(rows.len());
        for (i, (set, row)) in self.new_sets.drain(..).zip(&rows).enumerate() {
            let (id, new): (i64, bool) = (row.get(0), row.get(1));
            // Only the current report's new sets are pending: those of
            // the group's earlier reports are kept as their reports were.
            let own = new && i >= self.own_from;
            self.sets.add(set.fp, &set.record, id, own);
            if own {
                self.own_stored.push(id);
            }
            ids.push(id);
        }
        self.by_key.clear();
        self.own_from = 0;
        Ok(ids)
    }

    /// Loads the buffered records in one binary COPY.
    fn copy_rows(&mut self, client: &mut Conn, ids: &[i64]) -> Result<(), DbError> {
        let copy = client.prepared(
            "COPY record (report, seq, source_ip, ip_bin, count, disposition, dkim, spf,
               dmarc_pass, header_from, envelope_from, envelope_to, auth)
             FROM STDIN (FORMAT binary)",
        )?;
        let sink = client.client.copy_in(&copy)?;
        let mut w = BinaryCopyInWriter::new(sink, &TYPES);
        for r in self.rows.drain(..) {
            let auth = match r.auth {
                Auth::None => None,
                Auth::Known(id) => Some(id),
                Auth::New(i) => ids.get(i).copied(),
            };
            w.write(&[
                &r.report,
                &r.seq,
                &r.source_ip.as_str(),
                &r.source_ip.bin().as_ref().map(|b| &b[..]),
                &r.count,
                &r.disposition.as_str(),
                &r.dkim.as_str(),
                &r.spf.as_str(),
                &r.dmarc_pass,
                &r.header_from.as_str(),
                &r.envelope_from.as_deref(),
                &r.envelope_to.as_deref(),
                &auth,
            ])?;
        }
        w.finish()?;
        Ok(())
    }

    /// Loads the override reasons, original bytes and `report_ips` rows,
    /// and sets the totals of finished reports, in one statement.
    fn store_rest(&mut self, client: &mut Conn) -> Result<(), DbError> {
        let (o, b, s) = (&self.reasons, &self.blobs, &self.sums);
        client.execute(
            "WITH o AS (INSERT INTO override_reason (report, record, seq, type, comment)
                        SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::text[],
                                             $5::text[])),
             b AS (INSERT INTO report_blob (report, sha256, gzip)
                   SELECT * FROM unnest($6::int8[], $7::bytea[], $8::bytea[])),
             i AS (INSERT INTO report_ips (report, hashes)
                   SELECT * FROM unnest($6::int8[], $13::bytea[]))
             UPDATE report SET record_count = t.records, message_count = t.messages,
               pass_count = t.passed
             FROM unnest($9::int8[], $10::int8[], $11::int8[], $12::int8[])
               AS t (id, records, messages, passed)
             WHERE report.id = t.id",
            &[
                &o.report,
                &o.record,
                &o.seq,
                &o.kind,
                &o.comment,
                &b.report,
                &b.sha256,
                &b.gzip,
                &s.report,
                &s.records,
                &s.messages,
                &s.passed,
                &b.ips,
            ],
        )?;
        self.reasons = Reasons::default();
        self.blobs = Blobs::default();
        self.sums = Sums::default();
        Ok(())
    }
}

/// DKIM or SPF results of several sets, column by column; `n` numbers the
/// set from 1, `field` is the selector or scope.
#[derive(Default)]
struct ResultRows<'a> {
    n: Vec<i64>,
    seq: Vec<i64>,
    domain: Vec<&'a str>,
    field: Vec<Option<&'a str>>,
    result: Vec<&'a str>,
    human: Vec<Option<&'a str>>,
}

impl<'a> ResultRows<'a> {
    fn push(
        &mut self,
        n: i64,
        seq: usize,
        domain: &'a str,
        field: &'a Option<Str>,
        result: &'a str,
        human: &'a Option<Str>,
    ) {
        self.n.push(n);
        self.seq.push(seq as i64);
        self.domain.push(domain);
        self.field.push(field.as_deref());
        self.result.push(result);
        self.human.push(human.as_deref());
    }
}

impl Conn {
    /// Adds record number `seq` of report `report` to the load, loading
    /// when the buffer is full.
    pub fn push(&mut self, report: i64, seq: i64, r: Record) -> Result<(), DbError> {
        if self.load.push(report, seq, r) {
            self.flush()?;
        }
        Ok(())
    }

    /// Loads what the open transaction buffered.
    pub fn flush(&mut self) -> Result<(), DbError> {
        let mut load = std::mem::take(&mut self.load);
        let done = load.flush(self);
        self.load = load;
        done
    }
}
