//! `dmarcdb imap` logging in with OAuth2 (XOAUTH2, OAUTHBEARER) against a
//! real Dovecot whose oauth2 passdb checks each token at an introspection
//! endpoint the test runs on loopback (`post` and `get` modes): a good token
//! from a file or a command works, a bad one is a clear login error, a
//! failing token command is reported with its exit status and stderr.

mod common;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use common::cli::run_ok;
use common::dovecot::{Dovecot, OAuth2Passdb, Options};
use common::introspect::Introspection;
use common::mail::simple_report_mail;
use rusqlite::Connection;

/// `dmarcdb --db DB imap` at `d`, with host, port and user but no password
/// and no CA.
fn imap_cmd(d: &Dovecot, db: &Path) -> Command {
    let mut c = Command::cargo_bin("dmarcdb").unwrap();
    for k in ["DMARCDB_DB", "DMARC_IMAP_PASS"] {
        c.env_remove(k);
    }
    c.env("DMARC_IMAP_HOST", d.host())
        .env("DMARC_IMAP_PORT", d.port().to_string())
        .env("DMARC_IMAP_USER", d.user())
        .arg("--db")
        .arg(db)
        .arg("imap");
    c
}

fn stored(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM report", [], |r| r.get(0))
        .unwrap_or(0)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const GOOD_TOKEN: &str = "ya29.good-token-4711";

/// Dovecot checking tokens at an introspection endpoint that accepts
/// [`GOOD_TOKEN`] for the test user.
fn oauth_server(mode: &'static str) -> Option<(Dovecot, Introspection)> {
    let endpoint = Introspection::start(GOOD_TOKEN, "dmarc");
    let d = Dovecot::start_with(Options {
        oauth2: Some(OAuth2Passdb {
            introspection_url: if mode == "get" {
                endpoint.get_url()
            } else {
                endpoint.url()
            },
            introspection_mode: mode,
        }),
        ..Options::default()
    })?;
    Some((d, endpoint))
}

#[test]
fn oauth2_token_file_logs_in_with_each_mechanism() {
    let Some((d, endpoint)) = oauth_server("post") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{GOOD_TOKEN}\n")).unwrap();
    for (i, mechanism) in ["xoauth2", "oauthbearer"].into_iter().enumerate() {
        d.append(
            "INBOX",
            &simple_report_mail(&format!("oauth-{i}"), 1_760_000_000),
            false,
        );
        let out = run_ok(
            imap_cmd(&d, &db)
                .arg("--ca-file")
                .arg(d.ca_pem_path())
                .arg("--oauth2-token-file")
                .arg(&token)
                .args(["--oauth2-mechanism", mechanism]),
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains(GOOD_TOKEN));
        assert_eq!(stored(&db), i as i64 + 1, "{mechanism}");
    }
    assert!(endpoint.requests() >= 2, "Dovecot never asked the endpoint");
    // Without --oauth2-mechanism: what the server advertises.
    d.append(
        "INBOX",
        &simple_report_mail("oauth-auto", 1_760_000_000),
        false,
    );
    run_ok(
        imap_cmd(&d, &db)
            .arg("--ca-file")
            .arg(d.ca_pem_path())
            .arg("--oauth2-token-file")
            .arg(&token),
    );
    assert_eq!(stored(&db), 3);
    assert_eq!(d.seen_count("INBOX"), 3);
}

#[test]
fn oauth2_bad_token_is_a_clear_login_error() {
    let Some((d, endpoint)) = oauth_server("get") else {
        return;
    };
    d.append(
        "INBOX",
        &simple_report_mail("oauth-bad", 1_760_000_000),
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    for mechanism in ["xoauth2", "oauthbearer"] {
        let out = imap_cmd(&d, &db)
            .arg("--ca-file")
            .arg(d.ca_pem_path())
            .args(["--oauth2-token-command", "echo expired-token-0815"])
            .args(["--oauth2-mechanism", mechanism])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{mechanism}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("OAuth2 login") && err.contains("refused"),
            "{err}"
        );
        assert!(err.contains(&mechanism.to_uppercase()), "{err}");
        assert!(!err.contains("expired-token-0815"), "token leaked: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
    assert!(endpoint.requests() >= 2, "Dovecot never asked the endpoint");
    assert_eq!(d.seen_count("INBOX"), 0);

    // The good token from a command, in `get` mode: works.
    run_ok(
        imap_cmd(&d, &db)
            .arg("--ca-file")
            .arg(d.ca_pem_path())
            .args(["--oauth2-token-command", &format!("echo {GOOD_TOKEN}")]),
    );
    assert_eq!(stored(&db), 1);
}

#[test]
fn oauth2_token_command_failure_is_reported_before_login() {
    let Some((d, endpoint)) = oauth_server("post") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let out = imap_cmd(&d, &db)
        .arg("--ca-file")
        .arg(d.ca_pem_path())
        .args([
            "--oauth2-token-command",
            "echo half-a-token; echo 'refresh token revoked' >&2; exit 4",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("exit status 4") && err.contains("refresh token revoked"),
        "{err}"
    );
    assert!(!err.contains("half-a-token\n"), "{err}");
    assert_eq!(endpoint.requests(), 0, "no login was attempted");
}
