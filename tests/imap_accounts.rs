//! `[[imap]]` accounts in the config file (`--account NAME`, or all in
//! turn) and folder names beyond ASCII (modified UTF-7, RFC 3501 §5.1.3),
//! against a real Dovecot.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::cli::reports_in_file as stored;
use common::dovecot::Dovecot;
use common::mail::simple_report_mail;

/// "Отчёты" and "Архив" as IMAP names them on the wire (computed by hand
/// from UTF-16BE and base64, independently of the code under test).
const REPORTS_WIRE: &str = "&BB4EQgRHBFEEQgRL-";
const ARCHIVE_WIRE: &str = "&BBAEQARFBDgEMg-";

/// A config with two accounts on `d`: "inbox" (INBOX) and "reports"
/// (Отчёты, moved to Архив once stored).
fn config(d: &Dovecot, dir: &Path) -> std::path::PathBuf {
    let pass = d.write_password_file();
    let text = format!(
        "[[imap]]\nname = \"inbox\"\nhost = \"{host}\"\nport = {port}\nuser = \"{user}\"\n\
         password_file = \"{pass}\"\nca_file = \"{ca}\"\n\n\
         [[imap]]\nname = \"reports\"\nhost = \"{host}\"\nport = {port}\nuser = \"{user}\"\n\
         password_file = \"{pass}\"\nca_file = \"{ca}\"\nfolder = \"Отчёты\"\nmove_to = \"Архив\"\n",
        host = d.host(),
        port = d.port(),
        user = d.user(),
        pass = pass.display(),
        ca = d.ca_pem_path().display(),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `dmarcdb --config CFG --db DB imap ARGS` with no IMAP environment.
fn imap(cfg: &Path, db: &Path, args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("dmarcdb").unwrap();
    for k in [
        "DMARCDB_DB",
        "DMARC_IMAP_HOST",
        "DMARC_IMAP_PORT",
        "DMARC_IMAP_USER",
        "DMARC_IMAP_PASS",
        "DMARC_IMAP_FOLDER",
    ] {
        c.env_remove(k);
    }
    c.arg("--config")
        .arg(cfg)
        .arg("--db")
        .arg(db)
        .arg("imap")
        .args(args);
    c
}

fn mail(id: &str) -> Vec<u8> {
    simple_report_mail(id, 1_760_000_000)
}

#[test]
fn every_account_in_turn_then_one_by_name_with_non_ascii_folders() {
    let Some(d) = Dovecot::start() else { return };
    for i in 0..2 {
        d.append("INBOX", &mail(&format!("in-{i}")), false);
    }
    for i in 0..3 {
        d.append(REPORTS_WIRE, &mail(&format!("rep-{i}")), false);
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&d, dir.path());
    let db = dir.path().join("a.db");

    // No host and no --account: both accounts, one after the other.
    let out = imap(&cfg, &db, &[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("account inbox:") && stdout.contains("account reports:"));
    assert_eq!(stored(&db), 5);
    assert_eq!(d.seen_count("INBOX"), 2);
    // Read from "Отчёты" and moved to "Архив", both found by Dovecot
    // under their modified UTF-7 names.
    assert_eq!(d.count(REPORTS_WIRE), 0);
    assert_eq!(d.count(ARCHIVE_WIRE), 3);
    assert_eq!(d.seen_count(ARCHIVE_WIRE), 3);

    // --account: that one only.
    d.append("INBOX", &mail("in-new"), false);
    d.append(REPORTS_WIRE, &mail("rep-new"), false);
    let out = imap(&cfg, &db, &["--account", "reports"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(&db), 6);
    assert_eq!(d.count(ARCHIVE_WIRE), 4);
    assert_eq!(d.seen_count("INBOX"), 2, "the other account was read");

    let out = imap(&cfg, &db, &["--account", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no [[imap]] account named \"nope\""), "{err}");
}

#[test]
fn a_non_ascii_folder_by_flag() {
    let Some(d) = Dovecot::start() else { return };
    d.append(REPORTS_WIRE, &mail("flag-0"), false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let mut c = Command::cargo_bin("dmarcdb").unwrap();
    let out = c
        .env_remove("DMARCDB_DB")
        .envs(d.env())
        .arg("--db")
        .arg(&db)
        .args([
            "imap",
            "--folder",
            "Отчёты",
            "--move-to",
            "Архив",
            "--ca-file",
        ])
        .arg(d.ca_pem_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(&db), 1);
    assert_eq!(d.count(ARCHIVE_WIRE), 1);
}

#[test]
fn no_host_and_no_accounts_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("empty.toml");
    std::fs::write(&cfg, "").unwrap();
    let out = imap(&cfg, &dir.path().join("n.db"), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pass --host") && err.contains("[[imap]]"),
        "{err}"
    );
}
