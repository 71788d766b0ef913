//! A throwaway Dovecot IMAP server for integration tests.
//!
//! [`Dovecot::start`] writes a private CA and a server certificate for
//! `127.0.0.1`/`localhost`, a config with one user, and runs `dovecot -F`
//! on a free port of 127.0.0.1 speaking implicit TLS only (no plain-text
//! listener unless [`Options::starttls`] asks for one). Everything lives in
//! one temp dir (config, certs, `base_dir`, `state_dir`, logs, maildirs), so
//! instances started by parallel tests never meet. The server is stopped
//! and the dir removed when the [`Dovecot`] is dropped.
//!
//! When the `dovecot` binary is missing, `start` prints a notice and returns
//! `None` so that the test can skip; with `CI=true` in the environment it
//! panics instead, so CI cannot skip silently. `.ci/install-deps.sh`
//! installs what is needed.
//!
//! ```ignore
//! let Some(dovecot) = Dovecot::start() else { return };
//! dovecot.append("INBOX", b"Subject: hi\r\n\r\nbody\r\n", false);
//! // point the code under test at dovecot.host(), port(), user(),
//! // password(), ca_pem_path()
//! assert_eq!(dovecot.count("INBOX"), 1);
//! ```
//!
//! As root (the usual case in CI containers), login processes run as
//! `dovenull`, internal ones as `dovecot`, and mail is stored as uid/gid
//! 65534 (Dovecot refuses to run them as root). As another user, every
//! process runs as that user, which Dovecot allows when nothing needs
//! privileges. Written for Dovecot 2.3 (tested with 2.3.19); the 2.4 config
//! syntax is written from its documentation and untested.

#![allow(dead_code)] // each test crate uses a different part of the harness

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rustls::{ClientConnection, StreamOwned};

mod auth;
mod certs;
mod client;
mod config;
mod process;
pub use auth::OAuth2Passdb;
use auth::{write_oauth2_conf, write_self_signed};
#[allow(unused_imports)] // for the SMTP harness, which not every test crate has
pub use certs::make_certificates;
use certs::write_certificates;
use config::{config_2_3, config_2_4, installed_version, Runner, Settings, Version};
use process::{read_logs, spawn_master};

/// The TLS stream of the harness's own IMAP sessions.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;
/// An authenticated IMAP session as the test user (see [`Dovecot::session`]).
pub type Session = imap::Session<TlsStream>;

const HOST: &str = "127.0.0.1";
const USER: &str = "dmarc";
/// Mail uid/gid when running as root: `nobody`, never root.
const MAIL_ID: u32 = 65534;
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Variations on the default server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also listen for plain-text IMAP (upgraded with STARTTLS) on
    /// [`Dovecot::starttls_port`].
    pub starttls: bool,
    /// Do not advertise the MOVE capability (RFC 6851), so that clients
    /// fall back to COPY + `\Deleted` + EXPUNGE.
    pub hide_move: bool,
    /// A self-signed server certificate made the common way, `openssl req
    /// -x509 -newkey … -nodes` (OpenSSL 3 marks it CA:TRUE), instead of one
    /// signed by a private CA; [`Dovecot::ca_pem_path`] is then that
    /// certificate itself.
    pub self_signed: bool,
    /// Also check OAuth2 tokens (XOAUTH2, OAUTHBEARER) with Dovecot's oauth2
    /// passdb, against this introspection endpoint.
    pub oauth2: Option<OAuth2Passdb>,
    /// Do not advertise IDLE (RFC 2177), so that a watcher must poll.
    pub hide_idle: bool,
    /// Log every session's traffic (`rawlog_dir`), for
    /// [`Dovecot::commands`].
    pub rawlog: bool,
}

/// Messages written straight into INBOX's maildir before the server starts
/// (thousands in a second, where APPEND takes a round trip each).
pub struct Preload<'a> {
    dir: &'a Path,
    owner: Option<(u32, u32)>,
    n: usize,
}

impl Preload<'_> {
    /// Add `raw` to INBOX, seen or not; UIDs follow the order of adding.
    pub fn add(&mut self, raw: &[u8], seen: bool) {
        self.n += 1;
        // Maildir names: unique, sortable in adding order; Dovecot gives
        // UIDs in that order when it first lists the folder.
        let (sub, name) = if seen {
            ("cur", format!("{:09}.M1P1.harness:2,S", self.n))
        } else {
            ("new", format!("{:09}.M1P1.harness", self.n))
        };
        let path = self.dir.join(sub).join(name);
        fs::write(&path, raw).expect("preload: write message");
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("preload: chown");
        }
    }
}

/// A running Dovecot; see the module doc.
pub struct Dovecot {
    // Field order is drop order: admin session, then the server, then the dir.
    admin: Mutex<Option<Session>>,
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    starttls_port: Option<u16>,
    password: String,
    self_signed: bool,
}

