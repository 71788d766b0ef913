//! The Dovecot master process: starting it, waiting until a login works,
//! stopping and restarting it, cutting every session, and its logs for
//! failure messages.

use std::fs;
use std::io;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::PoisonError;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::client::login;
use super::{other, Dovecot, Failure, HOST, READY_TIMEOUT};

impl Dovecot {
    /// Stop the server and start it again on the same port with the same
    /// mail, as `systemctl restart` does: SIGTERM to the master, and every
    /// session process ended (Dovecot's own stop lets a session in IDLE
    /// live on for a while, served by the old process).
    pub fn restart(&mut self) {
        *self.admin.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        let sessions = self.imap_processes();
        self.stop();
        for pid in sessions {
            kill9(pid);
        }
        self.child = spawn_master(self.dir.path()).unwrap_or_else(|f| panic!("{}", f.text()));
        if let Err(f) = self.wait_ready() {
            panic!("dovecot did not come back: {}", f.text());
        }
    }

    /// SIGKILL every `imap` process (each serves one session): every
    /// client's connection drops mid-command. The harness's own session
    /// reconnects on its next use.
    pub fn kill_sessions(&self) -> usize {
        let sessions = self.imap_processes();
        for pid in &sessions {
            kill9(*pid);
        }
        sessions.len()
    }

    /// The master's `imap` children: one per logged-in session.
    fn imap_processes(&self) -> Vec<u32> {
        children_of(self.child.id())
            .into_iter()
            .filter(|pid| {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                comm.trim() == "imap"
            })
            .collect()
    }

    pub(super) fn stop(&mut self) {
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

    /// Ready means: a TLS login as the test user succeeds (the port opens
    /// before the auth process answers).
    pub(super) fn wait_ready(&mut self) -> Result<(), Failure> {
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

/// `dovecot -F -c ROOT/dovecot.conf`, its stderr appended to the log.
pub(super) fn spawn_master(root: &Path) -> Result<Child, Failure> {
    let stderr = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("log/stderr.log"))
        .map_err(|e| other("create stderr log", e))?;
    Command::new("dovecot")
        .arg("-F")
        .arg("-c")
        .arg(root.join("dovecot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| other("spawn dovecot", e))
}

fn kill9(pid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status();
}

/// Direct children of `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            // "pid (comm) state ppid ...": comm may hold spaces.
            let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1) == Some(&pid.to_string())
        })
        .collect()
}

/// The Dovecot log and its stderr, for failure messages.
pub(super) fn read_logs(root: &Path) -> String {
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
