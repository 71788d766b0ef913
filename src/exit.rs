//! Exit codes: what the process tells cron and CI. Documented in the README;
//! scripts depend on them, so never renumber.

use std::process::ExitCode;

/// The outcome of a whole run, most severe last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything worked; no alert problem.
    Ok,
    /// `alert` (or `--alert`) found at least one problem.
    Problems,
    /// Some inputs were rejected (quarantined); the rest were stored.
    Rejected,
    /// Usage error or a fatal error (database, IMAP connection): the run stopped.
    Fatal,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Problems => 1,
            Exit::Fatal => 2,
            Exit::Rejected => 3,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}
