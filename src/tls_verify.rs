//! What every rustls client of ours shares around a certificate check of
//! its own: the crypto provider (ring, named explicitly), the handshake
//! signature checks, and the client configuration with the custom check.
//!
//! What to trust stays with each client: the IMAP source's rules (system
//! roots, a CA file, the server's own certificate, a pin) in
//! [`crate::source::tls`], libpq's `sslmode` in the store's PostgreSQL
//! connection. This module imports nothing of the crate, so both use it
//! without either importing the other.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{VerifierBuilderError, WebPkiServerVerifier};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The crypto provider every client uses. Explicit, because
/// `ClientConfig::builder()` panics when another crate in the build also
/// enables a second rustls backend.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// webpki's chain and name verification against `roots`.
///
/// # Errors
///
/// When rustls refuses the roots (none at all, say).
pub fn webpki(roots: RootCertStore) -> Result<Arc<WebPkiServerVerifier>, VerifierBuilderError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build()
}

/// A client configuration (safe protocol versions, no client certificate)
/// that trusts what `verifier` accepts.
///
/// # Errors
///
/// When rustls refuses the configuration, which a working build does not.
pub fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> Result<ClientConfig, rustls::Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Which server certificates to accept: the one decision a client makes
/// for itself ([`ServerCertVerifier::verify_server_cert`]'s arguments).
pub trait CertCheck: fmt::Debug + Send + Sync {
    /// Accept `end_entity` as `server_name`'s certificate, or say why not.
    ///
    /// # Errors
    ///
    /// The rustls error that ends the handshake.
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error>;
}

/// A [`CertCheck`] made a rustls verifier: the handshake signatures are
/// checked with the provider's algorithms whatever the check decided, so
/// only the holder of the accepted certificate's key gets through.
#[derive(Debug)]
pub struct Verifier<C> {
    check: C,
    algorithms: WebPkiSupportedAlgorithms,
}

impl<C: CertCheck> Verifier<C> {
    pub fn new(check: C) -> Verifier<C> {
        Verifier {
            check,
            algorithms: provider().signature_verification_algorithms,
        }
    }

    /// The check inside, for what it noted during the handshake.
    pub fn check(&self) -> &C {
        &self.check
    }
}

impl<C: CertCheck> ServerCertVerifier for Verifier<C> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check
            .check(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
