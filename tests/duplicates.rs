//! Two inputs with one identity key: the same report again (in any
//! container, any formatting) is "already stored"; different content is
//! "conflicting", both copies are kept, and a clean copy wins over one
//! whose markup needed repair, whichever arrived first.

mod fixture;

use std::io::{Read, Write};

use fixture::{json, midnight, run, Env, Rec, Report};

fn report() -> Report {
    Report::day(
        "Reporter",
        "dup-1",
        midnight(3),
        vec![
            Rec::new("192.0.2.1", 10, true),
            Rec::new("198.51.100.1", 4, false).header_from("example.com"),
        ],
    )
}

/// The report with one `<header_from>` broken, as a reporter's bug or a
/// damaged transfer leaves it: it parses by recovery, to header_from "exa".
fn damaged() -> String {
    report().xml().replacen(
        "<header_from>example.com</header_from>",
        "<header_from>exa<mple.com</header_from>",
        1,
    )
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// Ingests one file; returns (exit code, stdout, stderr).
fn ingest(env: &Env, name: &str, bytes: &[u8]) -> (i32, String, String) {
    let path = env.path(name);
    std::fs::write(&path, bytes).unwrap();
    run(env.cmd().arg("ingest").arg(&path))
}

/// A connection to the test's PostgreSQL database, if on PostgreSQL.
fn pg(env: &Env) -> Option<postgres::Client> {
    let url = env.url.as_ref()?;
    Some(postgres::Client::connect(url, postgres::NoTls).unwrap())
}

/// The header_from values stored, sorted.
fn header_froms(env: &Env) -> Vec<String> {
    const SQL: &str = "SELECT header_from FROM record ORDER BY header_from";
    if let Some(mut c) = pg(env) {
        return c
            .query(SQL, &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    }
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let mut st = conn.prepare(SQL).unwrap();
    let rows = st.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// (source, repair, XML) of every kept variant.
fn variants(env: &Env) -> Vec<(String, Option<String>, String)> {
    const SQL: &str = "SELECT source, repair, gzip FROM report_variant ORDER BY id";
    let rows: Vec<(String, Option<String>, Vec<u8>)> = match pg(env) {
        Some(mut c) => c
            .query(SQL, &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        None => {
            let conn = rusqlite::Connection::open(env.db()).unwrap();
            let mut st = conn.prepare(SQL).unwrap();
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap();
            rows.map(Result::unwrap).collect()
        }
    };
    rows.into_iter()
        .map(|(source, repair, gzip)| {
            let mut xml = String::new();
            flate2::read::GzDecoder::new(gzip.as_slice())
                .read_to_string(&mut xml)
                .unwrap();
            (source, repair, xml)
        })
        .collect()
}

fn reports(env: &Env) -> serde_json::Value {
    let (code, out, err) = run(env.cmd().args(["query", "reports", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    json(&out)
}

#[test]
fn the_same_report_in_other_containers_or_formatting_is_already_stored() {
    let env = Env::new();
    let xml = report().xml();
    let (code, out, _) = ingest(&env, "a.xml", xml.as_bytes());
    assert_eq!(code, 0);
    assert!(out.contains("1 new report(s)"), "{out}");
    let reindented = xml.replace("><", ">\n  <");
    for (name, bytes) in [
        ("a.xml.gz", gz(&xml)),
        ("b.xml", xml.clone().into_bytes()),
        ("c.xml", reindented.into_bytes()),
    ] {
        let (code, out, err) = ingest(&env, name, &bytes);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains("1 already stored, 0 not"), "{name}: {out}");
        assert!(!err.contains("conflicting"), "{name}: {err}");
    }
    assert!(variants(&env).is_empty());
}

#[test]
fn damaged_then_clean_the_clean_copy_replaces_it() {
    let env = Env::new();
    let (code, _, err) = ingest(&env, "damaged.xml", damaged().as_bytes());
    assert_eq!(code, 0, "{err}");
    assert_eq!(header_froms(&env), ["exa", "example.com"]);

    let (code, out, err) = ingest(&env, "clean.xml.gz", &gz(&report().xml()));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 new report(s) (0 records), 0 already stored, 1 conflicting"),
        "{out}"
    );
    assert!(err.contains("it replaced the stored copy"), "{err}");
    assert_eq!(header_froms(&env), ["example.com", "example.com"]);
    // The damaged bytes are kept, with what was wrong with them.
    let v = variants(&env);
    assert_eq!(v.len(), 1);
    assert!(v[0].0.ends_with("damaged.xml"), "{v:?}");
    assert!(v[0].1.as_deref().unwrap().contains("record 1"), "{v:?}");
    assert_eq!(v[0].2, damaged());
    let r = reports(&env);
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert_eq!(r[0]["messages"], 14);

    // Neither copy again changes anything.
    for (name, bytes) in [
        ("d2.xml", damaged().into_bytes()),
        ("c2.xml", report().xml().into_bytes()),
    ] {
        let (code, out, _) = ingest(&env, name, &bytes);
        assert_eq!(code, 0);
        assert!(out.contains("1 already stored, 0 not"), "{name}: {out}");
    }
    assert_eq!(variants(&env).len(), 1);
    assert_eq!(header_froms(&env), ["example.com", "example.com"]);
    // A rebuild from the stored bytes finds the clean copy.
    let (code, out, err) = run(env.cmd().arg("reparse"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 changed"), "{out}");
}

#[test]
fn clean_then_damaged_the_clean_copy_stays() {
    let env = Env::new();
    let (code, _, err) = ingest(&env, "clean.xml", report().xml().as_bytes());
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = ingest(&env, "damaged.xml.gz", &gz(&damaged()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 already stored, 1 conflicting"), "{out}");
    assert!(err.contains("the stored copy stays"), "{err}");
    assert_eq!(header_froms(&env), ["example.com", "example.com"]);
    let v = variants(&env);
    assert_eq!(v.len(), 1);
    assert!(
        v[0].0.ends_with("damaged.xml.gz") && v[0].1.is_some(),
        "{v:?}"
    );
    assert_eq!(v[0].2, damaged());
}

#[test]
fn between_two_clean_copies_the_first_stays() {
    let env = Env::new();
    let (code, _, _) = ingest(&env, "first.xml", report().xml().as_bytes());
    assert_eq!(code, 0);
    let mut second = report();
    second.records[0].count = 11;
    let (code, out, err) = ingest(&env, "second.xml", second.xml().as_bytes());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 conflicting"), "{out}");
    assert_eq!(reports(&env)[0]["messages"], 14);
    let v = variants(&env);
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].1.clone(), v[0].2.clone()), (None, second.xml()));
}

#[test]
fn both_copies_in_one_run_the_clean_one_wins() {
    for (first, second) in [("a.xml", "b.xml"), ("b.xml", "a.xml")] {
        let env = Env::new();
        let dir = env.path("reports");
        // `first` holds the damaged copy; name order decides which of the
        // two is read first, so both orders run.
        std::fs::write(dir.join(first), damaged()).unwrap();
        std::fs::write(dir.join(second), report().xml()).unwrap();
        let (code, out, err) = run(env.cmd().arg("ingest").arg(&dir));
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("1 new report(s) (2 records), 0 already stored, 1 conflicting"),
            "{out}"
        );
        assert_eq!(header_froms(&env), ["example.com", "example.com"]);
        assert_eq!(variants(&env).len(), 1);
    }
}
