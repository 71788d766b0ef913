//! Reading the messages found: `UID FETCH <set> (UID BODY.PEEK[])` a batch
//! at a time, one input (named by UID and `Message-ID`) or one error per
//! UID; a batch the server refuses is fetched again one UID at a time to
//! find the message it chokes on. `PEEK`, so nothing is marked here.
//!
//! While one batch is handed out (and parsed and stored), the next is
//! already being fetched: the session goes to a thread of its own for that
//! one `UID FETCH` and comes back with the bodies, so a round trip to a
//! distant server overlaps the parsing instead of following it. At most two
//! batches are held. Whatever else needs the session (an ack on it, a
//! search, IDLE, `finish`) takes it back first ([`ImapSource::settle`]).
//! Marking stays where it was: only after commit, on the marking
//! connection or on this one once the session is back.

use std::collections::HashMap;
use std::thread::JoinHandle;

use super::{drain, is_connection_error, uid_set, ImapSource, Session, HEADER_SCAN};
use crate::source::{Input, InputKind, SourceError, SourceReason};

/// What one `UID FETCH` of a batch answered: the bodies by UID.
type Bodies = imap::error::Result<HashMap<u32, Vec<u8>>>;

/// The batch after the one being handed out.
pub(super) enum NextBatch {
    /// Its `UID FETCH` runs on a thread that holds the session.
    Fetching {
        chunk: Vec<u32>,
        thread: JoinHandle<(Session, Bodies)>,
    },
    /// Fetched, the session back; not handed out yet.
    Fetched { chunk: Vec<u32>, bodies: Bodies },
}

impl NextBatch {
    /// How many UIDs it holds.
    pub(super) fn len(&self) -> usize {
        match self {
            NextBatch::Fetching { chunk, .. } | NextBatch::Fetched { chunk, .. } => chunk.len(),
        }
    }
}

impl ImapSource {
    /// The next input of the batch in hand; when that is used up, the next
    /// batch (fetched meanwhile, or now), and the one after it starts
    /// fetching in the background.
    pub(super) fn next_from_batches(&mut self) -> Option<Result<Input, SourceError>> {
        if self.pending.is_empty() {
            self.settle();
            match self.next_batch.take() {
                Some(NextBatch::Fetched { chunk, bodies }) => self.fill(&chunk, bodies),
                Some(NextBatch::Fetching { .. }) => unreachable!("settled above"),
                None if self.session.is_some() && self.next < self.uids.len() => {
                    let chunk = self.take_chunk();
                    self.fetch_batch(&chunk);
                }
                None => {}
            }
            self.fetch_next_in_background();
        }
        self.pending.pop_front()
    }

    /// Takes the session back from a fetch in the background, waiting for
    /// its answer, which stays for [`ImapSource::next_from_batches`].
    pub(super) fn settle(&mut self) {
        let Some(NextBatch::Fetching { chunk, thread }) = self.next_batch.take() else {
            return;
        };
        match thread.join() {
            Ok((session, bodies)) => {
                self.session = Some(session);
                self.next_batch = Some(NextBatch::Fetched { chunk, bodies });
            }
            Err(_) => {
                // The session went down with the thread.
                self.next = self.uids.len();
                let reason = SourceReason::FetchingPanicked;
                self.lost = Some(reason.to_string());
                self.pending.push_back(Err(SourceError {
                    name: format!("imap:{}", self.folder),
                    reason,
                    fatal: true,
                }));
            }
        }
    }

    /// Forgets the next batch (its messages stay unseen for the next run),
    /// the session back.
    pub(super) fn drop_next_batch(&mut self) {
        self.settle();
        self.next_batch = None;
    }

    /// The next `batch` UIDs not fetched yet.
    fn take_chunk(&mut self) -> Vec<u32> {
        let end = (self.next + self.batch).min(self.uids.len());
        let chunk = self.uids[self.next..end].to_vec();
        self.next = end;
        chunk
    }

    /// Starts fetching the next batch on a thread that takes the session.
    fn fetch_next_in_background(&mut self) {
        if self.next >= self.uids.len() || self.session.is_none() {
            return;
        }
        let chunk = self.take_chunk();
        let set = uid_set(&chunk);
        let Some(mut session) = self.session.take() else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("imap-fetch".into())
            .spawn(move || {
                let bodies = fetch_bodies(&mut session, &set);
                (session, bodies)
            });
        match spawned {
            Ok(thread) => self.next_batch = Some(NextBatch::Fetching { chunk, thread }),
            Err(e) => {
                // The session was dropped with the thread that never ran.
                self.next = self.uids.len();
                let reason = SourceReason::FetchingThread(e);
                self.lost = Some(reason.to_string());
                self.pending.push_back(Err(SourceError {
                    name: format!("imap:{}", self.folder),
                    reason,
                    fatal: true,
                }));
            }
        }
    }

