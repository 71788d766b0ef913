//! Sources: where inputs come from (files and directories, stdin, Maildir,
//! mbox, IMAP), and how a source is told that an input is done.
//!
//! A source hands out [`Input`]s — one file, or one mail message — and never
//! looks inside them; `extract` does that. After the pipeline has committed
//! everything found in an input (stored, already stored, quarantined, or
//! "no report here"), it calls [`Source::ack`]. Sources that track state
//! (Maildir's `S` flag, IMAP's `\Seen`) change it there and nowhere else, so
//! a run killed before the commit leaves the message unseen for the next run.

#[cfg(unix)]
mod at;
pub mod files;
pub mod imap;
pub mod maildir;
pub mod mbox;
pub mod oauth2;
pub mod own;
mod read;
pub mod tls;

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::sync::Arc;

use read::io_reason;

/// What kind of thing an input is, as far as the source knows. A mail that
/// holds no report is an ordinary outcome ("not a report"); a file that holds
/// none is an input we could not use (rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A file or stdin: content is sniffed.
    File,
    /// One mail message (Maildir, mbox, IMAP).
    Mail,
}

/// One unit of input.
#[derive(Debug)]
pub struct Input {
    /// How to name the input in messages: a path, `path#3` for the third
    /// message of an mbox, `imap:INBOX/UID 42 <message-id>`.
    pub name: String,
    /// Shared with the payload when the input is itself the report (plain
    /// XML, a gzip), so a big one is not held twice.
    pub bytes: Arc<Vec<u8>>,
    pub kind: InputKind,
    /// Source-private handle used by [`Source::ack`] (an index, an IMAP UID).
    pub token: u64,
    /// The file the input was read from, still open, when it was one:
    /// closed by the parsing thread once it is done with the input rather
    /// than by the thread that reads the inputs, the writer's, which
    /// waits for nothing else then (a `close` was ~5 % of a re-ingest;
    /// bench/README.md, twelfth round).
    pub opened: Option<std::fs::File>,
}

/// Failure to read from a source.
#[derive(Debug)]
pub struct SourceError {
    /// Which input (path, message) the error is about, if any.
    pub name: String,
    pub reason: SourceReason,
    /// A fatal error ends the run (lost IMAP connection, unreadable
    /// directory given on the command line is *not* fatal).
    pub fatal: bool,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.reason)
    }
}

impl std::error::Error for SourceError {}

/// Why a source could not hand out an input or mark one done. The
/// `Display` text is the reason users see after the input's name.
#[derive(Debug, thiserror::Error)]
pub enum SourceReason {
    /// A file system call failed: `context` (e.g. "cannot open: ", or
    /// nothing) and the OS reason.
    #[error("{context}{}", io_reason(.source))]
    Io {
        context: &'static str,
        source: io::Error,
    },
    /// Reading an mbox failed part way.
    #[error("{}; the rest of the mbox is not read", io_reason(.0))]
    MboxCut(io::Error),
    /// Connecting, logging in or opening the IMAP folder failed: the
    /// server's or library's words with the password scrubbed out, which
    /// is why this is text.
    #[error("{0}")]
    Connect(String),
    /// An input handed to [`Source::ack`] whose token is no IMAP UID.
    #[error("not an IMAP UID: {0}")]
    NotAUid(u64),
    /// The IMAP session is gone (logged out, or lost before).
    #[error("the IMAP session was closed")]
    SessionClosed,
    /// An IMAP command (`what`, e.g. "UID MOVE to Done") failed.
    #[error("{what} failed: {source}")]
    Command {
        what: Cow<'static, str>,
        source: Box<::imap::Error>,
    },
    #[error("the server sent no body (expunged?)")]
    NoBodyExpunged,
    #[error("the server sent no body")]
    NoBody,
    #[error("connection lost: {0}")]
    ConnectionLost(Box<::imap::Error>),
    /// The connection broke during an IMAP command (`what`, e.g.
    /// "UID MOVE to Done").
    #[error("connection lost while {what}: {source}")]
    LostWhile {
        what: Cow<'static, str>,
        source: Box<::imap::Error>,
    },
    /// Committed messages that could not be marked done because the
    /// session had already ended; `why` is the reason it ended, as shown
    /// when it did.
    #[error("not marked seen (stored; read again next time): {why}")]
    NotMarked { why: String },
    /// The thread marking messages done on the second IMAP connection
    /// panicked: a bug.
    #[error("internal error, please report: the marking thread panicked")]
    MarkingPanicked,
    /// The thread fetching the next IMAP batch panicked (a bug); the
    /// session went with it.
    #[error("internal error, please report: the fetching thread panicked")]
    FetchingPanicked,
    /// No thread could be started to fetch the next IMAP batch.
    #[error("cannot start a thread to fetch messages: {}", io_reason(.0))]
    FetchingThread(io::Error),
}

/// A stream of inputs.
pub trait Source {
    /// The next input, an error about one input (the run goes on unless it
    /// is fatal), or `None` at the end.
    fn next_input(&mut self) -> Option<Result<Input, SourceError>>;

    /// Everything in `input` is committed: mark it done (seen, moved).
    /// Sources without state do nothing.
    fn ack(&mut self, input: &Input) -> Result<(), SourceError> {
        let _ = input;
        Ok(())
    }

    /// Everything in `inputs` (one commit group, in order) is committed:
    /// mark it all done, in as few round trips as the source can (IMAP: one
    /// `UID STORE` for the group, sent without waiting for it). Returns the
    /// errors so far (possibly of earlier groups), a fatal one last. By
    /// default, [`Source::ack`] for each input.
    fn ack_group(&mut self, inputs: &[Input]) -> Vec<SourceError> {
        let mut errors = Vec::new();
        for input in inputs {
            if let Err(e) = self.ack(input) {
                let fatal = e.fatal;
                errors.push(e);
                if fatal {
                    break;
                }
            }
        }
        errors
    }

    /// Waits until every acknowledgement handed over is done (a source may
    /// mark groups in the background, as IMAP does); the errors not yet
    /// returned by [`Source::ack_group`].
    fn ack_wait(&mut self) -> Vec<SourceError> {
        Vec::new()
    }

    /// Called once after the last input was acked; IMAP expunges and logs out.
    fn finish(&mut self) -> Result<(), SourceError> {
        Ok(())
    }

    /// How many inputs are expected, when known (for a progress bar).
    fn len_hint(&self) -> Option<u64> {
        None
    }

    /// How many files were skipped because this run writes them itself
    /// (see [`own`]).
    fn own_files_skipped(&self) -> u64 {
        0
    }
}
