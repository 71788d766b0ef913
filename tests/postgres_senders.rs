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

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const OURS: &str = "203.0.113.0/24";
const DAY: i64 = 86_400;

struct Rec {
    ip: &'static str,
    count: i64,
    pass: bool,
    /// (domain, result) of <auth_results><dkim>.
    dkim: &'static [(&'static str, &'static str)],
    reason: Option<&'static str>,
    from: Option<&'static str>,
}

const fn rec(ip: &'static str, count: i64, pass: bool) -> Rec {
    Rec {
        ip,
        count,
        pass,
        dkim: &[],
        reason: None,
        from: None,
    }
}

fn report(domain: &str, id: &str, begin: i64, p: &str, recs: &[Rec]) -> String {
    let mut s = format!(
        "<feedback><report_metadata><org_name>google.com</org_name><email>e@google.com</email>\
         <report_id>{id}</report_id><date_range><begin>{begin}</begin><end>{}</end></date_range>\
         </report_metadata><policy_published><domain>{domain}</domain><p>{p}</p><sp>{p}</sp>\
         <pct>100</pct></policy_published>",
        begin + DAY - 1
    );
    for r in recs {
        let v = if r.pass { "pass" } else { "fail" };
        let reason = r
            .reason
            .map(|t| format!("<reason><type>{t}</type></reason>"))
            .unwrap_or_default();
        let dkim: String = r
            .dkim
            .iter()
            .map(|(d, res)| {
                format!(
                    "<dkim><domain>{d}</domain><selector>s</selector><result>{res}</result></dkim>"
                )
            })
            .collect();
        s.push_str(&format!(
            "<record><row><source_ip>{}</source_ip><count>{}</count><policy_evaluated>\
             <disposition>none</disposition><dkim>{v}</dkim><spf>{v}</spf>{reason}</policy_evaluated></row>\
             <identifiers><header_from>{}</header_from></identifiers><auth_results>{dkim}\
             <spf><domain>{domain}</domain><result>{v}</result></spf></auth_results></record>",
            r.ip,
            r.count,
            r.from.unwrap_or(domain)
        ));
    }
    s + "</feedback>"
}

