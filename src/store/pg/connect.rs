//! Connecting to PostgreSQL from a `postgres://` / `postgresql://` URL as
//! libpq reads one: `sslmode` (`disable`, `prefer` (the default),
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert` (a PEM file,
//! or `system` for the platform's roots; `~/.postgresql/root.crt` when
//! unset), TLS through rustls; the password from the URL, else
//! `PGPASSWORD`, else the password file (`PGPASSFILE` or `~/.pgpass`,
//! ignored unless private to its owner, as libpq does).
//!
//! The URL's password never reaches a message: [`scrub`] is how a URL is
//! shown, and connection errors carry the driver's text, not the URL.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::{Client, Config, NoTls};
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, RootCertStore};

use super::super::DbError;
use crate::tls_verify::{self, CertCheck, Verifier};

/// Whether `db` names a PostgreSQL server rather than a file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` with its password (in the user part or a `password=` parameter)
/// replaced by `***`, for messages.
pub fn scrub(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (auth, host) = match rest.rsplit_once('@') {
                Some((auth, host)) => (Some(auth), host),
                None => (None, rest),
            };
            match auth {
                Some(auth) => match auth.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                    None => format!("{scheme}://{auth}@{host}"),
                },
                None => format!("{scheme}://{host}"),
            }
        }
        None => base.to_string(),
    };
    if !query.is_empty() {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k == "password" => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// `sslmode`, as libpq defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Connects to the server `url` names.
pub fn connect(url: &str) -> Result<Client, DbError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = Mode::Prefer;
    let mut root: Option<String> = None;
    let mut rest = Vec::new();
    for p in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let value = decode(v);
        match k {
            "sslmode" => {
                mode = match value.as_str() {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(DbError::setup(format!(
                    "unknown sslmode {other:?} (disable, prefer, require, verify-ca, verify-full)"
                )))
                    }
                }
            }
            "sslrootcert" => root = Some(value),
            _ => rest.push(p),
        }
    }
    let text = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config = Config::from_str(&text)
        .map_err(|e| DbError::setup(format!("bad PostgreSQL URL {}: {e}", scrub(url))))?;
    let no_password = fill_defaults(&mut config);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(30));
    }
    // libpq: with a root certificate, `require` checks the chain.
    if mode == Mode::Require && root.is_some() {
        mode = Mode::VerifyCa;
    }
    if mode == Mode::Disable {
        config.ssl_mode(SslMode::Disable);
        return config
            .connect(NoTls)
            .map_err(|e| asked(e, no_password.as_deref()));
    }
    config.ssl_mode(match mode {
        Mode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    let tls = tls_config(mode, root.as_deref())?;
    config
        .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        .map_err(|e| asked(e, no_password.as_deref()))
}

/// A connection error; when the server asked for a password and there was
/// none, that said plainly (the driver only says "password missing"),
/// with where it was looked for.
fn asked(e: postgres::Error, no_password: Option<&str>) -> DbError {
    match no_password {
        Some(why)
            if e.as_db_error().is_none() && super::describe(&e).contains("password missing") =>
        {
            DbError::setup(format!(
                "the server asks for a password and none was given: not in the URL, \
                 no PGPASSWORD, {why}"
            ))
        }
        _ => e.into(),
    }
}

/// The user (`PGUSER`, else the login name) and the password (`PGPASSWORD`,
/// else the password file) when the URL has none. Without a password
/// anywhere, where it was looked for (for the error, if the server asks).
fn fill_defaults(config: &mut Config) -> Option<String> {
    if config.get_user().is_none() {
        if let Some(user) = std::env::var("PGUSER")
            .ok()
            .or_else(|| std::env::var("USER").ok())
        {
            config.user(&user);
        }
    }
    if config.get_password().is_some() {
        return None;
    }
    if let Ok(pw) = std::env::var("PGPASSWORD") {
        config.password(pw.as_bytes());
        return None;
    }
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    let db = config.get_dbname().unwrap_or(&user).to_string();
    match pgpass(&[&host, &port, &db, &user]) {
        Ok(pw) => {
            config.password(pw.as_bytes());
            None
        }
        Err(why) => Some(why),
    }
}

/// The password for (host, port, database, user) in the password file, or
/// why there is none.
fn pgpass(want: &[&str; 4]) -> Result<String, String> {
    let path = match std::env::var_os("PGPASSFILE") {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".pgpass"),
            None => return Err("no password file: HOME is not set".into()),
        },
    };
    let shown = path.display();
    let meta = std::fs::metadata(&path).map_err(|_| format!("no password file {shown}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // libpq ignores a file others can read.
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "password file {shown} ignored: others can read it (chmod 600 it)"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("password file {shown}: {e}"))?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| pgpass_line(line, want))
        .ok_or_else(|| format!("no line for {} in password file {shown}", want.join(":")))
}

