//! The writer's WAL writes, gathered: a VFS over SQLite's own (`unix`)
//! that passes every file through untouched except a `-wal`, whose
//! appended frames it collects in memory and hands to the kernel in one
//! `pwrite` per commit (or per [`CAPACITY`] bytes, ~128 KiB).
//!
//! SQLite writes a WAL frame as two writes, its 24-byte header and then
//! its page, each at its own offset. Into a new file (every first ingest)
//! each of them costs the kernel a page-cache folio or two, ext4's
//! delayed-allocation bookkeeping per block and the zeroing of the folios
//! a write only partly covers (a frame is 24 + 8,192 bytes, so its writes
//! straddle 4 KiB folios): 11 % of the writer's time in item 1. One large
//! write gets large folios and touches each block once: 429 frames took
//! 2.3 ms of kernel time written SQLite's way and 0.77 ms gathered in
//! ~128 KiB writes (bench/README.md, twelfth round). Allocating the file
//! ahead (`fallocate`) without gathering saved only 0.3 ms of the 2.3.
//!
//! Why readers still see only whole transactions: another connection
//! learns of new frames only from the wal-index header, which SQLite
//! writes after the frames (`walFrames` in sqlite3.c, 3.46). Of a commit,
//! the last write before that header is either the page of the commit
//! frame (the frame whose header holds the database size), written just
//! after its header, or — when the transaction rewrote frames in place —
//! the rewritten header of that commit frame, after a read of it. So the
//! run is handed on as soon as it holds a commit frame's page, and a
//! commit-frame header written into an empty run (as the rewrite's is:
//! the read before it handed the run on) goes straight through. Every
//! other call on the file (read, sync, truncate, size, lock, file
//! control, close) and every write that does not continue the run hands
//! the run on first. A commit therefore returns with every frame of it in
//! the kernel, a failed write fails the commit as before (the commit
//! frame's own write reports it), and a process killed at any point
//! leaves only whole transactions for the next open to find. Syncs are
//! the same calls as before, after the run is written.
//!
//! A WAL's blocks are allocated 4 MiB at a time ahead of the runs
//! ([`allocate_ahead`]), its size left as it is.
//!
//! A WAL padded to sector boundaries (a file without "powersafe
//! overwrite", under `synchronous = FULL`) splits frames around its syncs;
//! such a file's writes are passed through as they come.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The VFS's name, for `sqlite3_open_v2`.
const NAME: &CStr = c"dmarcdb-walbuf";

/// The most a run holds: the most SQLite's `unix` VFS passes to one
/// `pwrite` (`seekAndWriteFd` masks a write's length with `0x1ffff`).
const CAPACITY: usize = 0x1ffff;

/// How much of a WAL [`allocate_ahead`] allocates at a time: item 1's WAL
/// is 3.5 MB.
const AHEAD: i64 = 4 << 20;

/// The size of a WAL frame's header.
const FRAME_HEADER: c_int = 24;

/// The VFS to open the writer's connection with: this one, registered
/// once, or `None` (SQLite's default) if it could not be.
pub(super) fn vfs() -> Option<&'static str> {
    static REGISTERED: OnceLock<Option<&'static str>> = OnceLock::new();
    *REGISTERED.get_or_init(|| unsafe { register() }.then(|| NAME.to_str().unwrap_or_default()))
}

/// SQLite's default VFS, which this one passes everything to.
struct Base(*mut ffi::sqlite3_vfs);
// SAFETY: a VFS is shared by every connection and thread by SQLite's
// design; the pointer is only read.
unsafe impl Send for Base {}
unsafe impl Sync for Base {}
static BASE: OnceLock<Base> = OnceLock::new();

/// A `-wal` opened through this VFS; the base VFS's own file follows it
/// at [`REAL_AT`].
#[repr(C)]
struct WalFile {
    file: ffi::sqlite3_file,
    run: Run,
}

/// Where a [`WalFile`]'s real file starts.
const REAL_AT: usize = std::mem::size_of::<WalFile>().next_multiple_of(16);

/// Appended bytes not yet written: one run from `start`.
struct Run {
    bytes: Vec<u8>,
    start: i64,
    /// Where the page of a commit frame whose header was the last write
    /// will be written.
    commit_page_at: Option<i64>,
    /// Whether writes are gathered at all (not for a WAL padded to
    /// sectors).
    gather: bool,
    /// The file's path, as SQLite gave it to [`open`] (valid until
    /// [`close`]), and where its blocks allocated ahead end (`None`: not
    /// looked at yet).
    path: ffi::sqlite3_filename,
    allocated: Option<i64>,
}

