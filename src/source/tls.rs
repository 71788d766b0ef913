//! TLS for the IMAP source: which server certificates are trusted, and the
//! handshake that checks them.
//!
//! Three ways to trust a server, decided by [`TlsOptions`]:
//!
//! - **The system roots** (always), as any mail client does.
//! - **`ca_file`**: extra PEM certificates, each trusted as a root (a
//!   private CA). A certificate in that file that is byte for byte the one
//!   the server presents is trusted as the server's own, even when it says
//!   `CA:TRUE` — what `openssl req -x509` writes by default since OpenSSL 3,
//!   and what webpki refuses as `CaUsedAsEndEntity` — or when its issuer is
//!   unknown (a server certificate exported without its CA). It is still
//!   checked for the host name and (by webpki, which looks at the dates
//!   before the chain) its validity dates, and the handshake still proves
//!   the server holds its key; its extended key usage is not checked when
//!   it says CA:TRUE.
//! - **`fingerprint`**: the SHA-256 of the one certificate to accept
//!   (pinning, as `openssl x509 -fingerprint -sha256` prints it). Nothing
//!   else is checked about that certificate — not its name, dates or
//!   issuer — but the handshake signature is, so only the holder of its key
//!   gets through. Any other certificate is refused, even one the system
//!   trusts.
//!
//! A refused certificate gives an error naming the reason, the presented
//! certificate's fingerprint, and both ways to trust it.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, VerifierBuilderError, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConnection, RootCertStore, StreamOwned};
use sha2::{Digest, Sha256};

use crate::tls_verify::{self, CertCheck, Verifier};

/// A TLS stream over TCP, after a completed handshake.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Why no TLS session with the server came about; one line each, with
/// what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read CA file {}: {error}", .path.display())]
    CaFileUnreadable { path: PathBuf, error: io::Error },
    #[error("CA file {}: {error}", .path.display())]
    CaFileBad { path: PathBuf, error: io::Error },
    #[error("CA file {}: no PEM certificate in it", .path.display())]
    CaFileEmpty { path: PathBuf },
    #[error(
        "no trusted certificates: the system has no root certificates; pass --ca-file PEM or \
         --tls-fingerprint SHA256"
    )]
    NoRoots,
    /// rustls refused the configuration (a bug or an odd build).
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
    #[error("TLS setup: {0}")]
    Verifier(VerifierBuilderError),
    #[error("{0:?} is not a valid host name")]
    HostName(String),
    #[error("cannot start TLS: {0}")]
    Start(rustls::Error),
    /// The server's certificate was refused; see [`Refusal`].
    #[error("TLS handshake with {peer} failed: {refusal}")]
    Refused { peer: String, refusal: Box<Refusal> },
    /// The handshake failed for another reason (I/O, protocol, alert).
    #[error("TLS handshake with {peer} failed: {error}")]
    Handshake { peer: String, error: io::Error },
}

/// Why the server's certificate was refused, its fingerprint, and how to
/// trust it (the module doc's rules).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reason: RefusalReason,
    /// The SHA-256 of the certificate the server presented.
    pub fingerprint: Fingerprint,
    /// The pin it failed to match, when pinning.
    pub pin: Option<Fingerprint>,
}

/// What was wrong with a refused certificate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RefusalReason {
    #[error("it is not the pinned certificate")]
    NotPinned,
    /// webpki's `CaUsedAsEndEntity` for a certificate not in the CA file.
    #[error(
        "it is marked as a CA (CA:TRUE) but presented as the server's own, and it is not in \
         the --ca-file"
    )]
    CaAsServer,
    /// What rustls and webpki found (expired, unknown issuer, wrong name).
    #[error("{0}")]
    Invalid(rustls::Error),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fp = self.fingerprint;
        write!(
            f,
            "the server's certificate is not trusted: {} (its SHA-256 fingerprint is {fp}); ",
            self.reason
        )?;
        match self.pin {
            Some(pin) => write!(
                f,
                "the certificate was pinned with --tls-fingerprint {pin}; if the server's \
                 certificate was replaced, pin the new one (check it on the server with \
                 `openssl x509 -noout -fingerprint -sha256 -in CERT`)"
            ),
            None => write!(
                f,
                "to trust it, pass its CA, or the server's own certificate, with --ca-file PEM, \
                 or pin it with --tls-fingerprint {fp} after checking on the server that it is \
                 the same (`openssl x509 -noout -fingerprint -sha256 -in CERT`)"
            ),
        }
    }
}

/// Text that is not a SHA-256 fingerprint, quoted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a SHA-256 fingerprint (64 hex digits, colons allowed): {0:?}")]
pub struct NotAFingerprint(pub String);

/// What to trust besides the system roots; see the module doc.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM certificates: a private CA, or the server's own certificate.
    pub ca_file: Option<PathBuf>,
    /// Accept exactly the certificate with this SHA-256 (and no other).
    pub fingerprint: Option<Fingerprint>,
}

/// The SHA-256 of a DER certificate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    /// `AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = NotAFingerprint;

    /// 64 hex digits, either case, colons allowed between them; an
    /// `sha256` prefix (`SHA256:`, `sha256 Fingerprint=`) is ignored.
    fn from_str(s: &str) -> Result<Fingerprint, NotAFingerprint> {
        let mut text = s.trim();
        if let Some(eq) = text.rfind('=') {
            text = &text[eq + 1..];
        }
        if text.len() > 7 && text[..7].eq_ignore_ascii_case("sha256:") {
            text = &text[7..];
        }
        let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
        let bad = || NotAFingerprint(s.to_owned());
        if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(out))
    }
}

