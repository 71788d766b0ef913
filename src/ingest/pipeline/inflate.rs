//! A big gzip payload inflated on a thread of its own, a few blocks ahead
//! of its parser: a report of a hundred thousand records is one input, so
//! one parsing thread alone would inflate and parse all of it while the
//! other cores wait (inflating was a tenth of its work). The blocks go
//! back to the inflating thread once read, so that a block is neither
//! allocated nor zeroed again for every 64 KiB (zeroing them was a third
//! of that thread's instructions). The parser's window takes each block as
//! its buffer (see [`BlockFeed`]): a block's bytes are not copied again.
//! This thread, which waits most of the time, also makes the SHA-256 of
//! the payload's bytes (the report's kept bytes), a piece per block, so
//! the writer does not at the report's end (bench/README.md, tenth round).

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::Scope;

use sha2::{Digest, Sha256};

use crate::extract::{Limits, Payload};
use crate::ingest::isolate;
use crate::parse::{BlockFeed, HEADROOM};
use crate::store::KeptSha;

/// Payloads from this many compressed bytes up are inflated apart (a
/// thread costs more than inflating a small report). The unit tests send
/// every payload but the smallest this way.
pub(super) const INFLATE_APART: usize = if cfg!(test) { 2048 } else { 1024 * 1024 };
/// Bytes of XML handed over at a time: with 64 KiB, the parser woke the
/// inflating thread (which runs ahead and waits) for every block, and
/// zlib-rs copied half of each block into its window again (the last
/// 32 KiB of every read); bench/README.md, tenth round. The unit tests' reports
/// are smaller: they are cut into more blocks...
pub(super) const BLOCK: usize = if cfg!(test) { 16 * 1024 } else { 256 * 1024 };
/// ...and blocks inflated ahead of the parser, at most.
const BLOCKS_AHEAD: usize = 4;

/// A block's vec: its headroom (see [`BlockFeed`]), then its XML.
const FULL: usize = HEADROOM + BLOCK;
/// Bytes of the payload hashed per block inflated (XML compresses
/// several times over, so the hash is made before the inflating ends).
const HASHED_PER_BLOCK: usize = 16 * 1024;

/// The parser's end: the payload's XML, in blocks.
pub(super) struct Blocks {
    blocks: Receiver<io::Result<Vec<u8>>>,
    /// Buffers done with, back to the inflating thread.
    spent: SyncSender<Vec<u8>>,
}

/// Starts inflating `payload` (gzip) on a thread of `scope`; the thread
/// stops at the end of the payload, or once the [`Blocks`] are dropped.
/// At the end it sets `sha`, the SHA-256 of the payload's bytes.
pub(super) fn ahead<'scope>(
    scope: &'scope Scope<'scope, '_>,
    payload: &'scope Payload,
    limits: &'scope Limits,
    sha: &'scope KeptSha,
) -> Blocks {
    let (tx, blocks) = mpsc::sync_channel(BLOCKS_AHEAD);
    // Room for every block there is: handing one back never blocks.
    let (spent, recycled) = mpsc::sync_channel::<Vec<u8>>(BLOCKS_AHEAD + 2);
    scope.spawn(move || {
        let mut input = payload.reader(limits);
        let (mut hash, mut hashed) = (Sha256::new(), 0);
        loop {
            let upto = payload.data.len().min(hashed + HASHED_PER_BLOCK);
            hash.update(&payload.data[hashed..upto]);
            hashed = upto;
            // A buffer handed back big enough is reused (its bytes are
            // stale: only what is inflated into it is read).
            let mut block = match recycled.try_recv() {
                Ok(mut block) if block.capacity() >= FULL => {
                    block.resize(FULL, 0);
                    block
                }
                _ => vec![0; FULL],
            };
            let mut filled = HEADROOM;
            // A panic (a bug) fails the payload, as on the parsing thread.
            let read = isolate(|| loop {
                if filled == FULL {
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
            let more = filled == FULL && read.is_ok();
            block.truncate(filled);
            if filled > HEADROOM && tx.send(Ok(block)).is_err() {
                return;
            }
            if let Err(e) = read {
                let _ = tx.send(Err(e));
                return;
            }
            if !more {
                hash.update(&payload.data[hashed..]);
                let _ = sha.set(hash.finalize().into());
                return;
            }
        }
    });
    Blocks { blocks, spent }
}

impl BlockFeed for Blocks {
    fn next_block(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.blocks.recv() {
            Ok(Ok(block)) => Ok(Some(block)),
            Ok(Err(e)) => Err(e),
            // The inflating thread is done: the end of the payload.
            Err(_) => Ok(None),
        }
    }

    fn give_back(&mut self, buf: Vec<u8>) {
        // The inflating thread may be gone (the end of the payload), or
        // have enough: then the buffer is simply freed.
        let _ = self.spent.try_send(buf);
    }
}
