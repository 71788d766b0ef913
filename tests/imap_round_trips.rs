//! IMAP at a distance: the commands a run sends grow with its batches, not
//! its messages (issue 19). Real Dovecot, its rawlog counting commands, a
//! latency proxy in between counting round trips.

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::cli::reports_in_file as stored;
use common::dovecot::{Dovecot, Options};
use common::mail::simple_report_mail;
use common::proxy::Proxy;

fn start(unseen: usize) -> Option<Dovecot> {
    let options = Options {
        rawlog: true,
        ..Options::default()
    };
    Dovecot::start_with_mail(options, &|inbox| {
        for i in 0..unseen {
            inbox.add(
                &simple_report_mail(&format!("rt{i:05}"), 1_760_000_000),
                false,
            );
        }
    })
}

/// `dmarcdb --db DB imap --batch N` through `port`.
fn imap_cmd(d: &Dovecot, db: &Path, port: u16, batch: usize) -> Command {
    let mut c = Command::cargo_bin("dmarcdb").unwrap();
    c.env_remove("DMARCDB_DB");
    for (k, v) in d.env() {
        c.env(k, v);
    }
    c.env("DMARC_IMAP_PORT", port.to_string())
        .arg("--db")
        .arg(db)
        .arg("imap")
        .arg("--batch")
        .arg(batch.to_string())
        .arg("--ca-file")
        .arg(d.ca_pem_path());
    c
}

/// How many of `commands` start with `verb` (e.g. "UID STORE").
fn count(commands: &[String], verb: &str) -> usize {
    commands.iter().filter(|c| c.starts_with(verb)).count()
}

#[test]
fn a_thousand_messages_in_batches_of_200_take_a_handful_of_commands() {
    let Some(d) = start(1000) else { return };
    let proxy = Proxy::start(([127, 0, 0, 1], d.port()).into(), Duration::from_millis(2));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rt.db");
    let before = d.sessions_logged();
    let out = imap_cmd(&d, &db, proxy.port(), 200).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(&db), 1000);
    assert_eq!(d.seen_count("INBOX"), 1000);

    let commands = d.commands(&before);
    let (search, fetch, store) = (
        count(&commands, "UID SEARCH"),
        count(&commands, "UID FETCH"),
        count(&commands, "UID STORE"),
    );
    eprintln!(
        "{} commands ({search} SEARCH, {fetch} FETCH, {store} STORE), {} round trips",
        commands.len(),
        proxy.round_trips()
    );
    assert_eq!(search, 1, "{commands:#?}");
    assert_eq!(fetch, 5, "one FETCH per batch of 200: {commands:#?}");
    // One STORE per commit group of 100 reports (or 250 ms), never one per
    // message: 1,000 messages, at most a few dozen.
    assert!((1..=40).contains(&store), "{store} STOREs: {commands:#?}");
    assert!(commands.len() < 60, "{commands:#?}");
    assert!(
        proxy.round_trips() < 80,
        "{} round trips",
        proxy.round_trips()
    );

    // Again with --all: every report a duplicate. The messages are marked
    // with the commit groups the duplicate checks fall in (one at most
    // every 250 ms) or 200 at a time, never one by one.
    let before = d.sessions_logged();
    let out = imap_cmd(&d, &db, proxy.port(), 200)
        .arg("--all")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1000 already stored"), "{stdout}");
    let commands = d.commands(&before);
    let store = count(&commands, "UID STORE");
    eprintln!("--all: {} commands, {store} STORE", commands.len());
    assert!((1..=25).contains(&store), "{store} STOREs: {commands:#?}");
    assert_eq!(count(&commands, "UID FETCH"), 5, "{commands:#?}");
}
