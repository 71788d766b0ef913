//! Cases: what a directory walk meets besides report files — links,
//! unreadable and oversized files, FIFOs and sockets.

use std::fs::File;

use crate::harness::*;

catalogue! {
    // --- Files and directories ----------------------------------------
    dangling_symlink: |b| {
        std::os::unix::fs::symlink(b.join("gone.xml"), b.join("bad-dangling.xml")).unwrap();
        "bad-dangling.xml".to_string()
    } => unreadable("cannot follow symlink: no such file or directory");
    symlink_to_itself: |b| {
        std::os::unix::fs::symlink("bad-loop.xml", b.join("bad-loop.xml")).unwrap();
        "bad-loop.xml".to_string()
    } => unreadable("too many levels of symbolic links");
    symlink_to_parent_directory: |b| {
        // Directory links in a tree are not followed: no loop, no message,
        // and the good report is read once.
        std::os::unix::fs::symlink("..", b.join("bad-parent")).unwrap();
        "bad-parent".to_string()
    } => Expect::Accepted { reports: 0 };
    file_that_fails_to_read_even_for_root: |b| {
        // Reading /proc/self/mem at offset 0 is EIO for anyone.
        std::os::unix::fs::symlink("/proc/self/mem", b.join("bad-eio.xml")).unwrap();
        "bad-eio.xml".to_string()
    } => unreadable("cannot read: input/output error");
    file_over_the_size_limit: |b| {
        // Sparse: 600 MiB that take no disk; refused from its size, unread.
        File::create(b.join("bad-600mib.xml")).unwrap().set_len(600 * MIB as u64).unwrap();
        "bad-600mib.xml".to_string()
    } => unreadable("629145600 bytes, over the limit of 536870912 bytes; not read");
    fifo_and_socket_in_a_directory: |b| {
        // Not files: skipped (opening a FIFO would block the run).
        let fifo = std::ffi::CString::new(b.join("bad-fifo").to_str().unwrap()).unwrap();
        // SAFETY: valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::os::unix::net::UnixListener::bind(b.join("bad-socket")).unwrap();
        "bad-fifo".to_string()
    } => Expect::Accepted { reports: 0 };
}
