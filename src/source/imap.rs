//! IMAP source: one [`Input`] per message of one folder, over TLS.
//!
//! Owns the connection (implicit TLS on 993, or STARTTLS), the search for
//! the messages to read, fetching them in batches, and marking them done in
//! [`Source::ack`]. It never looks inside a message beyond its `Message-ID`
//! header, which only names the input; `extract` does the rest.
//!
//! What it does (as the Python script it replaces did, see the README):
//!
//! - `SELECT` the folder, or `EXAMINE` it for a dry run so that nothing can
//!   change (a read-only mailbox refuses flag changes). Folder names are
//!   sent in modified UTF-7 (RFC 3501 §5.1.3, `utf7`), so any name works.
//! - `UID SEARCH UNSEEN`, or `UID SEARCH ALL` with [`ImapOptions::all`].
//! - `UID FETCH <set> (UID BODY.PEEK[])`, [`ImapOptions::batch`] UIDs at a
//!   time, the next batch fetched while one is parsed (`fetch`), holding at
//!   most two batches in memory. `PEEK` matters: `BODY[]` and
//!   `RFC822` set `\Seen` as a side effect (RFC 3501 §6.4.5), which would
//!   mark a message done before it is committed.
//! - On ack only, per commit group ([`Source::ack_group`]), on a second
//!   connection so that nothing waits for it (`acker`): one
//!   `UID STORE <set> +FLAGS.SILENT (\Seen)`, then with
//!   [`ImapOptions::move_to`] one `UID MOVE <set>` (RFC 6851) when the
//!   server advertises `MOVE`, else `UID COPY` + `\Deleted` + `UID EXPUNGE
//!   <set>` (UIDPLUS, RFC 4315, so that other deleted messages are left
//!   alone; without UIDPLUS a plain `EXPUNGE` in [`Source::finish`]).
//!
//! Round trips grow with batches, not messages: a server is tens of
//! milliseconds away, and each command waits for its answer. A run is one
//! SEARCH, one FETCH per batch and at most one STORE (or STORE + MOVE) per
//! commit group (groups queued while one is marked go together), with no
//! command per message and no keep-alive chatter; a set too
//! long for one command line is split (`mark`). The same holds for
//! `--watch` (`watch`: each round is such a run, and between rounds the
//! session waits in IDLE) and for several accounts (each read in turn is
//! such a run on its own connection).
//!
//! Certificates are checked as [`tls`] says (system roots, a CA file that
//! may hold the server's own certificate, or a pinned fingerprint); a
//! certificate that does not verify ends the run. Login is `LOGIN` with the
//! password, or OAuth2 ([`oauth2`]) with [`ImapOptions::oauth2`].
//! Connection, TLS and login failures are fatal and their reason never
//! contains the password; a message that cannot be fetched is a non-fatal
//! error naming its UID. A connection lost mid-run is fatal too
//! (`connection lost: ...`); acknowledgements after it fail, so nothing is
//! marked that was not committed, and the next run reads those messages
//! again.
//!
//! Environment (read by the CLI, which fills [`ImapOptions`]; the names are
//! the Python script's): `DMARC_IMAP_HOST`, `DMARC_IMAP_PORT` (993),
//! `DMARC_IMAP_USER`, `DMARC_IMAP_PASS`, `DMARC_IMAP_FOLDER` (INBOX).

use std::collections::VecDeque;
use std::fmt;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::oauth2;
use super::tls::TlsStream;
use super::{Input, Source, SourceError, SourceReason};

mod acker;
mod connect;
mod fetch;
mod mark;
mod options;
mod search;
use mark::uid_set;
mod utf7;
mod watch;

pub use options::ImapOptions;
pub use watch::Stop;

/// The implicit-TLS IMAP port (RFC 8314).
pub const DEFAULT_PORT: u16 = 993;
/// UIDs fetched per `UID FETCH`: few round trips, bounded memory.
pub const DEFAULT_BATCH: usize = 200;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Bytes of a message scanned for its `Message-ID` header.
const HEADER_SCAN: usize = 64 * 1024;

type Session = imap::Session<watch::Tls>;

