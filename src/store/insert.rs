//! The inserts of a record: its row, and its `<auth_results>` as a shared
//! set (see `auth_set` in schema.sql).
//!
//! A record costs one row, inserted with up to 31 others by one statement
//! (`insert/rows.rs`, bound without copies by `insert/raw.rs`; its
//! `<reason>`s likewise, 16 to a statement). Its auth
//! results are looked up by their key in [`AuthSets`], a map kept in
//! memory for the whole run; only a set never seen before costs a lookup
//! in the file and, when new there too, its rows. Reports repeat a few
//! dozen sets, so nearly every record is one row, where rows per result
//! cost three (bench/README.md).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rusqlite::Connection;

use crate::model::{DkimAuthResult, Record, SpfAuthResult};
use rows::{insert_records, ReasonRow, Reasons, Rows};
use statements::Sql;
use statements::RECORD_SIZES;

#[cfg(test)]
mod chunk_tests;
mod fingerprint;
mod key;
mod raw;
mod rows;
mod statements;
mod tags;

pub(super) use fingerprint::fingerprint;
use fingerprint::same_set;
pub use key::auth_key;
pub use tags::tag_auth_sets;

/// Auth-set ids by key, as known to be in the file (or in the open
/// transaction). A set inserted inside a savepoint that then rolls back
/// is gone from the file, so the keys added since the last
/// [`AuthSets::keep`] are [`AuthSets::forget`]-able; a transaction that
/// fails to commit forgets everything ([`AuthSets::clear`]). Sets are
/// never deleted, so what a committed transaction added stays valid, also
/// for other processes writing the same file.
///
/// Looking a set up costs a hash of its fields and a comparison, not the
/// key's JSON text, which is only written for a set not known here.
#[derive(Debug, Default)]
pub struct AuthSets {
    /// By [`fingerprint`]; more than one per bucket only on a collision.
    ids: HashMap<u64, Vec<Known>, BuildHasherDefault<Spread>>,
    /// The fingerprint of the set found or added last: records in a row
    /// often share theirs (nine in ten in real reports), and trying it
    /// first spares their fingerprint.
    last: Option<u64>,
    /// Sets added since the last `keep`, by fingerprint and id.
    pending: Vec<(u64, i64)>,
    /// Set ids by the [`AuthTag`](crate::model::AuthTag) a parsing
    /// thread gave records ([`tag_auth_sets`]): each tag is looked up
    /// by content once, then found here. Holds only ids also in `ids`.
    by_tag: HashMap<u64, i64, BuildHasherDefault<Mix>>,
    /// The tag looked up last and its id (records in a row often share
    /// their set), or tag 0.
    last_tag: (u64, i64),
    /// The statements of the inserts (`insert/statements.rs`), prepared
    /// once per connection as the sets are known per connection; kept
    /// here, where every writer of records already passes its state.
    sql: statements::Statements,
}

/// The hasher of [`AuthSets`]' keys, which are hashes already
/// ([`fingerprint`]): they are used as they are.
#[derive(Debug, Default)]
struct Spread(u64);

impl Hasher for Spread {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the keys are `u64`); this is for
        // completeness.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The hasher of [`AuthSets::by_tag`]: tags are counted up from 1, so
/// they are spread by a multiplication (the map's buckets are chosen by
/// the hash's low bits, its tags by its high ones).
#[derive(Debug, Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A set stored with this id.
#[derive(Debug)]
struct Known {
    dkim: Vec<DkimAuthResult>,
    spf: Vec<SpfAuthResult>,
    id: i64,
}

/// Beyond this many sets (fingerprints) the map starts over (a run over very varied
/// reports then looks more of them up in the file, nothing worse).
const MAX_CACHED: usize = 100_000;

impl AuthSets {
    /// What was added is committed (or in a released savepoint).
    pub fn keep(&mut self) {
        self.pending.clear();
    }

    /// What was added since the last `keep` was rolled back (or is
    /// about to be deleted: returns the ids).
    pub fn forget(&mut self) -> Vec<i64> {
        let mut ids = Vec::with_capacity(self.pending.len());
        for (fp, id) in self.pending.drain(..) {
            if let Some(bucket) = self.ids.get_mut(&fp) {
                bucket.retain(|k| k.id != id);
            }
            ids.push(id);
        }
        if !ids.is_empty() {
            self.by_tag.retain(|_, id| !ids.contains(id));
            self.last_tag = (0, 0);
        }
        ids
    }

    /// Nothing is known any more (a transaction failed).
    pub fn clear(&mut self) {
        self.ids.clear();
        self.pending.clear();
        self.by_tag.clear();
        self.last_tag = (0, 0);
    }

