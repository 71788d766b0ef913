//! The senders fold in parts: a large window's reports are split into as
//! many parts as there are cores (at most [`MAX_PARTS`]), each part read
//! on a connection of its own at once (one snapshot for all:
//! `pg/parts.rs`, `store/share.rs`) and folded in a thread of its own, and
//! the parts' folds merged. On PostgreSQL one statement keeps one server
//! process and one client thread busy: on the 10-million-record benchmark
//! the server's reading and array building took about twice the client's
//! folding, each on one core of two. On SQLite one connection is one core:
//! stepping through the records and folding them.
//!
//! The merge gives the same totals as one fold: every sum is a sum of
//! the parts' sums (a report is in exactly one part), "ours" is true when
//! it is in any part, and the passing DKIM domains are a union, kept by
//! name (each fold numbers the domains as it meets them). The order of the
//! result is decided after the merge, by total and IP only.

use std::collections::hash_map::Entry;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use super::dkim::{DkimSets, Loading};
use super::{add, Bits, DbError, Fold, Rec, Scope, Sql, Store, Sums};
use crate::store::sqlite::Lite;
use crate::store::views::fold::RowRef;

/// At most this many parts, whatever the cores: more connections for
/// less work each.
const MAX_PARTS: usize = 4;

/// A window of fewer records is read in one statement: the parts'
/// connections and threads would cost more than they save (a part is
/// worth it from some tens of milliseconds of server time). The unit
/// tests' windows are small: they are read in parts from 1,000.
const MIN_RECORDS: i64 = if cfg!(test) { 1_000 } else { 100_000 };

/// How many connections a large window is read over: the client's cores,
/// at most [`MAX_PARTS`]. Asked once a process (std reads the cgroup's
/// CPU quota from three files each time; `serve` folds on every page).
pub(in crate::store) fn connections() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_PARTS)
    })
}

/// The reports of `q`'s window in up to `n` parts of about as many
/// records each (the largest report first, each to the part with the
/// fewest records so far), each as a list of ids for the part's
/// statement (see [`super::totals_sql_sub`]); none when the window has fewer than [`MIN_RECORDS`].
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

/// Folds the rows of statement `whole` (a row per record, as
/// [`super::totals_sql`] selects them on SQLite) for scope `q`: in one
/// statement, or in parts over several connections at once, each reading
/// statement `part` with its reports' ids as the last parameter.
pub(super) fn fold_lite(
    store: &Store,
    lite: &Lite,
    q: &Scope<'_>,
    whole: (&str, &Sql),
    part: (String, Sql),
) -> Result<Fold, DbError> {
    let shared = match connections() {
        1 => None,
        _ => lite.share()?,
    };
    let parts = match &shared {
        Some(_) => parts(store, q, connections())?,
        None => Vec::new(),
    };
    let fold = match (&shared, parts.len()) {
        (Some(shared), 2..) => {
            let (text, sql) = part;
            let done = shared.run(&parts, |conn, ids| {
                fold_on(conn, &text, &part_args(&sql.args, ids))
            })?;
            merged(done, Fold::merge)?
        }
        _ => fold_on(&lite.conn, whole.0, &whole.1.args)?,
    };
    if let Some(shared) = shared {
        shared.end()?;
    }
    Ok(fold)
}

/// `args` with the last, a part's list of report ids, set to `ids`.
pub(super) fn part_args(args: &[Value], ids: &str) -> Vec<Value> {
    let mut args = args.to_vec();
    if let Some(last) = args.last_mut() {
        *last = Value::Text(ids.to_string());
    }
    args
}

/// The parts' results merged into the first, in order.
pub(super) fn merged<T: Default>(
    done: Vec<T>,
    merge: impl Fn(&mut T, T) -> Result<(), DbError>,
) -> Result<T, DbError> {
    let mut done = done.into_iter();
    let mut all = done.next().unwrap_or_default();
    for part in done {
        merge(&mut all, part)?;
    }
    Ok(all)
}

/// The rows of `text` on `conn`, folded; auth sets read on the same
/// connection as they are met.
fn fold_on(conn: &Connection, text: &str, args: &[Value]) -> Result<Fold, DbError> {
    let mut fold = Fold::default();
    let mut dkim = Loading {
        conn,
        sets: DkimSets::default(),
    };
    let mut st = conn.prepare_cached(text)?;
    let mut rows = st.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        fold.add(&mut dkim, &Rec::lite(&RowRef::Lite(r))?)?;
    }
    Ok(fold)
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

#[cfg(test)]
mod tests {
    use super::super::dkim::DkimSets;
    use super::super::{Fold, Rec};
    use crate::enrich::senders::IpTotals;

