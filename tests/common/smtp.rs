//! A throwaway Exim SMTP server for integration tests.
//!
//! [`Exim::start`] writes a private config into a temp dir (spool, logs,
//! pid file and a Maildir all inside it) and runs `exim -C CONFIG -bdf` on
//! a free port of 127.0.0.1. It accepts mail for any address after an
//! optional `AUTH PLAIN`/`LOGIN` as [`Exim::user`] with a random password,
//! and delivers at once into the Maildir, where [`Exim::wait_for_messages`]
//! finds it. [`Exim::port`] speaks plain SMTP and offers STARTTLS,
//! [`Exim::tls_port`] implicit TLS, both with a certificate for 127.0.0.1
//! from a private CA ([`Exim::ca_pem_path`]). Stopped and removed on drop.
//!
//! Exim refuses to deliver as root: as root, the Maildir is written as the
//! `Debian-exim` user; as another user, everything runs as that user.
//! When Exim is missing, `start` returns `None` after a notice; with
//! `CI=true` it panics. `.ci/install-deps.sh` installs
//! `exim4-daemon-light`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EXIM: &str = "/usr/sbin/exim4";
const USER: &str = "digest";

/// A running Exim; see the module doc.
pub struct Exim {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    tls_port: u16,
    password: String,
}

impl Exim {
    /// Starts a server; `None` when Exim is not installed (outside CI).
    pub fn start() -> Option<Exim> {
        if !Path::new(EXIM).exists() {
            let missing = "exim4 is not installed (run .ci/install-deps.sh)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{missing}; CI=true, so SMTP tests may not be skipped");
            }
            eprintln!("NOTICE: {missing}: SMTP test skipped");
            return None;
        }
        let mut last = String::new();
        for _ in 0..3 {
            match Exim::try_start() {
                Ok(e) => return Some(e),
                Err(log) => last = log,
            }
        }
        panic!("exim did not come up three times:\n{last}");
    }

    fn try_start() -> Result<Exim, String> {
        let dir = tempfile::tempdir().unwrap();
        let (port, tls_port) = free_ports();
        super::dovecot::make_certificates(dir.path());
        let password = format!("pw-{}-{}", std::process::id(), port);
        let maildir = dir.path().join("maildir");
        for sub in ["spool", "maildir"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            // Debian-exim writes the Maildir; the temp dir must let it in.
            use std::os::unix::fs::PermissionsExt;
            for p in [dir.path().to_path_buf(), maildir.clone()] {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
            }
        }
        let config = dir.path().join("exim.conf");
        std::fs::write(
            &config,
            config_text(dir.path(), (port, tls_port), &password, root),
        )
        .unwrap();
        let child = Command::new(EXIM)
            .arg("-C")
            .arg(&config)
            .args(["-bdf", "-odi", "-oX"])
            .arg(format!("{port}:{tls_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start exim");
        let mut exim = Exim {
            child,
            dir,
            port,
            tls_port,
            password,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let up = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
            if up(port) && up(tls_port) {
                return Ok(exim);
            }
            if let Ok(Some(_)) = exim.child.try_wait() {
                return Err(exim.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("not listening after 20 s\n{}", exim.log()))
    }

    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The implicit-TLS port.
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The CA that signed the server's certificate.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn user(&self) -> &str {
        USER
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The server's main and panic logs.
    pub fn log(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!("{}{}", read("mainlog"), read("paniclog"))
    }

    /// Waits until `n` messages were delivered; their raw bytes, oldest first.
    pub fn wait_for_messages(&self, n: usize) -> Vec<Vec<u8>> {
        let new = self.dir.path().join("maildir/new");
        let start = Instant::now();
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            if files.len() >= n {
                files.sort();
                return files.iter().map(|f| std::fs::read(f).unwrap()).collect();
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "{} of {n} messages delivered after 20 s\n{}",
                    files.len(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Exim {
    fn drop(&mut self) {
        // `-bdf` keeps the daemon in the foreground: it is our child.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two different free ports (both held until both are known).
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn config_text(dir: &Path, (port, tls_port): (u16, u16), password: &str, root: bool) -> String {
    let d = dir.display();
    let owner = if root {
        "  user = Debian-exim\n  group = Debian-exim\n".to_string()
    } else {
        String::new()
    };
    let run_as = if root {
        "exim_user = root\nexim_group = root\n"
    } else {
        ""
    };
    format!(
        "primary_hostname = dmarcdb.test
spool_directory = {d}/spool
log_file_path = {d}/%slog
pid_file_path = {d}/exim.pid
{run_as}never_users =
domainlist local_domains = *
acl_smtp_rcpt = acl_rcpt
daemon_smtp_ports = {port} : {tls_port}
tls_on_connect_ports = {tls_port}
local_interfaces = 127.0.0.1
tls_certificate = {d}/server.pem
tls_privatekey = {d}/server.key
tls_advertise_hosts = *
host_lookup =
rfc1413_hosts =
auth_advertise_hosts = *
keep_environment =
begin acl
acl_rcpt:
  accept
begin routers
all:
  driver = accept
  transport = to_maildir
begin transports
to_maildir:
  driver = appendfile
  directory = {d}/maildir
  maildir_format
  create_directory
{owner}  envelope_to_add
  return_path_add
begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${{if and {{{{eq{{$auth2}}{{{USER}}}}}{{eq{{$auth3}}{{{password}}}}}}}}}
  server_set_id = $auth2
login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${{if and {{{{eq{{$auth1}}{{{USER}}}}}{{eq{{$auth2}}{{{password}}}}}}}}}
  server_set_id = $auth1
"
    )
}
