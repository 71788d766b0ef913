//! Reading the messages found: `UID FETCH <set> (UID BODY.PEEK[])` a batch
//! at a time, one input (named by UID and `Message-ID`) or one error per
//! UID; a batch the server refuses is fetched again one UID at a time to
//! find the message it chokes on. `PEEK`, so nothing is marked here.

use std::collections::HashMap;

use super::{drain, is_connection_error, uid_set, ImapSource, Session, HEADER_SCAN};
use crate::source::{Input, InputKind, SourceError, SourceReason};

impl ImapSource {
    /// How inputs and errors about one message are named.
    fn input_name(&self, uid: u32) -> String {
        format!("imap:{}/UID {uid}", self.folder)
    }

    /// Fetch `chunk` into `pending`: one input or one error per UID, or a
    /// single fatal error when the connection is gone.
    pub(super) fn fetch_batch(&mut self, chunk: &[u32]) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        match fetch_bodies(session, &uid_set(chunk)) {
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
fn fetch_bodies(session: &mut Session, set: &str) -> imap::error::Result<HashMap<u32, Vec<u8>>> {
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
