//! `dmarcdb query VIEW` over reports the test writes (dated relative to
//! now): every view in table, CSV and JSON form against known numbers,
//! the filters, a multi-day report in `daily`, and the empty window.

mod fixture;

use fixture::{cells, day, json, midnight, run, Env, Rec, Report, DAY};
use serde_json::{json, Value};

const OURS: &str = "192.0.2.0/24";

/// Four reports: three in the last week (one spanning two days), one a
/// month old.
///
/// | source            | ours | messages | pass | reporter, day          |
/// |-------------------|------|----------|------|------------------------|
/// | 192.0.2.10        | yes  | 90 + 10  | 90   | Google, 2 days ago     |
/// | 203.0.113.5       | no   | 30       | 0    | Google, 2 days ago     |
/// | 192.0.2.10        | yes  | 50       | 50   | Yahoo, yesterday       |
/// | ::ffff:192.0.2.11 | yes  | 20       | 20   | Yahoo, yesterday       |
/// | 198.51.100.7      | no   | 80 + 20  | 80   | Mail.ru, 4d 12:00 → 3d 12:00 |
/// | 192.0.2.10        | yes  | 1000     | 1000 | Google, 30 days ago    |
fn world() -> Env {
    let env = Env::new();
    let google = Report::day(
        "Google",
        "g1",
        midnight(2),
        vec![
            Rec::new("192.0.2.10", 90, true),
            Rec::new("192.0.2.10", 10, false).spf_auth(&[("example.com", "softfail")]),
            Rec::new("203.0.113.5", 30, false)
                .envelope_from("evil.example")
                .dkim_auth(&[("evil.example", "x", "fail")])
                .spf_auth(&[("evil.example", "fail")]),
        ],
    );
    let yahoo = Report::day(
        "Yahoo",
        "y1",
        midnight(1),
        vec![
            Rec::new("192.0.2.10", 50, true),
            Rec::new("::ffff:192.0.2.11", 20, true)
                .dkim_auth(&[("example.com", "s1", "pass"), ("esp.example", "k2", "pass")]),
        ],
    );
    let mut mailru = Report::day(
        "Mail.ru",
        "m1",
        midnight(4) + DAY / 2,
        vec![
            Rec::new("198.51.100.7", 80, true)
                .header_from("example.org")
                .evaluated("pass", "fail")
                .dkim_auth(&[("example.org", "s2", "pass")])
                .spf_auth(&[("fwd.example", "fail")]),
            Rec::new("198.51.100.7", 20, false)
                .header_from("example.org")
                .dkim_auth(&[])
                .spf_auth(&[("fwd.example", "fail")]),
        ],
    );
    mailru.domain = "example.org".into();
    mailru.end = mailru.begin + DAY;
    let old = Report::day(
        "Google",
        "old",
        midnight(30),
        vec![Rec::new("192.0.2.10", 1000, true)],
    );
    env.ingest(&[google, yahoo, mailru, old]);
    env
}

fn query(env: &Env, args: &[&str]) -> (i32, String, String) {
    run(env.cmd().arg("--our-net").arg(OURS).arg("query").args(args))
}

fn query_json(env: &Env, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let (code, out, err) = query(env, &a);
    assert_eq!(code, 0, "{err}");
    json(&out)
}

/// A column of a JSON array of objects.
fn col(v: &Value, key: &str) -> Vec<Value> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].clone())
        .collect()
}