/// An open IMAP session over one folder; see the module doc.
pub struct ImapSource {
    session: Option<Session>,
    folder: String,
    dry_run: bool,
    move_to: Option<String>,
    batch: usize,
    /// Every UID found by the search, ascending.
    uids: Vec<u32>,
    /// Index in `uids` of the first UID not fetched yet.
    next: usize,
    /// The current batch, handed out one by one.
    pending: VecDeque<Result<Input, SourceError>>,
    /// The batch after it, fetched meanwhile; see [`fetch`].
    next_batch: Option<fetch::NextBatch>,
    can_move: bool,
    uidplus: bool,
    target_ready: bool,
    /// Copied and flagged `\Deleted`, to expunge in `finish`.
    to_expunge: Vec<u32>,
    /// Every message, not only unseen ones (the first search).
    all: bool,
    /// The highest UID found so far: after the first search, `--all`
    /// under `--watch` reads only what arrives.
    highest: u32,
    /// The connection's socket, to end an IDLE when asked to stop.
    socket: Option<TcpStream>,
    /// Set under `--watch`; see [`watch`].
    stop: Option<Arc<Stop>>,
    /// Why the session is gone, for the acknowledgements that then fail.
    lost: Option<String>,
    /// How to open the marking connection.
    for_marking: ImapOptions,
    /// Marks committed groups on a second connection; see [`acker`].
    acker: Option<acker::Acker>,
    /// UIDs handed for marking since the last search. The next search
    /// (`--watch`, right after a round) skips them: this session may not
    /// see yet the `\Seen` the other connection has just set.
    marked: Vec<u32>,
    /// The last search saw new mail arrive (`EXISTS`); see `search`.
    arrived: bool,
}

impl fmt::Debug for ImapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSource")
            .field("folder", &self.folder)
            .field("dry_run", &self.dry_run)
            .field("found", &self.uids.len())
            .field("fetched", &self.next)
            .field("open", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// Connect, log in, open the folder and search it.
///
/// # Errors
///
/// A fatal [`SourceError`] when the server cannot be reached, its
/// certificate does not verify, the login is refused, or the folder cannot
/// be opened or searched.
pub fn connect(opts: ImapOptions) -> Result<ImapSource, SourceError> {
    let name = format!("imap://{}@{}:{}", opts.user, opts.host, opts.port);
    let mut source = open(opts)?;
    source.search().map_err(|e| SourceError { name, ..e })?;
    Ok(source)
}

/// Connect, log in and open the folder, without searching it (the marking
/// connection, [`acker`], needs no search).
fn open(opts: ImapOptions) -> Result<ImapSource, SourceError> {
    let name = format!("imap://{}@{}:{}", opts.user, opts.host, opts.port);
    let fatal = |reason: String| SourceError {
        name: name.clone(),
        reason: SourceReason::Connect(scrub(&reason, &opts.password)),
        fatal: true,
    };
    let for_marking = opts.clone();
    let stream = connect::open(&opts).map_err(|e| fatal(e.to_string()))?;
    let socket = stream.sock.try_clone().ok();
    let mut client = imap::Client::new(watch::Tls(stream));
    if opts.starttls {
        // The greeting came before the upgrade; none follows it.
        client.greeting_read = true;
    } else {
        let greeting = client
            .read_greeting()
            .map_err(|e| fatal(format!("no greeting from the server: {e}")))?;
        if greeting.starts_with(b"* BYE") {
            let text = String::from_utf8_lossy(&greeting);
            return Err(fatal(format!("server refused: {}", text.trim_end())));
        }
    }
    let mut session = match &opts.oauth2 {
        Some(oauth) => oauth2::authenticate(client, &opts.user, &opts.host, opts.port, oauth)
            .map_err(|e| fatal(e.to_string()))?,
        None => client
            .login(&opts.user, &opts.password)
            .map_err(|(e, _)| fatal(format!("login as {} failed: {e}", opts.user)))?,
    };

    let caps = session
        .capabilities()
        .map_err(|e| fatal(format!("CAPABILITY failed: {e}")))?;
    let (can_move, uidplus) = (caps.has_str("MOVE"), caps.has_str("UIDPLUS"));
    drop(caps);

    let wire = utf7::encode(&opts.folder);
    let opened = if opts.dry_run {
        session.examine(&wire)
    } else {
        session.select(&wire)
    };
    opened.map_err(|e| fatal(format!("cannot open folder {}: {e}", opts.folder)))?;
    let source = ImapSource {
        session: Some(session),
        folder: opts.folder,
        dry_run: opts.dry_run,
        move_to: opts.move_to,
        batch: opts.batch.max(1),
        uids: Vec::new(),
        next: 0,
        pending: VecDeque::new(),
        next_batch: None,
        can_move,
        uidplus,
        target_ready: false,
        to_expunge: Vec::new(),
        all: opts.all,
        highest: 0,
        socket,
        stop: None,
        lost: None,
        for_marking,
        acker: None,
        marked: Vec::new(),
        arrived: false,
    };
    Ok(source)
}

impl Source for ImapSource {
    fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
        if self.stop.as_ref().is_some_and(|s| s.requested()) {
            // Asked to stop: what was handed out is committed and
            // acknowledged; nothing more is read.
            self.pending.clear();
            self.drop_next_batch();
            self.next = self.uids.len();
        }
        self.next_from_batches()
    }

    fn ack(&mut self, input: &Input) -> Result<(), SourceError> {
        self.mark_one(input)
    }

    /// One `UID STORE` (and one `UID MOVE`, or `UID COPY` + `UID STORE` +
    /// `UID EXPUNGE`) for the whole group; see the module doc.
    fn ack_group(&mut self, inputs: &[Input]) -> Vec<SourceError> {
        self.mark_group(inputs)
    }

    fn ack_wait(&mut self) -> Vec<SourceError> {
        match self.acker.take() {
            Some(mut acker) => acker.finish(),
            None => Vec::new(),
        }
    }

    fn finish(&mut self) -> Result<(), SourceError> {
        if let Some(e) = self.ack_wait().into_iter().find(|e| e.fatal) {
            return Err(e);
        }
        self.drop_next_batch();
        let Some(mut session) = self.session.take() else {
            return Ok(());
        };
        let fail = |what: &'static str, e: imap::Error| SourceError {
            name: format!("imap:{}", self.folder),
            reason: SourceReason::Command {
                what: what.into(),
                source: Box::new(e),
            },
            fatal: false,
        };
        let mut result = Ok(());
        if !self.to_expunge.is_empty() {
            let expunged = if self.uidplus {
                session.uid_expunge(uid_set(&self.to_expunge)).map(drop)
            } else {
                session.expunge().map(drop)
            };
            result = expunged.map_err(|e| fail("EXPUNGE", e));
            self.to_expunge.clear();
        }
        if self.stop.is_some() {
            // Watching: the session stays for the next round.
            drain(&mut session);
            self.session = Some(session);
            return result;
        }
        let logout = session.logout().map_err(|e| fail("LOGOUT", e));
        result.and(logout)
    }

    fn len_hint(&self) -> Option<u64> {
        let next = self.next_batch.as_ref().map_or(0, fetch::NextBatch::len);
        Some((self.uids.len() - self.next + next + self.pending.len()) as u64)
    }
}

