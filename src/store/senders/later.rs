//! The per-IP fold on PostgreSQL, where the connection is busy while the
//! records stream: the DKIM results the fold looks up per auth set cannot
//! be asked for mid-stream, so the newest [`RECENT`] sets' results are read
//! first, in one query (a window's records mostly name recent sets: the
//! benchmark's 10 million records name 1,216 sets in all). A record whose
//! set is not among them (an older set, or one stored since) is summed per
//! (source IP, auth set, header From) on the side ([`Later`]), its sets'
//! results are read after the stream in one query, and those sums are
//! folded in then: a sum of sums is the same sum.

use rustc_hash::FxHashMap as HashMap;

use super::{add, DbError, DkimSets, Fold, Rec, Sql, Store};

/// How many of the newest auth sets have their DKIM results read before
/// the stream: a few milliseconds' reading.
const RECENT: i64 = 10_000;

/// Folds the rows of `text` (arrays with an element per record, as
/// [`super::totals_sql`] selects them) into `fold`; returns the messages
/// of the records flagged as a subdomain's (see [`super::fold_totals`]).
pub(super) fn fold_streamed(
    store: &Store,
    text: &str,
    sql: &Sql,
    fold: &mut Fold,
) -> Result<i64, DbError> {
    let mut subs = 0;
    fold.dkim.fetch_recent(store, RECENT)?;
    let mut later = Later::default();
    store.fold(text, sql, |r| {
        let r = Rec::flagged(r)?;
        if r.sub {
            subs = add(subs, r.messages)?;
        }
        match r.auth {
            Some(id) if !fold.dkim.sets.contains_key(&id) => later.add(&r),
            _ => fold.add(store, &r),
        }
    })?;
    if later.0.is_empty() {
        return Ok(subs);
    }
    let ids: Vec<i64> = later.0.keys().filter_map(|k| k.1).collect();
    fold.dkim.fetch_all(store, ids.into_iter())?;
    for ((ip, auth, from), s) in later.0 {
        let row = Rec {
            ip: &ip,
            ours: s.ours,
            auth,
            from: &from,
            messages: s.messages,
            pass: s.pass,
            dkim_pass: s.dkim_pass,
            overridden: s.overridden,
            sub: false,
        };
        fold.add(store, &row)?;
    }
    Ok(subs)
}

/// The sums of one (source IP, auth set, header From), as the columns of
/// [`super::totals_sql`] sum.
#[derive(Default)]
struct Part {
    ours: bool,
    messages: i64,
    pass: i64,
    dkim_pass: i64,
    overridden: i64,
}

/// (source IP, auth set, header From).
type Key = (Box<str>, Option<i64>, Box<str>);

/// The records whose auth set's DKIM results were not read before the
/// stream, summed per [`Key`].
#[derive(Default)]
struct Later(HashMap<Key, Part>);

impl Later {
    fn add(&mut self, r: &Rec<'_>) -> Result<(), DbError> {
        let key = (r.ip.into(), r.auth, r.from.into());
        let p = self.0.entry(key).or_default();
        p.ours |= r.ours;
        p.messages = add(p.messages, r.messages)?;
        p.pass = add(p.pass, r.pass)?;
        p.dkim_pass = add(p.dkim_pass, r.dkim_pass)?;
        p.overridden = add(p.overridden, r.overridden)?;
        Ok(())
    }
}

impl DkimSets {
    /// Reads the DKIM results of the newest `n` auth sets (by id) in one
    /// query; a set without any is read as having none.
    fn fetch_recent(&mut self, store: &Store, n: i64) -> Result<(), DbError> {
        let mut sql = store.sql();
        let text = format!(
            "SELECT a.id, d.domain, d.result
             FROM (SELECT id FROM auth_set ORDER BY id DESC LIMIT {}) a
             LEFT JOIN dkim_result d ON d.auth_set = a.id",
            sql.bind(n)
        );
        let rows = store.rows(&text, &sql, |r| {
            let id: i64 = r.get(0)?;
            let d: Option<String> = r.get(1)?;
            let res: Option<String> = r.get(2)?;
            Ok((id, d.zip(res)))
        })?;
        for (id, dkim) in rows {
            let set = self.sets.entry(id).or_default();
            if let Some((d, res)) = dkim {
                set.push((d.trim().trim_end_matches('.').to_ascii_lowercase(), res));
            }
        }
        Ok(())
    }

    /// Reads the sets `ids` in one query (a query per set is a round trip
    /// to the server: a thousand of them took longer than the grouping
    /// query on the 10M-record benchmark database).
    fn fetch_all(&mut self, store: &Store, ids: impl Iterator<Item = i64>) -> Result<(), DbError> {
        let mut ids: Vec<i64> = ids.collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        let mut sql = store.sql();
        let text = format!(
            "SELECT auth_set, domain, result FROM dkim_result
             WHERE auth_set = ANY(string_to_array({}, ',')::bigint[])",
            sql.bind(list.join(","))
        );
        for id in ids {
            self.sets.insert(id, Vec::new());
        }
        let rows = store.rows(&text, &sql, |r| {
            let (id, d, res): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok((id, d, res))
        })?;
        for (id, d, res) in rows {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            self.sets.entry(id).or_default().push((d, res));
        }
        Ok(())
    }
}
