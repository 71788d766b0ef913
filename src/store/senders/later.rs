//! The per-IP fold on PostgreSQL, where the connection is busy while the
//! records stream: the DKIM results the fold looks up per auth set cannot
//! be asked for mid-stream, so the newest [`RECENT`] sets' results are read
//! first, in one query (a window's records mostly name recent sets: the
//! benchmark's 10 million records name 1,216 sets in all). A record whose
//! set is not among them (an older set, or one stored since) is summed per
//! (source IP, auth set, header From) on the side ([`Later`]), its sets'
//! results are read after the stream in one query, and those sums are
//! folded in then: a sum of sums is the same sum. A large window is read
//! in parts over several connections at once (`split.rs`), each part
//! folded apart and the folds merged.

use rusqlite::types::Value;
use rustc_hash::FxHashMap as HashMap;

use super::{add, split, DbError, DkimSets, Fold, Rec, Scope, Sql, Store};
use crate::store::pg::{self, Col, Pg};
use crate::store::views::fold::RowRef;

/// How many of the newest auth sets have their DKIM results read before
/// the stream: a few milliseconds' reading.
const RECENT: i64 = 10_000;

/// Folds the rows of statement `whole` (arrays with an element per
/// record, as [`super::totals_sql`] selects them) for scope `q`: in one
/// statement, or in parts over several connections at once (`split.rs`),
/// each reading statement `part` with its reports' ids as the last
/// parameter. Returns the fold and the messages of the records flagged as
/// a subdomain's (see [`super::fold_totals`]).
pub(super) fn fold_streamed(
    store: &Store,
    pg: &Pg,
    q: &Scope<'_>,
    whole: (&str, &Sql),
    part: (String, Sql),
) -> Result<(Fold, i64), DbError> {
    let shared = match split::connections() {
        1 => None,
        _ => pg.share()?,
    };
    let mut dkim = DkimSets::default();
    dkim.fetch_recent(store, RECENT)?;
    let parts = match &shared {
        Some(_) => split::parts(store, q, split::connections())?,
        None => Vec::new(),
    };
    let folded = match (&shared, parts.len()) {
        (Some(shared), 2..) => {
            let (text, sql) = part;
            let dkim = &dkim;
            let done = shared.run(&parts, |client, ids| {
                let mut args: Vec<Value> = sql.args.clone();
                if let Some(last) = args.last_mut() {
                    *last = Value::Text(ids.clone());
                }
                let mut part = Part::default();
                pg::batches(client, &text, &args, |cols, n| {
                    part.add_batch(dkim, cols, n)
                })?;
                Ok(part)
            })?;
            let mut done = done.into_iter();
            let mut folded = done.next().unwrap_or_default();
            for p in done {
                folded.merge(p)?;
            }
            folded
        }
        _ => {
            let mut folded = Part::default();
            let (text, sql) = whole;
            pg.each_batch(text, &sql.args, |cols, n| folded.add_batch(&dkim, cols, n))?;
            folded
        }
    };
    let Part {
        mut fold,
        later,
        subs,
    } = folded;
    if !later.0.is_empty() {
        let ids: Vec<i64> = later.0.keys().filter_map(|k| k.1).collect();
        dkim.fetch_all(store, ids.into_iter())?;
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
            fold.add(&mut &dkim, &row)?;
        }
    }
    if let Some(shared) = shared {
        shared.end()?;
    }
    Ok((fold, subs))
}

/// What one statement folded: the sums per IP, the records whose auth
/// set was not read before ([`Later`]), the subdomains' messages.
#[derive(Default)]
struct Part {
    fold: Fold,
    later: Later,
    subs: i64,
}

impl Part {
    /// Adds the `n` records of one row of arrays.
    fn add_batch(&mut self, dkim: &DkimSets, cols: &[Col<'_>], n: usize) -> Result<(), DbError> {
        for j in 0..n {
            let row = RowRef::Arrays(cols, j);
            let r = Rec::flagged(&row)?;
            if r.sub {
                self.subs = add(self.subs, r.messages)?;
            }
            match r.auth {
                Some(id) if !dkim.sets.contains_key(&id) => self.later.add(&r)?,
                _ => self.fold.add(&mut &*dkim, &r)?,
            }
        }
        Ok(())
    }

    /// Adds what `other` folded of other reports.
    fn merge(&mut self, other: Part) -> Result<(), DbError> {
        self.fold.merge(other.fold)?;
        self.later.merge(other.later)?;
        self.subs = add(self.subs, other.subs)?;
        Ok(())
    }
}

/// The sums of one (source IP, auth set, header From), as the columns of
/// [`super::totals_sql`] sum.
#[derive(Default)]
struct Sum {
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
struct Later(HashMap<Key, Sum>);

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

    /// Adds the sums of `other`.
    fn merge(&mut self, other: Later) -> Result<(), DbError> {
        for (key, s) in other.0 {
            let p = self.0.entry(key).or_default();
            p.ours |= s.ours;
            p.messages = add(p.messages, s.messages)?;
            p.pass = add(p.pass, s.pass)?;
            p.dkim_pass = add(p.dkim_pass, s.dkim_pass)?;
            p.overridden = add(p.overridden, s.overridden)?;
        }
        Ok(())
    }
}