impl Drop for ImapSource {
    /// A source dropped without `finish` (an aborted run) logs out politely
    /// and expunges nothing.
    fn drop(&mut self) {
        self.drop_next_batch();
        if let Some(mut session) = self.session.take() {
            let _ = session.logout();
        }
    }
}

impl ImapSource {
    /// The session is unusable: stop handing out inputs.
    pub(super) fn connection_lost(&mut self, e: imap::Error) -> SourceError {
        self.session = None;
        self.next = self.uids.len();
        let reason = SourceReason::ConnectionLost(Box::new(e));
        self.lost = Some(reason.to_string());
        SourceError {
            name: format!("imap:{}", self.folder),
            reason,
            fatal: true,
        }
    }
}

/// Forget unsolicited responses (EXPUNGE after MOVE, flag updates): the
/// session queues them forever otherwise, and UIDs make them useless to us.
fn drain(session: &mut Session) {
    session.take_all_unsolicited().for_each(drop);
}

/// `NO` and `BAD` are answers about one command; anything else (I/O, parse,
/// `BYE`, tag mismatch) leaves the session unusable.
fn is_connection_error(e: &imap::Error) -> bool {
    !matches!(e, imap::Error::No(_) | imap::Error::Bad(_))
}

/// Never let the password reach a message, whatever an error echoes.
fn scrub(reason: &str, password: &str) -> String {
    if password.is_empty() {
        reason.to_owned()
    } else {
        reason.replace(password, "<password>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_scrubbed() {
        assert_eq!(
            scrub("LOGIN u hunter2 refused", "hunter2"),
            "LOGIN u <password> refused"
        );
        assert_eq!(scrub("plain", ""), "plain");
    }
}
