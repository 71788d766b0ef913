//! The senders fold on PostgreSQL in parts: a large window's reports are
//! split into as many parts as the client has cores (at most
//! [`MAX_PARTS`]), each part streamed on a connection of its own at once
//! (`pg/parts.rs`: one snapshot for all) and folded in a thread of its
//! own, and the parts' folds merged. One statement keeps one server
//! process and one client thread busy: on the 10-million-record
//! benchmark the server's reading and array building took about twice
//! the client's folding, each on one core of two.
//!
//! The merge gives the same totals as one fold: every sum is a sum of
//! the parts' sums (a report is in exactly one part), "ours" is true when
//! it is in any part, and the passing DKIM domains are a union, kept by
//! name (each fold numbers the domains as it meets them). The order of the
//! result is decided after the merge, by total and IP only.

use std::collections::hash_map::Entry;

use rusqlite::types::Value;

use super::{add, Bits, DbError, Fold, Scope, Sql, Store, Sums};

/// At most this many parts, whatever the cores: more connections for
/// less work each.
const MAX_PARTS: usize = 4;

/// A window of fewer records is read in one statement: the parts'
/// connections and threads would cost more than they save (a part is
/// worth it from some tens of milliseconds of server time).
const MIN_RECORDS: i64 = 100_000;

/// How many connections a large window is read over: the client's cores,
/// at most [`MAX_PARTS`].
pub(super) fn connections() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_PARTS)
}

/// The reports of `q`'s window in up to `n` parts of about as many
/// records each (the largest report first, each to the part with the
/// fewest records so far), each as a list of ids for [`part_text`]'s
/// condition; none when the window has fewer than [`MIN_RECORDS`].
pub(super) fn parts(store: &Store, q: &Scope<'_>, n: usize) -> Result<Vec<String>, DbError> {
    let mut sql = store.sql();
    let conds = sql.report_conds(q);
    let text = format!(
        "SELECT r.id, r.record_count FROM report r WHERE {}",
        conds.join(" AND ")
    );
    let mut reports: Vec<(i64, i64)> =
        store.rows(&text, &sql, |r| Ok((r.get(0)?, r.get::<i64>(1)?.max(1))))?;
    let total = reports.iter().fold(0i64, |t, r| t.saturating_add(r.1));
    if total < MIN_RECORDS || n < 2 {
        return Ok(Vec::new());
    }
    reports.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut parts: Vec<(i64, Vec<i64>)> = vec![(0, Vec::new()); n];
    for (id, records) in reports {
        if let Some(p) = parts.iter_mut().min_by_key(|p| p.0) {
            p.0 = p.0.saturating_add(records);
            p.1.push(id);
        }
    }
    Ok(parts
        .into_iter()
        .filter(|p| !p.1.is_empty())
        .map(|(_, mut ids)| {
            ids.sort_unstable();
            let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
            ids.join(",")
        })
        .collect())
}

/// `text` (ending with the report's conditions, see
/// [`super::totals_sql`]) narrowed to the reports of one part, and its
/// arguments: `sql`'s, and last the part's list of ids (an empty one
/// here, for each part to fill in).
pub(super) fn part_text(text: &str, sql: &Sql) -> (String, Vec<Value>) {
    let mut sql = Sql {
        dialect: sql.dialect,
        args: sql.args.clone(),
    };
    let ids = sql.bind(String::new());
    (
        format!("{text} AND r.id = ANY(string_to_array({ids}, ',')::bigint[])"),
        sql.args,
    )
}

impl Bits {
    /// The indexes in the set.
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..64)
            .filter(|i| self.low & (1 << i) != 0)
            .chain(self.more.iter().copied())
    }
}

impl Fold {
    /// Adds the sums of `other`, a fold of other records: the same sums
    /// as had this fold read them too.
    pub(super) fn merge(&mut self, other: Fold) -> Result<(), DbError> {
        let Fold {
            domains,
            index,
            mut sums,
            ..
        } = other;
        // Their domains' numbers in this fold.
        let ids: Vec<u32> = domains.0.iter().map(|d| self.domains.id(d)).collect();
        for (ip, i) in index {
            let s = std::mem::take(&mut sums[i as usize]);
            let mut bits = Bits::default();
            for id in s.domains.iter().filter_map(|j| ids.get(j as usize)) {
                bits.insert(*id);
            }
            let k = match self.index.entry(ip) {
                Entry::Occupied(e) => *e.get() as usize,
                Entry::Vacant(e) => {
                    e.insert(self.sums.len() as u32);
                    self.sums.push(Sums::default());
                    self.sums.len() - 1
                }
            };
            let t = &mut self.sums[k];
            t.ours |= s.ours;
            t.messages = add(t.messages, s.messages)?;
            t.pass = add(t.pass, s.pass)?;
            t.dkim_pass = add(t.dkim_pass, s.dkim_pass)?;
            t.overridden = add(t.overridden, s.overridden)?;
            t.broken = add(t.broken, s.broken)?;
            t.other = add(t.other, s.other)?;
            t.domains.union(&bits);
        }
        Ok(())
    }
}
