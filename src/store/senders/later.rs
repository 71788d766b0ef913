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
                let args = split::part_args(&sql.args, ids);
                let mut part = Part::default();
                pg::batches(client, &text, &args, |cols, n| {
                    part.add_batch(dkim, cols, n)
                })?;
                Ok(part)
            })?;
            split::merged(done, Part::merge)?
        }
        _ => {
            let mut folded = Part::default();
            let (text, sql) = whole;
            pg.each_batch(text, &sql.args, |cols, n| folded.add_batch(&dkim, cols, n))?;
            folded
        }
    };
    if !folded.later.0.is_empty() {
        let ids: Vec<i64> = folded.later.0.keys().filter_map(|k| k.1).collect();
        dkim.fetch_all(store, ids.into_iter())?;
    }
    if let Some(shared) = shared {
        shared.end()?;
    }
    folded.settle(&dkim)
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

    /// The fold with the records of [`Later`] folded in (their sets'
    /// results read into `dkim` now), and the subdomains' messages.
    fn settle(self, dkim: &DkimSets) -> Result<(Fold, i64), DbError> {
        let Part {
            mut fold,
            later,
            subs,
        } = self;
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
            fold.add(&mut &*dkim, &row)?;
        }
        Ok((fold, subs))
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
        self.0.entry(key).or_default().absorb(&Sum {
            ours: r.ours,
            messages: r.messages,
            pass: r.pass,
            dkim_pass: r.dkim_pass,
            overridden: r.overridden,
        })
    }

    /// Adds the sums of `other`.
    fn merge(&mut self, other: Later) -> Result<(), DbError> {
        for (key, s) in other.0 {
            self.0.entry(key).or_default().absorb(&s)?;
        }
        Ok(())
    }
}

impl Sum {
    /// Adds `o`'s sums to these (`ours` if either is).
    fn absorb(&mut self, o: &Sum) -> Result<(), DbError> {
        self.ours |= o.ours;
        self.messages = add(self.messages, o.messages)?;
        self.pass = add(self.pass, o.pass)?;
        self.dkim_pass = add(self.dkim_pass, o.dkim_pass)?;
        self.overridden = add(self.overridden, o.overridden)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{F_DKIM_PASS, F_FORWARDED, F_OURS, F_PASS, F_SUB};
    use super::*;

    /// Auth sets `ids`: set `i` passes DKIM for `d{i}.example`; every
    /// fourth fails a signature of `example.com` too.
    fn sets(ids: std::ops::RangeInclusive<i64>) -> DkimSets {
        let mut sets = DkimSets::default();
        for i in ids {
            let mut v = vec![(format!("d{i}.example"), "pass".to_string())];
            if i % 4 == 0 {
                v.push(("example.com".to_string(), "fail".to_string()));
            }
            sets.sets.insert(i, v);
        }
        sets
    }

    /// A report's records as its row of arrays holds them: IP, auth set,
    /// From, messages, flags.
    type Report = Vec<(String, Option<i64>, &'static str, i64, i64)>;

    /// 24 reports whose records name sets 1-30 and no set, from sources
    /// that recur in every report, of every flag.
    fn reports() -> Vec<Report> {
        (0..24i64)
            .map(|r| {
                (0..300i64)
                    .map(|n| {
                        let ip = format!("198.51.100.{}", (n * 3 + r) % 60);
                        let auth = (n % 7 != 0).then_some((n + r) % 30 + 1);
                        let from =
                            ["example.com", "mail.example.com", "example.org"][n as usize % 3];
                        let flags = [
                            F_PASS | F_DKIM_PASS,
                            F_FORWARDED,
                            0,
                            F_OURS,
                            F_SUB,
                            F_DKIM_PASS,
                        ][(n + r) as usize % 6];
                        (ip, auth, from, n % 5 + 1, flags)
                    })
                    .collect()
            })
            .collect()
    }

    /// Folds `reports` as a statement's rows would come, with the DKIM
    /// results of `known` read before.
    fn part(reports: &[&Report], known: &DkimSets) -> Part {
        let mut p = Part::default();
        for rep in reports {
            let cols = [
                Col::Text(rep.iter().map(|r| Some(r.0.as_str())).collect()),
                Col::Int(rep.iter().map(|r| r.1).collect()),
                Col::Text(rep.iter().map(|r| Some(r.2)).collect()),
                Col::Int(rep.iter().map(|r| Some(r.3)).collect()),
                Col::Int(rep.iter().map(|r| Some(r.4)).collect()),
            ];
            p.add_batch(known, &cols, rep.len()).unwrap();
        }
        p
    }

    /// Parts folded apart, with the records of sets not read before summed
    /// aside in each, merge and settle to what one statement folds, and to
    /// what a fold that knew every set before folds.
    #[test]
    fn parts_with_records_of_sets_read_later_fold_as_one() {
        let (all, newest) = (sets(1..=30), sets(16..=30));
        let reports = reports();
        let every: Vec<&Report> = reports.iter().collect();
        let (fold, subs) = part(&every, &all).settle(&all).unwrap();
        let want = fold.finish();
        let one = part(&every, &newest);
        assert!(!one.later.0.is_empty());
        let (fold, one_subs) = one.settle(&all).unwrap();
        assert_eq!(fold.finish(), want);
        assert_eq!(one_subs, subs);
        assert!(subs > 0);
        for cut in [2, 3, 5] {
            let mut parts: Vec<Part> = (0..cut)
                .map(|p| {
                    let mut mine: Vec<&Report> =
                        every.iter().copied().skip(p).step_by(cut).collect();
                    if p == 1 {
                        mine.reverse();
                    }
                    part(&mine, &newest)
                })
                .collect();
            let mut merged = parts.remove(0);
            for p in parts {
                merged.merge(p).unwrap();
            }
            let (fold, merged_subs) = merged.settle(&all).unwrap();
            assert_eq!(fold.finish(), want, "{cut} parts");
            assert_eq!(merged_subs, subs, "{cut} parts");
        }
    }
}
