//! On PostgreSQL, a report that fails part-way through a writer group
//! (a record that does not parse, or a panic: a bug, which the ingest
//! loop catches) leaves nothing behind (`src/store/pg/undo.rs`, `load.rs`): not its
//! rows, not the auth-result sets it was the first to use (whether a load
//! had stored them already or they were still waiting), while the sets it
//! shares with the group's other reports, before and after it, are stored
//! once. Every table is compared with a database that never saw the bad
//! reports. The server is the tests' throwaway cluster
//! (`tests/common/postgres.rs`); without it the tests skip, unless
//! `CI=true`.

mod fixture;

use dmarcdb::extract::{Limits, Payload, PayloadKind};
use dmarcdb::parse::ReportReader;
use dmarcdb::store::{Location, Store};
use fixture::{assert_same_rows, midnight, run, sorted_rows, Env, Rec, Report};

/// A record whose DKIM result names `domain` (one auth-result set per
/// domain).
fn rec(k: usize, domain: &str) -> Rec {
    Rec::new(
        &format!("198.51.{}.{}", k / 250 % 250, k % 250),
        1 + k as i64 % 7,
        true,
    )
    .dkim_auth(&[(domain, "s", "pass")])
}

/// `report`'s XML with a record that does not parse at its end.
fn broken(report: &Report) -> String {
    report.xml().replace(
        "</feedback>",
        "<record><row><source_ip>x</source_ip><count>1</count></row></record></feedback>",
    )
}

/// The row count of every table but the quarantine, then every row of
/// the tables a report fills, by identity (never by id), sorted.
fn dump(url: &str) -> Vec<String> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let tables: Vec<String> = c
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
               AND table_name <> 'quarantine' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.len() > 10, "{tables:?}");
    let mut all: Vec<String> = tables
        .iter()
        .map(|t| {
            let n: i64 = c
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .unwrap()
                .get(0);
            format!("{t}: {n}")
        })
        .collect();
    all.extend(sorted_rows(
        &mut c,
        &[
            "SELECT concat_ws('|', r.org_name, r.report_id, c.seq, c.source_ip, c.count,
           c.disposition, c.dkim, c.spf, c.dmarc_pass, c.header_from, a.key)
         FROM record c JOIN report r ON r.id = c.report LEFT JOIN auth_set a ON a.id = c.auth",
            "SELECT concat_ws('|', r.org_name, r.report_id, o.record, o.seq, o.type, o.comment)
         FROM override_reason o JOIN report r ON r.id = o.report",
            "SELECT concat_ws('|', r.org_name, r.report_id, r.record_count, r.message_count,
           r.pass_count, encode(b.sha256, 'hex'), md5(i.hashes))
         FROM report r LEFT JOIN report_blob b ON b.report = r.id
         LEFT JOIN report_ips i ON i.report = r.id",
            "SELECT a.key FROM auth_set a",
            "SELECT concat_ws('|', a.key, d.seq, d.domain, d.selector, d.result, d.human_result)
         FROM dkim_result d JOIN auth_set a ON a.id = d.auth_set",
            "SELECT concat_ws('|', a.key, s.seq, s.domain, s.scope, s.result, s.human_result)
         FROM spf_result s JOIN auth_set a ON a.id = s.auth_set",
        ],
    ));
    all
}

/// Ingests `files` (name, XML) in one run, in that order; its exit code
/// and standard output.
fn ingest(env: &Env, files: &[(&str, String)]) -> (i32, String) {
    let mut cmd = env.cmd();
    cmd.arg("ingest");
    for (name, xml) in files {
        std::fs::write(env.path(name), xml).unwrap();
        cmd.arg(env.path(name));
    }
    let (code, out, err) = run(&mut cmd);
    assert!(code == 0 || code == 3, "{out}{err}");
    (code, out)
}