    /// The id of the set tagged `tag` (not 0), if known.
    fn tagged(&mut self, tag: u64) -> Option<i64> {
        if self.last_tag.0 == tag {
            return Some(self.last_tag.1);
        }
        let id = *self.by_tag.get(&tag)?;
        self.last_tag = (tag, id);
        Some(id)
    }

    /// Remembers that `tag` names set `id` (known by content in `ids`).
    fn tag(&mut self, tag: u64, id: i64) {
        if self.by_tag.len() >= MAX_CACHED {
            self.by_tag.clear();
        }
        self.by_tag.insert(tag, id);
    }

    pub(super) fn get(&self, fp: u64, r: &Record) -> Option<i64> {
        let bucket = self.ids.get(&fp)?;
        let known = bucket.iter().find(|k| same_set(&k.dkim, &k.spf, r))?;
        Some(known.id)
    }

    /// Remembers `r`'s set as `id`; `new` when inserted by the open
    /// savepoint (so forgotten if it rolls back).
    pub(super) fn add(&mut self, fp: u64, r: &Record, id: i64, new: bool) {
        if self.ids.len() >= MAX_CACHED {
            // Forgotten sets need no forgetting on rollback.
            self.clear();
        }
        let known = Known {
            dkim: r.dkim.to_vec(),
            spf: r.spf.to_vec(),
            id,
        };
        self.ids.entry(fp).or_default().push(known);
        self.last = Some(fp);
        if new {
            self.pending.push((fp, id));
        }
    }
}

/// Every auth result of `r` as (kind, [domain, selector or scope, result,
/// human_result]): DKIM results in document order, then SPF: the
/// key's order.
fn entries(r: &Record) -> impl Iterator<Item = (&'static str, [Option<&str>; 4])> {
    let dkim = r.dkim.iter().map(|d| {
        let fields = [
            Some(d.domain.as_str()),
            d.selector.as_deref(),
            Some(d.result.as_str()),
            d.human_result.as_deref(),
        ];
        ("dkim", fields)
    });
    let spf = r.spf.iter().map(|s| {
        let fields = [
            Some(s.domain.as_str()),
            s.scope.as_deref(),
            Some(s.result.as_str()),
            s.human_result.as_deref(),
        ];
        ("spf", fields)
    });
    dkim.chain(spf)
}

/// The inserts of one report's records. Records are numbered
/// (`record.seq`) in the order they are inserted; their rows and their
/// reasons' rows are written many to a statement (`rows.rs`), the last
/// ones by [`Inserter::finish`].
///
/// Records come a chunk at a time ([`Inserter::insert_chunk`]) and are
/// bound where they lie: a record of ~500 bytes is not moved into a row
/// of its own (a `memcpy` each time, ~76 instructions under valgrind),
/// only the few a chunk ends with that do not fill a statement wait here
/// for the next chunk.
pub struct Inserter<'c, 's> {
    conn: &'c Connection,
    sets: &'s mut AuthSets,
    report: i64,
    /// The `seq` of the first waiting record.
    seq: i64,
    /// Records waiting for a statement.
    waiting: Vec<Record>,
    /// The auth set of each waiting record, then of the chunk's records
    /// while a chunk is inserted.
    auths: Vec<Option<i64>>,
    reasons: Rows<Reasons>,
    key: String,
}

impl<'c, 's> Inserter<'c, 's> {
    /// For the records of report `report`, from `seq` 0.
    pub fn new(
        conn: &'c Connection,
        sets: &'s mut AuthSets,
        report: i64,
    ) -> rusqlite::Result<Self> {
        Ok(Inserter {
            conn,
            sets,
            report,
            seq: 0,
            waiting: Vec::with_capacity(RECORD_SIZES[0]),
            auths: Vec::with_capacity(2 * RECORD_SIZES[0]),
            reasons: Rows::new(report),
            key: String::new(),
        })
    }

    /// Inserts the report's next record (its row perhaps only with the
    /// next ones, or at [`Inserter::finish`]).
    pub fn insert(&mut self, mut r: Record) -> rusqlite::Result<()> {
        let seq = self.seq + self.waiting.len() as i64;
        let auth = self.take_apart(&mut r, seq)?;
        self.auths.push(auth);
        self.waiting.push(r);
        self.insert_rows(&mut Vec::new(), false)
    }

    /// Inserts the report's next records, taking them all out of `chunk`
    /// (left empty; its room stays). Their rows go in by full statements
    /// bound from `chunk` itself; those left over wait for the next
    /// chunk (or [`Inserter::finish`]).
    pub fn insert_chunk(&mut self, chunk: &mut Vec<Record>) -> rusqlite::Result<()> {
        let first = self.seq + self.waiting.len() as i64;
        for (i, r) in chunk.iter_mut().enumerate() {
            let auth = self.take_apart(r, first + i as i64)?;
            self.auths.push(auth);
        }
        self.insert_rows(chunk, false)
    }

