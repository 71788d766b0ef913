//! The `dmarcdb` binary: glue from the command line to the library.

fn main() -> std::process::ExitCode {
    dmarcdb::cli::run()
}
