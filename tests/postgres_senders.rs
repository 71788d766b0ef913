//! Sender intelligence and the pages on PostgreSQL, against SQLite: the
//! same reports, MaxMind-format databases (made by `support/mmdb.rs`) and
//! reverse DNS (a private dnsmasq) give the same output on both backends
//! for `enrich`, `query sources` / `senders`, `readiness` (exit codes
//! too), the named alert, `report --html` and the `serve` pages with their
//! drill-down; `copy` carries the sender facts both ways; a database made
//! before PostgreSQL had `report_ips` finds the same new senders. The
//! PostgreSQL server is a throwaway cluster started by the tests
//! (`tests/common/postgres.rs`): without it they skip, unless `CI=true`.

mod common;
#[path = "support/dnsmasq.rs"]
mod dnsmasq;
#[path = "support/mmdb.rs"]
mod mmdb;
#[path = "support/pg_world.rs"]
mod pg_world;
#[path = "support/sender_reports.rs"]
mod sender_reports;

use std::ffi::OsStr;

use serde_json::{json, Value};

use pg_world::{cmd, date, dns, enrich, ingest, ok, run, world};

/// What the sender commands answer, with their exit codes.
fn answers(db: &OsStr) -> Vec<(String, i32, String)> {
    let since = date(7);
    let cases: [&[&str]; 9] = [
        &["query", "sources", "--format", "json"],
        &[
            "query",
            "sources",
            "--external",
            "--days",
            "40",
            "--format",
            "json",
        ],
        &["query", "senders", "--format", "json"],
        &[
            "query",
            "senders",
            "--domain",
            "example.com",
            "--format",
            "json",
        ],
        &["readiness", "--domain", "example.com", "--format", "json"],
        &[
            "readiness",
            "--domain",
            "EXAMPLE.com",
            "--policy",
            "quarantine",
        ],
        &["readiness", "--domain", "example.net", "--format", "json"],
        &["readiness", "--domain", "example.com", "--format", "csv"],
        &["alert", "--since", &since, "--format", "json"],
    ];
    cases
        .iter()
        .map(|args| {
            let (code, out, err) = run(db, args);
            assert!(err.is_empty() || code != 0, "{args:?}: {err}");
            (args.join(" "), code, out)
        })
        .collect()
}

#[test]
fn enrich_senders_readiness_and_named_alerts_answer_alike_on_both_backends() {
    let Some(dns) = dns() else { return };
    let Some(w) = world() else { return };
    let mut seen = Vec::new();
    for db in [&w.lite, &w.pg] {
        ingest(&w, db);
        let said = enrich(&w, db, &dns);
        assert!(
            said.contains("9 address(es) looked up in the databases, 5 known"),
            "{said}"
        );
        // A second run has nothing new to look up.
        let again = enrich(&w, db, &dns);
        assert!(again.contains("0 address(es) looked up"), "{again}");
        seen.push((said, answers(db)));
    }
    let (lite, pg) = (&seen[0], &seen[1]);
    assert_eq!(lite.0, pg.0);
    for (a, b) in lite.1.iter().zip(&pg.1) {
        assert_eq!(a, b, "{}", a.0);
    }
    // What PostgreSQL answered is the real thing, not two empty answers.
    let v = |i: usize| -> Value { serde_json::from_str(&pg.1[i].2).unwrap() };
    let sources = v(0);
    let row = |ip: &str| {
        sources
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["source_ip"] == ip)
            .unwrap_or_else(|| panic!("{ip} in {sources}"))
            .clone()
    };
    assert_eq!(
        row("209.85.220.69"),
        json!({"source_ip": "209.85.220.69", "ours": false, "messages": 30, "messages_pass": 0,
               "messages_fail": 30, "pass_pct": 0.0, "name": "Google", "asn": 15169,
               "as_name": "GOOGLE", "country": "US", "ptr": "mail-ed1-f69.google.com",
               "messages_forwarded": 30})
    );
    assert_eq!(row("2001:DB8::5")["as_name"], "DOC-V6");
    assert_eq!(row("198.51.100.9")["messages_forwarded"], 25);
    let senders = v(3);
    assert!(
        senders
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Amazon SES" && s["messages_fail"] == 40),
        "{senders}"
    );
    // readiness: blocked by Amazon SES (exit 1); example.net is ready (0).
    assert_eq!(pg.1[4].1, 1);
    let ready = v(4);
    assert_eq!(ready["blockers"][0]["name"], "Amazon SES", "{ready}");
    assert_eq!(ready["published"]["p"], "none", "{ready}");
    // news.example.com's 12 messages, found case-blind (EXAMPLE.com too).
    assert_eq!(
        ready["subdomains"],
        json!({"sp": ["none"], "np": [], "messages": 12}),
        "{ready}"
    );
    assert!(
        pg.1[5]
            .2
            .contains("not ready: p=quarantine would quarantine mail of Amazon SES"),
        "{}",
        pg.1[5].2
    );
    assert_eq!((pg.1[6].1, v(6)["ready"].clone()), (0, json!(true)));
    // The alert: named spoofing, and the senders not in the older report.
    assert_eq!(pg.1[8].1, 1);
    let alert = v(8);
    let texts: Vec<&str> = alert["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"45.1.2.3 (EXTERNAL: EVIL-AS (AS64500, RU)): 50 failing msgs sending as us -- possible spoofing"), "{texts:?}");
    let new: Vec<&str> = alert["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "new_sender")
        .map(|p| p["source_ip"].as_str().unwrap())
        .collect();
    // 209.85.220.69 and 149.72.1.2 were in the older report.
    assert_eq!(new, ["198.51.100.9", "2001:DB8::5"]);
}

#[test]
fn ingest_enrich_names_the_new_sources_alike_on_both_backends() {
    let Some(w) = world() else { return };
    let mut sources = Vec::new();
    for db in [&w.lite, &w.pg] {
        let mut c = cmd(db, &["ingest", "--enrich"]);
        c.env("DMARCDB_ASN_DB", &w.asn).args(&w.files);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("9 address(es) looked up in the databases, 5 known"),
            "{said}"
        );
        sources.push(ok(db, &["query", "sources", "--format", "json"]));
    }
    assert_eq!(sources[0], sources[1]);
    let v: Value = serde_json::from_str(&sources[1]).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["as_name"] == "EVIL-AS"),
        "{v}"
    );
}

