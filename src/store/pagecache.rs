//! SQLite's page cache for a database file this run makes: memory set
//! aside for it before SQLite starts (`SQLITE_CONFIG_PAGECACHE`) and
//! faulted in all at once by the thread that makes the file, before that
//! thread first calls SQLite (`store::newfile`, on `ingest::opening`'s thread).
//!
//! Otherwise SQLite takes each page of its cache from glibc's `malloc`
//! as the writer first needs it: fresh heap, touched first by the writer
//! (the allocator's chunk header, then the page zeroed for a new B-tree
//! page), a page fault per 4 KiB. On item 1 that was ~500 of the writer's
//! ~1,200 faults (bench/README.md, eleventh round). Here the slots are made present by
//! one `madvise(MADV_POPULATE_WRITE)` (no fault each, ~0.6 ms for the
//! 2.3 MB) while the parsing threads start on the first inputs and the
//! writer has not begun, and SQLite finds them ready.
//!
//! Only for a new file: SQLite is configured once per process, before any
//! connection, so the command decides before it opens anything (a run on
//! an existing file, or any other command, keeps SQLite's own allocation:
//! it would not fill the cache, and SQLite's start, which writes into
//! every slot, would fault them in for nothing). The slots are sized for
//! 8 KiB pages; bigger pages, and pages beyond the slots (another
//! connection's), come from `malloc` as before.

/// Slots, one page each: the writer's default cache (`cache_size` -2000:
/// 2,000 KiB, ~245 pages of 8 KiB) with room to spare, so that SQLite's
/// reserve (it treats the last 10 free slots as memory pressure and
/// recycles pages rather than take them) is not reached.
const SLOTS: usize = 280;
/// The page size of a file this run makes (`sqlite.rs`).
const PAGE: usize = 8192;
const _: () = assert!(SLOTS >= 2000 * 1024 / PAGE + 10 + 20);

#[cfg(target_os = "linux")]
mod slab {
    use std::ffi::c_int;
    use std::sync::OnceLock;

    use rusqlite::ffi;

    use super::{PAGE, SLOTS};

    /// `madvise` advice: fault the range in, writable (Linux 5.14; not in
    /// the `libc` crate yet).
    const MADV_POPULATE_WRITE: c_int = 23;

    /// The slots' memory (its address, and length): once, for the
    /// process's life.
    static SLAB: OnceLock<(usize, usize)> = OnceLock::new();

    /// See [`super::reserve`].
    pub(super) unsafe fn reserve() -> bool {
        if SLAB.get().is_some() {
            return false;
        }
        let mut header: c_int = 0;
        // SAFETY: a pointer to an int, as this option takes.
        let rc = unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE_HDRSZ, &mut header as *mut c_int)
        };
        if rc != ffi::SQLITE_OK || header < 0 {
            return false;
        }
        // 8-byte aligned slots (SQLite rounds the size down to 8).
        let slot = (PAGE + header as usize + 7) & !7;
        let len = slot * SLOTS;
        // SAFETY: a new private anonymous mapping; nothing else refers to it.
        let mem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mem == libc::MAP_FAILED {
            return false;
        }
        // SAFETY: the caller's promise (SQLite not started, no other
        // thread in it); the memory stays mapped for the process's life.
        let rc = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PAGECACHE,
                mem,
                slot as c_int,
                SLOTS as c_int,
            )
        };
        if rc != ffi::SQLITE_OK {
            // SAFETY: the mapping made above, which SQLite did not take.
            unsafe { libc::munmap(mem, len) };
            return false;
        }
        let _ = SLAB.set((mem as usize, len));
        true
    }

    /// See [`super::fault_in`].
    pub(super) fn fault_in() {
        if let Some(&(addr, len)) = SLAB.get() {
            // SAFETY: the slab's own mapping; populating keeps what the
            // pages hold (SQLite may be using some of them meanwhile).
            // An older kernel refuses the advice: the pages then fault
            // in one by one as before.
            unsafe { libc::madvise(addr as *mut libc::c_void, len, MADV_POPULATE_WRITE) };
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod slab {
    pub(super) unsafe fn reserve() -> bool {
        false
    }

    pub(super) fn fault_in() {}
}

/// Sets memory aside for SQLite's page cache, for a database file this
/// run is about to make (see the module doc); whether it did (not if
/// SQLite had started already, or on systems other than Linux).
///
/// # Safety
///
/// SQLite must not be in use, and no other thread may call into it until
/// this returns: `sqlite3_config` is not thread-safe. Call it from the
/// command, before anything opens a connection.
pub unsafe fn reserve() -> bool {
    // SAFETY: the caller's promise.
    unsafe { slab::reserve() }
}

/// Faults the memory [`reserve`] set aside in, all at once (nothing if it
/// set none). Any thread, any time: what SQLite keeps there stays.
pub fn fault_in() {
    slab::fault_in();
}
