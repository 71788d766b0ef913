//! Helpers of the TLS and failure report tests (tests/tls_failure*.rs):
//! one report of each kind as a mail, an mbox of mails, and a view's JSON,
//! a table's row count and a connection, on either backend.

#![allow(dead_code)]

use std::path::Path;

use rusqlite::Connection;
use serde_json::Value;

use crate::common::both::mails_with;
pub use crate::common::both::mbox;
use crate::common::cli::{db_arg, dmarcdb, on_postgres, run_ok};

pub fn json_view(db: &Path, args: &[&str]) -> Vec<Value> {
    let out = run_ok(
        dmarcdb(db)
            .arg("query")
            .args(args)
            .args(["--format", "json"]),
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

pub fn count(db: &Path, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    if on_postgres() {
        return pg(db).query_one(&sql, &[]).unwrap().get(0);
    }
    Connection::open(db)
        .unwrap()
        .query_row(&sql, [], |r| r.get(0))
        .unwrap()
}

/// A connection to the PostgreSQL database the tests call `db`
/// (`DMARCDB_TEST_DB=postgres`).
pub fn pg(db: &Path) -> postgres::Client {
    let url = db_arg(db).into_string().unwrap();
    postgres::Client::connect(&url, postgres::NoTls).unwrap()
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One mail of each kind about one failing source (see
/// `common::both::mails`), with one TLS failure type of 100 sessions.
pub struct Mails {
    pub tls: Vec<u8>,
    pub arf: Vec<u8>,
    pub aggregate: Vec<u8>,
}

pub fn mails(tag: &str) -> Mails {
    let [tls, arf, aggregate] = mails_with(tag, &[("certificate-expired", 100)]);
    Mails {
        tls,
        arf,
        aggregate,
    }
}
