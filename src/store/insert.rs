//! The inserts of a record: its row, and its `<auth_results>` as a shared
//! set (see `auth_set` in schema.sql).
//!
//! A record costs one INSERT. Its auth results are looked up by their key
//! in [`AuthSets`], a map kept in memory for the whole run, and only a set
//! never seen before costs a lookup in the file and, when new there too,
//! its rows. Reports repeat a few dozen sets, so nearly every record is
//! one insert, where rows per result cost three (bench/README.md).

use std::collections::HashMap;

use rusqlite::{params, CachedStatement, Connection, OptionalExtension};

use crate::model::Record;

/// Auth-set ids by key, as known to be in the file (or in the open
/// transaction). A set inserted inside a savepoint that then rolls back
/// is gone from the file, so the keys added since the last
/// [`AuthSets::keep`] are [`AuthSets::forget`]-able; a transaction that
/// fails to commit forgets everything ([`AuthSets::clear`]). Sets are
/// never deleted, so what a committed transaction added stays valid, also
/// for other processes writing the same file.
#[derive(Debug, Default)]
pub struct AuthSets {
    ids: HashMap<String, i64>,
    /// Keys added since the last `keep`.
    pending: Vec<String>,
}

/// Beyond this many sets the map starts over (a run over very varied
/// reports then looks more of them up in the file, nothing worse).
const MAX_CACHED: usize = 100_000;

impl AuthSets {
    /// What was added is committed (or in a released savepoint).
    pub fn keep(&mut self) {
        self.pending.clear();
    }

    /// What was added since the last `keep` was rolled back.
    pub fn forget(&mut self) {
        for key in self.pending.drain(..) {
            self.ids.remove(&key);
        }
    }

    /// Nothing is known any more (a transaction failed).
    pub fn clear(&mut self) {
        self.ids.clear();
        self.pending.clear();
    }
}

/// The INSERTs of a record, prepared once per report rather than looked up
/// in the statement cache for every row.
pub struct Inserter<'c, 's> {
    conn: &'c Connection,
    sets: &'s mut AuthSets,
    record: CachedStatement<'c>,
    reason: CachedStatement<'c>,
    key: String,
}

impl<'c, 's> Inserter<'c, 's> {
    pub fn new(conn: &'c Connection, sets: &'s mut AuthSets) -> rusqlite::Result<Self> {
        Ok(Inserter {
            conn,
            sets,
            record: conn.prepare_cached(
                "INSERT INTO record (report, seq, source_ip, ip_bin, count, disposition, dkim,
                   spf, dmarc_pass, header_from, envelope_from, envelope_to, auth)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?,
            reason: conn.prepare_cached(
                "INSERT INTO override_reason (report, record, seq, type, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            key: String::new(),
        })
    }

    /// Inserts record number `seq` (from 0) of report `report`.
    pub fn insert(&mut self, report: i64, seq: i64, r: &Record) -> rusqlite::Result<()> {
        let auth = self.auth_set(r)?;
        let pe = &r.policy_evaluated;
        let ids = &r.identifiers;
        self.record.execute(params![
            report,
            seq,
            r.source_ip,
            super::ip_bin(&r.source_ip).as_ref().map(|b| &b[..]),
            r.count,
            pe.disposition.as_str(),
            pe.dkim.as_str(),
            pe.spf.as_str(),
            r.dmarc_pass(),
            ids.header_from,
            ids.envelope_from,
            ids.envelope_to,
            auth,
        ])?;
        for (i, o) in pe.reasons.iter().enumerate() {
            self.reason
                .execute(params![report, seq, i as i64, o.kind, o.comment])?;
        }
        Ok(())
    }

    /// The id of `r`'s auth-result set, stored first if new; `None` when
    /// the record has no auth results.
    fn auth_set(&mut self, r: &Record) -> rusqlite::Result<Option<i64>> {
        if r.dkim.is_empty() && r.spf.is_empty() {
            return Ok(None);
        }
        auth_key(r, &mut self.key);
        if let Some(id) = self.sets.ids.get(self.key.as_str()) {
            return Ok(Some(*id));
        }
        let found = self
            .conn
            .prepare_cached("SELECT id FROM auth_set WHERE key = ?1")?
            .query_row(params![self.key], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                let id = self.insert_set(r)?;
                self.sets.pending.push(self.key.clone());
                id
            }
        };
        if self.sets.ids.len() >= MAX_CACHED {
            self.sets.ids.clear();
            // A pending key no longer in the map need not be forgotten.
            self.sets.pending.clear();
            if found.is_none() {
                self.sets.pending.push(self.key.clone());
            }
        }
        self.sets.ids.insert(self.key.clone(), id);
        Ok(Some(id))
    }

    fn insert_set(&self, r: &Record) -> rusqlite::Result<i64> {
        self.conn
            .prepare_cached("INSERT INTO auth_set (key) VALUES (?1)")?
            .execute(params![self.key])?;
        let set = self.conn.last_insert_rowid();
        let mut dkim = self.conn.prepare_cached(
            "INSERT INTO dkim_result (auth_set, seq, domain, selector, result, human_result)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (i, d) in r.dkim.iter().enumerate() {
            let result = d.result.as_str();
            dkim.execute(params![
                set,
                i as i64,
                d.domain,
                d.selector,
                result,
                d.human_result
            ])?;
        }
        let mut spf = self.conn.prepare_cached(
            "INSERT INTO spf_result (auth_set, seq, domain, scope, result, human_result)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (i, s) in r.spf.iter().enumerate() {
            let result = s.result.as_str();
            spf.execute(params![
                set,
                i as i64,
                s.domain,
                s.scope,
                result,
                s.human_result
            ])?;
        }
        Ok(set)
    }
}

/// Writes into `out` the key of `r`'s auth results: the JSON text SQLite's
/// `json_array()` makes of them (schema.sql, `auth_set`), so that the
/// migration from version 1, which builds keys in SQL, and the inserts
/// agree (tested in `store::tests`).
pub fn auth_key(r: &Record, out: &mut String) {
    out.clear();
    out.push('[');
    let mut first = true;
    let mut entry = |out: &mut String, kind: &str, fields: [Option<&str>; 4]| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str("[\"");
        out.push_str(kind);
        out.push('"');
        for f in fields {
            out.push(',');
            match f {
                Some(s) => json_string(out, s),
                None => out.push_str("null"),
            }
        }
        out.push(']');
    };
    for d in &r.dkim {
        let fields = [
            Some(d.domain.as_str()),
            d.selector.as_deref(),
            Some(d.result.as_str()),
            d.human_result.as_deref(),
        ];
        entry(out, "dkim", fields);
    }
    for s in &r.spf {
        let fields = [
            Some(s.domain.as_str()),
            s.scope.as_deref(),
            Some(s.result.as_str()),
            s.human_result.as_deref(),
        ];
        entry(out, "spf", fields);
    }
    out.push(']');
}

/// `s` as a JSON string, escaped the way SQLite's JSON functions escape:
/// `"` and `\` by a backslash, control characters as `\b \t \n \f \r` or
/// `\u00xx`, everything else as it is.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