/// Every `net_fact` and `rdns` row of a SQLite file, as text.
fn lite_facts(db: &OsStr) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT ip, asn, as_name, as_domain, country, looked_up_at FROM net_fact ORDER BY ip",
        "SELECT ip, ptr, confirmed != 0, looked_up_at FROM rdns ORDER BY ip",
    ] {
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                (0..n)
                    .map(|i| Ok(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap();
        out.extend(rows.map(|r| r.unwrap().join("|")));
    }
    out
}

/// The same rows of a PostgreSQL database, in the same form.
fn pg_facts(c: &mut postgres::Client) -> Vec<String> {
    use rusqlite::types::Value as V;
    let text = |s: Option<String>| s.map_or(V::Null, V::Text);
    let int = |n: Option<i64>| n.map_or(V::Null, V::Integer);
    let mut out = Vec::new();
    for r in c
        .query(
            "SELECT ip, asn, as_name, as_domain, country, looked_up_at FROM net_fact ORDER BY ip",
            &[],
        )
        .unwrap()
    {
        let row = [
            text(r.get(0)),
            int(r.get(1)),
            text(r.get(2)),
            text(r.get(3)),
            text(r.get(4)),
            int(r.get(5)),
        ];
        out.push(row.map(|v| format!("{v:?}")).join("|"));
    }
    for r in c
        .query(
            "SELECT ip, ptr, confirmed, looked_up_at FROM rdns ORDER BY ip",
            &[],
        )
        .unwrap()
    {
        let ok: bool = r.get(2);
        let row = [
            text(r.get(0)),
            text(r.get(1)),
            V::Integer(ok.into()),
            int(r.get(3)),
        ];
        out.push(row.map(|v| format!("{v:?}")).join("|"));
    }
    out
}

fn pg_client(w: &pg_world::World) -> postgres::Client {
    postgres::Client::connect(w.pg.to_str().unwrap(), postgres::NoTls).unwrap()
}

#[test]
fn copy_carries_the_sender_facts_both_ways_without_a_difference() {
    let Some(dns) = dns() else { return };
    let Some(w) = world() else { return };
    ingest(&w, &w.lite);
    enrich(&w, &w.lite, &dns);
    let back = w.dir.path().join("back.sqlite").into_os_string();
    let copy = |from: &OsStr, to: &OsStr| {
        let (f, t) = (from.to_str().unwrap(), to.to_str().unwrap());
        ok(&w.lite, &["copy", "--from", f, "--to", t])
    };
    let facts = lite_facts(&w.lite);
    let n = facts.len();
    assert!(n >= 12, "{facts:?}");
    let first = copy(&w.lite, &w.pg);
    assert!(
        first.contains(&format!("sender facts: {n} copied, 0 already there")),
        "{first}"
    );
    let again = copy(&w.lite, &w.pg);
    assert!(
        again.contains(&format!("sender facts: 0 copied, {n} already there")),
        "{again}"
    );
    let mut pg = pg_client(&w);
    assert_eq!(pg_facts(&mut pg), facts);
    // The address as inet beside the text the reporter wrote.
    let addr: String = pg
        .query_one(
            "SELECT host(addr) FROM net_fact WHERE ip = '2001:DB8::5'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(addr, "2001:db8::5");
    // The dashboard's table of failing sources names them.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/grafana/dmarcdb-postgres.json"
    );
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panel = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Top failing sources")
        .unwrap();
    let sql = panel["targets"][0]["rawSql"]
        .as_str()
        .unwrap()
        .replace("$__unixEpochFrom()", "0")
        .replace("$__unixEpochTo()", "4000000000");
    let named: Vec<(String, Option<String>)> = pg
        .query(sql.as_str(), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        named.contains(&("45.1.2.3".into(), Some("EVIL-AS".into()))),
        "{named:?}"
    );
    copy(&w.pg, &back);
    assert_eq!(lite_facts(&back), facts);
    let sources = |db: &OsStr| ok(db, &["query", "sources", "--format", "json"]);
    let want = sources(&w.lite);
    assert!(want.contains("EVIL-AS"), "{want}");
    assert_eq!(sources(&w.pg), want);
    assert_eq!(sources(&back), want);

    // A later lookup wins, whichever way it is copied; an older one does not.
    pg.execute(
        "UPDATE net_fact SET as_name = 'EVIL-AS-2', looked_up_at = looked_up_at + 100
         WHERE ip = '45.1.2.3'",
        &[],
    )
    .unwrap();
    let older = copy(&w.lite, &w.pg);
    assert!(older.contains("sender facts: 0 copied"), "{older}");
    let newer = copy(&w.pg, &w.lite);
    assert!(newer.contains("sender facts: 1 copied"), "{newer}");
    assert!(sources(&w.lite).contains("EVIL-AS-2"));
}

/// `report_ips` of every report, by report_id, from either backend.
fn hashes(w: &pg_world::World, pg: bool) -> Vec<(String, Vec<u8>)> {
    const SQL: &str = "SELECT r.report_id, i.hashes FROM report r
                       JOIN report_ips i ON i.report = r.id ORDER BY 1";
    if pg {
        let rows = pg_client(w).query(SQL, &[]).unwrap();
        return rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    }
    let c = rusqlite::Connection::open(&w.lite).unwrap();
    let mut st = c.prepare(SQL).unwrap();
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    rows.map(|r| r.unwrap()).collect()
}

#[test]
fn a_database_made_before_report_ips_finds_the_same_new_senders() {
    let Some(w) = world() else { return };
    let since = date(7);
    let alert = ["alert", "--since", since.as_str(), "--format", "json"];
    let mut answers = Vec::new();
    for db in [&w.lite, &w.pg] {
        ingest(&w, db);
        answers.push(run(db, &alert));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 1);
    assert!(answers[0].1.contains("new_sender"), "{}", answers[0].1);
    // Written with each report, the same rows on both.
    let want = hashes(&w, false);
    assert_eq!(want.len(), 3);
    assert_eq!(hashes(&w, true), want);
    // As a database of the schema before the sender facts (version 2): a
    // `sender` table, no report_ips (nor net_fact, rdns).
    pg_client(&w)
        .batch_execute(
            "DROP TABLE report_ips, net_fact, rdns;
             CREATE TABLE sender (source_ip text COLLATE \"C\" PRIMARY KEY,
                                  first_seen bigint NOT NULL);
             UPDATE dmarcdb_schema SET version = 2;",
        )
        .unwrap();
    assert_eq!(run(&w.pg, &alert), answers[0]);
    assert_eq!(hashes(&w, true), want);
    let gone = pg_client(&w)
        .query("SELECT 1 FROM pg_tables WHERE tablename = 'sender'", &[])
        .unwrap();
    assert!(gone.is_empty());
}
