//! The per-IP fold on PostgreSQL (`store/senders/later.rs`) reads the DKIM
//! results of the newest 10,000 auth sets before the records stream, and
//! sums the records of older sets on the side, folding them in after: both
//! ways must give what SQLite gives. Here the first report's records (our
//! network, a forwarder, a broken signature of ours, passing mail, a
//! subdomain) get the first auth sets; a second report with 10,000
//! records of a set each makes those sets older than the newest 10,000.
//! `sources`, `senders` and `readiness` (with and without filters) answer
//! the same JSON on both backends before and after it. The PostgreSQL
//! server is a throwaway cluster started by the tests
//! (`tests/common/postgres.rs`): without it they skip, unless `CI=true`.

mod common;

use std::fmt::Write as _;

use common::both::Db;

/// How many records, each with a new auth set, push the first report's
/// sets out of the newest 10,000 (`later.rs`'s `RECENT`).
const NEW_SETS: usize = 10_000;

const OURS: &str = "192.0.2.0/24";

/// One `<record>`: source IP, count, header From, its DKIM (domain,
/// result) pairs, whether DMARC passed, and an override reason.
struct Rec<'a> {
    ip: &'a str,
    count: u32,
    from: &'a str,
    dkim: &'a [(&'a str, &'a str)],
    pass: bool,
    reason: Option<(&'a str, &'a str)>,
}

fn record(s: &mut String, r: &Rec<'_>) {
    let v = if r.pass { "pass" } else { "fail" };
    let reason = r.reason.map_or(String::new(), |(t, c)| {
        format!("<reason><type>{t}</type><comment>{c}</comment></reason>")
    });
    let _ = write!(
        s,
        "<record><row><source_ip>{}</source_ip><count>{}</count><policy_evaluated>\
         <disposition>none</disposition><dkim>{v}</dkim><spf>{v}</spf>{reason}\
         </policy_evaluated></row><identifiers><header_from>{}</header_from></identifiers>\
         <auth_results>",
        r.ip, r.count, r.from
    );
    for (d, res) in r.dkim {
        let _ = write!(
            s,
            "<dkim><domain>{d}</domain><selector>s1</selector><result>{res}</result></dkim>"
        );
    }
    let _ = writeln!(
        s,
        "<spf><domain>{}</domain><result>{v}</result></spf></auth_results></record>",
        r.from
    );
}

fn report(org: &str, id: &str, begin: i64, recs: impl Iterator<Item = String>) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\"?>\n<feedback>\n<report_metadata><org_name>{org}</org_name>\
         <email>dmarc@{org}</email><report_id>{id}</report_id>\
         <date_range><begin>{begin}</begin><end>{}</end></date_range></report_metadata>\n\
         <policy_published><domain>example.com</domain><adkim>r</adkim><aspf>r</aspf>\
         <p>none</p><sp>none</sp><pct>100</pct></policy_published>\n",
        begin + 86_399
    );
    for r in recs {
        s.push_str(&r);
    }
    s.push_str("</feedback>\n");
    s
}

/// The first report: a few sources of every kind the fold tells apart.
fn first(begin: i64) -> String {
    let ours = [("example.com", "pass")];
    let broken = [("example.com", "fail"), ("list.example", "pass")];
    let other = [("elsewhere.example", "pass")];
    let recs = [
        Rec {
            ip: "192.0.2.10",
            count: 500,
            from: "example.com",
            dkim: &ours,
            pass: true,
            reason: None,
        },
        Rec {
            ip: "192.0.2.10",
            count: 7,
            from: "example.com",
            dkim: &broken,
            pass: false,
            reason: None,
        },
        Rec {
            ip: "198.51.100.5",
            count: 40,
            from: "example.com",
            dkim: &broken,
            pass: false,
            reason: None,
        },
        Rec {
            ip: "198.51.100.5",
            count: 3,
            from: "example.com",
            dkim: &other,
            pass: false,
            reason: None,
        },
        Rec {
            ip: "198.51.100.5",
            count: 11,
            from: "example.com",
            dkim: &ours,
            pass: true,
            reason: None,
        },
        Rec {
            ip: "203.0.113.9",
            count: 25,
            from: "example.com",
            dkim: &broken,
            pass: false,
            reason: Some(("forwarded", "")),
        },
        Rec {
            ip: "203.0.113.9",
            count: 4,
            from: "example.com",
            dkim: &other,
            pass: false,
            reason: Some(("local_policy", "arc=pass")),
        },
        Rec {
            ip: "2001:db8::1",
            count: 9,
            from: "mail.example.com",
            dkim: &[],
            pass: false,
            reason: None,
        },
        Rec {
            ip: "2001:db8::1",
            count: 2,
            from: "example.net",
            dkim: &other,
            pass: true,
            reason: None,
        },
    ];
    report(
        "first.example",
        "first-1",
        begin,
        recs.iter().map(|r| {
            let mut s = String::new();
            record(&mut s, r);
            s
        }),
    )
}

