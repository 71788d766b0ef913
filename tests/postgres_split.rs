//! A large window on PostgreSQL is folded in parts, one connection per
//! core (`store/senders/split.rs`, `store/pg/parts.rs`): each part's
//! reports streamed and folded apart, the folds merged. The merged answer
//! must be SQLite's, which folds the window in one pass: here 12 reports
//! of 9,000 records (108,000, over the 100,000 from which a window is
//! split), whose sources recur in every report (so every source is summed
//! in several parts), tie in their totals, pass DKIM for other domains in
//! other reports, are ours in some, forwarded or failing our signature in
//! others. The server logs every statement of the test's database, to
//! show that the parts were read on connections of their own, in one
//! snapshot. (Records of auth sets read after the stream, merged from
//! parts: `store/senders/later.rs`'s unit test.)

mod common;

use std::fmt::Write as _;

use common::both::Db;

const REPORTS: usize = 12;
const RECORDS: usize = 9_000;
const OURS: &str = "192.0.2.0/24";

/// Record `n` of report `r`: its source, count, From, DKIM result,
/// whether it passed, and its override reason.
fn record(s: &mut String, r: usize, n: usize) {
    // 2,000 sources, each in every report; counts of 1-3, so that many
    // sources tie.
    let k = (n + r * 7) % 2_000;
    let ip = match k % 3 {
        0 => format!("192.0.2.{}", k % 250),
        1 => format!("198.51.{}.{}", k / 250, k % 250),
        _ => format!("2001:db8:1:4::{k:x}"),
    };
    let count = (n + r) % 3 + 1;
    let from = if n % 11 == 0 {
        "mail.example.com"
    } else {
        "example.com"
    };
    // 300 signing domains, each passing in some reports and failing in
    // others.
    let d = format!("s{}.example", (r * RECORDS + n) % 300);
    let (dkim, pass) = match (n + r) % 5 {
        0 => ("example.com", "fail"),
        1 | 2 => (d.as_str(), "pass"),
        3 => (d.as_str(), "fail"),
        _ => ("example.com", "pass"),
    };
    let ok = if pass == "pass" { "pass" } else { "fail" };
    let reason = match (ok, n % 4) {
        ("fail", 0) => "<reason><type>forwarded</type></reason>",
        ("fail", 1) => "<reason><type>local_policy</type><comment>arc=pass</comment></reason>",
        _ => "",
    };
    let _ = write!(
        s,
        "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
         <disposition>none</disposition><dkim>{ok}</dkim><spf>{ok}</spf>{reason}\
         </policy_evaluated></row><identifiers><header_from>{from}</header_from></identifiers>\
         <auth_results><dkim><domain>{dkim}</domain><result>{pass}</result></dkim>\
         <spf><domain>{from}</domain><result>{ok}</result></spf></auth_results></record>"
    );
}

fn report(r: usize, begin: i64) -> String {
    let org = ["google.com", "yahoo.com", "outlook.com"][r % 3];
    let mut s = format!(
        "<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>{org}</org_name>\
         <email>dmarc@{org}</email><report_id>split-{r}</report_id>\
         <date_range><begin>{begin}</begin><end>{}</end></date_range></report_metadata>\
         <policy_published><domain>example.com</domain><p>none</p><sp>none</sp><pct>100</pct>\
         </policy_published>\n",
        begin + 86_399
    );
    for n in 0..RECORDS {
        record(&mut s, r, n);
    }
    s.push_str("</feedback>\n");
    s
}

/// What the folded views answer, one entry per command.
fn answers(db: &Db) -> Vec<(String, String)> {
    let since = (chrono::Utc::now() - chrono::Duration::days(20))
        .format("%Y-%m-%d")
        .to_string();
    let cases: [&[&str]; 10] = [
        &["query", "sources", "--days", "30"],
        &["query", "senders", "--days", "30"],
        &["query", "senders", "--days", "7"],
        &[
            "query",
            "senders",
            "--days",
            "30",
            "--domain",
            "example.com",
        ],
        &["query", "senders", "--days", "30", "--external"],
        &[
            "query",
            "senders",
            "--since",
            &since,
            "--ip",
            "198.51.0.0/16",
        ],
        &["readiness", "--domain", "example.com", "--days", "30"],
        &["readiness", "--domain", "EXAMPLE.com", "--days", "30"],
        &["readiness", "--domain", "example.com.", "--days", "30"],
        &["alert", "--since", &since],
    ];
    cases
        .iter()
        .map(|args| {
            let args = [&["--our-net", OURS], *args, &["--format", "json"]].concat();
            let (_, out, err) = db.run(&args);
            assert!(err.is_empty(), "{args:?} on {:?}: {err}", db.url);
            (args.join(" "), out)
        })
        .collect()
}

/// The server's log of the test's database (every statement, see
/// [`log_statements`]).
fn server_log() -> String {
    let dir = &common::postgres::cluster().unwrap().dir;
    std::fs::read_to_string(dir.join("log")).unwrap()
}

/// Has the server log every statement run in database `url`.
fn log_statements(url: &str) {
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("ALTER DATABASE {name} SET log_statement = 'all'"))
        .unwrap();
}

#[test]
fn a_window_folded_in_parts_answers_as_one_fold() {
    let Some(dbs) = Db::both() else { return };
    let now = chrono::Utc::now().timestamp();
    let files: Vec<std::path::PathBuf> = (0..REPORTS)
        .map(|r| {
            let path = dbs[0].path(&format!("r{r}.xml"));
            std::fs::write(&path, report(r, now - (1 + r as i64) * 86_400)).unwrap();
            path
        })
        .collect();
    let files: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    for db in &dbs {
        db.ok(&[&["ingest"], files.as_slice()].concat());
    }
    assert_eq!(dbs[1].count("record"), (REPORTS * RECORDS) as i64);
    log_statements(dbs[1].url.as_deref().unwrap());
    let [lite, pg] = [answers(&dbs[0]), answers(&dbs[1])];
    for ((cmd, lite), (_, pg)) in lite.iter().zip(&pg) {
        assert_eq!(lite, pg, "{cmd}");
    }
    // The answers say something: sources of every kind.
    let senders: serde_json::Value = serde_json::from_str(&pg[1].1).unwrap();
    let rows = senders.as_array().unwrap();
    assert!(rows.len() > 1, "{senders}");
    let text = senders.to_string();
    assert!(text.contains("\"messages_forwarded\":"), "{text}");
    // On a machine of several cores the 30-day windows were read in
    // parts: other connections imported the first one's snapshot, and the
    // parts' statement ran once per part.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let log = server_log();
    let imports = log.matches("SET TRANSACTION SNAPSHOT").count();
    let parts = log.matches("r.id = ANY(string_to_array(").count();
    if cores >= 2 {
        assert!(imports >= 5, "{imports} snapshots imported");
        assert!(
            parts >= 2 * imports,
            "{parts} parts read, {imports} imports"
        );
    } else {
        eprintln!("one core: each window was read in one statement");
        assert_eq!(imports, 0);
    }
}
