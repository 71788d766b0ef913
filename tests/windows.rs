//! Windows (`--days`, `--since`, `--until`) and the `--ip` filter: which
//! days and senders a view covers, and the usage errors a window can be.

mod fixture;

use fixture::{json, midnight, run, Env, Rec, Report};

#[test]
fn inverted_window_is_a_usage_error() {
    let env = Env::new();
    for cmd in [&["query", "sources"][..], &["query", "daily"], &["alert"]] {
        let out = env
            .cmd()
            .args(cmd)
            .args(["--since", "2024-05-02", "--until", "2024-05-01"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--since 2024-05-02 is after --until 2024-05-01"),
            "{cmd:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{cmd:?}");
    }
    // Nothing was opened, so nothing was created.
    assert!(!env.db().exists());
    // One day is a window.
    let (code, _, err) = run(env
        .cmd()
        .args(["query", "sources", "--since", "2024-05-01"])
        .args(["--until", "2024-05-01"]));
    assert_eq!(code, 0, "{err}");
}

/// Documented: IPv4 senders are stored IPv4-mapped, so an IPv6 network
/// that holds `::ffff:0:0/96` (like `::/0`) matches them; `2000::/3`
/// selects the IPv6 (global unicast) senders only.
#[test]
fn ipv6_networks_and_ipv4_senders() {
    let env = Env::new();
    env.ingest(&[Report::day(
        "Org",
        "ip",
        midnight(2),
        vec![
            Rec::new("192.0.2.1", 5, true),
            Rec::new("2001:db8::1", 7, true),
        ],
    )]);
    let sources = |net: &str| -> Vec<String> {
        let (code, out, err) = run(env
            .cmd()
            .args(["query", "sources", "--format", "json", "--ip", net]));
        assert_eq!(code, 0, "{err}");
        let mut ips: Vec<String> = json(&out)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["source_ip"].as_str().unwrap().to_string())
            .collect();
        ips.sort();
        ips
    };
    assert_eq!(sources("::/0"), ["192.0.2.1", "2001:db8::1"]);
    assert_eq!(sources("::ffff:0:0/96"), ["192.0.2.1"]);
    assert_eq!(sources("0.0.0.0/0"), ["192.0.2.1"]);
    assert_eq!(sources("2000::/3"), ["2001:db8::1"]);
}
