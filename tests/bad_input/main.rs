//! The bad-input catalogue: hostile and broken inputs, one test each.
//!
//! Every case puts one bad input next to one good report in a batch
//! directory and runs the built `dmarcdb ingest` over it with a fresh
//! database, then checks what the README's "limits" table promises:
//!
//! - **rejected** cases exit 3 and print one `dmarcdb: rejected <input>:
//!   <reason>` line per failing part, each naming the bad input; nothing of
//!   the bad input is stored; it is kept in `quarantine` (except when
//!   nothing could be read from it: a dangling symlink has no bytes);
//! - **accepted** cases (the input is harmless once the caps and the
//!   no-entity rule apply) exit 0, print no rejection and store exactly
//!   the reports they hold;
//! - in both, the good report is stored, and the child process stays under
//!   256 MiB peak RSS (measured with `wait4`, so per child). Each case is
//!   also meant to take well under 10 s; the time is printed, not asserted,
//!   because the machine is shared.
//!
//! Bombs are built by repeating one compressed chunk, so a 1 GiB expansion
//! costs the test ~1 MB and no time.
//!
//! One test binary (`cargo test --test bad_input`), its cases grouped by
//! what they feed the parser: `containers.rs` (gzip, zip, nesting, bombs),
//! `documents.rs` (documents that are not reports, entities, values),
//! `kinds.rs` (SMTP TLS and failure reports), `mime.rs` (mail) and
//! `files.rs` (links, special files, sizes). `harness.rs` runs one case
//! and checks it; `inputs.rs` and `archives.rs` build the inputs.

#[path = "../common/mod.rs"]
mod common;

/// One `#[test]` per row: name, builder, expectation.
macro_rules! catalogue {
    ($($name:ident: $build:expr => $expect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), $build, $expect);
            }
        )*
    };
}

mod archives;
mod containers;
mod documents;
mod files;
mod harness;
mod inputs;
mod kinds;
mod mime;
