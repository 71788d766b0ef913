//! The `dmarcdb` binary: glue from the command line to the library.

/// mimalloc rather than the system allocator: records are allocated by the
/// parsing thread and freed by the writing one, and glibc's allocator made
/// those frees wait on each other's locks (bench/README.md). Built without
/// transparent huge pages (`no_thp` in Cargo.toml): zeroing and compacting
/// 2 MiB pages cost more than the page faults they spare.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let code = dmarcdb::cli::run();
    no_purge_at_exit();
    code
}

/// mimalloc's `mi_option_purge_delay` (`mi_option_e` in mimalloc.h; the
/// options keep their numbers, retired ones included).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The process is about to exit: mimalloc's exit handler would otherwise
/// hand its free memory back to the system range by range (an `madvise`
/// each, on the main thread after the run's work), which the exit does
/// anyway. A delay of -1 turns purging off. (The default delay is a
/// second, so a shorter run purged only at its exit; bench/README.md,
/// eleventh round.)
fn no_purge_at_exit() {
    // SAFETY: sets an option's value, which mimalloc reads atomically; no
    // memory is handed out or freed by it.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[cfg(test)]
mod tests {
    /// The option number is mimalloc's purge delay: its default, a second,
    /// and what `no_purge_at_exit` sets.
    #[test]
    fn the_purge_delay_option_is_the_one_set_at_exit() {
        // SAFETY: reads and sets an option's value.
        unsafe {
            assert_eq!(
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
                1000
            );
            super::no_purge_at_exit();
            assert_eq!(
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
                -1
            );
        }
    }
}
