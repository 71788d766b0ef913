//! Build script: puts the git commit into `--version`.
//!
//! `DMARCDB_VERSION` is the package version, followed by the short commit
//! hash when the source is a git checkout (`0.1.0 (a1b2c3d)`); a build
//! from a source archive, or without `git`, says just `0.1.0`. A packager
//! may set `DMARCDB_GIT_COMMIT` to name the commit without a checkout.
//! The script reruns only when HEAD or the refs move, not on every edit.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DMARCDB_GIT_COMMIT");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = std::env::var("DMARCDB_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Only this crate's own checkout: a source archive unpacked
            // inside some other repository must not take that one's commit.
            let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
            let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").ok()?);
            if top.canonicalize().ok()? != here.canonicalize().ok()? {
                return None;
            }
            watch_git();
            git(&["rev-parse", "--short", "HEAD"])
        });
    let shown = match commit {
        Some(c) => format!("{version} ({c})"),
        None => version,
    };
    println!("cargo:rustc-env=DMARCDB_VERSION={shown}");
}

/// Rerun when HEAD moves: HEAD itself (a checkout, and in a worktree its
/// own HEAD), the branch it points to, and packed refs.
fn watch_git() {
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let common = git(&["rev-parse", "--git-common-dir"])
        .map(|c| {
            let p = PathBuf::from(&c);
            if p.is_absolute() {
                p
            } else {
                PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(p)
            }
        })
        .unwrap_or_else(|| PathBuf::from(&git_dir));
    let mut watched = vec![
        PathBuf::from(&git_dir).join("HEAD"),
        common.join("packed-refs"),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch));
    }
    // A path that does not exist would make cargo rerun the script on
    // every build.
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
