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

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::sleep;
use std::time::{Duration, Instant};

use imap::types::Flag;

mod auth;
pub use auth::OAuth2Passdb;
use auth::{write_oauth2_conf, write_self_signed};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

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
        let version = installed_version()?;
        // A free port found by binding port 0 can be taken by someone else
        // before Dovecot binds it: try again with new ports.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&options, &version) {
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
            // No such folder ([TRYCREATE], RFC 3501 §6.3.11): create, retry.
            Err(imap::Error::No(_)) => {
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
    fn with_admin<T>(&self, f: impl FnOnce(&mut Session) -> imap::error::Result<T>) -> T {
        let mut guard = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let session = guard.get_or_insert_with(|| self.session());
        match f(session) {
            Ok(value) => value,
            Err(e) => {
                *guard = None;
                panic!("harness IMAP command failed: {e}\n{}", self.log())
            }
        }
    }

    fn try_start(options: &Options, version: &Version) -> Result<Dovecot, Failure> {
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
        for sub in ["run", "state", "log", "mail"] {
            fs::create_dir(root.join(sub)).map_err(|e| other("mkdir", e))?;
            chmod(&root.join(sub), 0o755)?;
        }
        if runner.is_root {
            std::os::unix::fs::chown(root.join("mail"), Some(MAIL_ID), Some(MAIL_ID))
                .map_err(|e| other("chown mail dir", e))?;
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

        let stderr = fs::File::create(root.join("log/stderr.log"))
            .map_err(|e| other("create stderr log", e))?;
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| other("spawn dovecot", e))?;
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

    /// Ready means: a TLS login as the test user succeeds (the port opens
    /// before the auth process answers).
    fn wait_ready(&mut self) -> Result<(), Failure> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("never tried");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = read_logs(self.dir.path());
                // Another process took the port between our probe and
                // Dovecot's bind.
                let taken = ["Address already in use", "duplicate listener"];
                return Err(if taken.iter().any(|t| log.contains(t)) {
                    Failure::PortTaken(log)
                } else {
                    Failure::Other(format!("dovecot exited ({status}) while starting:\n{log}"))
                });
            }
            if TcpStream::connect((HOST, self.port)).is_ok() {
                match login(self.dir.path(), self.port, &self.password, self.self_signed) {
                    Ok(session) => {
                        *self.admin.lock().unwrap_or_else(PoisonError::into_inner) = Some(session);
                        return Ok(());
                    }
                    Err(e) => last = e,
                }
            }
            sleep(Duration::from_millis(50));
        }
        Err(Failure::Other(format!(
            "dovecot not ready after {READY_TIMEOUT:?} (last error: {last}):\n{}",
            read_logs(self.dir.path())
        )))
    }
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
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

enum Failure {
    /// Dovecot could not bind its port: retry with another.
    PortTaken(String),
    Other(String),
}

fn other(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Other(format!("dovecot harness: {what}: {e}"))
}

struct Version {
    major_minor: (u32, u32),
}

/// The installed Dovecot's version, or `None` (after a notice) when it is
/// missing; with `CI=true` a missing Dovecot panics.
fn installed_version() -> Option<Version> {
    let output = Command::new("dovecot").arg("--version").output();
    let text = match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => {
            let missing = "dovecot is not installed (run .ci/install-deps.sh)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{missing}; CI=true, so IMAP tests may not be skipped");
            }
            eprintln!("NOTICE: {missing}: IMAP test skipped");
            return None;
        }
    };
    // "2.3.19.1 (9b53102964)"
    let mut parts = text.trim().split(['.', ' ']);
    let mut number = || parts.next().and_then(|p| p.parse::<u32>().ok());
    match (number(), number()) {
        (Some(major), Some(minor)) => Some(Version {
            major_minor: (major, minor),
        }),
        _ => panic!("cannot parse `dovecot --version` output {text:?}"),
    }
}

