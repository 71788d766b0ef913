//! Where the shared real-world corpus is (`../shared/corpus`, read in place,
//! never copied), for every test that reads it — the integration tests, and
//! the unit tests under `src/`, which include this file by path.
//!
//! A missing corpus skips the test with a notice on stderr; with `CI=true`
//! it fails the test instead, so that a moved or broken path cannot turn
//! the corpus tests into silent no-ops in CI.

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/corpus` (holding `expected-totals.tsv`; `DMARCDB_CORPUS`
/// names another place), or `None` after a notice when it is missing
/// outside CI.
///
/// # Panics
///
/// When it is missing and `CI=true`.
pub fn corpus_root() -> Option<PathBuf> {
    let root = match std::env::var_os("DMARCDB_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if root.join("expected-totals.tsv").is_file() {
        return Some(root);
    }
    missing(&root)
}

/// A sub-directory of the corpus (e.g. `parsedmarc`), like [`corpus_root`].
pub fn corpus_dir(sub: &str) -> Option<PathBuf> {
    let dir = corpus_root()?.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        missing(&dir)
    }
}

fn missing(path: &std::path::Path) -> Option<PathBuf> {
    let what = format!("the shared corpus {} is missing", path.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}; CI=true, so the corpus tests may not be skipped");
    }
    eprintln!("NOTICE: {what}: corpus test skipped");
    None
}
