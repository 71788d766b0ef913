//! Running the built binary from integration tests.

use std::borrow::BorrowMut;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// `dmarcdb --db DB` (see [`db_arg`]).
pub fn dmarcdb(db: &Path) -> Command {
    let mut c = Command::cargo_bin("dmarcdb").unwrap();
    c.env_remove("DMARCDB_DB")
        .env_remove("DATABASE_URL")
        .arg("--db")
        .arg(db_arg(db));
    c
}

/// Runs `cmd` and asserts it exited 0, showing its stderr otherwise.
pub fn run_ok(mut cmd: impl BorrowMut<Command>) -> Output {
    let out = cmd.borrow_mut().output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Whether the tests run on PostgreSQL (`DMARCDB_TEST_DB=postgres`) rather
/// than SQLite files.
pub fn on_postgres() -> bool {
    std::env::var("DMARCDB_TEST_DB").as_deref() == Ok("postgres")
}

/// What `--db` gets for the database a test calls `db`: the file, or on
/// PostgreSQL a database of the tests' cluster, one per path.
pub fn db_arg(db: &Path) -> std::ffi::OsString {
    if !on_postgres() {
        return db.into();
    }
    static URLS: std::sync::Mutex<Vec<(std::path::PathBuf, String)>> =
        std::sync::Mutex::new(Vec::new());
    let mut urls = URLS.lock().unwrap();
    if let Some((_, url)) = urls.iter().find(|(p, _)| p == db) {
        return url.into();
    }
    let url = super::postgres::database().expect("PostgreSQL is not installed");
    urls.push((db.to_owned(), url.clone()));
    url.into()
}

/// Reports stored in the SQLite file `db`; 0 while the file (or its
/// tables) does not exist yet.
pub fn reports_in_file(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("SELECT count(*) FROM report", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// A finished command's stderr, as text.
pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The report_id of every stored report, in order; none while the
/// database (or its tables) does not exist yet.
pub fn stored_report_ids(db: &Path) -> Vec<String> {
    const SQL: &str = "SELECT report_id FROM report ORDER BY report_id";
    if on_postgres() {
        let url = db_arg(db).into_string().unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        return match c.query(SQL, &[]) {
            Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
            Err(_) => Vec::new(),
        };
    }
    if !db.exists() {
        return Vec::new();
    }
    let c = rusqlite::Connection::open(db).unwrap();
    // A run killed before it created the tables leaves an empty file.
    let Ok(mut st) = c.prepare(SQL) else {
        return Vec::new();
    };
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Every row of `sql` (no parameters) from the database a test calls
/// `db`, on either backend, as its cells joined by `|`: integers and
/// booleans as numbers (true is 1), text as is, bytes in hex, NULL as
/// `NULL`. For SQL that reads alike on SQLite and PostgreSQL.
pub fn rows(db: &Path, sql: &str) -> Vec<String> {
    if on_postgres() {
        let url = db_arg(db).into_string().unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        return c
            .query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| pg_cell(r, i))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
    }
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    let rows = st
        .query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    rusqlite::types::ValueRef::Real(x) => x.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(b) => hex(b),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The single integer `sql` answers (see [`rows`]).
pub fn one(db: &Path, sql: &str) -> i64 {
    rows(db, sql)[0].parse().unwrap()
}

/// Runs statements without parameters on the database a test calls `db`.
pub fn execute(db: &Path, sql: &str) {
    if on_postgres() {
        let url = db_arg(db).into_string().unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(sql).unwrap();
    } else {
        rusqlite::Connection::open(db)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn pg_cell(r: &postgres::Row, i: usize) -> String {
    use postgres::types::Type;
    let ty = r.columns()[i].type_().clone();
    let s = match ty {
        Type::INT8 => r.get::<_, Option<i64>>(i).map(|n| n.to_string()),
        Type::INT4 => r.get::<_, Option<i32>>(i).map(|n| n.to_string()),
        Type::BOOL => r.get::<_, Option<bool>>(i).map(|b| (b as i64).to_string()),
        Type::FLOAT8 => r.get::<_, Option<f64>>(i).map(|x| x.to_string()),
        Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map(|b| hex(&b)),
        Type::TIMESTAMPTZ => r
            .get::<_, Option<std::time::SystemTime>>(i)
            .map(|t| format!("{t:?}")),
        _ => r.get::<_, Option<String>>(i),
    };
    s.unwrap_or_else(|| "NULL".to_string())
}
