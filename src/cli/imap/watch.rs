//! `dmarcdb imap --watch`: follow one mailbox until SIGTERM or SIGINT.
//!
//! Each round stores what the last search found (printing its summary,
//! running `--alert` when asked), searches again, and when nothing is new
//! waits for the server to report mail (IDLE) or for the poll interval.
//! A lost connection (a server restart, a network cut) is reported and
//! reconnected with a growing pause, 1 s doubling up to a minute; what was
//! stored before it is committed, and its messages, if not yet marked seen,
//! are found again after the reconnect and marked then (as duplicates).
//! A database error ends the watch: nothing after it could be stored.
//!
//! SIGTERM and SIGINT set a [`Stop`]: a round in progress reads no more
//! messages, commits and acknowledges what it has, and the command exits 0;
//! an IDLE or a pause ends at once.

use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::After;
use crate::exit::Exit;
use crate::ingest::Fatal;
use crate::source::imap::{self, ImapOptions, ImapSource, Stop};
use crate::source::Source;
use crate::store::Store;
use crate::untrusted::Visible;

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);

pub(super) fn watch(
    store: &mut Store,
    opts: ImapOptions,
    after: &After<'_>,
    poll: Duration,
) -> anyhow::Result<Exit> {
    let stop = Arc::new(Stop::default());
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let handle = signals.handle();
    let on_signal = Arc::clone(&stop);
    let listener = std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            on_signal.request();
        }
    });
    let result = follow(store, &opts, after, poll, &stop);
    handle.close();
    let _ = listener.join();
    result.map(|()| Exit::Ok)
}

/// The rounds; returns when stopped, or with a database error.
fn follow(
    store: &mut Store,
    opts: &ImapOptions,
    after: &After<'_>,
    poll: Duration,
    stop: &Arc<Stop>,
) -> anyhow::Result<()> {
    let mut pause = FIRST_PAUSE;
    let mut open: Option<(ImapSource, bool)> = None;
    while !stop.requested() {
        let (source, idle) = match open.as_mut() {
            Some(open) => (&mut open.0, open.1),
            None => match imap::connect(opts.clone()) {
                Ok(mut source) => {
                    source.watch(Arc::clone(stop));
                    let idle = source.can_idle();
                    eprintln!(
                        "dmarcdb: watching imap:{} on {} ({})",
                        Visible(&opts.folder),
                        Visible(&opts.host),
                        if idle { "IDLE" } else { "polling" }
                    );
                    pause = FIRST_PAUSE;
                    let open = open.insert((source, idle));
                    (&mut open.0, idle)
                }
                Err(e) => {
                    lost(&format!("IMAP: {e}"), &mut pause, stop);
                    continue;
                }
            },
        };
        let step = if source.len_hint().unwrap_or(0) > 0 {
            round(source, store, after)
        } else {
            match source.wait_for_mail(idle, poll) {
                Ok(true) => break,
                Ok(false) => source.rescan().map(drop).map_err(Trouble::lost),
                Err(e) => Err(Trouble::lost(e)),
            }
        };
        match step {
            Ok(()) => {}
            Err(Trouble::Db(e)) => return Err(e),
            Err(Trouble::Lost(reason)) => {
                open = None;
                lost(&reason, &mut pause, stop);
            }
        }
    }
    if let Some((mut source, _)) = open {
        // Log out; nothing is left to expunge.
        source.unwatch();
    }
    Ok(())
}

/// What ends a round early.
enum Trouble {
    /// The database failed: the watch ends.
    Db(anyhow::Error),
    /// The connection is gone: reconnect.
    Lost(String),
}

impl Trouble {
    fn lost(e: impl std::fmt::Display) -> Trouble {
        Trouble::Lost(e.to_string())
    }
}

/// Stores what the last search found, then searches again.
fn round(source: &mut ImapSource, store: &mut Store, after: &After<'_>) -> Result<(), Trouble> {
    if let Err(e) = after.run(source, Some(store)) {
        return Err(match e.downcast_ref::<Fatal>() {
            Some(Fatal::Source(s)) => Trouble::lost(s),
            _ => Trouble::Db(e),
        });
    }
    source.rescan().map(drop).map_err(Trouble::lost)
}

/// Says why the connection is gone and pauses before the next attempt.
fn lost(reason: &str, pause: &mut Duration, stop: &Stop) {
    eprintln!(
        "dmarcdb: {}; reconnecting in {} s",
        Visible(reason),
        pause.as_secs()
    );
    stop.sleep(*pause);
    *pause = (*pause * 2).min(LONGEST_PAUSE);
}
