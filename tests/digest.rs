//! `dmarcdb digest` and the email channel of `alert --notify`, against a
//! real Exim on loopback (login over plain text, which dmarcdb allows only
//! on loopback): the message arrives with a text and an HTML part holding
//! the right figures; the password never shows.

mod common;

use common::cli::{dmarcdb, run_ok};
use common::pages::{database, query_json, HOSTILE_IP, SINCE, UNTIL};
use common::smtp::Exim;
use mail_parser::MessageParser;

fn smtp_flags(exim: &Exim, password_file: &std::path::Path) -> Vec<String> {
    vec![
        "--smtp-host".into(),
        exim.host().into(),
        "--smtp-port".into(),
        exim.port().to_string(),
        "--smtp-security".into(),
        "plain".into(),
        "--smtp-user".into(),
        exim.user().into(),
        "--smtp-password-file".into(),
        password_file.display().to_string(),
        "--smtp-from".into(),
        "dmarcdb <dmarc@example.org>".into(),
    ]
}

#[test]
fn digest_arrives_with_both_parts_and_the_right_figures() {
    let Some(exim) = Exim::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let pw = dir.path().join("smtp-password");
    std::fs::write(&pw, format!("{}\n", exim.password())).unwrap();
    let out = run_ok(
        dmarcdb(&db)
            .args(["digest", "--to", "postmaster@example.org"])
            .args(["--since", SINCE, "--until", UNTIL])
            .args(smtp_flags(&exim, &pw)),
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!said.contains(exim.password()), "{said}");

    let raw = exim.wait_for_messages(1).remove(0);
    let msg = MessageParser::default().parse(&raw).unwrap();
    let to = msg
        .to()
        .unwrap()
        .first()
        .unwrap()
        .address()
        .unwrap()
        .to_string();
    assert_eq!(to, "postmaster@example.org");
    let sources = query_json(&db, "sources");
    let rows = sources.as_array().unwrap();
    let total: i64 = rows.iter().map(|s| s["messages"].as_i64().unwrap()).sum();
    let pass: i64 = rows
        .iter()
        .map(|s| s["messages_pass"].as_i64().unwrap())
        .sum();
    let pct = (1000.0 * pass as f64 / total as f64).round() / 10.0;
    let subject = msg.subject().unwrap();
    assert_eq!(
        subject,
        format!("DMARC digest {SINCE} to {UNTIL}: {total} messages, {pct:.1} % pass")
    );
    let text = msg.body_text(0).unwrap();
    let html = msg.body_html(0).unwrap();
    assert_eq!(msg.text_body.len(), 1, "one text part");
    assert_eq!(msg.html_body.len(), 1, "one HTML part");
    assert!(text.contains(&format!("Messages: {total}")), "{text}");
    assert!(text.contains(&format!("DMARC pass: {pct:.1} %")), "{text}");
    assert!(
        text.contains(&format!("Failing: {}", total - pass)),
        "{text}"
    );
    assert!(
        text.contains(&format!("possible spoofing: {HOSTILE_IP}")),
        "{text}"
    );
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains(&format!("<span class=\"value\">{total}</span>")),
        "{html}"
    );
    assert!(
        html.contains(&format!("<span class=\"value\">{pct:.1} %</span>")),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
}

#[test]
fn a_wrong_password_fails_the_digest_without_showing_it() {
    let Some(exim) = Exim::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let pw = dir.path().join("smtp-password");
    std::fs::write(&pw, "not-the-password-xyz\n").unwrap();
    let out = dmarcdb(&db)
        .args(["digest", "--to", "postmaster@example.org"])
        .args(smtp_flags(&exim, &pw))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sending mail through 127.0.0.1"), "{err}");
    assert!(!err.contains("not-the-password-xyz"), "{err}");
}

#[test]
fn plain_text_smtp_off_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let out = dmarcdb(&db)
        .args(["digest", "--to", "a@example.org"])
        .args(["--smtp-host", "192.0.2.25", "--smtp-security", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without TLS to 192.0.2.25"), "{err}");
}

#[test]
fn alert_notify_sends_the_problems_by_mail() {
    let Some(exim) = Exim::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let out = dmarcdb(&db)
        .args(["alert", "--notify", "--email", "soc@example.org"])
        .args(["--since", SINCE, "--until", UNTIL])
        .env("DMARCDB_SMTP_HOST", exim.host())
        .env("DMARCDB_SMTP_PORT", exim.port().to_string())
        .env("DMARCDB_SMTP_SECURITY", "plain")
        .env("DMARCDB_SMTP_USER", exim.user())
        .env("DMARCDB_SMTP_PASS", exim.password())
        .env("DMARCDB_SMTP_FROM", "dmarc@example.org")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("warning"), "{err}");
    let raw = exim.wait_for_messages(1).remove(0);
    let msg = MessageParser::default().parse(&raw).unwrap();
    let text = msg.body_text(0).unwrap();
    assert!(
        text.contains(&format!("{HOSTILE_IP} (EXTERNAL): 30 failing msgs")),
        "{text}"
    );
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains(&format!("{HOSTILE_IP} (EXTERNAL): 30 failing msgs")),
        "{html}"
    );
    assert!(msg.subject().unwrap().contains("DMARC alignment alert"));
}

/// `digest` through `port` with `security`, trusting the harness CA when
/// `trust` is set; the run's output.
fn digest_via(exim: &Exim, port: u16, security: &str, trust: bool) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let mut cmd = dmarcdb(&db);
    cmd.args(["digest", "--to", "postmaster@example.org"])
        .args(["--since", SINCE, "--until", UNTIL])
        .args(["--smtp-host", "127.0.0.1", "--smtp-port", &port.to_string()])
        .args(["--smtp-security", security, "--smtp-user", exim.user()])
        .env("DMARCDB_SMTP_PASS", exim.password());
    if trust {
        cmd.arg("--smtp-ca-file").arg(exim.ca_pem_path());
    }
    cmd.output().unwrap()
}

#[test]
fn starttls_and_implicit_tls_verify_the_server_certificate() {
    let Some(exim) = Exim::start() else { return };
    let out = digest_via(&exim, exim.port(), "starttls", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = digest_via(&exim, exim.tls_port(), "tls", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let delivered = exim.wait_for_messages(2);
    assert_eq!(delivered.len(), 2);
    let log = exim.log();
    assert_eq!(log.matches(" X=TLS").count(), 2, "both over TLS:\n{log}");
    // A certificate from a CA nobody trusts stops the run.
    let out = digest_via(&exim, exim.port(), "starttls", false);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sending mail through 127.0.0.1"), "{err}");
    assert!(!err.contains(exim.password()), "{err}");
}
