//! Finding the messages to read: `UID SEARCH`, once per run (and per
//! round under `--watch`), never per message.

use imap::types::UnsolicitedResponse;

use super::{is_connection_error, ImapSource};
use crate::source::{SourceError, SourceReason};

impl ImapSource {
    /// `UID SEARCH UNSEEN` (or `ALL` the first time with
    /// [`ImapOptions::all`]; then only UIDs above those found before):
    /// the messages the next inputs are.
    pub(super) fn search(&mut self) -> Result<usize, SourceError> {
        let query = if !self.all {
            "UNSEEN".to_owned()
        } else if self.highest == 0 {
            "ALL".to_owned()
        } else {
            format!("UID {}:*", self.highest.saturating_add(1))
        };
        // A new search replaces what was left to read.
        self.drop_next_batch();
        let Some(session) = self.session.as_mut() else {
            return Err(self.gone());
        };
        let found = session.uid_search(&query);
        // Dovecot reports mail that arrived while it searched after the
        // result, and not again: remember it, or an IDLE would wait for the
        // next change to find that mail.
        self.arrived = session
            .take_all_unsolicited()
            .any(|r| matches!(r, UnsolicitedResponse::Exists(_)));
        let found = match found {
            Ok(found) => found,
            Err(e) if is_connection_error(&e) => return Err(self.connection_lost(e)),
            Err(e) => {
                return Err(SourceError {
                    name: format!("imap:{}", self.folder),
                    reason: SourceReason::Command {
                        what: format!("UID SEARCH {query}").into(),
                        source: Box::new(e),
                    },
                    fatal: true,
                })
            }
        };
        // `UID n:*` always matches the last message, even below n.
        let floor = if self.all { self.highest } else { 0 };
        let mut uids: Vec<u32> = found.into_iter().filter(|&u| u > floor).collect();
        uids.sort_unstable();
        let marked = std::mem::take(&mut self.marked);
        uids.retain(|u| marked.binary_search(u).is_err());
        self.highest = self.highest.max(uids.last().copied().unwrap_or(0));
        self.uids = uids;
        self.next = 0;
        self.pending.clear();
        Ok(self.uids.len())
    }

    pub(super) fn gone(&self) -> SourceError {
        SourceError {
            name: format!("imap:{}", self.folder),
            reason: SourceReason::SessionClosed,
            fatal: true,
        }
    }
}
