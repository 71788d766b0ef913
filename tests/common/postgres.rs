//! A throwaway PostgreSQL cluster for the tests of one test binary
//! (Debian's postgresql 15): initialised in a temp dir on first use, on a
//! free loopback port with its unix socket in that dir, and stopped when
//! the test process ends (a watchdog shell waits for it). Each test gets a
//! database of its own ([`database`]).
//!
//! PostgreSQL refuses to run as root: as root, initdb and the server run
//! as the `postgres` user (`runuser`). Without the binaries the tests
//! skip, unless `CI=true`, where a missing server fails them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Debian's PostgreSQL binaries (the newest version installed).
fn bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    dirs.pop()
}

/// The running cluster.
pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    /// The shell that runs the server and stops it when this process
    /// ends (never waited for: it outlives the tests by design).
    _watchdog: std::process::Child,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The cluster, started on first use; `None` (skip) when PostgreSQL is
/// not installed and CI is not set.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

/// A new, empty database on the cluster, as a `postgres://` URL; `None`
/// when the test should skip (see [`cluster`]).
pub fn database() -> Option<String> {
    let c = cluster()?;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let admin = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        c.port
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    Some(format!(
        "postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable",
        c.port
    ))
}

fn as_postgres(cmd: &str) -> Command {
    let root = unsafe_is_root();
    let mut c = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", cmd]);
        c
    } else {
        Command::new(cmd)
    };
    c.stdout(Stdio::null());
    c
}

fn unsafe_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        })
        .unwrap_or(false)
}

fn start() -> Option<Cluster> {
    launch(&|_| {})
}

/// A cluster of its own: initialised, `prepare` given its data directory
/// (to change `postgresql.conf`, `pg_hba.conf` or add files; as root it is
/// handed to the `postgres` user afterwards), then started; ready once it
/// answers on its unix socket (in [`Cluster::dir`]), whatever `pg_hba.conf`
/// allows over TCP. `None` as for [`cluster`].
#[allow(dead_code)]
pub fn launch(prepare: &dyn Fn(&std::path::Path)) -> Option<Cluster> {
    let Some(bin) = bin() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin); run .ci/install-deps.sh"
        );
        eprintln!("skipping: PostgreSQL is not installed");
        return None;
    };
    let initdb = bin.join("initdb");
    let dir = tempfile::Builder::new()
        .prefix("dmarcdb-pg")
        .tempdir()
        .unwrap()
        .keep();
    if unsafe_is_root() {
        let ok = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let data = dir.join("data");
    let st = as_postgres(initdb.to_str().unwrap())
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "-D",
        ])
        .arg(&data)
        .status()
        .unwrap();
    assert!(st.success(), "initdb failed");
    prepare(&data);
    if unsafe_is_root() {
        let ok = Command::new("chown")
            .arg("-R")
            .arg("postgres:postgres")
            .arg(&data)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The server, and a watchdog that stops it when this process ends.
    let script = format!(
        "{bin}/postgres -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 \
         -c fsync=off -c full_page_writes=off >{dir}/log 2>&1 & pid=$!; \
         while [ -d /proc/{me} ] && [ -d /proc/$pid ]; do sleep 1; done; \
         kill -INT $pid 2>/dev/null; wait $pid; rm -rf {dir}",
        bin = bin.display(),
        data = data.display(),
        dir = dir.display(),
        me = std::process::id(),
    );
    let watchdog = as_postgres("sh")
        .args(["-c", &script])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut socket = postgres::Config::new();
    socket
        .host_path(&dir)
        .port(port)
        .user("postgres")
        .dbname("postgres");
    loop {
        if socket.connect(postgres::NoTls).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start; see {}/log",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Cluster {
        port,
        dir,
        _watchdog: watchdog,
    })
}
