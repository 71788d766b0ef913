//! `dmarcdb imap` logging in with OAuth2 (XOAUTH2, OAUTHBEARER) against a
//! real Dovecot whose oauth2 passdb checks each token at an introspection
//! endpoint the test runs on loopback (`post` and `get` modes): a good token
//! from a file or a command works, a bad one is a clear login error, a
//! failing token command is reported with its exit status and stderr.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::cli::{reports_in_file as stored, run_ok, stderr_text as stderr};
use common::dovecot::imap_cmd_without_secrets as imap_cmd;
use common::dovecot::{Dovecot, OAuth2Passdb, Options};
use common::introspect::Introspection;
use common::mail::simple_report_mail;

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

/// `openssl x509 -fingerprint -sha256` of `pem`, as a user would get it.
fn openssl_fingerprint(pem: &Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    // "sha256 Fingerprint=AB:CD:..."
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit('=').next().unwrap().to_owned()
}

/// `[[imap]]` accounts log in with OAuth2 too (a token command, a token
/// file with a chosen mechanism) and trust their server as the flags do
/// (a pinned fingerprint, a CA file); a bad token in one account is that
/// account's login error, and the others are still read.
#[test]
fn oauth2_accounts_of_the_config_file_log_in() {
    let endpoint = Introspection::start(GOOD_TOKEN, "dmarc");
    let Some(d) = Dovecot::start_with(Options {
        self_signed: true,
        oauth2: Some(OAuth2Passdb {
            introspection_url: endpoint.url(),
            introspection_mode: "post",
        }),
        ..Options::default()
    }) else {
        return;
    };
    d.append(
        "INBOX",
        &simple_report_mail("oauth-account-1", 1_760_000_000),
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{GOOD_TOKEN}\n")).unwrap();
    let account = |name: &str, login: &str, trust: &str| {
        format!(
            "[[imap]]\nname = \"{name}\"\nhost = \"{host}\"\nport = {port}\nuser = \"{user}\"\n\
             {login}\n{trust}\n\n",
            host = d.host(),
            port = d.port(),
            user = d.user(),
        )
    };
    let fp = openssl_fingerprint(&d.ca_pem_path());
    let text = [
        account(
            "pinned",
            &format!("oauth2_token_command = \"echo {GOOD_TOKEN}\""),
            &format!("tls_fingerprint = \"{fp}\""),
        ),
        account(
            "file",
            &format!(
                "oauth2_token_file = \"{}\"\noauth2_mechanism = \"xoauth2\"",
                token.display()
            ),
            &format!("ca_file = \"{}\"", d.ca_pem_path().display()),
        ),
        account(
            "expired",
            "oauth2_token_command = \"echo expired-token-0815\"",
            &format!("ca_file = \"{}\"", d.ca_pem_path().display()),
        ),
    ]
    .concat();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let imap = |args: &[&str]| {
        let mut c = Command::cargo_bin("dmarcdb").unwrap();
        for k in [
            "DMARCDB_DB",
            "DMARC_IMAP_HOST",
            "DMARC_IMAP_PORT",
            "DMARC_IMAP_USER",
            "DMARC_IMAP_PASS",
            "DMARC_IMAP_OAUTH2_TOKEN_FILE",
            "DMARC_IMAP_OAUTH2_TOKEN_COMMAND",
        ] {
            c.env_remove(k);
        }
        c.arg("--config")
            .arg(&cfg)
            .arg("--db")
            .arg(&db)
            .arg("imap")
            .args(args);
        c
    };

    let out = run_ok(&mut imap(&["--account", "pinned"]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(GOOD_TOKEN));
    assert_eq!(stored(&db), 1);
    assert_eq!(d.seen_count("INBOX"), 1);

    d.append(
        "INBOX",
        &simple_report_mail("oauth-account-2", 1_760_000_000),
        false,
    );
    // Every account in turn: two log in, the expired token is refused.
    let out = imap(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("account expired") && err.contains("OAuth2 login") && err.contains("refused"),
        "{err}"
    );
    assert!(!err.contains("expired-token-0815"), "token leaked: {err}");
    assert!(
        !err.contains("account pinned") && !err.contains("account file"),
        "{err}"
    );
    assert_eq!(stored(&db), 2);
    assert_eq!(d.seen_count("INBOX"), 2);
    assert!(endpoint.requests() >= 3, "Dovecot never asked the endpoint");
}
