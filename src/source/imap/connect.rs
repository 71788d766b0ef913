//! The connection under the IMAP session: TCP, STARTTLS when asked, and a
//! completed TLS handshake (trust rules in [`crate::source::tls`]). Its
//! failures are typed ([`ConnectError`]); the session turns them into a
//! fatal [`SourceError`](crate::source::SourceError), password scrubbed.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use super::{ImapOptions, CONNECT_TIMEOUT, IO_TIMEOUT};
use crate::source::tls::{self, TlsError, TlsOptions, TlsStream};

/// Why no TLS connection to the server came about.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {host}:{port}: {error}")]
    Connect {
        host: String,
        port: u16,
        error: io::Error,
    },
    #[error("STARTTLS failed: {0}")]
    StartTls(StartTlsError),
    /// The handshake or the trust rules refused (one line, with what to do).
    #[error("{0}")]
    Tls(TlsError),
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

/// TCP, then STARTTLS if asked, then a completed TLS handshake under the
/// trust rules of [`crate::source::tls`] (system roots, the CA file, the
/// server's own certificate, or a pinned fingerprint).
pub(super) fn open(opts: &ImapOptions) -> Result<TlsStream, ConnectError> {
    let mut tcp = tcp_connect(&opts.host, opts.port)?;
    if opts.starttls {
        starttls(&mut tcp).map_err(ConnectError::StartTls)?;
    }
    let trust = TlsOptions {
        ca_file: opts.ca_file.clone(),
        fingerprint: opts.tls_fingerprint,
    };
    tls::handshake(tcp, &opts.host, &trust).map_err(ConnectError::Tls)
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