/// The password of one password-file line, if its fields match `want`
/// (`*` matches anything; `\:` and `\\` are escapes).
fn pgpass_line(line: &str, want: &[&str; 4]) -> Option<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut()?.push(chars.next().unwrap_or('\\')),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    if fields.len() != 5 {
        return None;
    }
    let matches = fields[..4]
        .iter()
        .zip(want)
        .all(|(f, w)| f == "*" || f == w);
    matches.then(|| fields[4].clone())
}

/// `%XX` escapes of a URL parameter decoded.
fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rustls configuration of `mode`.
fn tls_config(mode: Mode, root: Option<&str>) -> Result<ClientConfig, DbError> {
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        Mode::Disable | Mode::Prefer | Mode::Require => Arc::new(Verifier::new(NoCheck)),
        Mode::VerifyCa | Mode::VerifyFull => {
            let webpki = tls_verify::webpki(roots(root)?)
                .map_err(|e| DbError::setup(format!("TLS setup: {e}")))?;
            if mode == Mode::VerifyFull {
                webpki
            } else {
                Arc::new(Verifier::new(ChainOnly(webpki)))
            }
        }
    };
    tls_verify::client_config(verifier).map_err(|e| DbError::setup(format!("TLS setup: {e}")))
}

/// The root certificates: `sslrootcert`'s file, the platform's for
/// `system`, else `~/.postgresql/root.crt`.
fn roots(root: Option<&str>) -> Result<RootCertStore, DbError> {
    let mut store = RootCertStore::empty();
    if root == Some("system") {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = store.add(cert);
        }
        return Ok(store);
    }
    let path = match root {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".postgresql/root.crt")
        }
    };
    let bad = |why: String| DbError::setup(format!("root certificate {}: {why}", path.display()));
    let file = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
    for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(file)) {
        store
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(store)
}

/// `sslmode=prefer|require`: encrypted, the certificate not checked (as
/// libpq without a root certificate).
#[derive(Debug)]
struct NoCheck;

impl CertCheck for NoCheck {
    fn check(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name in
/// the certificate is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl CertCheck for ChainOnly {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_passwords_in_the_user_part_and_parameters() {
        assert_eq!(
            scrub("postgres://me:s3cret@db.example:5432/dmarc?sslmode=require"),
            "postgres://me:***@db.example:5432/dmarc?sslmode=require"
        );
        assert_eq!(
            scrub("postgresql://db/x?password=s3cret&sslmode=disable"),
            "postgresql://db/x?password=***&sslmode=disable"
        );
        assert_eq!(scrub("postgres://me@db/x"), "postgres://me@db/x");
    }

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let want = ["db.example", "5432", "dmarc", "me"];
        assert_eq!(
            pgpass_line("db.example:*:dmarc:me:pa\\:ss", &want),
            Some("pa:ss".into())
        );
        assert_eq!(pgpass_line("other:*:*:*:x", &want), None);
        assert_eq!(pgpass_line("*:*:*:*:a:b", &want), Some("a:b".into()));
    }

    #[test]
    fn a_bad_sslmode_is_refused_without_showing_the_password() {
        let e = connect("postgres://me:s3cret@127.0.0.1:1/x?sslmode=bogus")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown sslmode"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }
}
