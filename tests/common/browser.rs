//! Headless Chromium for integration tests: load a page (a file or a
//! loopback URL), get its DOM after it rendered, every console message and
//! every request the page made, and take screenshots.
//!
//! Each visit is one `chromium --headless` process with a fresh profile in
//! a temp dir, `--dump-dom` (or `--screenshot`), console messages logged to
//! stderr (`--enable-logging=stderr --v=0`, lines with `CONSOLE`) and a
//! network log (`--log-net-log`). The browser itself talks to Google's
//! update and account services whatever the flags say; those requests
//! carry the initiator `not an origin` and are left out, so
//! [`Visit::requests`] holds the navigation and what the page asked for.
//!
//! When Chromium is missing, [`Browser::find`] prints a notice and returns
//! `None` so that the test can skip; with `CI=true` it panics instead.
//! `.ci/install-deps.sh` installs the Debian `chromium` package.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CANDIDATES: [&str; 3] = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];
const TIMEOUT: Duration = Duration::from_secs(60);

/// A Chromium binary.
pub struct Browser {
    bin: PathBuf,
}

/// What one visit saw.
#[derive(Debug)]
pub struct Visit {
    /// The serialised DOM after load.
    pub dom: String,
    /// Console messages (CSP violations are among them).
    pub console: Vec<String>,
    /// URLs requested: the navigation and everything the page loaded.
    pub requests: Vec<String>,
}

impl Visit {
    /// Requests that did not go to `origin` (`http://127.0.0.1:PORT`, or
    /// the page's own `file://` URL for a file).
    pub fn foreign_requests(&self, origin: &str) -> Vec<&str> {
        self.requests
            .iter()
            .map(String::as_str)
            .filter(|u| {
                !(*u == origin
                    || u.starts_with(&format!("{origin}/"))
                    || u.starts_with(&format!("{origin}?")))
            })
            .collect()
    }
}

impl Browser {
    /// The installed Chromium, or `None` after a notice (panics with `CI=true`).
    pub fn find() -> Option<Browser> {
        if let Some(bin) = CANDIDATES.iter().map(PathBuf::from).find(|p| p.exists()) {
            return Some(Browser { bin });
        }
        let missing = "chromium is not installed (run .ci/install-deps.sh)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{missing}; CI=true, so browser tests may not be skipped");
        }
        eprintln!("NOTICE: {missing}: browser test skipped");
        None
    }

    /// Loads `url` in a `width`×`height` window and returns what it saw.
    pub fn visit(&self, url: &str, width: u32, height: u32) -> Visit {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("net.json");
        let mut cmd = self.command(dir.path(), width, height);
        cmd.arg("--enable-logging=stderr")
            .arg("--v=0")
            .arg(format!("--log-net-log={}", net.display()))
            .arg("--dump-dom")
            .arg(url);
        let (stdout, stderr) = run(cmd);
        let console = stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect();
        let log = std::fs::read_to_string(&net).unwrap_or_default();
        Visit {
            dom: stdout,
            console,
            requests: page_requests(&log),
        }
    }

    /// Writes a PNG of `url` in a `width`×`height` window to `out`.
    pub fn screenshot(&self, url: &str, width: u32, height: u32, out: &Path) {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = self.command(dir.path(), width, height);
        cmd.arg(format!("--screenshot={}", out.display())).arg(url);
        run(cmd);
        assert!(
            out.exists(),
            "chromium wrote no screenshot to {}",
            out.display()
        );
    }

    fn command(&self, profile: &Path, width: u32, height: u32) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.join("profile").display()
        ))
        .arg(format!("--window-size={width},{height}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd
    }
}

/// Runs Chromium to the end (killed after [`TIMEOUT`]); its stdout and stderr.
fn run(mut cmd: Command) -> (String, String) {
    let child = cmd.spawn().expect("cannot start chromium");
    let pid = child.id();
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while !waiter.is_finished() {
        if start.elapsed() > TIMEOUT {
            // SAFETY: kill(2) on the pid of our own child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("chromium did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = waiter.join().unwrap().expect("chromium failed to run");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The URLs of every request job in a net log that the browser did not
/// start for itself (initiator `not an origin` without being a navigation
/// to the page is the browser's own traffic).
fn page_requests(log: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(log) else {
        return Vec::new();
    };
    let Some(start_job) = v["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_i64() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in v["events"].as_array().into_iter().flatten() {
        if e["type"].as_i64() != Some(start_job) {
            continue;
        }
        let p = &e["params"];
        let (Some(url), initiator) = (p["url"].as_str(), p["initiator"].as_str()) else {
            continue;
        };
        let browser_own = initiator == Some("not an origin") && !is_page_navigation(url);
        if !browser_own && !out.iter().any(|u| u == url) {
            out.push(url.to_string());
        }
    }
    out
}

/// The browser's own traffic goes to Google's services; the tests only
/// navigate to loopback and files.
fn is_page_navigation(url: &str) -> bool {
    url.starts_with("http://127.0.0.1")
        || url.starts_with("http://[::1]")
        || url.starts_with("file:")
}

/// Screenshots go here for people to review: `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