    /// Auth sets 1-80: set `i` passes DKIM for `d{i}.example` (80
    /// domains: past the 64 that [`super::Bits`] keeps as bits), and
    /// every third one fails a signature of `example.com`.
    fn sets() -> DkimSets {
        let mut sets = DkimSets::default();
        for i in 1..=80i64 {
            let mut v = vec![(format!("d{i}.example"), "pass".to_string())];
            if i % 3 == 0 {
                v.push(("example.com".to_string(), "fail".to_string()));
            }
            sets.sets.insert(i, v);
        }
        sets
    }

    /// A record: source IP, ours, auth set, header From, messages,
    /// passing, DKIM passing, overridden.
    type Row = (String, bool, Option<i64>, String, i64, i64, i64, i64);

    /// Records whose sums tie between IPs (many IPs of equal totals,
    /// IPv6 ones alike in their first 16 bytes), each IP's records spread
    /// over the window, in and out of our networks, forwarded, failing.
    fn records() -> Vec<Row> {
        let ips: Vec<String> = (0..40)
            .map(|i| match i % 4 {
                0 => format!("192.0.2.{i}"),
                1 => format!("192.0.2.{}", i * 10),
                2 => format!("2001:db8:1:4::2c{i}"),
                _ => format!("2001:db8:1:4::2c{i}f"),
            })
            .collect();
        let spread = (0..4_000i64).map(|n| {
            let ip = ips[(n * 7 % 40) as usize].clone();
            let auth = (n % 9 != 0).then_some((n + n / 40) % 80 + 1);
            let from = if n % 5 == 0 {
                "example.com"
            } else {
                "mail.example.com"
            };
            let messages = n % 4 + 1;
            let (pass, overridden) = match n % 6 {
                0 | 1 => (messages, 0),
                2 => (0, messages),
                _ => (0, 0),
            };
            let dkim_pass = if n % 2 == 0 { messages } else { 0 };
            (
                ip,
                n % 13 == 0,
                auth,
                from.to_string(),
                messages,
                pass,
                dkim_pass,
                overridden,
            )
        });
        // Equal totals: told apart by the IP, at its 16th byte or past it.
        let ties = [
            "10.0.0.10",
            "10.0.0.1",
            "2001:db8:1:4::2cff",
            "2001:db8:1:4::2cfe",
        ]
        .map(|ip| {
            (
                ip.to_string(),
                false,
                Some(7),
                "example.com".to_string(),
                5,
                0,
                5,
                0,
            )
        });
        spread.chain(ties).collect()
    }

    fn fold(recs: &[&Row]) -> Fold {
        let sets = sets();
        let mut fold = Fold::default();
        for r in recs {
            let rec = Rec {
                ip: &r.0,
                ours: r.1,
                auth: r.2,
                from: &r.3,
                messages: r.4,
                pass: r.5,
                dkim_pass: r.6,
                overridden: r.7,
                sub: false,
            };
            fold.add(&mut &sets, &rec).unwrap();
        }
        fold
    }

    /// Folds of parts, merged, total what one fold of every record does,
    /// however the records are cut: the parts meet the DKIM domains in
    /// other orders (one reads its records backwards), the same IPs in
    /// several parts, ties ordered by IP.
    #[test]
    fn merged_parts_fold_as_one() {
        let recs = records();
        let all: Vec<_> = recs.iter().collect();
        let one: Vec<IpTotals> = fold(&all).finish();
        assert_eq!(one.len(), 44);
        assert!(one.windows(4).any(|w| w.iter().all(|t| t.messages == 5)));
        assert!(one.iter().any(|t| t.dkim_pass_domains.len() > 64));
        assert!(one.iter().any(|t| t.ours) && one.iter().any(|t| !t.ours));
        for cut in [2, 3, 4] {
            let mut parts: Vec<Vec<_>> = (0..cut)
                .map(|p| all.iter().copied().skip(p).step_by(cut).collect())
                .collect();
            parts[0].reverse();
            let mut folds = parts.iter().map(|p| fold(p));
            let mut merged = folds.next().unwrap();
            for f in folds {
                merged.merge(f).unwrap();
            }
            assert_eq!(merged.finish(), one, "{cut} parts");
        }
        // The order is by total, then by IP as text.
        let mut sorted = one.clone();
        sorted.sort_by(|a, b| {
            b.messages
                .cmp(&a.messages)
                .then_with(|| a.source_ip.cmp(&b.source_ip))
        });
        assert_eq!(sorted, one);
    }
}
