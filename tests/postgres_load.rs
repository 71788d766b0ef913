//! PostgreSQL's write path loads what the reports of a transaction add
//! together (`src/store/pg/load.rs`): the real reports of the shared
//! corpus come out row for row as on SQLite (records, auth-result sets,
//! override reasons, totals, original bytes), and a report that breaks in
//! the middle of a group, after part of it was loaded, leaves nothing
//! behind while the reports around it are kept.

#[path = "common/corpus.rs"]
mod corpus;
mod fixture;

use corpus::corpus_dir;
use fixture::{assert_same_rows, midnight, run, sorted_rows, Env, Rec, Report};

/// One line per row of every table a report fills, by identity (never by
/// id, which differs between databases), in one order; SQL both dialects
/// run.
const DUMP: &[&str] = &[
    "SELECT r.org_name || '|' || r.report_id || '|' || CAST(c.seq AS text) || '|' ||
       c.source_ip || '|' || CASE WHEN c.ip_bin IS NULL THEN '-' ELSE 'ip' END || '|' ||
       CAST(c.count AS text)
       || '|' || c.disposition || '|' || c.dkim || '|' || c.spf || '|' ||
       CASE WHEN c.dmarc_pass THEN 'pass' ELSE 'fail' END || '|' || c.header_from || '|' ||
       coalesce(c.envelope_from, '-') || '|' || coalesce(c.envelope_to, '-') || '|' ||
       coalesce(a.key, '-')
     FROM record c JOIN report r ON r.id = c.report LEFT JOIN auth_set a ON a.id = c.auth",
    "SELECT r.org_name || '|' || r.report_id || '|' || CAST(o.record AS text) || '|' ||
       CAST(o.seq AS text) || '|' || o.type || '|' || coalesce(o.comment, '-')
     FROM override_reason o JOIN report r ON r.id = o.report",
    "SELECT r.org_name || '|' || r.report_id || '|' || CAST(r.record_count AS text) || '|' ||
       CAST(r.message_count AS text) || '|' || CAST(r.pass_count AS text) || '|' ||
       CAST((SELECT count(*) FROM report_blob b WHERE b.report = r.id) AS text)
     FROM report r",
    "SELECT a.key || '|dkim|' || CAST(d.seq AS text) || '|' || d.domain || '|' ||
       coalesce(d.selector, '-') || '|' || d.result || '|' || coalesce(d.human_result, '-')
     FROM dkim_result d JOIN auth_set a ON a.id = d.auth_set",
    "SELECT a.key || '|spf|' || CAST(s.seq AS text) || '|' || s.domain || '|' ||
       coalesce(s.scope, '-') || '|' || s.result || '|' || coalesce(s.human_result, '-')
     FROM spf_result s JOIN auth_set a ON a.id = s.auth_set",
];

/// The dump of a SQLite file, sorted.
fn dump_sqlite(env: &Env) -> Vec<String> {
    let c = rusqlite::Connection::open(env.db()).unwrap();
    let mut all = Vec::new();
    for sql in DUMP {
        let mut st = c.prepare(sql).unwrap();
        let rows = st.query_map([], |r| r.get::<_, String>(0)).unwrap();
        let mut rows: Vec<String> = rows.map(|r| r.unwrap()).collect();
        rows.sort();
        all.push(rows.join("\n"));
    }
    all
}

/// The dump of a PostgreSQL database, sorted.
fn dump_postgres(url: &str) -> Vec<String> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    sorted_rows(&mut c, DUMP)
}