impl Dovecot {
    /// Start a server with the default [`Options`]; `None` when Dovecot is
    /// not installed (outside CI).
    pub fn start() -> Option<Dovecot> {
        Self::start_with(Options::default())
    }

    /// Start a server; `None` when Dovecot is not installed (outside CI).
    /// Panics, with the server log, when it does not come up.
    pub fn start_with(options: Options) -> Option<Dovecot> {
        Self::start_with_mail(options, &|_| {})
    }

    /// Start a server whose INBOX already holds what `fill` adds; `None`
    /// when Dovecot is not installed (outside CI).
    pub fn start_with_mail(options: Options, fill: &dyn Fn(&mut Preload)) -> Option<Dovecot> {
        let version = installed_version()?;
        // A free port found by binding port 0 can be taken by someone else
        // before Dovecot binds it: try again with new ports.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&options, &version, fill) {
                Ok(dovecot) => return Some(dovecot),
                Err(Failure::PortTaken(log)) => last_error = log,
                Err(Failure::Other(message)) => panic!("{message}"),
            }
        }
        panic!("dovecot could not bind a free port three times:\n{last_error}");
    }

    /// The address to connect to: always `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The implicit-TLS (imaps) port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The plain-text port for STARTTLS; panics unless started with
    /// [`Options::starttls`].
    pub fn starttls_port(&self) -> u16 {
        self.starttls_port
            .expect("Dovecot started without Options::starttls")
    }

    /// The one user: `dmarc`.
    pub fn user(&self) -> &str {
        USER
    }

    /// Its password, random per instance.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The PEM file of the private CA that signed the server certificate.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The temp dir holding everything; a test may put its own files here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Write the password (no trailing newline) to a 0600 file and return
    /// its path.
    pub fn write_password_file(&self) -> PathBuf {
        let path = self.dir.path().join("password.txt");
        fs::write(&path, &self.password).expect("write password file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod password file");
        path
    }

    /// The seed script's environment variables pointing at this server:
    /// `DMARC_IMAP_HOST`, `DMARC_IMAP_PORT`, `DMARC_IMAP_USER`,
    /// `DMARC_IMAP_PASS`. The CA file has no seed name; pass
    /// [`Dovecot::ca_pem_path`] as the CLI expects it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DMARC_IMAP_HOST", HOST.to_owned()),
            ("DMARC_IMAP_PORT", self.port.to_string()),
            ("DMARC_IMAP_USER", USER.to_owned()),
            ("DMARC_IMAP_PASS", self.password.clone()),
        ]
    }

    /// The server log so far (for assertion messages).
    pub fn log(&self) -> String {
        read_logs(self.dir.path())
    }

    fn try_start(
        options: &Options,
        version: &Version,
        fill: &dyn Fn(&mut Preload),
    ) -> Result<Dovecot, Failure> {
        let dir = make_dir()?;
        let root = dir.path();
        let (port, starttls_port) = if options.starttls {
            let [a, b] = free_ports::<2>()?;
            (a, Some(b))
        } else {
            (free_ports::<1>()?[0], None)
        };
        let password = random_password();
        let runner = Runner::current()?;

        if options.self_signed {
            write_self_signed(root)?;
        } else {
            write_certificates(root)?;
        }
        for sub in ["run", "state", "log", "mail", "rawlog"] {
            fs::create_dir(root.join(sub)).map_err(|e| other("mkdir", e))?;
            chmod(&root.join(sub), 0o755)?;
        }
        let inbox = root.join("mail").join(USER);
        for sub in ["", "cur", "new", "tmp"] {
            fs::create_dir_all(inbox.join(sub)).map_err(|e| other("mkdir maildir", e))?;
        }
        let owner = runner.is_root.then_some((MAIL_ID, MAIL_ID));
        fill(&mut Preload {
            dir: &inbox,
            owner,
            n: 0,
        });
        if let Some((uid, gid)) = owner {
            for sub in [
                "mail",
                "rawlog",
                &format!("mail/{USER}"),
                &format!("mail/{USER}/cur"),
                &format!("mail/{USER}/new"),
                &format!("mail/{USER}/tmp"),
            ] {
                std::os::unix::fs::chown(root.join(sub), Some(uid), Some(gid))
                    .map_err(|e| other("chown mail dir", e))?;
            }
        }
        let passwd = root.join("passwd");
        fs::write(&passwd, format!("{USER}:{{PLAIN}}{password}\n"))
            .map_err(|e| other("write passwd", e))?;
        // Read by the auth process, which runs as `dovecot`.
        chmod(&passwd, 0o644)?;

        let settings = Settings {
            root,
            port,
            starttls_port,
            hide_move: options.hide_move,
            hide_idle: options.hide_idle,
            rawlog: options.rawlog,
            oauth2: options.oauth2.as_ref(),
            runner: &runner,
        };
        let conf = root.join("dovecot.conf");
        let text = if version.major_minor >= (2, 4) {
            config_2_4(&settings)
        } else {
            config_2_3(&settings)
        };
        fs::write(&conf, text).map_err(|e| other("write dovecot.conf", e))?;
        if let Some(o) = &options.oauth2 {
            write_oauth2_conf(root, o)?;
        }
        let child = spawn_master(root)?;
        let mut dovecot = Dovecot {
            admin: Mutex::new(None),
            child,
            dir,
            port,
            starttls_port,
            password,
            self_signed: options.self_signed,
        };
        dovecot.wait_ready()?;
        Ok(dovecot)
    }

    /// The rawlog files (one `.in` per session) so far; see
    /// [`Options::rawlog`].
    pub fn sessions_logged(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.path().join("rawlog"))
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "in"));
        files.sort();
        files
    }

    /// The commands clients sent in the sessions logged since `before`
    /// (from [`Dovecot::sessions_logged`]), without their tags: e.g.
    /// `UID STORE 1:200 +FLAGS.SILENT (\Seen)`. Needs [`Options::rawlog`].
    pub fn commands(&self, before: &[PathBuf]) -> Vec<String> {
        let mut out = Vec::new();
        for file in self.sessions_logged() {
            if before.contains(&file) {
                continue;
            }
            let bytes = fs::read(&file).unwrap_or_default();
            for line in String::from_utf8_lossy(&bytes).lines() {
                // "1796024468.307577 a12 UID STORE ...": a time stamp, a
                // tag, the command; literal data (APPEND) has no tag.
                let line = match line.split_once(' ') {
                    Some((stamp, rest)) if stamp.parse::<f64>().is_ok() => rest,
                    _ => line,
                };
                let mut words = line.splitn(2, ' ');
                let (Some(tag), Some(rest)) = (words.next(), words.next()) else {
                    continue;
                };
                if tag.len() > 1
                    && tag.starts_with('a')
                    && tag[1..].bytes().all(|b| b.is_ascii_digit())
                {
                    out.push(rest.to_owned());
                }
            }
        }
        out
    }
}

