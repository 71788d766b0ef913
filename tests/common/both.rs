//! The tests' view of a database of either backend ([`Db`]: a SQLite file
//! or a database on the tests' PostgreSQL cluster), and the report mails of
//! every kind the tests that compare the two backends ingest.

use std::ffi::OsString;

use assert_cmd::Command;

use super::mail::{arf_mail, report_mail, report_xml, tls_json, tls_mail, Rec};

/// A database of either backend, with a temp dir for its inputs.
pub struct Db {
    pub dir: tempfile::TempDir,
    pub url: Option<String>,
}

impl Db {
    pub fn lite() -> Db {
        Db {
            dir: tempfile::tempdir().unwrap(),
            url: None,
        }
    }

    pub fn pg() -> Option<Db> {
        Some(Db {
            dir: tempfile::tempdir().unwrap(),
            url: Some(super::postgres::database()?),
        })
    }

    /// A SQLite and a PostgreSQL database; `None` to skip.
    pub fn both() -> Option<[Db; 2]> {
        Some([Db::lite(), Db::pg()?])
    }

    pub fn arg(&self) -> OsString {
        match &self.url {
            Some(u) => u.into(),
            None => self.dir.path().join("x.db").into(),
        }
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("dmarcdb").unwrap();
        for k in [
            "DMARCDB_DB",
            "DATABASE_URL",
            "DMARCDB_CONFIG",
            "DMARCDB_OUR_NETS",
        ] {
            c.env_remove(k);
        }
        c.env("HOME", self.dir.path());
        c.env("XDG_CONFIG_HOME", self.path("xdg"));
        c.arg("--db").arg(self.arg());
        c
    }

    /// Runs `args`; (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?} on {:?}: {err}", self.url);
        out
    }

    /// The first column of `sql`'s rows, as text.
    pub fn column(&self, sql: &str) -> Vec<String> {
        match &self.url {
            Some(url) => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
                let sql = format!("SELECT x::text FROM ({sql}) AS q (x)");
                c.query(&sql, &[])
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
                    .collect()
            }
            None => {
                let c = rusqlite::Connection::open(self.arg()).unwrap();
                let mut st = c.prepare(sql).unwrap();
                st.query_map([], |r| {
                    Ok(match r.get::<_, rusqlite::types::Value>(0)? {
                        rusqlite::types::Value::Integer(n) => n.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        rusqlite::types::Value::Null => String::new(),
                        v => format!("{v:?}"),
                    })
                })
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
            }
        }
    }

    pub fn count(&self, table: &str) -> i64 {
        self.column(&format!("SELECT count(*) FROM {table}"))[0]
            .parse()
            .unwrap()
    }
}

/// A TLS report mail, a failure report mail and an aggregate report mail
/// about one failing source, made distinct by `tag`.
pub fn mails(tag: &str) -> [Vec<u8>; 3] {
    mails_with(
        tag,
        &[("certificate-expired", 100), ("starttls-not-supported", 7)],
    )
}

/// [`mails`] with the TLS report's failure types and session counts given.
pub fn mails_with(tag: &str, failures: &[(&str, i64)]) -> [Vec<u8>; 3] {
    let now = chrono::Utc::now().timestamp();
    let day = now - now % 86_400 - 86_400;
    let json = tls_json(
        "tls.example",
        &format!("tls-{tag}"),
        day,
        "example.org",
        900,
        failures,
    );
    let xml = report_xml(
        "agg.example",
        &format!("agg-{tag}"),
        day,
        &[Rec {
            ip: "198.51.100.66",
            count: 30,
            pass: false,
        }],
    );
    [
        tls_mail("tls.example", &format!("tls-{tag}"), &json),
        arf_mail(
            &format!("arf-{tag}"),
            "198.51.100.66",
            "example.org",
            day + 3600,
        ),
        report_mail("agg.example", &format!("agg-{tag}"), &xml),
    ]
}

pub fn mbox(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(b"From dmarc@reporter.example Mon Nov  3 00:00:00 2025\r\n");
        out.extend_from_slice(m);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The summary line of an ingest, without its timing.
pub fn summary(out: &str) -> String {
    out.lines()
        .next()
        .unwrap_or_default()
        .split(" in ")
        .next()
        .unwrap()
        .to_string()
}
