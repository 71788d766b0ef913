//! The IMAP source against a real Dovecot: what is read, what changes on the
//! server (and when), certificates, batching, and a run cut short.
//!
//! Each test starts its own server (tests/common/dovecot.rs) and skips when
//! Dovecot is not installed, unless CI=true.

mod common;

use common::dovecot::{Dovecot, Options};
use dmarcdb::source::imap::{connect, ImapOptions, ImapSource};
use dmarcdb::source::{Input, InputKind, Source};

/// A small RFC 5322 message; no report inside, the source does not care.
fn message(n: usize) -> Vec<u8> {
    format!(
        "From: reporter@example.org\r\n\
         To: dmarc@example.com\r\n\
         Subject: test message {n}\r\n\
         Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\
         Message-ID: <msg-{n}@example.org>\r\n\
         \r\n\
         body {n}\r\n"
    )
    .into_bytes()
}

/// `unseen` unseen messages, then `seen` seen ones, in INBOX.
fn seed(dovecot: &Dovecot, unseen: usize, seen: usize) {
    for n in 0..unseen {
        dovecot.append("INBOX", &message(n), false);
    }
    for n in unseen..unseen + seen {
        dovecot.append("INBOX", &message(n), true);
    }
}

/// Options pointing at `dovecot`, trusting its CA.
fn options(dovecot: &Dovecot) -> ImapOptions {
    ImapOptions {
        host: dovecot.host().to_owned(),
        port: dovecot.port(),
        user: dovecot.user().to_owned(),
        password: dovecot.password().to_owned(),
        ca_file: Some(dovecot.ca_pem_path()),
        ..ImapOptions::default()
    }
}

/// Every input, panicking on any error.
fn read_all(source: &mut ImapSource) -> Vec<Input> {
    let mut inputs = Vec::new();
    while let Some(item) = source.next_input() {
        inputs.push(item.unwrap_or_else(|e| panic!("unexpected source error: {e}")));
    }
    inputs
}

#[test]
fn dry_run_reads_unseen_and_changes_no_flag() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    seed(&dovecot, 4, 2);
    let before = dovecot.flags("INBOX");

    let mut source = connect(ImapOptions {
        dry_run: true,
        ..options(&dovecot)
    })
    .unwrap();
    assert_eq!(source.len_hint(), Some(4));
    let inputs = read_all(&mut source);
    assert_eq!(inputs.len(), 4);
    for input in &inputs {
        source.ack(input).unwrap();
    }
    source.finish().unwrap();

    assert_eq!(dovecot.flags("INBOX"), before);
    assert_eq!(dovecot.seen_count("INBOX"), 2);
}

#[test]
fn default_run_marks_seen_only_on_ack() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    seed(&dovecot, 4, 2);

    let mut source = connect(options(&dovecot)).unwrap();
    assert_eq!(source.len_hint(), Some(4));
    let inputs = read_all(&mut source);
    assert_eq!(inputs.len(), 4);
    // Fetching uses BODY.PEEK[]: nothing is seen before the ack.
    assert_eq!(dovecot.seen_count("INBOX"), 2);

    for input in &inputs {
        source.ack(input).unwrap();
    }
    source.finish().unwrap();
    assert_eq!(dovecot.seen_count("INBOX"), 6);
    assert_eq!(dovecot.count("INBOX"), 6);
}

#[test]
fn inputs_are_mail_named_by_folder_uid_and_message_id() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    seed(&dovecot, 2, 0);
    let mut source = connect(options(&dovecot)).unwrap();
    let inputs = read_all(&mut source);

    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "imap:INBOX/UID 1 <msg-0@example.org>",
            "imap:INBOX/UID 2 <msg-1@example.org>"
        ]
    );
    assert_eq!(inputs[0].token, 1);
    assert_eq!(inputs[0].kind, InputKind::Mail);
    assert_eq!(*inputs[1].bytes, message(1));
}

#[test]
fn all_reads_seen_messages_too() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    seed(&dovecot, 4, 2);
    let mut source = connect(ImapOptions {
        all: true,
        ..options(&dovecot)
    })
    .unwrap();
    assert_eq!(source.len_hint(), Some(6));
    assert_eq!(read_all(&mut source).len(), 6);
    source.finish().unwrap();
}

#[test]
fn move_to_archive_empties_inbox() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    seed(&dovecot, 4, 2);
    let mut source = connect(ImapOptions {
        all: true,
        move_to: Some("Archive".into()),
        ..options(&dovecot)
    })
    .unwrap();
    let inputs = read_all(&mut source);
    assert_eq!(inputs.len(), 6);
    assert_eq!(dovecot.count("Archive"), 0, "nothing moves before the ack");
    for input in &inputs {
        source.ack(input).unwrap();
    }
    source.finish().unwrap();

    assert_eq!(dovecot.count("INBOX"), 0);
    assert_eq!(dovecot.count("Archive"), 6);
    assert_eq!(dovecot.seen_count("Archive"), 6);
}

