//! The `dmarcdb` binary: glue from the command line to the library.

/// mimalloc rather than the system allocator: records are allocated by the
/// parsing thread and freed by the writing one, and glibc's allocator made
/// those frees wait on each other's locks (bench/README.md). Built without
/// transparent huge pages (`no_thp` in Cargo.toml): zeroing and compacting
/// 2 MiB pages cost more than the page faults they spare.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dmarcdb::cli::run()
}