/// The original bytes of every report, by identity.
fn blobs_postgres(url: &str) -> Vec<(String, String, Vec<u8>)> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.query(
        "SELECT r.org_name, r.report_id, b.gzip FROM report r
         JOIN report_blob b ON b.report = r.id ORDER BY 1, 2",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

fn blobs_sqlite(env: &Env) -> Vec<(String, String, Vec<u8>)> {
    let c = rusqlite::Connection::open(env.db()).unwrap();
    let mut st = c
        .prepare(
            "SELECT r.org_name, r.report_id, b.gzip FROM report r
             JOIN report_blob b ON b.report = r.id ORDER BY 1, 2",
        )
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn real_reports_are_stored_row_for_row_as_on_sqlite() {
    let Some(dir) = corpus_dir("parsedmarc/aggregate") else {
        return;
    };
    let Some(_) = fixture::postgres::cluster() else {
        return;
    };
    let (lite, pg) = (Env::on(false), Env::on(true));
    let ingest = |env: &Env| {
        let (code, out, err) = run(env.cmd().arg("ingest").arg(&dir));
        assert!(code == 0 || code == 3, "{err}");
        out
    };
    let (a, b) = (ingest(&lite), ingest(&pg));
    // The rest of the line differs: SQLite keeps the other copies of a
    // report as its variants, PostgreSQL does not yet.
    let new = |s: &str| s.split(", ").next().unwrap_or_default().to_string();
    assert_eq!(new(&a), new(&b));
    assert!(!a.starts_with("0 new"), "{a}");
    let url = pg.url.clone().unwrap();
    // Reports with conflicting copies: SQLite keeps the better copy,
    // PostgreSQL the first (variants are not kept there yet).
    let c = rusqlite::Connection::open(lite.db()).unwrap();
    let mut st = c
        .prepare(
            "SELECT DISTINCT r.org_name || '|' || r.report_id || '|' FROM report_variant v
             JOIN report r ON r.id = v.report",
        )
        .unwrap();
    let conflicting: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let settled = |dump: Vec<String>| -> Vec<String> {
        let keep = |l: &&str| !conflicting.iter().any(|c| l.starts_with(c.as_str()));
        dump.iter()
            .map(|t| t.lines().filter(keep).collect::<Vec<_>>().join("\n"))
            .collect()
    };
    let (want, got) = (settled(dump_sqlite(&lite)), settled(dump_postgres(&url)));
    assert!(want[1].contains('|'), "the corpus has override reasons");
    assert_same_rows(&got, &want);
    let settled = |b: Vec<(String, String, Vec<u8>)>| -> Vec<(String, String, Vec<u8>)> {
        b.into_iter()
            .filter(|(org, id, _)| !conflicting.contains(&format!("{org}|{id}|")))
            .collect()
    };
    assert_eq!(settled(blobs_postgres(&url)), settled(blobs_sqlite(&lite)));
}

/// Records enough for several loads (8192 each).
fn many(n: i64) -> Vec<Rec> {
    (0..n)
        .map(|k| {
            let r = Rec::new(
                &format!("198.51.{}.{}", k / 250 % 250, k % 250),
                1 + k % 7,
                k % 2 == 0,
            );
            // Many distinct auth-result sets, some stored by each load.
            r.dkim_auth(&[(&format!("d{}.example", k % 3000), "s", "pass")])
        })
        .collect()
}

#[test]
fn a_report_that_breaks_after_a_load_leaves_the_rest_of_its_group_whole() {
    let Some(_) = fixture::postgres::cluster() else {
        return;
    };
    let env = Env::on(true);
    let day = midnight(1);
    let first = Report::day("A", "a1", day, vec![Rec::new("192.0.2.1", 5, true)]);
    let broken = Report::day("B", "b1", day, many(20_000));
    let last = Report::day("C", "c1", day, many(300));
    // One run, one group: the names keep the order a, b, c.
    std::fs::write(env.path("a.xml"), first.xml()).unwrap();
    let xml = broken.xml();
    std::fs::write(env.path("b.xml"), &xml[..xml.len() * 9 / 10]).unwrap();
    std::fs::write(env.path("c.xml"), last.xml()).unwrap();
    let (code, out, err) = run(env
        .cmd()
        .arg("ingest")
        .arg(env.path("a.xml"))
        .arg(env.path("b.xml"))
        .arg(env.path("c.xml")));
    assert_eq!(code, 3, "{err}");
    assert!(out.starts_with("2 new report(s) (301 records)"), "{out}");
    let url = env.url.clone().unwrap();
    let got = dump_postgres(&url);
    assert_eq!(got[0].lines().count(), 301, "records of a and c only");
    assert!(!got[0].contains("|b1|"));
    let sum = |recs: &[Rec], pass: bool| -> i64 {
        let passing = |r: &&Rec| !pass || r.dkim == "pass";
        recs.iter().filter(passing).map(|r| r.count).sum()
    };
    let (a, c) = (&first.records, &last.records);
    let want = format!(
        "A|a1|1|{}|{}|1\nC|c1|300|{}|{}|1",
        sum(a, false),
        sum(a, true),
        sum(c, false),
        sum(c, true)
    );
    assert_eq!(got[2], want, "report rows with their totals and bytes");
    // Only a's and c's auth-result sets are stored (b's own are taken out
    // with it: tests/postgres_undo.rs), each once with its result.
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let sets: i64 = c
        .query_one(
            "SELECT count(*) FROM auth_set a WHERE (SELECT count(*) FROM dkim_result d
             WHERE d.auth_set = a.id) = 1",
            &[],
        )
        .unwrap()
        .get(0);
    let all: i64 = c
        .query_one("SELECT count(*) FROM auth_set", &[])
        .unwrap()
        .get(0);
    assert_eq!(sets, all);
    assert_eq!(all, 301);
}

#[test]
fn a_nul_character_is_refused_and_quarantined_while_the_group_goes_on() {
    let Some(_) = fixture::postgres::cluster() else {
        return;
    };
    let env = Env::on(true);
    let day = midnight(1);
    let good = |id: &str| Report::day("A", id, day, vec![Rec::new("192.0.2.1", 5, true)]);
    // PostgreSQL's text cannot hold NUL (SQLite's can): in a record, and in
    // the header.
    let bad_record = Report::day(
        "B",
        "b1",
        day,
        vec![
            Rec::new("192.0.2.2", 1, true),
            Rec::new("192.0.2.3", 1, true).header_from("exa\0mple.com"),
        ],
    );
    let bad_header = good("a\0x");
    std::fs::write(env.path("a.xml"), good("a1").xml()).unwrap();
    std::fs::write(env.path("b.xml"), bad_record.xml()).unwrap();
    std::fs::write(env.path("c.xml"), bad_header.xml()).unwrap();
    std::fs::write(env.path("d.xml"), good("a2").xml()).unwrap();
    let mut cmd = env.cmd();
    cmd.arg("ingest");
    for f in ["a.xml", "b.xml", "c.xml", "d.xml"] {
        cmd.arg(env.path(f));
    }
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("2 new report(s) (2 records)"), "{out}");
    assert!(
        err.contains("a NUL character in <header_from>, which PostgreSQL cannot store"),
        "{err}"
    );
    assert!(err.contains("a NUL character in <report_id>"), "{err}");
    let got = dump_postgres(&env.url.clone().unwrap());
    assert_eq!(got[0].lines().count(), 2, "{}", got[0]);
    assert!(!got[0].contains("|b1|"));
    let (code, list, err) = run(env.cmd().args(["quarantine", "list", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let list = fixture::json(&list);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
}