    /// Inserts the rows still waiting: the report's records are all in.
    pub fn finish(mut self) -> rusqlite::Result<()> {
        self.insert_rows(&mut Vec::new(), true)?;
        self.reasons.finish(&mut self.sets.sql, self.conn)
    }

    /// `r`'s auth set (stored first if new), its reasons taken out to
    /// their rows, as record `seq`.
    fn take_apart(&mut self, r: &mut Record, seq: i64) -> rusqlite::Result<Option<i64>> {
        let auth = self.auth_set(r)?;
        if !r.policy_evaluated.reasons.is_empty() {
            let reasons = std::mem::take(&mut r.policy_evaluated.reasons);
            for (i, reason) in reasons.into_iter().enumerate() {
                let row = ReasonRow {
                    record: seq,
                    seq: i as i64,
                    reason,
                };
                self.reasons.push(&mut self.sets.sql, self.conn, row)?;
            }
        }
        Ok(auth)
    }

    /// Inserts the waiting records then `chunk`'s (their auth sets in
    /// `auths`) by full statements of the biggest size, or, when `all`,
    /// every one of them by the sizes they fill; moves those left over
    /// into `waiting` and empties `chunk`.
    fn insert_rows(&mut self, chunk: &mut Vec<Record>, all: bool) -> rusqlite::Result<()> {
        let w = self.waiting.len();
        let total = w + chunk.len();
        let mut done = 0;
        for (i, &n) in RECORD_SIZES.iter().enumerate() {
            while total - done >= n {
                let (waiting, auths) = (&self.waiting, &self.auths);
                let rows = (done..total).map(|j| {
                    let r = if j < w { &waiting[j] } else { &chunk[j - w] };
                    (self.seq + j as i64, auths[j], r)
                });
                insert_records(&mut self.sets.sql, self.conn, self.report, i, rows)?;
                done += n;
            }
            if !all {
                break;
            }
        }
        if done > 0 {
            self.seq += done as i64;
            self.auths.drain(..done);
        }
        if done <= w {
            self.waiting.drain(..done);
            self.waiting.append(chunk);
        } else {
            self.waiting.clear();
            self.waiting.extend(chunk.drain(done - w..));
            chunk.clear();
        }
        Ok(())
    }

    /// The id of `r`'s auth-result set, stored first if new; `None` when
    /// the record has no auth results.
    fn auth_set(&mut self, r: &Record) -> rusqlite::Result<Option<i64>> {
        if r.dkim.is_empty() && r.spf.is_empty() {
            return Ok(None);
        }
        let tag = r.auth_tag.0;
        if tag != 0 {
            if let Some(id) = self.sets.tagged(tag) {
                debug_assert_eq!(self.sets.get(fingerprint(r), r), Some(id));
                return Ok(Some(id));
            }
            let id = self.set_by_content(r)?;
            self.sets.tag(tag, id);
            return Ok(Some(id));
        }
        self.set_by_content(r).map(Some)
    }

    /// The id of `r`'s auth-result set (it has results), found by its
    /// content, stored first if new.
    fn set_by_content(&mut self, r: &Record) -> rusqlite::Result<i64> {
        // The bucket of the record before holds this record's set if
        // their results are equal (field by field, as always).
        if let Some(id) = self.sets.last.and_then(|fp| self.sets.get(fp, r)) {
            return Ok(id);
        }
        let fp = fingerprint(r);
        if let Some(id) = self.sets.get(fp, r) {
            self.sets.last = Some(fp);
            return Ok(id);
        }
        auth_key(r, &mut self.key);
        let found = {
            let mut b = self.sets.sql.get(self.conn, Sql::FindSet)?.bind();
            b.text(&self.key)?;
            b.query_i64()?
        };
        let id = match found {
            Some(id) => id,
            None => self.insert_set(r)?,
        };
        self.sets.add(fp, r, id, found.is_none());
        Ok(id)
    }

