//! Report variants (conflicting copies of an aggregate report), the NUL
//! rule of TLS and failure reports, and the schema migration, on
//! PostgreSQL alike with SQLite. The server is the tests' own throwaway
//! cluster (`tests/common/postgres.rs`); without it the tests skip, unless
//! `CI=true`.

mod common;

use common::both::{mails, summary, Db};
use common::mail::{arf_mail, report_xml, tls_json, Rec};

/// An aggregate report whose second record's header_from is damaged (it
/// parses by markup repair) or clean.
fn variant_xml(damaged: bool) -> String {
    let begin = chrono::Utc::now().timestamp() / 86_400 * 86_400 - 3 * 86_400;
    let xml = report_xml(
        "Reporter",
        "dup-1",
        begin,
        &[
            Rec {
                ip: "192.0.2.1",
                count: 10,
                pass: true,
            },
            Rec {
                ip: "198.51.100.1",
                count: 4,
                pass: false,
            },
        ],
    );
    if damaged {
        xml.replacen("<header_from>", "<header_from>exa<", 1)
    } else {
        xml
    }
}

/// Damaged, then clean (replaces it), then the damaged again (kept
/// already), then other content (kept beside): what each ingest said.
fn variant_flow(db: &Db) -> Vec<String> {
    let mut said = Vec::new();
    let other = variant_xml(false).replace("<count>10</count>", "<count>11</count>");
    for (name, xml) in [
        ("damaged.xml", variant_xml(true)),
        ("clean.xml", variant_xml(false)),
        ("damaged-again.xml", variant_xml(true)),
        ("other.xml", other),
    ] {
        let path = db.path(name);
        std::fs::write(&path, xml).unwrap();
        let (code, out, err) = db.run(&["ingest", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        said.push(summary(&out));
        said.push(err.replace(db.dir.path().to_str().unwrap(), "DIR"));
    }
    said.push(db.ok(&["query", "reports", "--format", "json"]));
    said.push(db.ok(&["query", "sources", "--format", "json"]));
    let dir = db.dir.path().to_str().unwrap();
    said.extend(
        db.column("SELECT source FROM report_variant ORDER BY id")
            .iter()
            .map(|s| s.replace(dir, "DIR")),
    );
    said
}

#[test]
fn conflicting_copies_are_kept_as_variants_alike_on_both_backends() {
    let Some([lite, pg]) = Db::both() else { return };
    let (a, b) = (variant_flow(&lite), variant_flow(&pg));
    assert_eq!(a, b);
    assert!(a[2].contains("0 already stored, 1 conflicting"), "{a:?}");
    assert!(a[3].contains("it replaced the stored copy"), "{a:?}");
    assert!(a[4].contains("1 already stored"), "{a:?}");
    assert!(a[6].contains("1 conflicting"), "{a:?}");
    assert_eq!(pg.count("report_variant"), 2);
    assert_eq!(pg.count("record"), 2);
}

/// Every column of the public schema: table, column, type, nullability.
fn columns(db: &Db) -> Vec<String> {
    db.column(
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
         FROM information_schema.columns WHERE table_schema = 'public'
         ORDER BY table_name, column_name",
    )
}

#[test]
fn a_version_1_database_is_migrated_to_the_current_schema() {
    let Some(fresh) = Db::pg() else { return };
    let old = Db::pg().unwrap();
    fresh.ok(&["query", "reports"]);
    old.ok(&["query", "reports"]);
    // Back to version 1: none of the tables versions 2 (TLS and failure
    // reports, variants) and 3 (sender facts) added, and version 1's
    // `sender` table.
    let mut c = postgres::Client::connect(old.url.as_ref().unwrap(), postgres::NoTls).unwrap();
    c.batch_execute(
        "DROP TABLE report_variant, tls_failure, tls_policy, tls_report_blob, tls_report,
           failure_report_blob, failure_report, secret, report_ips, net_fact, rdns;
         CREATE TABLE sender (source_ip text COLLATE \"C\" PRIMARY KEY,
                              first_seen bigint NOT NULL);
         UPDATE dmarcdb_schema SET version = 1",
    )
    .unwrap();
    assert!(columns(&old).len() < columns(&fresh).len());
    let [tls, arf, _] = mails("migrated");
    std::fs::write(old.path("t.eml"), tls).unwrap();
    std::fs::write(old.path("a.eml"), arf).unwrap();
    let out = old.ok(&[
        "ingest",
        old.path("t.eml").to_str().unwrap(),
        old.path("a.eml").to_str().unwrap(),
    ]);
    assert!(out.starts_with("2 new report(s)"), "{out}");
    assert_eq!(columns(&old), columns(&fresh));
    assert_eq!(old.column("SELECT version FROM dmarcdb_schema"), ["3"]);
}

/// A NUL character, which PostgreSQL cannot store in text, in a TLS report
/// and in a failure report: both refused and quarantined alike on both
/// backends, and the batch goes on.
#[test]
fn a_nul_character_in_a_report_is_refused_alike_on_both_backends() {
    let Some([lite, pg]) = Db::both() else { return };
    let mut said = Vec::new();
    for db in [&lite, &pg] {
        let dir = db.path("in");
        std::fs::create_dir(&dir).unwrap();
        let json = tls_json("nul.example", "nul-1", 1_760_000_000, "example.org", 5, &[])
            .replace("\"nul.example\"", "\"nul\\u0000.example\"");
        std::fs::write(dir.join("a.json"), json).unwrap();
        let arf = String::from_utf8(arf_mail("n1", "198.51.100.9", "example.org", 1_760_000_000))
            .unwrap()
            .replace("Subject: Invoice n1", "Subject: =?utf-8?q?Invoice=00n1?=");
        std::fs::write(dir.join("b.eml"), arf).unwrap();
        let [tls, _, _] = mails("fine");
        std::fs::write(dir.join("c.eml"), tls).unwrap();
        let (code, out, err) = db.run(&["ingest", dir.to_str().unwrap()]);
        assert_eq!(code, 3, "{out}{err}");
        assert_eq!(err.matches("NUL character").count(), 2, "{err}");
        said.push((
            summary(&out),
            err.replace(db.dir.path().to_str().unwrap(), "DIR"),
            db.count("quarantine"),
            db.count("tls_report"),
            db.count("failure_report"),
        ));
    }
    assert_eq!(said[0], said[1]);
    assert_eq!((said[0].2, said[0].3, said[0].4), (2, 1, 0), "{said:?}");
}

/// Both copies in one run, so in one group of the writer: whichever the
/// parsing threads hand over first, the clean copy ends up stored and the
/// damaged one kept beside it, alike on both backends (on PostgreSQL the
/// first copy's rows may still wait in the group's buffer when the second
/// arrives).
#[test]
fn conflicting_copies_in_one_run_settle_alike_on_both_backends() {
    let Some([lite, pg]) = Db::both() else { return };
    let mut seen = Vec::new();
    for db in [&lite, &pg] {
        let dir = db.path("in");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a-damaged.xml"), variant_xml(true)).unwrap();
        std::fs::write(dir.join("b-clean.xml"), variant_xml(false)).unwrap();
        let (code, out, err) = db.run(&["ingest", dir.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(summary(&out).contains("1 conflicting"), "{out}");
        assert_eq!(db.count("report_variant"), 1);
        assert_eq!(db.count("record"), 2);
        seen.push((
            db.ok(&["query", "reports", "--format", "json"]),
            db.ok(&["query", "sources", "--format", "json"]),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[0].1.contains("198.51.100.1"), "{:?}", seen[0]);
}
