//! `dkim` and `spf` count each message once per row, however often a
//! record repeats the same signature or SPF domain.

mod fixture;

use fixture::{json, midnight, run, Env, Rec, Report};
use serde_json::Value;

fn view(env: &Env, name: &str) -> Vec<Value> {
    let (code, out, err) = run(env
        .cmd()
        .args(["query", name, "--days", "30", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    json(&out).as_array().unwrap().clone()
}

/// (key, messages, pass, fail, other) of each row.
fn rows(rows: &[Value], key: &[&str]) -> Vec<(String, i64, i64, i64, i64)> {
    rows.iter()
        .map(|r| {
            let k: Vec<String> = key.iter().map(|k| r[k].to_string()).collect();
            let n = |k: &str| r[k].as_i64().unwrap();
            (
                k.join("/"),
                n("messages"),
                n("messages_pass"),
                n("messages_fail"),
                n("messages_other"),
            )
        })
        .collect()
}

#[test]
fn a_repeated_signature_counts_once() {
    let env = Env::new();
    let recs = vec![
        // The same signature twice, once in another case.
        Rec::new("192.0.2.1", 10, true)
            .dkim_auth(&[("example.com", "s1", "pass"), ("Example.COM", "s1", "pass")])
            .spf_auth(&[("example.com", "pass"), ("EXAMPLE.com", "pass")]),
        // Repeated with different results: counted once, by the best.
        Rec::new("192.0.2.2", 5, false)
            .dkim_auth(&[
                ("example.com", "s1", "fail"),
                ("example.com", "s1", "pass"),
                ("other.example", "s2", "none"),
                ("other.example", "s2", "softfail"),
            ])
            .spf_auth(&[("example.com", "softfail"), ("example.com", "neutral")]),
    ];
    env.ingest(&[Report::day("Org", "rep", midnight(2), recs)]);
    assert_eq!(
        rows(&view(&env, "dkim"), &["dkim_domain", "selector"]),
        [
            ("\"example.com\"/\"s1\"".to_string(), 15, 15, 0, 0),
            ("\"other.example\"/\"s2\"".to_string(), 5, 0, 5, 0),
        ]
    );
    assert_eq!(
        rows(&view(&env, "spf"), &["spf_domain"]),
        [("\"example.com\"".to_string(), 15, 10, 5, 0)]
    );
}
