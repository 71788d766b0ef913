//! The connection under the IMAP session: TCP, STARTTLS when asked, and a
//! completed TLS handshake against the system roots (plus a CA file). Its
//! failures are typed ([`ConnectError`]); the session turns them into a
//! fatal [`SourceError`](crate::source::SourceError), password scrubbed.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::{ImapOptions, TlsStream, CONNECT_TIMEOUT, IO_TIMEOUT};

/// Why no TLS connection to the server came about.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0:?} is not a valid host name")]
    BadHost(String),
    #[error("cannot connect to {host}:{port}: {error}")]
    Connect {
        host: String,
        port: u16,
        error: io::Error,
    },
    #[error("STARTTLS failed: {0}")]
    StartTls(StartTlsError),
    #[error("cannot start TLS: {0}")]
    TlsStart(rustls::Error),
    #[error("TLS handshake with {host}:{port} failed: {error}{}", if .error.to_string().contains("certificate") {
        " (the server's certificate does not verify against the system roots or the CA file)"
    } else {
        ""
    })]
    Handshake {
        host: String,
        port: u16,
        error: io::Error,
    },
    #[error("cannot read CA file {}: {error}", .path.display())]
    CaRead { path: PathBuf, error: io::Error },
    #[error("CA file {}: {reason}", .path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("CA file {}: no PEM certificate in it", .path.display())]
    CaEmpty { path: PathBuf },
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
}

/// Why the plain-text STARTTLS exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum StartTlsError {
    #[error("unexpected greeting {0:?}")]
    Greeting(String),
    #[error("server said {0:?}")]
    Refused(String),
    #[error("connection closed")]
    Closed,
    #[error("line too long")]
    LineTooLong,
    #[error("{0}")]
    Io(io::Error),
}

/// TCP, then STARTTLS if asked, then a completed TLS handshake.
pub(super) fn open(opts: &ImapOptions) -> Result<TlsStream, ConnectError> {
    let config = tls_config(opts.ca_file.as_deref())?;
    let server_name = ServerName::try_from(opts.host.clone())
        .map_err(|_| ConnectError::BadHost(opts.host.clone()))?;
    let mut tcp = tcp_connect(&opts.host, opts.port)?;
    if opts.starttls {
        starttls(&mut tcp).map_err(ConnectError::StartTls)?;
    }
    let mut conn = ClientConnection::new(config, server_name).map_err(ConnectError::TlsStart)?;
    while conn.is_handshaking() {
        if let Err(error) = conn.complete_io(&mut tcp) {
            return Err(ConnectError::Handshake {
                host: opts.host.clone(),
                port: opts.port,
                error,
            });
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// System roots plus the PEM certificates of `ca_file`.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, ConnectError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let file = File::open(path).map_err(|error| ConnectError::CaRead {
            path: path.to_owned(),
            error,
        })?;
        let bad = |reason: String| ConnectError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(ConnectError::CaEmpty {
                path: path.to_owned(),
            });
        }
    }
    // An explicit provider: `ClientConfig::builder()` panics when another
    // crate in the build also enables a second rustls backend.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ConnectError::Setup)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let fail = |error: io::Error| ConnectError::Connect {
        host: host.to_owned(),
        port,
        error,
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address found");
    for addr in (host, port).to_socket_addrs().map_err(fail)? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(tcp) => {
                // Small commands, each waiting for its answer: no Nagle.
                tcp.set_nodelay(true).map_err(fail)?;
                tcp.set_read_timeout(Some(IO_TIMEOUT)).map_err(fail)?;
                tcp.set_write_timeout(Some(IO_TIMEOUT)).map_err(fail)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

/// The plain-text part of RFC 2595 §3.1: greeting, `STARTTLS`, tagged `OK`.
/// Read a byte at a time so nothing of the TLS handshake is swallowed.
fn starttls(tcp: &mut TcpStream) -> Result<(), StartTlsError> {
    let greeting = read_line(tcp)?;
    if !greeting.starts_with("* OK") {
        return Err(StartTlsError::Greeting(greeting.trim_end().to_owned()));
    }
    tcp.write_all(b"T0 STARTTLS\r\n")
        .map_err(StartTlsError::Io)?;
    loop {
        let line = read_line(tcp)?;
        if let Some(status) = line.strip_prefix("T0 ") {
            return if status.starts_with("OK") {
                Ok(())
            } else {
                Err(StartTlsError::Refused(status.trim_end().to_owned()))
            };
        }
    }
}

fn read_line(tcp: &mut TcpStream) -> Result<String, StartTlsError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        match tcp.read(&mut byte) {
            Ok(0) => return Err(StartTlsError::Closed),
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(StartTlsError::Io(e)),
        }
        if line.len() > 16 * 1024 {
            return Err(StartTlsError::LineTooLong);
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}