/// A report of [`NEW_SETS`] records, each signed by a domain of its own
/// (a new auth set each), from a few addresses shared with the first.
fn many(begin: i64) -> String {
    let ips = [
        "198.51.100.5",
        "198.51.100.77",
        "192.0.2.10",
        "203.0.113.200",
    ];
    report(
        "many.example",
        "many-1",
        begin,
        (0..NEW_SETS).map(|i| {
            let d = format!("s{i}.example");
            let res = if i % 3 == 0 { "fail" } else { "pass" };
            let mut s = String::new();
            record(
                &mut s,
                &Rec {
                    ip: ips[i % ips.len()],
                    count: (i % 5 + 1) as u32,
                    from: if i % 7 == 0 {
                        "example.com"
                    } else {
                        "example.org"
                    },
                    dkim: &[(&d, res)],
                    pass: res == "pass",
                    reason: None,
                },
            );
            s
        }),
    )
}

/// What the folded views answer, one entry per command.
fn answers(db: &Db) -> Vec<(String, String)> {
    // The alert says its window: a fixed one.
    let since = (chrono::Utc::now() - chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let cases: [&[&str]; 6] = [
        &["query", "sources", "--days", "30", "--format", "json"],
        &["query", "senders", "--days", "30", "--format", "json"],
        &[
            "query",
            "senders",
            "--days",
            "30",
            "--domain",
            "example.com",
            "--format",
            "json",
        ],
        &[
            "query",
            "senders",
            "--days",
            "30",
            "--external",
            "--format",
            "json",
        ],
        &[
            "readiness",
            "--domain",
            "example.com",
            "--days",
            "30",
            "--format",
            "json",
        ],
        &["alert", "--since", &since, "--format", "json"],
    ];
    cases
        .iter()
        .map(|args| {
            let (_, out, err) = db.run(&[&["--our-net", OURS], *args].concat());
            assert!(err.is_empty(), "{args:?} on {:?}: {err}", db.url);
            (args.join(" "), out)
        })
        .collect()
}

#[test]
fn records_of_sets_read_before_and_after_the_stream_fold_alike_on_both_backends() {
    let Some(dbs) = Db::both() else { return };
    let now = chrono::Utc::now().timestamp();
    let day = 86_400;
    for db in &dbs {
        std::fs::write(db.path("first.xml"), first(now - 3 * day)).unwrap();
        std::fs::write(db.path("many.xml"), many(now - 2 * day)).unwrap();
    }
    let mut before = Vec::new();
    let mut after = Vec::new();
    for db in &dbs {
        db.ok(&["ingest", db.path("first.xml").to_str().unwrap()]);
        before.push(answers(db));
        db.ok(&["ingest", db.path("many.xml").to_str().unwrap()]);
        after.push(answers(db));
        assert!(db.count("auth_set") > NEW_SETS as i64);
    }
    for (said, name) in [
        (&before, "first report only"),
        (&after, "with the new sets"),
    ] {
        for ((cmd, lite), (_, pg)) in said[0].iter().zip(&said[1]) {
            assert_eq!(lite, pg, "{name}: {cmd}");
        }
    }
    // The answers say something: the first report's sources are there,
    // with their forwarded and DKIM-broken mail told apart.
    let senders: serde_json::Value = serde_json::from_str(&after[1][1].1).unwrap();
    let text = senders.to_string();
    for want in [
        "\"messages_forwarded\":29",
        "elsewhere.example",
        "s1.example",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert_ne!(before[1][1].1, after[1][1].1);
}
