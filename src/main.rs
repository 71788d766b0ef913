//! The `dmarcdb` binary: glue from the command line to the library.

/// mimalloc rather than the system allocator: records are allocated by the
/// parsing thread and freed by the writing one, and glibc's allocator made
/// those frees wait on each other's locks (bench/README.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dmarcdb::cli::run()
}
