//! The harness's own IMAP session as the test user: logging in (trusting
//! only the harness CA), and the helpers a test uses to fill a mailbox and
//! look at it afterwards (APPEND, flags, counts).

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use imap::types::Flag;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::{auth, Dovecot, Session, HOST, USER};

impl Dovecot {
    /// A new IMAP session as the test user, over TLS, verified with the CA.
    pub fn session(&self) -> Session {
        login(self.dir.path(), self.port, &self.password, self.self_signed)
            .unwrap_or_else(|e| panic!("harness login failed: {e}\n{}", self.log()))
    }

    /// Create `folder` unless it exists.
    pub fn create_folder(&self, folder: &str) {
        self.with_admin(|s| {
            if s.list(None, Some(folder))?.is_empty() {
                s.create(folder)?;
            }
            Ok(())
        })
    }

    /// APPEND `raw` (an RFC 5322 message) to `folder`, creating the folder
    /// if needed, with `\Seen` when `seen`.
    pub fn append(&self, folder: &str, raw: &[u8], seen: bool) {
        let append = |s: &mut Session| {
            let mut cmd = s.append(folder, raw);
            if seen {
                cmd.flag(Flag::Seen);
            }
            cmd.finish().map(drop)
        };
        self.with_admin(|s| match append(s) {
            // No such folder ([TRYCREATE], RFC 3501 §6.3.11; the imap crate
            // reports it as `Append`): create, retry.
            Err(imap::Error::No(_) | imap::Error::Append) => {
                s.create(folder)?;
                append(s)
            }
            done => done,
        })
    }

    /// Every message of `folder` as (UID, flags), by UID; flags as IMAP
    /// writes them (`\Seen`, `\Deleted`), without the session-dependent
    /// `\Recent`. Empty when the folder does not exist.
    pub fn flags(&self, folder: &str) -> Vec<(u32, Vec<String>)> {
        if !self.folder_exists(folder) {
            return Vec::new();
        }
        self.with_admin(|s| {
            let mailbox = s.examine(folder)?;
            if mailbox.exists == 0 {
                return Ok(Vec::new());
            }
            let fetches = s.uid_fetch("1:*", "(UID FLAGS)")?;
            let mut out: Vec<(u32, Vec<String>)> = fetches
                .iter()
                .filter_map(|f| {
                    let flags = f
                        .flags()
                        .iter()
                        .filter(|flag| **flag != Flag::Recent)
                        .map(ToString::to_string)
                        .collect();
                    Some((f.uid?, flags))
                })
                .collect();
            out.sort();
            s.take_all_unsolicited().for_each(drop);
            Ok(out)
        })
    }

    /// How many messages `folder` holds; 0 when it does not exist.
    pub fn count(&self, folder: &str) -> usize {
        if !self.folder_exists(folder) {
            return 0;
        }
        self.with_admin(|s| Ok(s.examine(folder)?.exists as usize))
    }

    /// How many messages of `folder` carry `\Seen`.
    pub fn seen_count(&self, folder: &str) -> usize {
        self.flags(folder)
            .iter()
            .filter(|(_, flags)| flags.iter().any(|f| f == "\\Seen"))
            .count()
    }

    fn folder_exists(&self, folder: &str) -> bool {
        self.with_admin(|s| Ok(!s.list(None, Some(folder))?.is_empty()))
    }

    /// Run `f` on the harness's own session, opened on first use.
    /// A session that was cut (see [`Dovecot::kill_sessions`]) is
    /// replaced once.
    fn with_admin<T>(&self, mut f: impl FnMut(&mut Session) -> imap::error::Result<T>) -> T {
        let mut guard = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        for attempt in 0..2 {
            let session = guard.get_or_insert_with(|| self.session());
            match f(session) {
                Ok(value) => return value,
                Err(_) if attempt == 0 => {
                    *guard = None;
                }
                Err(e) => {
                    *guard = None;
                    panic!("harness IMAP command failed: {e}\n{}", self.log())
                }
            }
        }
        unreachable!("the second attempt returns or panics")
    }
}

/// TLS (trusting only the harness CA; a self-signed certificate is pinned
/// instead, see [`auth::login_pinned`]), greeting, LOGIN.
pub(super) fn login(
    root: &Path,
    port: u16,
    password: &str,
    self_signed: bool,
) -> Result<Session, String> {
    if self_signed {
        return auth::login_pinned(root, port, password);
    }
    let mut roots = RootCertStore::empty();
    let pem = fs::read(root.join("ca.pem")).map_err(|e| e.to_string())?;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(HOST).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect((HOST, port)).map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut client = imap::Client::new(StreamOwned::new(conn, tcp));
    client.read_greeting().map_err(|e| e.to_string())?;
    client
        .login(USER, password)
        .map_err(|(e, _)| format!("LOGIN: {e}"))
}
