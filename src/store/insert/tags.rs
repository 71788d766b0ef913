//! Auth-result sets told apart where records are parsed, so the writer
//! does not have to: [`tag_auth_sets`] gives each record an
//! [`AuthTag`], a number its set of results (by content) shares with
//! every equal set this thread saw, and the writer looks the stored set
//! up by that number ([`AuthSets::by_tag`](super::AuthSets)), a map
//! lookup instead of the set's fingerprint and a comparison field by
//! field. The writer is the one thread every record goes through; a
//! parsing thread has time to spare (bench/README.md, tenth round).
//!
//! Numbers are unique in the process (one counter for every thread), so
//! tags from two parsing threads never clash: the same set seen on both
//! has two tags, each looked up (and found by content) once by the
//! writer.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{fingerprint, AuthSets};
use crate::model::{AuthTag, Record};

/// The next tag to give (0 is "not told").
static NEXT: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's sets, by content, with their tags as their "ids".
    static SEEN: RefCell<AuthSets> = RefCell::new(AuthSets::default());
}

/// Tags the auth results of every record of `records` (a chunk of one
/// report, in order) that has any.
pub fn tag_auth_sets(records: &mut [Record]) {
    SEEN.with_borrow_mut(|seen| {
        let mut before: Option<usize> = None;
        // Whether to compare with the record before: not right after
        // such a comparison failed.
        let mut compare = true;
        for i in 0..records.len() {
            let r = &records[i];
            if r.dkim.is_empty() && r.spf.is_empty() {
                continue;
            }
            // Records in a row often share their set (nine in ten in real
            // reports): the record before is compared first, unless the
            // last such comparison failed (generated reports, where few
            // do, spend less then, and a run of equal sets costs one
            // lookup more).
            let b = before.filter(|_| compare).map(|b| &records[b]);
            let tag = match b {
                Some(b) if b.dkim == r.dkim && b.spf == r.spf => b.auth_tag,
                _ => {
                    compare = b.is_none();
                    AuthTag(known_or_new(seen, r))
                }
            };
            records[i].auth_tag = tag;
            before = Some(i);
        }
    });
}

/// The tag of `r`'s set among those seen, given now if new.
fn known_or_new(seen: &mut AuthSets, r: &Record) -> u64 {
    let fp = fingerprint(r);
    if let Some(tag) = seen.get(fp, r) {
        return tag as u64;
    }
    let tag = NEXT.fetch_add(1, Ordering::Relaxed);
    // Beyond i64's range (never, in practice) sets go untagged.
    let Ok(id) = i64::try_from(tag) else {
        return 0;
    };
    seen.add(fp, r, id, false);
    tag
}

#[cfg(test)]
mod tests {
    use super::super::tests::with_dkim;
    use super::*;

    #[test]
    fn equal_sets_share_a_tag_and_unequal_ones_do_not() {
        let names = ["a", "a", "b", "", "a", "c", "b", "b"];
        let mut records: Vec<Record> = names
            .iter()
            .map(|n| {
                if n.is_empty() {
                    Record::default()
                } else {
                    with_dkim(&format!("{n}.example"))
                }
            })
            .collect();
        let (first, second) = records.split_at_mut(5);
        tag_auth_sets(first);
        tag_auth_sets(second);
        let tags: Vec<u64> = records.iter().map(|r| r.auth_tag.0).collect();
        assert_eq!(tags[3], 0, "no results, no tag");
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate() {
                if !a.is_empty() && !b.is_empty() {
                    assert_eq!(tags[i] == tags[j], a == b, "{i} {j}");
                }
            }
        }
        // A set told apart by one field only.
        let mut other = with_dkim("a.example");
        other.dkim[0].selector = Some("s".into());
        let mut again = [with_dkim("a.example"), other];
        tag_auth_sets(&mut again);
        assert_eq!(again[0].auth_tag.0, tags[0]);
        assert_ne!(again[1].auth_tag.0, tags[0]);
    }
}
