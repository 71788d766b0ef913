//! PostgreSQL over TLS, as the README's "Connection and TLS" says, against
//! a real server that takes TCP connections only with TLS and a password
//! (`common/pg_tls.rs`: its certificate names DNS `localhost`, signed by a
//! CA of the test's own). Through the `dmarcdb` binary: `require` (and the
//! default, `prefer`) connects encrypted, as the server's log shows;
//! `verify-full` needs the right CA and host name, `verify-ca` the right
//! CA only, and `require` with a root certificate checks the chain;
//! `disable` is refused by the server; the password comes from the URL,
//! `PGPASSWORD`, `PGPASSFILE` or `~/.pgpass` (not a file others can read);
//! and no output ever holds the password. Without PostgreSQL the tests
//! skip, unless `CI=true`.

mod fixture;
#[path = "common/pg_tls.rs"]
mod pg_tls;

use std::path::Path;

use fixture::{json, midnight, run, Env, Rec, Report};
use pg_tls::{server, Server, PASSWORD, USER};

/// How to reach the server in one test.
struct Target {
    env: Env,
    server: &'static Server,
    db: String,
}

impl Target {
    /// A new database, and a temp dir whose `HOME` has no `.pgpass`.
    fn new() -> Option<Target> {
        let server = server()?;
        Some(Target {
            env: Env::on(false),
            db: server.database(),
            server,
        })
    }

    /// The URL for `host`, with the password unless `with_password` is
    /// false, and `params` (`sslmode=...&...`).
    fn url(&self, host: &str, with_password: bool, params: &str) -> String {
        let auth = match with_password {
            true => format!("{USER}:{PASSWORD}"),
            false => USER.to_string(),
        };
        let port = self.server.port();
        format!("postgres://{auth}@{host}:{port}/{}?{params}", self.db)
    }

    /// `dmarcdb --db URL ARGS` with `vars` set and none of libpq's
    /// variables from the caller.
    fn dmarcdb(
        &mut self,
        url: &str,
        vars: &[(&str, &str)],
        args: &[&str],
    ) -> (i32, String, String) {
        self.env.url = Some(url.to_string());
        let mut cmd = self.env.cmd();
        for k in [
            "PGPASSWORD",
            "PGPASSFILE",
            "PGUSER",
            "PGSSLMODE",
            "PGSSLROOTCERT",
        ] {
            cmd.env_remove(k);
        }
        cmd.envs(vars.iter().copied());
        cmd.args(["--our-net", "198.51.100.0/24"]).args(args);
        let (code, out, err) = run(&mut cmd);
        assert!(
            !out.contains(PASSWORD) && !err.contains(PASSWORD),
            "{args:?} showed the password: {out}{err}"
        );
        (code, out, err)
    }

    /// Ingests a report of its own through `url` and finds it again with a
    /// query (its messages are counted, so a second round adds to them).
    fn stores_and_reads(&mut self, url: &str, vars: &[(&str, &str)]) {
        let dir = self.env.path("reports");
        let n = std::fs::read_dir(&dir).unwrap().count();
        let ip = format!("192.0.2.{}", n + 1);
        let report = Report::day(
            "TLS",
            &format!("r{n}"),
            midnight(1),
            vec![Rec::new(&ip, 40 + n as i64, false)],
        );
        let file = dir.join(format!("r{n}.xml"));
        std::fs::write(&file, report.xml()).unwrap();
        let (code, _, err) = self.dmarcdb(url, vars, &["ingest", file.to_str().unwrap()]);
        assert_eq!(code, 0, "ingest through {url}: {err}");
        let (code, out, err) = self.dmarcdb(url, vars, &["query", "sources", "--format", "json"]);
        assert_eq!(code, 0, "query through {url}: {err}");
        let rows = json(&out);
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r.to_string().contains(&format!("\"{ip}\"")))
            .unwrap_or_else(|| panic!("{ip} not in {out}"));
        assert!(row.to_string().contains(&(40 + n).to_string()), "{row}");
    }

    /// Runs a query through `url`, which must fail with one line on
    /// stderr; that line.
    fn refused(&mut self, url: &str, vars: &[(&str, &str)]) -> String {
        let (code, out, err) = self.dmarcdb(url, vars, &["query", "sources", "--format", "json"]);
        assert_ne!(code, 0, "{url} connected: {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        err
    }
}

#[test]
fn require_and_prefer_connect_encrypted_as_the_server_sees() {
    let Some(mut t) = Target::new() else { return };
    for mode in ["require", "prefer"] {
        let app = format!("dmarcdb_{mode}_{}", t.db);
        let url = t.url(
            "localhost",
            true,
            &format!("sslmode={mode}&application_name={app}"),
        );
        t.stores_and_reads(&url, &[]);
        // log_connections: every connection of this run, and how.
        let log = t.server.log();
        let seen: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("connection authorized") && l.contains(&app))
            .collect();
        assert!(
            !seen.is_empty(),
            "no connection of {app} in the log:\n{log}"
        );
        for line in seen {
            assert!(line.contains("SSL enabled (protocol=TLS"), "{line}");
        }
    }
    // Unverified: 127.0.0.1 is not in the certificate, and needs not be.
    t.stores_and_reads(&t.url("127.0.0.1", true, "sslmode=require"), &[]);
}

