//! A big gzip payload inflated on a thread of its own, a few blocks ahead
//! of its parser: a report of a hundred thousand records is one input, so
//! one parsing thread alone would inflate and parse all of it while the
//! other cores wait (inflating was a tenth of its work). The blocks go
//! back to the inflating thread once read, so that a block is neither
//! allocated nor zeroed again for every 64 KiB (zeroing them was a third
//! of that thread's instructions).

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::Scope;

use crate::extract::{Limits, Payload};
use crate::ingest::isolate;

/// Payloads from this many compressed bytes up are inflated apart (a
/// thread costs more than inflating a small report). The unit tests send
/// every payload but the smallest this way.
pub(super) const INFLATE_APART: usize = if cfg!(test) { 2048 } else { 1024 * 1024 };
/// Bytes of XML handed over at a time...
const BLOCK: usize = 64 * 1024;
/// ...and blocks inflated ahead of the parser, at most.
const BLOCKS_AHEAD: usize = 4;

/// The parser's end: the payload's XML, read from the blocks.
pub(super) struct Blocks {
    blocks: Receiver<io::Result<Vec<u8>>>,
    /// Blocks read, back to the inflating thread.
    spent: SyncSender<Vec<u8>>,
    block: Vec<u8>,
    pos: usize,
}

/// Starts inflating `payload` (gzip) on a thread of `scope`; the thread
/// stops at the end of the payload, or once the [`Blocks`] are dropped.
pub(super) fn ahead<'scope>(
    scope: &'scope Scope<'scope, '_>,
    payload: &'scope Payload,
    limits: &'scope Limits,
) -> Blocks {
    let (tx, blocks) = mpsc::sync_channel(BLOCKS_AHEAD);
    // Room for every block there is: handing one back never blocks.
    let (spent, recycled) = mpsc::sync_channel(BLOCKS_AHEAD + 2);
    scope.spawn(move || {
        let mut input = payload.reader(limits);
        loop {
            // A block handed back is whole (only the last one is shorter,
            // and it is not handed back before the end).
            let mut block = match recycled.try_recv() {
                Ok(block) => block,
                Err(_) => vec![0; BLOCK],
            };
            let mut filled = 0;
            // A panic (a bug) fails the payload, as on the parsing thread.
            let read = isolate(|| loop {
                if filled == BLOCK {
                    return Ok(());
                }
                match input.read(&mut block[filled..]) {
                    Ok(0) => return Ok(()),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            })
            .unwrap_or_else(|bug| {
                Err(io::Error::other(format!(
                    "internal error, please report: {bug}"
                )))
            });
            let more = filled == BLOCK && read.is_ok();
            block.truncate(filled);
            if filled > 0 && tx.send(Ok(block)).is_err() {
                return;
            }
            if let Err(e) = read {
                let _ = tx.send(Err(e));
                return;
            }
            if !more {
                return;
            }
        }
    });
    Blocks {
        blocks,
        spent,
        block: Vec::new(),
        pos: 0,
    }
}

impl Read for Blocks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            match self.blocks.recv() {
                Ok(Ok(block)) => {
                    let spent = std::mem::replace(&mut self.block, block);
                    if spent.len() == BLOCK {
                        // The inflating thread may be gone (the end of
                        // the payload): then the block is simply freed.
                        let _ = self.spent.try_send(spent);
                    }
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The inflating thread is done: the end of the payload.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
