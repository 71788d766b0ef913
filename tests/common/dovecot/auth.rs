//! The harness's variations on how a client is trusted and logs in: a
//! self-signed server certificate made the common way, and Dovecot's oauth2
//! passdb asking a token introspection endpoint (see `introspect.rs`).

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use super::certs::openssl;
use super::{chmod, other, Failure, Session, HOST, USER};

/// Dovecot's oauth2 passdb settings (`dovecot-oauth2.conf.ext`).
#[derive(Debug, Clone)]
pub struct OAuth2Passdb {
    /// `http://127.0.0.1:PORT/...`
    pub introspection_url: String,
    /// `post` (the token as the form field `token`), `get` (appended to the
    /// URL) or `auth` (an `Authorization: Bearer` header).
    pub introspection_mode: &'static str,
}

/// The oauth2 passdb's settings (2.3): the token is checked at the
/// introspection endpoint only (no tokeninfo URL), which must answer
/// `{"active": true, "username": "dmarc"}` for a good token.
pub(super) fn write_oauth2_conf(root: &Path, o: &OAuth2Passdb) -> Result<(), Failure> {
    let path = root.join("dovecot-oauth2.conf.ext");
    fs::write(
        &path,
        format!(
            "introspection_mode = {}\nintrospection_url = {}\nforce_introspection = yes\n\
             username_attribute = username\nactive_attribute = active\nactive_value = true\n",
            o.introspection_mode, o.introspection_url
        ),
    )
    .map_err(|e| other("write dovecot-oauth2.conf.ext", e))?;
    chmod(&path, 0o644)
}

/// `server.pem`/`server.key` made as people do for a small server, with
/// OpenSSL 3's defaults (so the certificate says CA:TRUE), and `ca.pem` a
/// copy of `server.pem`: the file a user would pass as `--ca-file`.
pub(super) fn write_self_signed(root: &Path) -> Result<(), Failure> {
    let path = |name: &str| root.join(name).display().to_string();
    openssl(
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes"],
        &[
            "-keyout",
            &path("server.key"),
            "-out",
            &path("server.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
    )?;
    fs::copy(root.join("server.pem"), root.join("ca.pem"))
        .map_err(|e| other("copy server.pem", e))?;
    chmod(&root.join("ca.pem"), 0o644)
}

/// TLS to a server whose `ca.pem` is its own self-signed certificate: that
/// certificate's SHA-256 is pinned through dmarcdb's own TLS module (webpki
/// alone refuses a CA:TRUE certificate as a server's), then LOGIN.
pub(super) fn login_pinned(root: &Path, port: u16, password: &str) -> Result<Session, String> {
    let pem = fs::read(root.join("ca.pem")).map_err(|e| e.to_string())?;
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .ok_or("no certificate in ca.pem")?
        .map_err(|e| e.to_string())?;
    let trust = dmarcdb::source::tls::TlsOptions {
        ca_file: None,
        fingerprint: Some(dmarcdb::source::tls::Fingerprint::of(&der)),
    };
    let tcp = TcpStream::connect((HOST, port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let stream = dmarcdb::source::tls::handshake(tcp, HOST, &trust).map_err(|e| e.to_string())?;
    let mut client = imap::Client::new(stream);
    client.read_greeting().map_err(|e| e.to_string())?;
    client
        .login(USER, password)
        .map_err(|(e, _)| format!("LOGIN: {e}"))
}