/// Registers the VFS (not as the default). Safe to call once.
unsafe fn register() -> bool {
    let base = ffi::sqlite3_vfs_find(ptr::null());
    if base.is_null() || (*base).xOpen.is_none() {
        return false;
    }
    let _ = BASE.set(Base(base));
    let mut vfs = *base;
    vfs.szOsFile = REAL_AT as c_int + (*base).szOsFile;
    vfs.zName = NAME.as_ptr();
    vfs.pNext = ptr::null_mut();
    vfs.xOpen = Some(open);
    // The base's other functions read only its `pAppData` and
    // `mxPathname`, copied with it.
    ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0) == ffi::SQLITE_OK
}

fn base() -> *mut ffi::sqlite3_vfs {
    BASE.get().expect("registered before any open").0
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let base = base();
    let base_open = (*base).xOpen.expect("checked at registration");
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Any other file is the base's own, in place.
        return base_open(base, name, file, flags, out);
    }
    let real = real(file);
    (*real).pMethods = ptr::null();
    let rc = base_open(base, name, real, flags, out);
    if rc != ffi::SQLITE_OK || (*real).pMethods.is_null() {
        if !(*real).pMethods.is_null() {
            methods(real).xClose.expect("a file closes")(real);
        }
        (*file).pMethods = ptr::null();
        return rc;
    }
    let powersafe = methods(real)
        .xDeviceCharacteristics
        .is_some_and(|f| f(real) & ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE != 0);
    ptr::write(
        file as *mut WalFile,
        WalFile {
            file: ffi::sqlite3_file { pMethods: &METHODS },
            run: Run {
                bytes: Vec::new(),
                start: 0,
                commit_page_at: None,
                gather: powersafe,
                path: name,
                allocated: None,
            },
        },
    );
    rc
}

/// The base's file inside `file`.
unsafe fn real(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    (file as *mut u8).add(REAL_AT) as *mut ffi::sqlite3_file
}

unsafe fn methods<'a>(real: *mut ffi::sqlite3_file) -> &'a ffi::sqlite3_io_methods {
    &*(*real).pMethods
}

/// The run of a file [`open`] made a [`WalFile`].
unsafe fn run<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Run {
    &mut (*(file as *mut WalFile)).run
}

unsafe fn write_real(real: *mut ffi::sqlite3_file, bytes: *const u8, n: usize, at: i64) -> c_int {
    #[cfg(test)]
    tests::WRITES.with(|w| w.set(w.get() + 1));
    match c_int::try_from(n) {
        Ok(n) => methods(real).xWrite.expect("a file writes")(real, bytes.cast(), n, at),
        Err(_) => ffi::SQLITE_IOERR_WRITE,
    }
}

/// Writes the run, if any, and empties it.
unsafe fn hand_on(run: &mut Run, real: *mut ffi::sqlite3_file) -> c_int {
    run.commit_page_at = None;
    if run.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let end = run.start + run.bytes.len() as i64;
    if run.allocated.is_none_or(|allocated| end > allocated) {
        run.allocated = Some(allocate_ahead(run.path, real, run.allocated, end));
    }
    let rc = write_real(real, run.bytes.as_ptr(), run.bytes.len(), run.start);
    run.bytes.clear();
    rc
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    at: i64,
) -> c_int {
    let (run, real) = (run(file), real(file));
    let n = usize::try_from(amount).unwrap_or(0);
    if !run.gather {
        return write_real(real, data.cast(), n, at);
    }
    let bytes = std::slice::from_raw_parts(data as *const u8, n);
    if !run.bytes.is_empty()
        && (at != run.start + run.bytes.len() as i64 || run.bytes.len() + n > CAPACITY)
    {
        // (A commit frame's header stays one: its page may begin the
        // next run.)
        let commit_page_at = run.commit_page_at;
        let rc = hand_on(run, real);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        run.commit_page_at = commit_page_at;
    }
    // A frame's header (the WAL's own is 32 bytes, at 0) with the
    // database's size in it: a commit frame's.
    let commit_header = amount == FRAME_HEADER && at > 0 && bytes[4..8] != [0; 4];
    if (commit_header || n > CAPACITY) && run.bytes.is_empty() {
        run.commit_page_at = commit_header.then_some(at + i64::from(FRAME_HEADER));
        return write_real(real, bytes.as_ptr(), n, at);
    }
    if run.bytes.is_empty() {
        run.bytes.reserve(CAPACITY);
        run.start = at;
    }
    run.bytes.extend_from_slice(bytes);
    let completes_commit = run.commit_page_at == Some(at);
    run.commit_page_at = commit_header.then_some(at + i64::from(FRAME_HEADER));
    if completes_commit {
        return hand_on(run, real);
    }
    ffi::SQLITE_OK
}