/// Who Dovecot's processes run as.
struct Runner {
    is_root: bool,
    /// Login and internal processes' user.
    login_user: String,
    internal_user: String,
    /// Group of the internal processes' sockets; `None` keeps Dovecot's.
    internal_group: Option<String>,
    /// Mail files' owner.
    mail_uid: u32,
    mail_gid: u32,
}

impl Runner {
    fn current() -> Result<Runner, Failure> {
        let status =
            fs::read_to_string("/proc/self/status").map_err(|e| other("/proc/self/status", e))?;
        // "Uid:\treal\teffective\t..."
        let effective = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok())
        };
        let (Some(uid), Some(gid)) = (effective("Uid:"), effective("Gid:")) else {
            return Err(other("/proc/self/status", "no Uid/Gid line"));
        };
        if uid == 0 {
            return Ok(Runner {
                is_root: true,
                login_user: "dovenull".into(),
                internal_user: "dovecot".into(),
                internal_group: None,
                mail_uid: MAIL_ID,
                mail_gid: MAIL_ID,
            });
        }
        let id = |flag: &str| -> Result<String, Failure> {
            let out = Command::new("id")
                .arg(flag)
                .output()
                .map_err(|e| other("id", e))?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let name = id("-un")?;
        Ok(Runner {
            is_root: false,
            login_user: name.clone(),
            internal_user: name,
            internal_group: Some(id("-gn")?),
            mail_uid: uid,
            mail_gid: gid,
        })
    }
}

struct Settings<'a> {
    root: &'a Path,
    port: u16,
    starttls_port: Option<u16>,
    hide_move: bool,
    oauth2: Option<&'a OAuth2Passdb>,
    runner: &'a Runner,
}

/// Dovecot 2.3's default capabilities (2.3.19) without MOVE.
const CAPABILITIES_WITHOUT_MOVE: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT \
     SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL \
     CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC \
     ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY LITERAL+";

fn config_2_3(s: &Settings) -> String {
    let root = s.root.display();
    let r = s.runner;
    let mut c = String::new();
    let _ = write!(
        c,
        "\
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
default_login_user = {login}
default_internal_user = {internal}
ssl = required
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
auth_mechanisms = plain login{oauth_mechs}
# Tests of a wrong password need not wait the default 2 s.
auth_failure_delay = 0
# TLS everywhere anyway; Dovecot also trusts 127.0.0.1 as secured.
disable_plaintext_auth = yes
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
first_valid_gid = 1
# Throwaway mail: no fsync per message.
mail_fsync = never
{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
",
        login = r.login_user,
        internal = r.internal_user,
        uid = r.mail_uid,
        gid = r.mail_gid,
        imap_port = s.starttls_port.unwrap_or(0),
        port = s.port,
        oauth_mechs = if s.oauth2.is_some() {
            " xoauth2 oauthbearer"
        } else {
            ""
        },
        oauth_passdb = match s.oauth2 {
            Some(_) => format!(
                "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
                 args = {root}/dovecot-oauth2.conf.ext\n}}\n"
            ),
            None => String::new(),
        },
    );
    non_root(&mut c, r);
    if s.hide_move {
        let _ = write!(
            c,
            "protocol imap {{\n  imap_capability = {CAPABILITIES_WITHOUT_MOVE}\n}}\n"
        );
    }
    c
}

/// Not root: sockets cannot be given to Dovecot's group, and processes
/// that default to root (auth-worker) must run as us too.
fn non_root(c: &mut String, r: &Runner) {
    if let Some(group) = &r.internal_group {
        let _ = write!(
            c,
            "default_internal_group = {group}\nservice auth-worker {{\n  user = {}\n}}\n",
            r.internal_user
        );
    }
}

