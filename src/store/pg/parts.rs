//! One read in parts over several connections at once ([`Shared`]): a
//! folded view (`senders/split.rs`) streams its window's reports in
//! parts, each on a connection of its own, so that the server reads them
//! and the client folds them on as many cores as there are parts, where
//! one statement keeps one server process and one client thread busy.
//!
//! Every part sees the same data: the main connection opens a read-only
//! `REPEATABLE READ` transaction and exports its snapshot
//! (`pg_export_snapshot`), and each other connection imports it (`SET
//! TRANSACTION SNAPSHOT`) before its part, as one statement would see one
//! snapshot. The other connections (readers) are opened on first use, with
//! the session's settings, and kept for the next read (`serve` and
//! `report` read many times). A reader that cannot connect or import the
//! snapshot (a server at its connection limit, a pooler in between)
//! leaves its part to the main connection, after its own: slower, the
//! same answer.

use postgres::Client;

use super::super::DbError;
use super::{connect, Pg, SESSION};

/// An open shared read: the main connection's transaction and the name of
/// its snapshot. Ended by [`Shared::end`], rolled back if dropped.
pub(crate) struct Shared<'a> {
    pg: &'a Pg,
    snapshot: String,
    open: bool,
}

/// How a part went on a reader.
enum Outcome<T> {
    /// Read; the reader may serve again.
    Done(Box<Client>, T),
    /// Failed while reading.
    Failed(DbError),
    /// No reader could take it (no connection, or no snapshot): the main
    /// connection reads it.
    Left,
}

impl Pg {
    /// Opens a shared read, or `None` while a group of writes is open
    /// (its reports are in no other connection's snapshot).
    pub(crate) fn share(&self) -> Result<Option<Shared<'_>>, DbError> {
        if self.group_open() {
            return Ok(None);
        }
        let rows = self.loaded()?.client.simple_query(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot()",
        );
        let snapshot = rows.ok().and_then(|rows| {
            rows.iter().find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
        });
        match snapshot {
            Some(snapshot) => Ok(Some(Shared {
                pg: self,
                snapshot,
                open: true,
            })),
            // A server that cannot export one (a standby before
            // PostgreSQL 10): one statement then.
            None => {
                self.client.borrow_mut().client.batch_execute("ROLLBACK")?;
                Ok(None)
            }
        }
    }
}

/// A reader connection: the main one's server, its session's settings.
fn reader(url: &str) -> Result<Client, DbError> {
    let mut client = connect::connect(url)?;
    client.batch_execute(SESSION)?;
    Ok(client)
}

impl Shared<'_> {
    /// Runs `f` for each of `parts` at once: the first on the main
    /// connection in this thread, each other in a thread of its own on a
    /// reader, all in this read's snapshot. The results in the order of
    /// `parts`; the first error if any failed.
    pub fn run<J: Sync, T: Send>(
        &self,
        parts: &[J],
        f: impl Fn(&mut Client, &J) -> Result<T, DbError> + Sync,
    ) -> Result<Vec<T>, DbError> {
        let Some((first, rest)) = parts.split_first() else {
            return Ok(Vec::new());
        };
        let mut idle = std::mem::take(&mut *self.pg.readers.borrow_mut());
        let url = self.pg.url.as_str();
        let begin = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
            self.snapshot.replace('\'', "''")
        );
        let (mine, theirs) = std::thread::scope(|s| {
            let (f, begin) = (&f, begin.as_str());
            let handles: Vec<_> = rest
                .iter()
                .map(|part| {
                    let kept = idle.pop();
                    s.spawn(move || on_reader(kept, url, begin, |c| f(c, part)))
                })
                .collect();
            let mine = f(&mut self.pg.loaded()?.client, first);
            let theirs: Vec<Outcome<T>> = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect();
            Ok::<_, DbError>((mine, theirs))
        })?;
        let mut out = vec![mine?];
        let mut readers = self.pg.readers.borrow_mut();
        readers.append(&mut idle);
        for (outcome, part) in theirs.into_iter().zip(rest) {
            out.push(match outcome {
                Outcome::Done(client, t) => {
                    readers.push(*client);
                    t
                }
                Outcome::Failed(e) => return Err(e),
                Outcome::Left => f(&mut self.pg.loaded()?.client, part)?,
            });
        }
        Ok(out)
    }

    /// Ends the read.
    pub fn end(mut self) -> Result<(), DbError> {
        self.open = false;
        Ok(self.pg.client.borrow_mut().client.batch_execute("COMMIT")?)
    }
}

impl Drop for Shared<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.pg.client.borrow_mut().client.batch_execute("ROLLBACK");
        }
    }
}

/// Runs `read` on reader `kept` (or a new one) in the snapshot `begin`
/// imports, and ends its transaction.
fn on_reader<T>(
    kept: Option<Client>,
    url: &str,
    begin: &str,
    read: impl FnOnce(&mut Client) -> Result<T, DbError>,
) -> Outcome<T> {
    let client = match kept {
        Some(c) => Ok(c),
        None => reader(url),
    };
    let Ok(mut client) = client else {
        return Outcome::Left;
    };
    if client.batch_execute(begin).is_err() {
        return Outcome::Left;
    }
    match read(&mut client) {
        Ok(t) => match client.batch_execute("COMMIT") {
            Ok(()) => Outcome::Done(Box::new(client), t),
            Err(e) => Outcome::Failed(e.into()),
        },
        Err(e) => Outcome::Failed(e),
    }
}