#[test]
fn verify_full_connects_with_the_ca_and_the_name_in_the_certificate() {
    let Some(mut t) = Target::new() else { return };
    let ca = t.server.ca.display().to_string();
    let url = t.url(
        "localhost",
        true,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    t.stores_and_reads(&url, &[]);
    // Without sslrootcert: ~/.postgresql/root.crt, as libpq.
    let home = t.env.dir.path().join(".postgresql");
    std::fs::create_dir_all(&home).unwrap();
    let url = t.url("localhost", true, "sslmode=verify-full");
    let err = t.refused(&url, &[]);
    assert!(err.contains(".postgresql/root.crt"), "{err}");
    std::fs::copy(&t.server.ca, home.join("root.crt")).unwrap();
    t.stores_and_reads(&url, &[]);
}

#[test]
fn verify_full_refuses_a_host_name_not_in_the_certificate_and_verify_ca_does_not_check_it() {
    let Some(mut t) = Target::new() else { return };
    let ca = t.server.ca.display().to_string();
    let url = t.url(
        "127.0.0.1",
        true,
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let err = t.refused(&url, &[]);
    assert!(err.contains("certificate"), "{err}");
    let url = t.url(
        "127.0.0.1",
        true,
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    t.stores_and_reads(&url, &[]);
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let Some(mut t) = Target::new() else { return };
    let other = t.server.other_ca.display().to_string();
    // `require` with a root certificate checks the chain, as libpq.
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = t.url(
            "localhost",
            true,
            &format!("sslmode={mode}&sslrootcert={other}"),
        );
        let err = t.refused(&url, &[]);
        assert!(err.contains("certificate"), "{mode}: {err}");
    }
}

#[test]
fn a_plaintext_connection_is_refused_with_the_reason() {
    let Some(mut t) = Target::new() else { return };
    let err = t.refused(&t.url("localhost", true, "sslmode=disable"), &[]);
    assert!(err.contains("no encryption"), "{err}");
    assert!(err.contains(&format!("{USER}:***@localhost")), "{err}");
}

#[test]
fn the_password_comes_from_the_url_pgpassword_or_a_password_file() {
    let Some(mut t) = Target::new() else { return };
    let ca = t.server.ca.display().to_string();
    let params = format!("sslmode=verify-full&sslrootcert={ca}");
    t.stores_and_reads(&t.url("localhost", true, &params), &[]);
    let bare = t.url("localhost", false, &params);
    let err = t.refused(&bare, &[]);
    assert!(
        err.contains("asks for a password and none was given"),
        "{err}"
    );
    assert!(err.contains("no password file"), "{err}");
    t.stores_and_reads(&bare, &[("PGPASSWORD", PASSWORD)]);
    // A wrong password, in the URL or PGPASSWORD: refused, and not shown.
    let wrong = format!("{PASSWORD}-wrong");
    let url = t.url("localhost", true, &params).replace(PASSWORD, &wrong);
    let err = t.refused(&url, &[]);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains(&wrong), "{err}");
    let err = t.refused(&bare, &[("PGPASSWORD", &wrong)]);
    assert!(!err.contains(&wrong), "{err}");

    let line = format!("localhost:{}:{}:{USER}:{PASSWORD}\n", t.server.port(), t.db);
    let file = t.env.path("pgpass");
    write(
        &file,
        &format!("# other servers first\nelsewhere:*:*:*:x\n{line}"),
        0o600,
    );
    let passfile = file.to_str().unwrap();
    t.stores_and_reads(&bare, &[("PGPASSFILE", passfile)]);
    // PGPASSWORD comes before the file.
    t.refused(&bare, &[("PGPASSFILE", passfile), ("PGPASSWORD", &wrong)]);
    // ~/.pgpass, with wildcards.
    let home = t.env.dir.path().join(".pgpass");
    write(&home, &format!("*:*:{}:{USER}:{PASSWORD}\n", t.db), 0o600);
    t.stores_and_reads(&bare, &[]);
    // A password file others can read is ignored, as libpq does.
    write(&home, &line, 0o644);
    let err = t.refused(&bare, &[]);
    assert!(err.contains("ignored: others can read it"), "{err}");
    write(&file, &line, 0o640);
    let err = t.refused(&bare, &[("PGPASSFILE", passfile)]);
    assert!(err.contains(&format!("{passfile} ignored")), "{err}");
    // A file without a line for this database.
    write(&file, "*:*:elsewhere:*:x\n", 0o600);
    let err = t.refused(&bare, &[("PGPASSFILE", passfile)]);
    assert!(err.contains("no line for localhost:"), "{err}");
}

fn write(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