/// Allocates the WAL's blocks up to past `end`, [`AHEAD`] bytes at a
/// time from where they were allocated (`None`: from the file's size),
/// without changing its size; returns where they end now. The runs then
/// land in blocks already allocated, and ext4 reserves none per block as
/// they are written (its delayed allocation): a quarter of what the writes
/// cost (bench/README.md, twelfth round). A new file's first 4 MiB are
/// allocated by the commit that begins its WAL, on the thread that makes
/// the file. The file's size, which SQLite and `walclose` read, stays
/// that of its frames; the blocks past it (under 4 MiB) go when the WAL
/// is truncated or deleted. Best effort: where `fallocate` fails (no support, no room)
/// it is not tried again.
#[cfg(target_os = "linux")]
unsafe fn allocate_ahead(
    path: ffi::sqlite3_filename,
    real: *mut ffi::sqlite3_file,
    allocated: Option<i64>,
    end: i64,
) -> i64 {
    let mut from = match allocated {
        Some(at) => at,
        None => {
            let mut size = 0i64;
            let sized = methods(real)
                .xFileSize
                .is_some_and(|f| f(real, &mut size) == ffi::SQLITE_OK);
            if !sized {
                return i64::MAX;
            }
            size
        }
    };
    if path.is_null() || end <= from {
        return from;
    }
    // A second descriptor of the WAL: SQLite holds no lock on this file
    // (its locks are on the database and the `-shm`), so closing it
    // releases none.
    let fd = libc::open(path, libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW);
    if fd < 0 {
        return i64::MAX;
    }
    while end > from {
        if libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, from, AHEAD) != 0 {
            from = i64::MAX;
            break;
        }
        from += AHEAD;
    }
    libc::close(fd);
    from
}

#[cfg(not(target_os = "linux"))]
unsafe fn allocate_ahead(
    _: ffi::sqlite3_filename,
    _: *mut ffi::sqlite3_file,
    _: Option<i64>,
    _: i64,
) -> i64 {
    i64::MAX
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let real = real(file);
    let written = hand_on(run(file), real);
    let closed = methods(real).xClose.expect("a file closes")(real);
    ptr::drop_in_place(run(file));
    if written != ffi::SQLITE_OK {
        written
    } else {
        closed
    }
}

/// A method of the base's file, called after the run is written.
macro_rules! after_run {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            let real = real(file);
            let rc = hand_on(run(file), real);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match methods(real).$method {
                Some(f) => f(real, $($arg),*),
                None => ffi::SQLITE_NOTFOUND,
            }
        }
    };
}

after_run!(read, xRead, (data: *mut c_void, amount: c_int, at: i64));
after_run!(truncate, xTruncate, (size: i64));
after_run!(sync, xSync, (flags: c_int));
after_run!(file_size, xFileSize, (size: *mut i64));
after_run!(lock, xLock, (level: c_int));
after_run!(unlock, xUnlock, (level: c_int));
after_run!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int));
after_run!(file_control, xFileControl, (op: c_int, arg: *mut c_void));
after_run!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void));
after_run!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int));
after_run!(shm_unmap, xShmUnmap, (delete: c_int));
after_run!(fetch, xFetch, (at: i64, amount: c_int, out: *mut *mut c_void));
after_run!(unfetch, xUnfetch, (at: i64, page: *mut c_void));

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    let real = real(file);
    methods(real).xSectorSize.map_or(4096, |f| f(real))
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let real = real(file);
    methods(real).xDeviceCharacteristics.map_or(0, |f| f(real))
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    let real = real(file);
    let _ = hand_on(run(file), real);
    if let Some(f) = methods(real).xShmBarrier {
        f(real)
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[cfg(test)]
#[path = "walbuf_tests.rs"]
mod tests;