#[test]
fn a_report_failing_part_way_in_a_group_leaves_no_auth_set_behind() {
    let Some(_) = fixture::postgres::cluster() else {
        return;
    };
    let day = midnight(1);
    // a: a few sets of its own, waiting in the buffer when b begins.
    let a = Report::day(
        "A",
        "a1",
        day,
        (0..50)
            .map(|k| rec(k, &format!("a{}.example", k % 10)))
            .collect(),
    );
    // b: more records than one load (8,192) holds: sets it shares with a,
    // sets of its own that a load stores (some of them used by c later),
    // sets of its own still waiting when its last record fails.
    let b = Report::day(
        "B",
        "b1",
        day,
        (0..18_000)
            .map(|k| match k {
                0..100 => rec(k, &format!("a{}.example", k % 10)),
                100..12_000 => rec(k, &format!("b{}.example", k % 2000)),
                12_000..17_000 => rec(k, &format!("mid{}.example", k % 500)),
                _ => rec(k, &format!("tail{}.example", k % 100)),
            })
            .collect(),
    );
    // c: some sets of b's (stored by its loads, and waiting), a new one.
    let c = Report::day(
        "C",
        "c1",
        day,
        (0..300)
            .map(|k| match k {
                0..100 => rec(k, &format!("b{}.example", k % 50)),
                100..200 => rec(k, &format!("mid{}.example", k % 20)),
                200..290 => rec(k, &format!("tail{}.example", k % 10)),
                _ => rec(k, "c.example"),
            })
            .collect(),
    );
    // d: small, fails with its own sets and c's waiting (no load; the
    // writer gets records 64 at a time, so those before the bad one are
    // in); e needs some of d's.
    let d = Report::day(
        "D",
        "d1",
        day,
        (0..200)
            .map(|k| match k {
                0..10 => rec(k, "c.example"),
                _ => rec(k, &format!("d{}.example", k % 15)),
            })
            .collect(),
    );
    let e = Report::day(
        "E",
        "e1",
        day,
        (0..30)
            .map(|k| rec(k, &format!("d{}.example", k % 5)))
            .collect(),
    );

    let seen = Env::on(true);
    let files = [
        ("a.xml", a.xml()),
        ("b.xml", broken(&b)),
        ("c.xml", c.xml()),
        ("d.xml", broken(&d)),
        ("e.xml", e.xml()),
    ];
    let (code, out) = ingest(&seen, &files);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("3 new report(s) (380 records)"), "{out}");
    let never = Env::on(true);
    let good = [("a.xml", a.xml()), ("c.xml", c.xml()), ("e.xml", e.xml())];
    assert_eq!(ingest(&never, &good).0, 0);
    let (got, want) = (
        dump(seen.url.as_ref().unwrap()),
        dump(never.url.as_ref().unwrap()),
    );
    assert_same_rows(&got, &want);
    assert!(
        want.iter().any(|t| t.contains("mid19.example")),
        "c's sets of b's are stored"
    );
    // Both bad reports are in the quarantine, and only they.
    let (_, list, _) = run(seen.cmd().args(["quarantine", "list", "--format", "json"]));
    assert_eq!(
        fixture::json(&list).as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
}

/// Stores `report` through the library, as the ingest loop does; with
/// `panic_at`, the record source panics when asked for that record (a bug
/// part-way through a report, which the ingest loop catches).
fn store(s: &mut Store, report: &Report, panic_at: Option<usize>) -> bool {
    let limits = Limits::default();
    let payload = Payload {
        name: format!("{}.xml", report.id),
        data: std::sync::Arc::new(report.xml().into_bytes()),
        gzip: false,
        kind: PayloadKind::Aggregate,
    };
    let mut reader = ReportReader::new(payload.reader(&limits));
    let header = reader.header().unwrap();
    let mut n = 0;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // A record at a time, so the panic falls at that record.
        s.store_parsed(&payload, &limits, "test", header, &mut |out| {
            n += 1;
            assert!(Some(n) != panic_at, "a bug half-way");
            reader.read_records(out, 1)?;
            Ok(())
        })
        .unwrap();
    }))
    .is_ok()
}

#[test]
fn a_panic_part_way_through_a_report_in_a_group_leaves_nothing_of_it() {
    let Some(_) = fixture::postgres::cluster() else {
        return;
    };
    let day = midnight(1);
    let a = Report::day(
        "A",
        "a1",
        day,
        (0..40).map(|k| rec(k, "a.example")).collect(),
    );
    // Past one load (8,192 rows), with sets of its own loaded and waiting.
    let b = Report::day(
        "B",
        "b1",
        day,
        (0..9_000)
            .map(|k| rec(k, &format!("b{}.example", k % 300)))
            .collect(),
    );
    let c = Report::day(
        "C",
        "c1",
        day,
        (0..30).map(|k| rec(k, "b7.example")).collect(),
    );
    let open = |env: &Env| Store::connect(&Location::Postgres(env.url.clone().unwrap())).unwrap();

    let seen = Env::on(true);
    let mut s = open(&seen);
    s.set_batching(true).unwrap();
    assert!(store(&mut s, &a, None));
    assert!(
        !store(&mut s, &b, Some(8_900)),
        "the panic reaches the caller"
    );
    assert!(store(&mut s, &c, None));
    s.set_batching(false).unwrap();
    drop(s);

    let never = Env::on(true);
    let mut s = open(&never);
    s.set_batching(true).unwrap();
    assert!(store(&mut s, &a, None) && store(&mut s, &c, None));
    s.set_batching(false).unwrap();
    drop(s);

    let (got, want) = (
        dump(seen.url.as_ref().unwrap()),
        dump(never.url.as_ref().unwrap()),
    );
    assert_same_rows(&got, &want);
    assert!(want.iter().any(|t| t.contains("b7.example")));
}
