//! Running the built binary from integration tests.

use std::borrow::BorrowMut;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// `dmarcdb --db DB`.
pub fn dmarcdb(db: &Path) -> Command {
    let mut c = Command::cargo_bin("dmarcdb").unwrap();
    c.env_remove("DMARCDB_DB").arg("--db").arg(db);
    c
}

/// Runs `cmd` and asserts it exited 0, showing its stderr otherwise.
pub fn run_ok(mut cmd: impl BorrowMut<Command>) -> Output {
    let out = cmd.borrow_mut().output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