/// Report files, MaxMind databases and a SQLite file and a PostgreSQL
/// database to store them in.
struct World {
    dir: tempfile::TempDir,
    /// The reports, in the order both databases ingest them.
    files: Vec<PathBuf>,
    asn: PathBuf,
    country: PathBuf,
    lite: OsString,
    pg: OsString,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn world() -> Option<World> {
    let pg = common::postgres::database()?;
    let dir = tempfile::tempdir().unwrap();
    let day = now() - 2 * DAY;
    let a = [
        Rec {
            dkim: &[("sendgrid.net", "pass"), ("example.com", "pass")],
            ..rec("149.72.1.2", 40, true)
        },
        Rec {
            dkim: &[("example.com", "fail")],
            ..rec("209.85.220.69", 30, false)
        },
        Rec {
            reason: Some("forwarded"),
            ..rec("198.51.100.9", 25, false)
        },
        rec("45.1.2.3", 50, false),
        rec("203.0.113.5", 200, true),
        rec("54.240.8.1", 40, false),
        rec("2001:DB8::5", 15, false),
        Rec {
            from: Some("news.example.com"),
            ..rec("203.0.113.7", 12, true)
        },
    ];
    let reports = [
        (
            "hist",
            report(
                "example.com",
                "hist",
                day - 20 * DAY,
                "none",
                &[rec("209.85.220.69", 5, true), rec("149.72.1.2", 10, true)],
            ),
        ),
        ("a", report("example.com", "a", day, "none", &a)),
        (
            "b",
            report(
                "example.net",
                "b",
                day,
                "quarantine",
                &[rec("203.0.113.6", 150, true)],
            ),
        ),
    ];
    let mut files = Vec::new();
    for (name, xml) in reports {
        let f = dir.path().join(format!("{name}.xml"));
        std::fs::write(&f, xml).unwrap();
        files.push(f);
    }
    let net = |n: u32, name: &str| json!({"autonomous_system_number": n, "autonomous_system_organization": name});
    let c = |code: &str| json!({"country": {"iso_code": code, "names": {"en": code}}});
    let nets = [
        ("149.72.0.0/16", 11377, "SENDGRID", "US"),
        ("209.85.128.0/17", 15169, "GOOGLE", "US"),
        ("45.1.0.0/16", 64500, "EVIL-AS", "RU"),
        ("54.240.0.0/18", 16509, "AMAZON-02", "US"),
        ("2001:db8::/32", 64501, "DOC-V6", "DE"),
    ];
    let asn = dir.path().join("GeoLite2-ASN.mmdb");
    let rows: Vec<_> = nets.iter().map(|(n, a, o, _)| (*n, net(*a, o))).collect();
    std::fs::write(&asn, mmdb::build("GeoLite2-ASN", 6, &rows)).unwrap();
    let country = dir.path().join("GeoLite2-Country.mmdb");
    let rows: Vec<_> = nets.iter().map(|(n, _, _, k)| (*n, c(k))).collect();
    std::fs::write(&country, mmdb::build("GeoLite2-Country", 6, &rows)).unwrap();
    let lite = dir.path().join("t.sqlite").into_os_string();
    Some(World {
        dir,
        files,
        asn,
        country,
        lite,
        pg: pg.into(),
    })
}

/// `dmarcdb --db DB --our-net OURS ARGS` with a clean environment.
fn cmd(db: &OsStr, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("dmarcdb"));
    for k in [
        "DMARCDB_DB",
        "DATABASE_URL",
        "DMARCDB_CONFIG",
        "DMARCDB_OUR_NETS",
        "DMARCDB_ASN_DB",
        "DMARCDB_COUNTRY_DB",
    ] {
        c.env_remove(k);
    }
    c.env("XDG_CONFIG_HOME", "/nonexistent")
        .arg("--db")
        .arg(db)
        .args(["--our-net", OURS])
        .args(args);
    c
}

/// Exit code, stdout, stderr.
fn run(db: &OsStr, args: &[&str]) -> (i32, String, String) {
    let out = cmd(db, args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(db: &OsStr, args: &[&str]) -> String {
    let (code, out, err) = run(db, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn ingest(w: &World, db: &OsStr) {
    for f in &w.files {
        ok(db, &["ingest", f.to_str().unwrap()]);
    }
}

fn dns() -> Option<dnsmasq::Dnsmasq> {
    dnsmasq::start(&[
        "--host-record=mail-ed1-f69.google.com,209.85.220.69",
        "--host-record=a8-25.smtp-out.amazonses.com,54.240.8.1",
        "--local=/com/",
    ])
}

/// `enrich` with both databases and reverse DNS from `dns`.
fn enrich(w: &World, db: &OsStr, dns: &dnsmasq::Dnsmasq) -> String {
    let server = dns.addr.to_string();
    ok(
        db,
        &[
            "enrich",
            "--asn-db",
            w.asn.to_str().unwrap(),
            "--country-db",
            w.country.to_str().unwrap(),
            "--rdns",
            "--dns-server",
            &server,
        ],
    )
}

/// The time a page was made, which differs between two runs.
fn no_stamp(page: &str) -> String {
    const MARK: &str = "Made by dmarcdb on ";
    match page.find(MARK) {
        Some(i) => {
            let end = (i + MARK.len() + "2026-01-01 00:00 UTC".len()).min(page.len());
            format!("{}{MARK}(time){}", &page[..i], &page[end..])
        }
        None => page.to_string(),
    }
}

/// `YYYY-MM-DD` of `days` ago.
fn date(days: i64) -> String {
    chrono::DateTime::from_timestamp(now() - days * DAY, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

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