/// `dmarcdb --db DB imap` at `d`, with host, port and user but no password
/// and no CA (the tests of TLS trust and OAuth2 add what they test).
pub fn imap_cmd_without_secrets(d: &Dovecot, db: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("dmarcdb").unwrap();
    for k in ["DMARCDB_DB", "DMARC_IMAP_PASS"] {
        c.env_remove(k);
    }
    c.env("DMARC_IMAP_HOST", d.host())
        .env("DMARC_IMAP_PORT", d.port().to_string())
        .env("DMARC_IMAP_USER", d.user())
        .arg("--db")
        .arg(db)
        .arg("imap");
    c
}

impl Drop for Dovecot {
    /// Log out, ask the master to stop (SIGTERM stops its children too),
    /// and kill it if it does not within five seconds.
    fn drop(&mut self) {
        let session = self
            .admin
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut session) = session {
            let _ = session.logout();
        }
        self.stop();
    }
}

enum Failure {
    /// Dovecot could not bind its port: retry with another.
    PortTaken(String),
    Other(String),
}

impl Failure {
    fn text(&self) -> &str {
        match self {
            Failure::PortTaken(s) | Failure::Other(s) => s,
        }
    }
}

fn other(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Other(format!("dovecot harness: {what}: {e}"))
}

/// A temp dir every Dovecot process can enter: `tempfile` makes it 0700,
/// and its ancestors must be traversable too (as in `/tmp`). Unix socket
/// paths are limited to ~108 bytes, so prefer a short base.
fn make_dir() -> Result<tempfile::TempDir, Failure> {
    let base = std::env::temp_dir();
    let base = if traversable(&base) && base.as_os_str().len() < 40 {
        base
    } else {
        PathBuf::from("/tmp")
    };
    let dir = tempfile::Builder::new()
        .prefix("dovecot-")
        .tempdir_in(&base)
        .map_err(|e| other("temp dir", e))?;
    chmod(dir.path(), 0o755)?;
    Ok(dir)
}

/// Every ancestor has the execute bit for others.
fn traversable(path: &Path) -> bool {
    path.ancestors()
        .all(|p| fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

fn chmod(path: &Path, mode: u32) -> Result<(), Failure> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| other(&format!("chmod {}", path.display()), e))
}

/// Bind port 0 `N` times, note the ports the kernel gave, release them.
/// All are held until all are known, so that they differ.
fn free_ports<const N: usize>() -> Result<[u16; N], Failure> {
    let mut listeners = Vec::with_capacity(N);
    let mut ports = [0; N];
    for port in &mut ports {
        let listener = TcpListener::bind((HOST, 0)).map_err(|e| other("bind port 0", e))?;
        *port = listener
            .local_addr()
            .map_err(|e| other("local_addr", e))?
            .port();
        listeners.push(listener);
    }
    Ok(ports)
}

fn random_password() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    format!("pw{:016x}", hasher.finish())
}
