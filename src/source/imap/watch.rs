//! `--watch`: one [`ImapSource`] kept open across runs, waiting for mail
//! between them with IDLE (RFC 2177), or by polling where the server has no
//! IDLE, and a [`Stop`] that ends it cleanly.
//!
//! A watching source behaves as in a single run while a run reads it
//! (one SEARCH, one FETCH per batch, one STORE per commit group, so round
//! trips still grow with batches, not messages), except that
//! [`Source::finish`] keeps the session for the next round, and that once
//! [`Stop::request`] is called it hands out no more inputs: what it
//! handed out is committed and acknowledged, and the run ends.
//!
//! Between runs, [`ImapSource::wait_for_mail`] sends `IDLE` and returns when
//! the server reports a change (new mail: `EXISTS`), re-issuing IDLE every
//! few minutes so that a connection that died silently is noticed; then
//! [`ImapSource::rescan`] searches again. Reconnecting after a lost
//! connection is the caller's (a new [`super::connect`]).
//!
//! The library installs no signal handler: the CLI calls [`Stop::request`]
//! from its own. An IDLE blocked in a read is ended by shutting the socket
//! down, which is safe then: between runs nothing is uncommitted.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use imap::extensions::idle::WaitOutcome;

use super::{drain, is_connection_error, ImapSource, IO_TIMEOUT};
use crate::source::{SourceError, SourceReason};

/// How often an IDLE is ended and sent again: servers may log off a client
/// idle for 30 minutes (RFC 2177), and a connection dropped without a word
/// (a NAT timeout) is only noticed when written to.
const IDLE_REFRESH: Duration = Duration::from_secs(5 * 60);

/// A request to stop watching, shared with a signal handler.
#[derive(Debug, Default)]
pub struct Stop {
    requested: AtomicBool,
    /// The socket of a session in IDLE, shut down by [`Stop::request`].
    idle: Mutex<Option<TcpStream>>,
    wake: Condvar,
}

impl Stop {
    /// Stop after the current commit; end an IDLE or a wait at once.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(socket) = idle.take() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        self.wake.notify_all();
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Sleep for `period` or until stopped; returns whether stopped.
    pub fn sleep(&self, period: Duration) -> bool {
        let guard = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let _unused = self
            .wake
            .wait_timeout_while(guard, period, |_| !self.requested())
            .unwrap_or_else(PoisonError::into_inner);
        self.requested()
    }

    /// About to block in IDLE on `socket`; false when already stopped.
    fn idling(&self, socket: Option<TcpStream>) -> bool {
        *self.idle.lock().unwrap_or_else(PoisonError::into_inner) = socket;
        !self.requested()
    }

    fn done_idling(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

impl ImapSource {
    /// Keep the session across runs and stop when `stop` says so; see the
    /// module doc.
    pub fn watch(&mut self, stop: Arc<Stop>) {
        self.stop = Some(stop);
    }

    /// Stop watching: `Source::finish` logs out again. For the end of a
    /// watch; dropping the source then logs out.
    pub fn unwatch(&mut self) {
        self.stop = None;
    }

    /// Whether the server offers IDLE.
    pub fn can_idle(&mut self) -> bool {
        self.settle();
        let Some(session) = self.session.as_mut() else {
            return false;
        };
        let idle = session.capabilities().is_ok_and(|c| c.has_str("IDLE"));
        drain(session);
        idle
    }

    /// Search again for the messages to read; returns how many.
    ///
    /// # Errors
    ///
    /// A fatal [`SourceError`] when the connection is lost.
    pub fn rescan(&mut self) -> Result<usize, SourceError> {
        self.search()
    }

    /// Wait until the folder changes (IDLE), or `poll` passes when the
    /// server has no IDLE (`idle` false), or [`Stop::request`]. Returns
    /// `Ok(true)` when stopped.
    ///
    /// # Errors
    ///
    /// A fatal [`SourceError`] when the connection is lost (a server
    /// restart ends an IDLE with `BYE`).
    pub fn wait_for_mail(&mut self, idle: bool, poll: Duration) -> Result<bool, SourceError> {
        let Some(stop) = self.stop.clone() else {
            return Ok(false);
        };
        if std::mem::take(&mut self.arrived) {
            // Mail came in during the last search: search again first.
            return Ok(stop.requested());
        }
        if !idle {
            return Ok(stop.sleep(poll));
        }
        let socket = self.socket.as_ref().and_then(|s| s.try_clone().ok());
        if !stop.idling(socket) {
            return Ok(true);
        }
        self.settle();
        let Some(session) = self.session.as_mut() else {
            stop.done_idling();
            return Err(self.gone());
        };
        let outcome = session
            .idle()
            .timeout(IDLE_REFRESH)
            .wait_while(imap::extensions::idle::stop_on_any);
        stop.done_idling();
        // `wait_while` leaves the socket without a read timeout.
        if let Some(socket) = &self.socket {
            let _ = socket.set_read_timeout(Some(IO_TIMEOUT));
        }
        if stop.requested() {
            return Ok(true);
        }
        match outcome {
            Ok(WaitOutcome::MailboxChanged | WaitOutcome::TimedOut) => {
                if let Some(session) = self.session.as_mut() {
                    drain(session);
                }
                Ok(false)
            }
            Err(e) if !is_connection_error(&e) => Err(SourceError {
                name: format!("imap:{}", self.folder),
                reason: SourceReason::Command {
                    what: "IDLE".into(),
                    source: Box::new(e),
                },
                fatal: true,
            }),
            Err(e) => Err(self.connection_lost(e)),
        }
    }
}

/// The session's TLS stream, able to set the read timeout that IDLE needs
/// (the imap crate implements that only for its own rustls version's
/// stream).
#[derive(Debug)]
pub(super) struct Tls(pub(super) super::TlsStream);

impl std::io::Read for Tls {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::io::Write for Tls {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl imap::extensions::idle::SetReadTimeout for Tls {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> imap::Result<()> {
        self.0
            .sock
            .set_read_timeout(timeout)
            .map_err(imap::Error::Io)
    }
}
