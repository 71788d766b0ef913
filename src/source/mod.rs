//! Sources: where inputs come from (files and directories, stdin, Maildir,
//! mbox, IMAP), and how a source is told that an input is done.
//!
//! A source hands out [`Input`]s — one file, or one mail message — and never
//! looks inside them; `extract` does that. After the pipeline has committed
//! everything found in an input (stored, already stored, quarantined, or
//! "no report here"), it calls [`Source::ack`]. Sources that track state
//! (Maildir's `S` flag, IMAP's `\Seen`) change it there and nowhere else, so
//! a run killed before the commit leaves the message unseen for the next run.

pub mod files;
pub mod imap;
pub mod maildir;
pub mod mbox;
pub mod oauth2;
pub mod own;
mod read;
pub mod tls;

use std::fmt;
use std::sync::Arc;

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
}

/// Failure to read from a source.
#[derive(Debug)]
pub struct SourceError {
    /// Which input (path, message) the error is about, if any.
    pub name: String,
    pub reason: String,
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
