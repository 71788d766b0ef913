//! The parsing threads' scheduling priority: below the writer's once
//! they have parsed an input. A run of many small reports is the writer's
//! thread from end to end (it writes what both parsing threads prepare),
//! and with three threads wanting two cores it waited for a core behind
//! its own parsing threads for 5-10 ms of a ~37 ms run (bench/README.md,
//! tenth round). A parsing thread [`PARSER_NICE`] steps nicer than the
//! process still has every core the writer leaves idle (it sleeps
//! whenever it waits for parsed input), but when the writer can run, it
//! runs. A thread lowers itself after its first input
//! (`parser::parse_inputs`): a run of one big report, where the parsing
//! thread and its inflating thread are the critical path and the writer
//! follows them, keeps everyone at the same priority, as before (at load
//! 7 it was slower with its parsing thread lowered). Threads a parsing
//! thread starts later (`inflate::ahead`) inherit its priority.
//!
//! Linux only (there `setpriority` on a thread id sets that thread's
//! priority; elsewhere it would set the whole process's). A thread can
//! only lower its own priority without privileges, never raise it back,
//! so the parsing threads are lowered once, for their whole life, which
//! is one run. A failure is ignored: the priority is a hint, the results
//! are the same either way.

/// How much nicer than the process a parsing thread is. Nice 10 gives a
/// thread about a tenth of a core shared with a thread at nice 0; at 19
/// (a fiftieth) the writer then waited for the parsing thread's last
/// records more than it gained (bench/README.md, tenth round).
#[cfg(target_os = "linux")]
const PARSER_NICE: libc::c_int = 10;

/// Lowers the calling thread's priority to [`PARSER_NICE`] steps below
/// the process's (at most to 19, the lowest).
pub(super) fn below_writer() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; getpriority and setpriority
        // take plain integers and touch nothing of ours.
        unsafe {
            let me = libc::gettid() as libc::id_t;
            let now = libc::getpriority(libc::PRIO_PROCESS, 0);
            let nicer = (now + PARSER_NICE).min(19);
            let _ = libc::setpriority(libc::PRIO_PROCESS, me, nicer);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice_of(tid: libc::pid_t) -> libc::c_int {
        // SAFETY: as above.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
    }

    #[test]
    fn a_parsing_thread_is_nicer_than_the_process_and_only_itself() {
        // SAFETY: as above.
        let process = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let (tid, nice) = std::thread::spawn(|| {
            below_writer();
            // SAFETY: as above.
            let tid = unsafe { libc::gettid() };
            (tid, nice_of(tid))
        })
        .join()
        .unwrap();
        assert_eq!(nice, (process + PARSER_NICE).min(19), "thread {tid}");
        // The calling thread (the writer's, in a run) is left as it was.
        // SAFETY: as above.
        assert_eq!(nice_of(unsafe { libc::gettid() }), process);
    }
}