/// Run the TLS handshake over `tcp` with `host` (name checked against the
/// certificate), trusting what `opts` says.
///
/// # Errors
///
/// The CA file cannot be read, or the handshake failed; for a refused
/// certificate, why, its fingerprint, and how to trust it.
pub fn handshake(mut tcp: TcpStream, host: &str, opts: &TlsOptions) -> Result<TlsStream, TlsError> {
    let verifier = Arc::new(Verifier::new(Trust::new(opts)?));
    let config = tls_verify::client_config(verifier.clone()).map_err(TlsError::Setup)?;
    let server_name =
        ServerName::try_from(host.to_owned()).map_err(|_| TlsError::HostName(host.to_owned()))?;
    let mut conn = ClientConnection::new(Arc::new(config), server_name).map_err(TlsError::Start)?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            let peer = tcp
                .peer_addr()
                .map_or_else(|_| host.to_owned(), |a| a.to_string());
            return Err(match verifier.check().refusal() {
                Some(refusal) => TlsError::Refused {
                    peer,
                    refusal: Box::new(refusal),
                },
                None => TlsError::Handshake { peer, error: e },
            });
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// The rules of the module doc, around webpki's verifier.
#[derive(Debug)]
struct Trust {
    /// Normal chain and name verification; `None` when pinning.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The CA file's certificates, accepted as the server's own.
    own: Vec<CertificateDer<'static>>,
    pin: Option<Fingerprint>,
    /// Why the last certificate was refused, for the handshake's error.
    refused: Mutex<Option<Refusal>>,
}

impl Trust {
    fn new(opts: &TlsOptions) -> Result<Trust, TlsError> {
        if let Some(pin) = opts.fingerprint {
            return Ok(Trust {
                webpki: None,
                own: Vec::new(),
                pin: Some(pin),
                refused: Mutex::new(None),
            });
        }
        let own = match &opts.ca_file {
            Some(path) => read_pem(path)?,
            None => Vec::new(),
        };
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        for cert in &own {
            // A certificate that is not a usable root (say, a leaf with
            // CA:FALSE) may still be the server's own: kept in `own`.
            let _ = roots.add(cert.clone());
        }
        if roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        let webpki = tls_verify::webpki(roots).map_err(TlsError::Verifier)?;
        Ok(Trust {
            webpki: Some(webpki),
            own,
            pin: None,
            refused: Mutex::new(None),
        })
    }

    fn refusal(&self) -> Option<Refusal> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Note why `end_entity` was refused, and refuse it with `error`.
    fn refuse<T>(
        &self,
        end_entity: &[u8],
        reason: RefusalReason,
        error: rustls::Error,
    ) -> Result<T, rustls::Error> {
        let refusal = Refusal {
            reason,
            fingerprint: Fingerprint::of(end_entity),
            pin: self.pin,
        };
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(refusal);
        Err(error)
    }
}

impl CertCheck for Trust {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return if self.pin == Some(Fingerprint::of(end_entity)) {
                Ok(ServerCertVerified::assertion())
            } else {
                let error = rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                );
                self.refuse(end_entity, RefusalReason::NotPinned, error)
            };
        };
        let error =
            match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                Ok(verified) => return Ok(verified),
                Err(e) => e,
            };
        let is_own = self.own.iter().any(|c| c.as_ref() == end_entity.as_ref());
        if is_own && only_the_chain_failed(&error) {
            // webpki checked the dates before the basic constraints and the
            // issuer; the name is left to check.
            let parsed = ParsedCertificate::try_from(end_entity)?;
            return match verify_server_name(&parsed, server_name) {
                Ok(()) => Ok(ServerCertVerified::assertion()),
                Err(e) => self.refuse(end_entity, RefusalReason::Invalid(e.clone()), e),
            };
        }
        let reason = if ca_used_as_end_entity(&error) {
            RefusalReason::CaAsServer
        } else {
            RefusalReason::Invalid(error.clone())
        };
        self.refuse(end_entity, reason, error)
    }
}

/// webpki found nothing wrong with the certificate itself, only with its
/// place in a chain: marked CA:TRUE, or no known issuer.
fn only_the_chain_failed(error: &rustls::Error) -> bool {
    ca_used_as_end_entity(error)
        || matches!(
            error,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        )
}

/// webpki's `CaUsedAsEndEntity`, as rustls wraps it.
fn ca_used_as_end_entity(error: &rustls::Error) -> bool {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity)
        }
        _ => false,
    }
}

/// Every PEM certificate of `path`; at least one.
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file = File::open(path).map_err(|error| TlsError::CaFileUnreadable {
        path: path.to_owned(),
        error,
    })?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::CaFileBad {
            path: path.to_owned(),
            error,
        })?;
    if certs.is_empty() {
        return Err(TlsError::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        let a: Fingerprint = hex.parse().unwrap();
        assert_eq!(a, colons.parse().unwrap());
        assert_eq!(a, format!("SHA256:{colons}").parse().unwrap());
        assert_eq!(a, format!("sha256 Fingerprint={colons}").parse().unwrap());
        assert_eq!(a.to_string(), colons);
        assert!("ab".parse::<Fingerprint>().is_err());
        assert!("zz".repeat(32).parse::<Fingerprint>().is_err());
        assert!(format!("{hex}00").parse::<Fingerprint>().is_err());
    }
}