    fn insert_set(&mut self, r: &Record) -> rusqlite::Result<i64> {
        let sql = &mut self.sets.sql;
        let mut b = sql.get(self.conn, Sql::AddSet)?.bind();
        b.text(&self.key)?;
        b.execute()?;
        let set = self.conn.last_insert_rowid();
        for (i, d) in r.dkim.iter().enumerate() {
            let mut b = sql.get(self.conn, Sql::Dkim)?.bind();
            b.int(set)?;
            b.int(i as i64)?;
            b.text(&d.domain)?;
            b.opt_text(d.selector.as_deref())?;
            b.text(d.result.as_str())?;
            b.opt_text(d.human_result.as_deref())?;
            b.execute()?;
        }
        for (i, s) in r.spf.iter().enumerate() {
            let mut b = sql.get(self.conn, Sql::Spf)?.bind();
            b.int(set)?;
            b.int(i as i64)?;
            b.text(&s.domain)?;
            b.opt_text(s.scope.as_deref())?;
            b.text(s.result.as_str())?;
            b.opt_text(s.human_result.as_deref())?;
            b.execute()?;
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AuthResult;

    /// A record with one passing DKIM result for `domain`.
    pub(super) fn with_dkim(domain: &str) -> Record {
        let mut r = Record::default();
        r.dkim.push(DkimAuthResult {
            domain: domain.into(),
            result: AuthResult::Pass,
            ..DkimAuthResult::default()
        });
        r
    }

    #[test]
    fn sets_sharing_a_fingerprint_stay_apart_and_only_pending_ones_are_forgotten() {
        let (a, b) = (with_dkim("a.example"), with_dkim("b.example"));
        let mut sets = AuthSets::default();
        sets.add(7, &a, 1, false);
        sets.keep();
        sets.add(7, &b, 2, true);
        assert_eq!(sets.get(7, &a), Some(1));
        assert_eq!(sets.get(7, &b), Some(2));
        sets.forget();
        assert_eq!(sets.get(7, &a), Some(1));
        assert_eq!(sets.get(7, &b), None);
    }

    #[test]
    fn reasons_are_stored_with_their_records_in_order_across_statement_sizes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../schema.sql"))
            .unwrap();
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let mut sets = AuthSets::default();
        let mut ins = Inserter::new(&conn, &mut sets, 3).unwrap();
        // Record i carries i % 4 reasons: 0 + 1 + 2 + 3 per four records,
        // 43 in all (16 + 16 + 4 + 4 + 1 + 1 + 1): every statement size,
        // and a report's last rows left for `finish`.
        let mut want = Vec::new();
        for i in 0..30i64 {
            let mut r = with_dkim("a.example");
            r.source_ip = format!("2001:db8::{i}").into();
            for j in 0..i % 4 {
                let comment = (j % 2 == 0).then(|| format!("c{i}.{j}"));
                r.policy_evaluated
                    .reasons
                    .push(crate::model::OverrideReason {
                        kind: format!("k{i}.{j}").into(),
                        comment: comment.clone().map(Into::into),
                    });
                want.push((i, j, format!("k{i}.{j}"), comment));
            }
            ins.insert(r).unwrap();
        }
        ins.finish().unwrap();
        let stored: Vec<(i64, i64, String, Option<String>)> = conn
            .prepare(
                "SELECT record, seq, type, comment FROM override_reason WHERE report = 3
                 ORDER BY record, seq",
            )
            .unwrap()
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored.len(), 43);
        assert_eq!(stored, want);
        let records: i64 = conn
            .query_row("SELECT count(*) FROM record WHERE report = 3", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(records, 30);
    }

    #[test]
    fn records_get_their_own_sets_whether_or_not_the_one_before_shares_it() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../schema.sql"))
            .unwrap();
        // As the store opens a file (`sqlite.rs`): no report row is needed.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let mut sets = AuthSets::default();
        let mut ins = Inserter::new(&conn, &mut sets, 1).unwrap();
        // Runs and alternations, and more records than one statement holds.
        let names = ["a", "a", "b", "a", "b", "b", "", "a"];
        let order: Vec<&str> = names.iter().cycle().take(75).copied().collect();
        for (i, name) in order.iter().enumerate() {
            let mut r = if name.is_empty() {
                Record::default()
            } else {
                with_dkim(&format!("{name}.example"))
            };
            r.source_ip = format!("192.0.2.{i}").into();
            ins.insert(r).unwrap();
        }
        ins.finish().unwrap();
        let stored: Vec<(i64, Option<String>)> = conn
            .prepare(
                "SELECT r.seq, d.domain FROM record r LEFT JOIN dkim_result d ON d.auth_set = r.auth
                 WHERE r.report = 1 ORDER BY r.seq",
            )
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<(i64, Option<String>)> = order
            .iter()
            .enumerate()
            .map(|(i, n)| (i as i64, (!n.is_empty()).then(|| format!("{n}.example"))))
            .collect();
        assert_eq!(stored, want);
        let sets: i64 = conn
            .query_row("SELECT count(*) FROM auth_set", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sets, 2);
    }
}