#[test]
fn move_without_move_capability_copies_and_expunges_each_group() {
    let Some(dovecot) = Dovecot::start_with(Options {
        hide_move: true,
        rawlog: true,
        ..Options::default()
    }) else {
        return;
    };
    seed(&dovecot, 3, 1);
    dovecot.create_folder("Archive");
    let before = dovecot.sessions_logged();
    let mut source = connect(ImapOptions {
        move_to: Some("Archive".into()),
        ..options(&dovecot)
    })
    .unwrap();
    let inputs = read_all(&mut source);
    assert_eq!(inputs.len(), 3);
    assert!(source.ack_group(&inputs).is_empty());
    // Marked on the second connection: wait for it.
    assert!(source.ack_wait().is_empty());
    // Copied, flagged and expunged (UID EXPUNGE, RFC 4315) as one group;
    // the seen message that was not read stays.
    assert_eq!(dovecot.count("INBOX"), 1);
    assert_eq!(dovecot.count("Archive"), 3);
    source.finish().unwrap();
    let commands = dovecot.commands(&before);
    let sent = |verb: &str| commands.iter().filter(|c| c.starts_with(verb)).count();
    assert_eq!(
        (sent("UID COPY"), sent("UID STORE"), sent("UID EXPUNGE")),
        (1, 2, 1),
        "{commands:#?}"
    );
}

#[test]
fn self_signed_server_needs_ca_file() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    seed(&dovecot, 1, 0);

    let err = connect(ImapOptions {
        ca_file: None,
        ..options(&dovecot)
    })
    .unwrap_err();
    assert!(err.fatal);
    assert!(
        err.reason.to_string().contains("certificate"),
        "not a certificate error: {err}"
    );
    assert!(!err.to_string().contains(dovecot.password()));

    let mut source = connect(options(&dovecot)).unwrap();
    assert_eq!(read_all(&mut source).len(), 1);
}

#[test]
fn wrong_password_is_fatal_and_not_echoed() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let err = connect(ImapOptions {
        password: "not-the-password-x9".into(),
        ..options(&dovecot)
    })
    .unwrap_err();
    assert!(err.fatal);
    assert!(err.reason.to_string().contains("login"), "{err}");
    assert!(!err.to_string().contains("not-the-password-x9"), "{err}");
}

#[test]
fn missing_folder_is_fatal() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let err = connect(ImapOptions {
        folder: "NoSuchFolder".into(),
        ..options(&dovecot)
    })
    .unwrap_err();
    assert!(err.fatal);
    assert!(err.reason.to_string().contains("NoSuchFolder"), "{err}");
}

#[test]
fn batches_of_three_cover_ten_messages() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    seed(&dovecot, 10, 0);
    let mut source = connect(ImapOptions {
        batch: 3,
        ..options(&dovecot)
    })
    .unwrap();
    let inputs = read_all(&mut source);
    let uids: Vec<u64> = inputs.iter().map(|i| i.token).collect();
    assert_eq!(uids, (1..=10).collect::<Vec<u64>>());
    for (n, input) in inputs.iter().enumerate() {
        assert_eq!(*input.bytes, message(n));
    }
}

#[test]
fn dropped_source_leaves_unacked_messages_unseen() {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    seed(&dovecot, 4, 2);
    {
        let mut source = connect(options(&dovecot)).unwrap();
        let first = source.next_input().unwrap().unwrap();
        let _second = source.next_input().unwrap().unwrap();
        source.ack(&first).unwrap();
        // Dropped here, as if the run were killed: no finish.
    }
    assert_eq!(dovecot.seen_count("INBOX"), 3);

    let source = connect(options(&dovecot)).unwrap();
    assert_eq!(source.len_hint(), Some(3), "the next run sees the rest");
}

#[test]
fn starttls_upgrades_a_plain_connection() {
    let Some(dovecot) = Dovecot::start_with(Options {
        starttls: true,
        ..Options::default()
    }) else {
        return;
    };
    seed(&dovecot, 2, 0);
    let mut source = connect(ImapOptions {
        port: dovecot.starttls_port(),
        starttls: true,
        ..options(&dovecot)
    })
    .unwrap();
    assert_eq!(read_all(&mut source).len(), 2);

    // Implicit TLS spoken to the plain port fails cleanly.
    let err = connect(ImapOptions {
        port: dovecot.starttls_port(),
        ..options(&dovecot)
    })
    .unwrap_err();
    assert!(err.fatal);
}