#[test]
fn sources_in_json_csv_and_table() {
    let env = world();
    let v = query_json(&env, &["sources"]);
    assert_eq!(
        v,
        json!([
            {"source_ip": "192.0.2.10", "ours": true, "messages": 150, "messages_pass": 140, "messages_fail": 10, "pass_pct": 93.3,
             "name": null, "asn": null, "as_name": null, "country": null, "ptr": null, "messages_forwarded": 0},
            {"source_ip": "198.51.100.7", "ours": false, "messages": 100, "messages_pass": 80, "messages_fail": 20, "pass_pct": 80.0,
             "name": null, "asn": null, "as_name": null, "country": null, "ptr": null, "messages_forwarded": 0},
            {"source_ip": "203.0.113.5", "ours": false, "messages": 30, "messages_pass": 0, "messages_fail": 30, "pass_pct": 0.0,
             "name": null, "asn": null, "as_name": null, "country": null, "ptr": null, "messages_forwarded": 0},
            {"source_ip": "::ffff:192.0.2.11", "ours": true, "messages": 20, "messages_pass": 20, "messages_fail": 0, "pass_pct": 100.0,
             "name": null, "asn": null, "as_name": null, "country": null, "ptr": null, "messages_forwarded": 0},
        ])
    );

    let (code, csv, _) = query(&env, &["sources", "--format", "csv"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "source_ip,ours,messages,messages_pass,messages_fail,pass_pct,\
         name,asn,as_name,country,ptr,messages_forwarded"
    );
    assert_eq!(lines[1], "192.0.2.10,true,150,140,10,93.3,,,,,,0");
    assert_eq!(lines[4], "::ffff:192.0.2.11,true,20,20,0,100.0,,,,,,0");
    assert_eq!(lines.len(), 5);

    let (code, table, _) = query(&env, &["sources"]);
    assert_eq!(code, 0);
    assert!(table.is_ascii(), "piped output is plain ASCII:\n{table}");
    let c = cells(&table);
    assert_eq!(
        c[0],
        [
            "source_ip",
            "ours",
            "messages",
            "messages_pass",
            "messages_fail",
            "pass_pct",
            "name",
            "asn",
            "as_name",
            "country",
            "ptr",
            "messages_forwarded"
        ]
    );
    assert_eq!(
        c[1],
        [
            "192.0.2.10",
            "ours",
            "150",
            "140",
            "10",
            "93.3",
            "",
            "",
            "",
            "",
            "",
            "0"
        ]
    );
    assert_eq!(
        c[3],
        [
            "203.0.113.5",
            "EXTERNAL",
            "30",
            "0",
            "30",
            "0.0",
            "",
            "",
            "",
            "",
            "",
            "0"
        ]
    );
    // Numbers are right-aligned.
    let row = table.lines().find(|l| l.contains("203.0.113.5")).unwrap();
    assert!(row.contains("|       30 |"), "{row}");
}

#[test]
fn sources_window_limit_and_filters() {
    let env = world();
    let ips = |args: &[&str]| col(&query_json(&env, args), "source_ip");
    assert_eq!(ips(&["sources", "--limit", "1"]), [json!("192.0.2.10")]);
    assert_eq!(
        ips(&["sources", "--ours"]),
        [json!("192.0.2.10"), json!("::ffff:192.0.2.11")]
    );
    assert_eq!(
        ips(&["sources", "--external"]),
        [json!("198.51.100.7"), json!("203.0.113.5")]
    );
    // IPv4 CIDR matches the IPv4-mapped form too.
    assert_eq!(
        ips(&["sources", "--ip", "192.0.2.8/29"]),
        [json!("192.0.2.10"), json!("::ffff:192.0.2.11")]
    );
    assert_eq!(
        ips(&["sources", "--ip", "203.0.113.5"]),
        [json!("203.0.113.5")]
    );
    assert_eq!(
        ips(&["sources", "--domain", "EXAMPLE.org"]),
        [json!("198.51.100.7")]
    );
    assert_eq!(
        ips(&["sources", "--org", "yahoo"]),
        [json!("192.0.2.10"), json!("::ffff:192.0.2.11")]
    );
    let month = query_json(&env, &["sources", "--days", "60"]);
    assert_eq!(month[0]["messages"], 1150);
    let since = midnight(30);
    let until = midnight(30);
    let old = query_json(
        &env,
        &["sources", "--since", &day(since), "--until", &day(until)],
    );
    assert_eq!(col(&old, "messages"), [json!(1000)]);
}

#[test]
fn daily_spreads_a_two_day_report_and_draws_bars_only_in_tables() {
    let env = world();
    let v = query_json(&env, &["daily"]);
    assert_eq!(
        v,
        json!([
            {"day": day(midnight(4)), "messages": 50, "messages_pass": 40, "messages_fail": 10, "pass_pct": 80.0},
            {"day": day(midnight(3)), "messages": 50, "messages_pass": 40, "messages_fail": 10, "pass_pct": 80.0},
            {"day": day(midnight(2)), "messages": 130, "messages_pass": 90, "messages_fail": 40, "pass_pct": 69.2},
            {"day": day(midnight(1)), "messages": 70, "messages_pass": 70, "messages_fail": 0, "pass_pct": 100.0},
        ])
    );

    let (_, csv, _) = query(&env, &["daily", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "day,messages,messages_pass,messages_fail,pass_pct"
    );
    assert_eq!(lines[3], format!("{},130,90,40,69.2", day(midnight(2))));

    let (_, table, _) = query(&env, &["daily"]);
    let c = cells(&table);
    assert_eq!(c[0].last().unwrap(), "bar");
    // Busiest day fills 30 characters: 21 passing, 9 failing.
    assert_eq!(c[3][5], format!("{}{}", "#".repeat(21), "x".repeat(9)));
    assert_eq!(c[4][5], "#".repeat(16));
    assert_eq!(c[1][5], format!("{}{}", "#".repeat(10), "xx"));
}

#[test]
fn orgs_and_domains() {
    let env = world();
    assert_eq!(
        query_json(&env, &["orgs"]),
        json!([
            {"org_name": "Google", "reports": 1, "messages": 130, "messages_pass": 90, "messages_fail": 40, "pass_pct": 69.2},
            {"org_name": "Mail.ru", "reports": 1, "messages": 100, "messages_pass": 80, "messages_fail": 20, "pass_pct": 80.0},
            {"org_name": "Yahoo", "reports": 1, "messages": 70, "messages_pass": 70, "messages_fail": 0, "pass_pct": 100.0},
        ])
    );
    assert_eq!(
        col(&query_json(&env, &["orgs", "--days", "60"]), "reports")[0],
        json!(2)
    );
    let (_, csv, _) = query(&env, &["orgs", "--format", "csv"]);
    assert_eq!(csv.lines().nth(2), Some("Mail.ru,1,100,80,20,80.0"));
    let (_, table, _) = query(&env, &["orgs"]);
    assert_eq!(cells(&table)[3], ["Yahoo", "1", "70", "70", "0", "100.0"]);

    assert_eq!(
        query_json(&env, &["domains"]),
        json!([
            {"policy_domain": "example.com", "header_from": "example.com", "sources": 3, "messages": 200, "messages_pass": 160, "messages_fail": 40, "pass_pct": 80.0},
            {"policy_domain": "example.org", "header_from": "example.org", "sources": 1, "messages": 100, "messages_pass": 80, "messages_fail": 20, "pass_pct": 80.0},
        ])
    );
    let (_, csv, _) = query(&env, &["domains", "--format", "csv"]);
    assert_eq!(
        csv.lines().nth(1),
        Some("example.com,example.com,3,200,160,40,80.0")
    );
    let (_, table, _) = query(&env, &["domains"]);
    assert_eq!(
        cells(&table)[2],
        ["example.org", "example.org", "1", "100", "80", "20", "80.0"]
    );
}

#[test]
fn dkim_and_spf_count_raw_results() {
    let env = world();
    let d = |dom: Value, sel: Value, m: i64, p: i64, f: i64, o: i64, pct: f64| {
        json!({"dkim_domain": dom, "selector": sel, "messages": m, "messages_pass": p,
               "messages_fail": f, "messages_other": o, "pass_pct": pct})
    };
    assert_eq!(
        query_json(&env, &["dkim"]),
        json!([
            d(json!("example.com"), json!("s1"), 170, 160, 10, 0, 94.1),
            d(json!("example.org"), json!("s2"), 80, 80, 0, 0, 100.0),
            d(json!("evil.example"), json!("x"), 30, 0, 30, 0, 0.0),
            // Unsigned mail: one row with a null domain.
            d(Value::Null, Value::Null, 20, 0, 0, 20, 0.0),
            d(json!("esp.example"), json!("k2"), 20, 20, 0, 0, 100.0),
        ])
    );
    let (_, csv, _) = query(&env, &["dkim", "--format", "csv"]);
    assert_eq!(
        csv.lines().next(),
        Some("dkim_domain,selector,messages,messages_pass,messages_fail,messages_other,pass_pct")
    );
    assert_eq!(csv.lines().nth(4), Some(",,20,0,0,20,0.0"));
    let (_, table, _) = query(&env, &["dkim"]);
    assert_eq!(
        cells(&table)[1],
        ["example.com", "s1", "170", "160", "10", "0", "94.1"]
    );

    let s = |dom: &str, m: i64, p: i64, f: i64, pct: f64| {
        json!({"spf_domain": dom, "messages": m, "messages_pass": p, "messages_fail": f,
               "messages_other": 0, "pass_pct": pct})
    };
    assert_eq!(
        query_json(&env, &["spf"]),
        json!([
            s("example.com", 170, 160, 10, 94.1),
            s("fwd.example", 100, 0, 100, 0.0),
            s("evil.example", 30, 0, 30, 0.0),
        ])
    );
    let (_, csv, _) = query(&env, &["spf", "--format", "csv"]);
    assert_eq!(csv.lines().nth(2), Some("fwd.example,100,0,100,0,0.0"));
    let (_, table, _) = query(&env, &["spf"]);
    assert_eq!(
        cells(&table)[3],
        ["evil.example", "30", "0", "30", "0", "0.0"]
    );
}

#[test]
fn failures_in_detail() {
    let env = world();
    let v = query_json(&env, &["failures"]);
    assert_eq!(col(&v, "messages"), [json!(30), json!(20), json!(10)]);
    assert_eq!(
        v[0],
        json!({
            "date_begin": fixture_iso(midnight(2)), "org_name": "Google", "report_id": "g1",
            "source_ip": "203.0.113.5", "ours": false, "messages": 30,
            "header_from": "example.com", "envelope_from": "evil.example",
            "dkim": "fail", "spf": "fail",
            "dkim_results": "evil.example/x=fail", "spf_results": "evil.example=fail",
            "disposition": "reject",
        })
    );
    assert_eq!(v[1]["dkim_results"], Value::Null);
    assert_eq!(v[1]["envelope_from"], Value::Null);
    assert_eq!(v[2]["ours"], true);
    assert_eq!(v[2]["spf_results"], "example.com=softfail");
    assert_eq!(
        col(&query_json(&env, &["failures", "--ours"]), "source_ip"),
        [json!("192.0.2.10")]
    );

    let (_, csv, _) = query(&env, &["failures", "--format", "csv", "--limit", "1"]);
    assert_eq!(csv.lines().count(), 2);
    assert!(csv.lines().nth(1).unwrap().ends_with(
        ",example.com,evil.example,fail,fail,evil.example/x=fail,evil.example=fail,reject"
    ));
    let (_, table, _) = query(&env, &["failures"]);
    let c = cells(&table);
    assert_eq!(c[1][3..6], ["203.0.113.5", "EXTERNAL", "30"]);
    assert_eq!(c[3][3..6], ["192.0.2.10", "ours", "10"]);
}

fn fixture_iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn reports_default_to_all_time_and_take_filters() {
    let env = world();
    let v = query_json(&env, &["reports"]);
    assert_eq!(
        col(&v, "report_id"),
        [json!("old"), json!("m1"), json!("g1"), json!("y1")]
    );
    assert_eq!(v[2]["messages"], 130);
    assert_eq!(v[2]["messages_pass"], 90);
    assert_eq!(v[2]["records"], 3);
    assert_eq!(
        col(&query_json(&env, &["reports", "--days", "7"]), "report_id").len(),
        3
    );
    assert_eq!(
        col(
            &query_json(&env, &["reports", "--ip", "203.0.113.0/24"]),
            "report_id"
        ),
        [json!("g1")]
    );
    let (_, csv, _) = query(&env, &["reports", "--format", "csv", "--org", "yahoo"]);
    assert_eq!(csv.lines().count(), 2);
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("Yahoo,y1,example.com,"));
    let (_, table, _) = query(&env, &["reports", "--org", "Mail.ru"]);
    assert_eq!(cells(&table)[1][0..3], ["Mail.ru", "m1", "example.org"]);
}

#[test]
fn empty_window_names_the_newest_report() {
    let env = world();
    let newest = day(midnight(1));
    let (code, out, _) = query(&env, &["sources", "--days", "1"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("No reports in the window (last 1 day); the newest report begins {newest} (--days 2 includes it).")
    );
    // JSON and CSV stay parseable; the sentence goes to stderr.
    let (code, out, err) = query(&env, &["daily", "--days", "1", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json(&out), json!([]));
    assert!(
        err.contains(&format!("the newest report begins {newest}")),
        "{err}"
    );
    let (_, out, err) = query(&env, &["orgs", "--days", "1", "--format", "csv"]);
    assert_eq!(
        out,
        "org_name,reports,messages,messages_pass,messages_fail,pass_pct\n"
    );
    assert!(err.contains("No reports in the window"), "{err}");
    // Reports in the window, but the filter matches nothing.
    let (_, out, _) = query(&env, &["sources", "--domain", "nothing.example"]);
    assert_eq!(
        out.trim(),
        "No rows match the filters in the window (last 7 days)."
    );
    // An empty database.
    let fresh = Env::new();
    let (code, out, _) = run(fresh.cmd().args(["query", "dkim"]));
    assert_eq!((code, out.trim()), (0, "No reports stored yet."));
}

#[test]
fn without_networks_everything_is_external_and_it_says_so_once() {
    let env = world();
    let (code, out, err) = run(env.cmd().args(["query", "sources", "--format", "json"]));
    assert_eq!(code, 0);
    assert!(col(&json(&out), "ours").iter().all(|o| o == &json!(false)));
    assert_eq!(
        err.matches("no networks of ours configured").count(),
        1,
        "{err}"
    );
    // Views without an ours column stay quiet.
    let (_, _, err) = run(env.cmd().args(["query", "orgs"]));
    assert!(err.is_empty(), "{err}");
}
