//! How `dmarcdb imap` trusts a server, against a real Dovecot and `openssl
//! s_server`: a self-signed certificate made with OpenSSL 3's defaults
//! (CA:TRUE) given as `--ca-file`, still refused for another name or once
//! expired; a pinned `--tls-fingerprint`; and the error that says which of
//! the two to use.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::cli::{reports_in_file as stored, run_ok, stderr_text as stderr};
use common::dovecot::imap_cmd_without_secrets as imap_cmd;
use common::dovecot::{Dovecot, Options};
use common::mail::simple_report_mail;

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

fn self_signed() -> Option<Dovecot> {
    Dovecot::start_with(Options {
        self_signed: true,
        ..Options::default()
    })
}

#[test]
fn self_signed_ca_true_certificate_is_trusted_as_the_ca_file() {
    let Some(d) = self_signed() else { return };
    // The harness made it the usual way; OpenSSL 3 marks it CA:TRUE, which
    // is the case that matters.
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(d.ca_pem_path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"));
    d.append(
        "INBOX",
        &simple_report_mail("self-signed-1", 1_760_000_000),
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pw = d.write_password_file();

    // Without it: refused, and the error says what to do, with the
    // fingerprint to pin.
    let out = imap_cmd(&d, &db)
        .arg("--password-file")
        .arg(&pw)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let fp = openssl_fingerprint(&d.ca_pem_path());
    assert!(
        err.contains("--ca-file") && err.contains("--tls-fingerprint"),
        "{err}"
    );
    assert!(
        err.contains(&fp),
        "the fingerprint {fp} is not named: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert_eq!(d.seen_count("INBOX"), 0);

    // With it: trusted.
    run_ok(
        imap_cmd(&d, &db)
            .arg("--password-file")
            .arg(&pw)
            .arg("--ca-file")
            .arg(d.ca_pem_path()),
    );
    assert_eq!(stored(&db), 1);
    assert_eq!(d.seen_count("INBOX"), 1);
}

/// `openssl s_server` on a free loopback port with `cert`/`key`; killed on drop.
struct TlsServer(std::process::Child, u16);

impl TlsServer {
    fn start(cert: &Path, key: &Path) -> TlsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "s_server did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        TlsServer(child, port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn own_certificate_for_another_name_is_still_refused() {
    // The server's own CA:TRUE certificate, in the CA file, but made for
    // another name: the name is still checked.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=mail.other.example"])
        .args(["-addext", "subjectAltName=DNS:mail.other.example"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let server = TlsServer::start(&cert, &key);
    let db = dir.path().join("n.db");
    let out = Command::cargo_bin("dmarcdb")
        .unwrap()
        .env_remove("DMARCDB_DB")
        .env("DMARC_IMAP_PASS", "unused")
        .arg("--db")
        .arg(&db)
        .args(["imap", "--host", "127.0.0.1", "--user", "u", "--port"])
        .arg(server.1.to_string())
        .arg("--ca-file")
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not valid for name"), "{err}");
    assert!(err.contains("--tls-fingerprint"), "{err}");
}

/// A self-signed CA:TRUE certificate for 127.0.0.1 that expired in 2020,
/// made with `openssl ca -selfsign` (the one way to backdate with the CLI).
fn expired_self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = p\nx509_extensions = ext\n[p]\ncommonName = supplied\n\
         [ext]\nbasicConstraints = critical,CA:TRUE\nsubjectAltName = IP:127.0.0.1\n",
    )
    .unwrap();
    let (cert, key) = (dir.join("old.pem"), dir.join("old.key"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    run(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "old.key",
        "-out",
        "old.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-selfsign",
        "-keyfile",
        "old.key",
        "-in",
        "old.csr",
        "-out",
        "old.pem",
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200102000000Z",
    ]);
    (cert, key)
}

#[test]
fn own_certificate_that_expired_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = expired_self_signed(dir.path());
    let server = TlsServer::start(&cert, &key);
    let out = Command::cargo_bin("dmarcdb")
        .unwrap()
        .env_remove("DMARCDB_DB")
        .env("DMARC_IMAP_PASS", "unused")
        .arg("--db")
        .arg(dir.path().join("e.db"))
        .args(["imap", "--host", "127.0.0.1", "--user", "u", "--port"])
        .arg(server.1.to_string())
        .arg("--ca-file")
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("expired"), "{err}");
    assert!(!dir.path().join("e.db").exists() || stored(&dir.path().join("e.db")) == 0);
}

#[test]
fn pinned_fingerprint_accepts_that_certificate_only() {
    let Some(d) = self_signed() else { return };
    d.append(
        "INBOX",
        &simple_report_mail("pinned-1", 1_760_000_000),
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let pw = d.write_password_file();
    let fp = openssl_fingerprint(&d.ca_pem_path());

    // Another fingerprint: refused, saying it was pinned.
    let wrong = "00:".repeat(31) + "00";
    let out = imap_cmd(&d, &db)
        .arg("--password-file")
        .arg(&pw)
        .args(["--tls-fingerprint", &wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("pinned") && err.contains(&fp), "{err}");
    assert_eq!(stored(&db), 0);

    // Not a fingerprint at all: a usage error naming the flag.
    let out = imap_cmd(&d, &db)
        .arg("--password-file")
        .arg(&pw)
        .args(["--tls-fingerprint", "abc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--tls-fingerprint"),
        "{}",
        stderr(&out)
    );

    // The right one, without colons and in lower case: accepted.
    let plain = fp.replace(':', "").to_lowercase();
    run_ok(
        imap_cmd(&d, &db)
            .arg("--password-file")
            .arg(&pw)
            .args(["--tls-fingerprint", &plain]),
    );
    assert_eq!(stored(&db), 1);
}

#[test]
fn private_ca_still_verifies_and_pinning_its_ca_is_not_enough() {
    let Some(d) = Dovecot::start() else { return };
    d.append("INBOX", &simple_report_mail("ca-1", 1_760_000_000), false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let pw = d.write_password_file();
    // Pinning pins the server's certificate, not its issuer.
    let ca_fp = openssl_fingerprint(&d.ca_pem_path());
    let out = imap_cmd(&d, &db)
        .arg("--password-file")
        .arg(&pw)
        .args(["--tls-fingerprint", &ca_fp])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    run_ok(
        imap_cmd(&d, &db)
            .arg("--password-file")
            .arg(&pw)
            .arg("--ca-file")
            .arg(d.ca_pem_path()),
    );
    assert_eq!(stored(&db), 1);
    // The server's own certificate without its CA (as exported from a mail
    // client) is trusted too.
    d.append("INBOX", &simple_report_mail("ca-2", 1_760_000_000), false);
    run_ok(
        imap_cmd(&d, &db)
            .arg("--password-file")
            .arg(&pw)
            .arg("--ca-file")
            .arg(d.dir().join("server.pem")),
    );
    assert_eq!(stored(&db), 2);
}
