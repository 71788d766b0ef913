//! A throwaway PostgreSQL cluster that speaks TLS only, for
//! `tests/postgres_tls.rs`: `ssl = on` with a server certificate for DNS
//! `localhost` (not for the address 127.0.0.1) signed by a CA of the test's
//! own, `pg_hba.conf` allowing TCP only as `hostssl` with a SCRAM password
//! (a plaintext connection is refused), and every connection logged
//! (`log_connections`) so that a test can see what the server saw. A
//! second CA, which signed nothing the server holds, is there for the
//! refusals. Certificates are made with the `openssl` CLI (installed by
//! `.ci/install-deps.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::fixture::postgres::{launch, Cluster};

/// The role the tests connect as, and its password: distinctive, so that
/// a test can look for it in any output.
pub const USER: &str = "dmarc";
pub const PASSWORD: &str = "Pw-7qXz-never-shown-93Kf";

pub struct Server {
    pub cluster: Cluster,
    /// The CA that signed the server's certificate.
    pub ca: PathBuf,
    /// A CA that signed nothing the server holds.
    pub other_ca: PathBuf,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The server, started on first use; `None` (skip) without PostgreSQL
/// unless `CI=true` (see `common/postgres.rs`).
pub fn server() -> Option<&'static Server> {
    SERVER.get_or_init(start).as_ref()
}

impl Server {
    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.cluster.dir.join("log")).unwrap_or_default()
    }

    /// A new, empty database owned by [`USER`], made over the unix socket.
    pub fn database(&self) -> String {
        let name = format!(
            "tls{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        admin(&self.cluster)
            .batch_execute(&format!("CREATE DATABASE {name} OWNER {USER}"))
            .unwrap();
        name
    }
}

fn start() -> Option<Server> {
    // Everything goes in the data directory, which the cluster's owner
    // removes when the tests end.
    let cluster = launch(&|data: &Path| {
        make_ca(data, "ca", "dmarcdb test CA");
        make_ca(data, "other", "dmarcdb other CA");
        server_certificate(data);
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(
            "\nssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n\
             log_connections = on\npassword_encryption = 'scram-sha-256'\n",
        );
        std::fs::write(&conf, text).unwrap();
        // The unix socket for the tests' own setup; TCP only with TLS.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl all all ::1/128 scram-sha-256\n",
        )
        .unwrap();
    })?;
    let mut admin = admin(&cluster);
    admin
        .batch_execute(&format!("CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'"))
        .unwrap();
    let data = cluster.dir.join("data");
    Some(Server {
        ca: data.join("ca.pem"),
        other_ca: data.join("other.pem"),
        cluster,
    })
}

/// The superuser over the unix socket (`trust`).
fn admin(cluster: &Cluster) -> postgres::Client {
    postgres::Config::new()
        .host_path(&cluster.dir)
        .port(cluster.port)
        .user("postgres")
        .dbname("postgres")
        .connect(postgres::NoTls)
        .unwrap()
}

/// `NAME.pem` and `NAME.key`: a self-signed CA (EC P-256, as rustls
/// verifies it).
fn make_ca(dir: &Path, name: &str, cn: &str) {
    let path = |ext: &str| dir.join(format!("{name}.{ext}"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        path("key").to_str().unwrap(),
        "-out",
        path("pem").to_str().unwrap(),
        "-days",
        "2",
        "-subj",
        &format!("/CN={cn}"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
}

/// `server.pem` / `server.key` in `data`: for DNS `localhost` only, signed
/// by `ca` there; the key private to its owner, as PostgreSQL wants.
fn server_certificate(data: &Path) {
    let ext = data.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName = DNS:localhost\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    let s = |p: PathBuf| p.display().to_string();
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &s(data.join("server.key")),
        "-out",
        &s(data.join("server.csr")),
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(data.join("server.csr")),
        "-CA",
        &s(data.join("ca.pem")),
        "-CAkey",
        &s(data.join("ca.key")),
        "-CAcreateserial",
        "-out",
        &s(data.join("server.pem")),
        "-days",
        "2",
        "-extfile",
        &s(ext),
    ]);
    use std::os::unix::fs::PermissionsExt;
    let private = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(data.join("server.key"), private).unwrap();
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (is it installed? .ci/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