    /// How inputs and errors about one message are named.
    fn input_name(&self, uid: u32) -> String {
        format!("imap:{}/UID {uid}", self.folder)
    }

    /// Fetch `chunk` into `pending`: one input or one error per UID, or a
    /// single fatal error when the connection is gone.
    fn fetch_batch(&mut self, chunk: &[u32]) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let bodies = fetch_bodies(session, &uid_set(chunk));
        self.fill(chunk, bodies);
    }

    /// `pending` from what the `UID FETCH` of `chunk` answered; see
    /// [`ImapSource::fetch_batch`].
    fn fill(&mut self, chunk: &[u32], bodies: Bodies) {
        match bodies {
            Ok(mut bodies) => {
                for &uid in chunk {
                    let item = match bodies.remove(&uid) {
                        Some(bytes) => Ok(self.input(uid, bytes)),
                        None => Err(self.message_error(uid, SourceReason::NoBodyExpunged)),
                    };
                    self.pending.push_back(item);
                }
            }
            // The server refused the batch: find out which message it
            // chokes on, one UID at a time.
            Err(e) if !is_connection_error(&e) => {
                for &uid in chunk {
                    let Some(session) = self.session.as_mut() else {
                        return;
                    };
                    let item = match fetch_bodies(session, &uid.to_string()) {
                        Ok(mut bodies) => match bodies.remove(&uid) {
                            Some(bytes) => Ok(self.input(uid, bytes)),
                            None => Err(self.message_error(uid, SourceReason::NoBody)),
                        },
                        Err(e) if !is_connection_error(&e) => {
                            let what = "UID FETCH".into();
                            Err(self.message_error(
                                uid,
                                SourceReason::Command {
                                    what,
                                    source: Box::new(e),
                                },
                            ))
                        }
                        Err(e) => Err(self.connection_lost(e)),
                    };
                    let fatal = matches!(&item, Err(err) if err.fatal);
                    self.pending.push_back(item);
                    if fatal {
                        return;
                    }
                }
            }
            Err(e) => {
                let err = self.connection_lost(e);
                self.pending.push_back(Err(err));
            }
        }
    }

    fn input(&self, uid: u32, bytes: Vec<u8>) -> Input {
        let mut name = self.input_name(uid);
        if let Some(id) = message_id(&bytes) {
            name.push(' ');
            name.push_str(&id);
        }
        Input {
            name,
            bytes: bytes.into(),
            kind: InputKind::Mail,
            token: u64::from(uid),
            opened: None,
        }
    }

    fn message_error(&self, uid: u32, reason: SourceReason) -> SourceError {
        SourceError {
            name: self.input_name(uid),
            reason,
            fatal: false,
        }
    }
}

/// `UID FETCH <set> (UID BODY.PEEK[])`, bodies copied out by UID so that the
/// raw response buffer is freed before the next batch.
fn fetch_bodies(session: &mut Session, set: &str) -> Bodies {
    let fetches = session.uid_fetch(set, "(UID BODY.PEEK[])")?;
    let bodies = fetches
        .iter()
        .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
        .collect();
    drop(fetches);
    drain(session);
    Ok(bodies)
}

/// The `Message-ID` of a raw message, `<...>`, from a scan of its header
/// (folded lines joined); `None` when absent or implausible.
fn message_id(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(HEADER_SCAN)];
    let mut value: Option<Vec<u8>> = None;
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(v) = value.as_mut() {
            if line[0] == b' ' || line[0] == b'\t' {
                v.extend_from_slice(line);
                continue;
            }
            break;
        }
        if line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
            value = Some(line[11..].to_vec());
        }
    }
    let value = value?;
    let start = value.iter().position(|&b| b == b'<')?;
    let len = value[start..].iter().position(|&b| b == b'>')?;
    let id = &value[start..=start + len];
    let plausible = id.len() <= 256 && id.iter().all(u8::is_ascii_graphic);
    plausible.then(|| String::from_utf8_lossy(id).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_from_header_only() {
        let mail =
            b"From: a@b\r\nMessage-Id:\r\n <x.1@example.com>\r\n\r\nMessage-ID: <no@body>\r\n";
        assert_eq!(message_id(mail).as_deref(), Some("<x.1@example.com>"));
        assert_eq!(message_id(b"Subject: hi\n\nMessage-ID: <no@body>\n"), None);
        assert_eq!(message_id(b"Message-ID: <a b@c>\n\n"), None);
    }
}
