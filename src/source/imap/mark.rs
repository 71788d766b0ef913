//! Marking messages done, a commit group at a time: one `UID STORE` for
//! the group's UIDs, then one `UID MOVE` (or `UID COPY` + `UID STORE
//! \Deleted` + `UID EXPUNGE`) with `--move-to`; see the parent module's
//! doc for why round trips must not grow with messages.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::acker::Acker;
use super::{drain, is_connection_error, utf7, ImapSource, Session};
use crate::source::{Input, SourceError, SourceReason};

impl ImapSource {
    /// [`Source::ack`]: one input marked done on this connection, waiting
    /// for the server's answer.
    pub(super) fn mark_one(&mut self, input: &Input) -> Result<(), SourceError> {
        if self.dry_run {
            return Ok(());
        }
        let uid = u32::try_from(input.token).map_err(|_| SourceError {
            name: input.name.clone(),
            reason: SourceReason::NotAUid(input.token),
            fatal: false,
        })?;
        // The session may be fetching the next batch: take it back.
        self.settle();
        let result = self.mark_done(&[uid]);
        if let Err(e) = &result {
            if e.fatal {
                self.session = None;
                self.lost.get_or_insert_with(|| e.reason.to_string());
            }
        }
        result
    }

    /// [`Source::ack_group`]: the UIDs of `inputs` handed to the marking
    /// connection ([`super::acker`]), which marks them done at once; errors
    /// of groups handed over before.
    pub(super) fn mark_group(&mut self, inputs: &[Input]) -> Vec<SourceError> {
        if self.dry_run || inputs.is_empty() {
            return Vec::new();
        }
        let mut errors = Vec::new();
        let mut uids = Vec::with_capacity(inputs.len());
        for input in inputs {
            match u32::try_from(input.token) {
                Ok(uid) => uids.push(uid),
                Err(_) => errors.push(SourceError {
                    name: input.name.clone(),
                    reason: SourceReason::NotAUid(input.token),
                    fatal: false,
                }),
            }
        }
        if uids.is_empty() {
            return errors;
        }
        // Marked on the second connection, without waiting here.
        let for_marking = &self.for_marking;
        let acker = self
            .acker
            .get_or_insert_with(|| Acker::start(for_marking.clone()));
        if self.stop.is_some() {
            // Watching: remembered for the next search (a sorted set).
            self.marked.extend_from_slice(&uids);
            self.marked.sort_unstable();
        }
        acker.send(uids);
        errors.extend(acker.errors());
        errors
    }

    /// `\Seen`, then the move, for a whole group of UIDs; see the
    /// module doc.
    pub(super) fn mark_done(&mut self, uids: &[u32]) -> Result<(), SourceError> {
        if uids.is_empty() {
            return Ok(());
        }
        let name = format!("imap:{}/UID {}", self.folder, uid_set(uids));
        let Some(session) = self.session.as_mut() else {
            let why = match &self.lost {
                Some(why) => why.clone(),
                None => SourceReason::SessionClosed.to_string(),
            };
            return Err(SourceError {
                name,
                reason: SourceReason::NotMarked { why },
                fatal: true,
            });
        };
        let fail = |what: Cow<'static, str>, e: imap::Error| {
            let fatal = is_connection_error(&e);
            let source = Box::new(e);
            SourceError {
                name: name.clone(),
                reason: if fatal {
                    SourceReason::LostWhile { what, source }
                } else {
                    SourceReason::Command { what, source }
                },
                fatal,
            }
        };
        for set in uid_sets(uids) {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .map_err(|e| fail("marking \\Seen".into(), e))?;
        }
        if let Some(target) = &self.move_to {
            let wire = utf7::encode(target);
            if !self.target_ready {
                ensure_folder(session, &wire).map_err(|e| SourceError {
                    fatal: true,
                    ..fail(format!("creating folder {target}").into(), e)
                })?;
                self.target_ready = true;
            }
            for set in uid_sets(uids) {
                if self.can_move {
                    session
                        .uid_mv(&set, &wire)
                        .map_err(|e| fail(format!("UID MOVE to {target}").into(), e))?;
                    continue;
                }
                session
                    .uid_copy(&set, &wire)
                    .map_err(|e| fail(format!("UID COPY to {target}").into(), e))?;
                session
                    .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .map_err(|e| fail("marking \\Deleted".into(), e))?;
                if self.uidplus {
                    session
                        .uid_expunge(&set)
                        .map_err(|e| fail("UID EXPUNGE".into(), e))?;
                }
            }
            if !self.uidplus {
                self.to_expunge.extend_from_slice(uids);
            }
        }
        drain(session);
        Ok(())
    }
}

/// Create `folder` unless it exists; subscribe to it so mail clients show it.
fn ensure_folder(session: &mut Session, folder: &str) -> imap::error::Result<()> {
    let exists = !session.list(None, Some(folder))?.is_empty();
    if !exists {
        session.create(folder)?;
        let _ = session.subscribe(folder);
    }
    Ok(())
}

/// A command line of at most about this many bytes of UID set: servers cap
/// lines (Dovecot at 64 KiB), and sparse UIDs under `--all` do not fold.
const MAX_SET: usize = 8 * 1024;

/// Sorted UIDs as IMAP sequence sets of at most [`MAX_SET`] bytes each;
/// one set unless the UIDs are many and scattered.
fn uid_sets(uids: &[u32]) -> Vec<String> {
    let mut sets = Vec::new();
    let mut start = 0;
    while start < uids.len() {
        // Each UID adds at most 11 bytes ("4294967295,").
        let end = (start + MAX_SET / 11).min(uids.len());
        sets.push(uid_set(&uids[start..end]));
        start = end;
    }
    sets
}

/// Sorted UIDs as an IMAP sequence set, runs folded: `1:3,7,9:10`.
pub(super) fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_fold_runs() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(
            uid_set(&[u32::MAX - 1, u32::MAX]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn long_scattered_sets_are_split() {
        let uids: Vec<u32> = (0..5000).map(|i| i * 2 + 1).collect();
        let sets = uid_sets(&uids);
        assert!(sets.len() > 1);
        assert!(
            sets.iter().all(|s| s.len() <= MAX_SET),
            "{:?}",
            sets[0].len()
        );
        let back: usize = sets.iter().map(|s| s.split(',').count()).sum();
        assert_eq!(back, 5000);
        assert_eq!(uid_sets(&[1, 2, 3]), ["1:3"]);
    }
}