/// Untested: written from the 2.3 → 2.4 upgrade notes (new required
/// version settings, `ssl_server_*_file`, `mail_driver`/`mail_path`,
/// named passdb/userdb blocks, `%{user}` variables).
fn config_2_4(s: &Settings) -> String {
    let root = s.root.display();
    let r = s.runner;
    let mut c = String::new();
    let _ = write!(
        c,
        "\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
default_login_user = {login}
default_internal_user = {internal}
ssl = required
ssl_server_cert_file = {root}/server.pem
ssl_server_key_file = {root}/server.key
auth_mechanisms = plain login{oauth_mechs}
# Tests of a wrong password need not wait the default 2 s.
auth_failure_delay = 0
auth_allow_cleartext = no
mail_driver = maildir
mail_path = {root}/mail/%{{user}}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
first_valid_gid = 1
# Throwaway mail: no fsync per message.
mail_fsync = never
passdb passwd-file {{
  passwd_file_path = {root}/passwd
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
    home = {root}/mail/%{{user}}
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
",
        login = r.login_user,
        internal = r.internal_user,
        uid = r.mail_uid,
        gid = r.mail_gid,
        imap_port = s.starttls_port.unwrap_or(0),
        port = s.port,
        oauth_mechs = if s.oauth2.is_some() {
            " xoauth2 oauthbearer"
        } else {
            ""
        },
    );
    non_root(&mut c, r);
    if let Some(o) = s.oauth2 {
        // 2.4 checks tokens without a passdb, with `oauth2_*` settings.
        let _ = write!(
            c,
            "oauth2 {{\n  introspection_mode = {}\n  introspection_url = {}\n  \
             username_attribute = username\n  active_attribute = active\n  \
             active_value = true\n  force_introspection = yes\n}}\n",
            o.introspection_mode, o.introspection_url
        );
    }
    if s.hide_move {
        let _ = write!(c, "imap_capability {{\n  MOVE = no\n}}\n");
    }
    c
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

/// [`write_certificates`] for other harnesses (the SMTP one); panics on failure.
pub fn make_certificates(root: &Path) {
    if let Err(Failure::Other(e) | Failure::PortTaken(e)) = write_certificates(root) {
        panic!("{e}");
    }
}

/// `ca.pem`/`ca.key` (a CA) and `server.pem`/`server.key` (signed by it,
/// for IP 127.0.0.1 and DNS localhost), with the `openssl` CLI. EC P-256
/// keys: fast to make, and verified by rustls.
fn write_certificates(root: &Path) -> Result<(), Failure> {
    let ext = root.join("server.ext");
    fs::write(
        &ext,
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .map_err(|e| other("write server.ext", e))?;
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let path = |name: &str| root.join(name).display().to_string();
    openssl(
        &[&["req", "-x509"], &key[..]].concat(),
        &[
            "-keyout",
            &path("ca.key"),
            "-out",
            &path("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=dmarcdb test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )?;
    openssl(
        &[&["req"], &key[..]].concat(),
        &[
            "-keyout",
            &path("server.key"),
            "-out",
            &path("server.csr"),
            "-subj",
            "/CN=localhost",
        ],
    )?;
    openssl(
        &["x509", "-req"],
        &[
            "-in",
            &path("server.csr"),
            "-CA",
            &path("ca.pem"),
            "-CAkey",
            &path("ca.key"),
            "-CAcreateserial",
            "-out",
            &path("server.pem"),
            "-days",
            "2",
            "-extfile",
            &path("server.ext"),
        ],
    )?;
    chmod(&root.join("ca.pem"), 0o644)
}

fn openssl(head: &[&str], tail: &[&str]) -> Result<(), Failure> {
    let out = Command::new("openssl")
        .args(head)
        .args(tail)
        .output()
        .map_err(|e| other("run openssl (is it installed?)", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Failure::Other(format!(
            "openssl {} failed: {}",
            head.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// TLS (trusting only the harness CA; a self-signed certificate is pinned
/// instead, see [`auth::login_pinned`]), greeting, LOGIN.
fn login(root: &Path, port: u16, password: &str, self_signed: bool) -> Result<Session, String> {
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

/// The Dovecot log and its stderr, for failure messages.
fn read_logs(root: &Path) -> String {
    let read = |name: &str| -> String {
        match fs::read_to_string(root.join("log").join(name)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => format!("({name}: {e})"),
        }
    };
    format!(
        "--- dovecot.log ---\n{}--- stderr ---\n{}",
        read("dovecot.log"),
        read("stderr.log")
    )
}
