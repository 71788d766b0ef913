//! Safety of what we keep: the database file is private, and secrets from
//! the environment never show up in help text, warnings or errors.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dmarcdb");

/// Values that must never be printed, by the variable that carries them.
const SECRETS: &[(&str, &str)] = &[
    ("DMARC_IMAP_PASS", "imap-pass-Zq8vT3"),
    ("TELEGRAM_BOT_TOKEN", "123456789:tg-token-Xk2pL9"),
    (
        "DMARCDB_WEBHOOK",
        "https://hooks.example.invalid/secret-path-Wm4rB7",
    ),
];

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// `dmarcdb ARGS` with every secret in its environment.
fn with_secrets(args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env("TELEGRAM_CHAT_ID", "42");
    for (k, v) in SECRETS {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn assert_no_secret(what: &str, out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        for (name, value) in SECRETS {
            // The secret part of the webhook is its path.
            let needle = value.rsplit('/').next().unwrap_or(value);
            assert!(!text.contains(needle), "{what} prints {name}:\n{text}");
        }
    }
}

/// The subcommands `dmarcdb --help` lists, plus hidden ones that exist.
fn subcommands() -> Vec<String> {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut names: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|n| n != "help")
        .collect();
    // Hidden from the list, still reachable.
    let hidden = "generate";
    let probe = Command::new(BIN).args([hidden, "--help"]).output().unwrap();
    if probe.status.success() && !names.iter().any(|n| n == hidden) {
        names.push(hidden.to_string());
    }
    assert!(names.len() >= 3, "{text}");
    names
}

#[test]
fn help_never_shows_secret_environment_values() {
    assert_no_secret("dmarcdb --help", &with_secrets(&["--help"]));
    for sub in subcommands() {
        for flag in ["--help", "-h"] {
            let out = with_secrets(&[&sub, flag]);
            assert!(out.status.success(), "{sub} {flag}");
            assert_no_secret(&format!("dmarcdb {sub} {flag}"), &out);
        }
    }
}

#[test]
fn failed_notifications_do_not_print_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    let db = db.to_str().unwrap();
    let samples = samples();
    let out = with_secrets(&["--db", db, "ingest", samples.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    // The samples hold a spoofing source, so there is something to send,
    // and nothing to send it to: both channels fail (no network here, or
    // an invalid host) and warn.
    let out = with_secrets(&["--db", db, "alert", "--notify", "--days", "100000"]);
    assert_no_secret("dmarcdb alert --notify", &out);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn new_database_is_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub/dir/new.db");
    let mut c = Command::new(BIN);
    c.arg("--db").arg(&db).arg("ingest").arg(samples());
    // Even with a umask that would let everyone read.
    // SAFETY: umask is async-signal-safe and touches nothing else.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&db), 0o600, "{}", db.display());
    // SQLite gives its side files the database's mode.
    for side in ["new.db-wal", "new.db-shm"] {
        let p = db.with_file_name(side);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

#[test]
fn imap_connection_errors_do_not_print_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.db");
    // Nothing listens on port 1: the run fails before any login.
    let out = with_secrets(&[
        "--db",
        db.to_str().unwrap(),
        "imap",
        "--host",
        "127.0.0.1",
        "--port",
        "1",
        "--user",
        "dmarc@example.com",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stderr.is_empty());
    assert_no_secret("dmarcdb imap (connection refused)", &out);
}
