//! `dmarcdb alert`, `ingest --alert` and `--notify`: the seed's rules and
//! thresholds, the three ways to name our networks, the new-sender rule,
//! and notifications received by a local HTTP listener.

mod fixture;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use fixture::{json, midnight, run, Env, Rec, Report};
use serde_json::{json, Value};

const OURS: &str = "192.0.2.0/24";

/// The seed's cases, in one report three days old.
fn seed_cases() -> Report {
    let recs = vec![
        // Ours at 90 % of 100: alignment broken.
        Rec::new("192.0.2.1", 90, true),
        Rec::new("192.0.2.1", 10, false),
        // Ours at 96 % of 100: fine.
        Rec::new("192.0.2.2", 96, true),
        Rec::new("192.0.2.2", 4, false),
        // Ours failing 19 of 19: below min_messages.
        Rec::new("192.0.2.3", 19, false),
        // External failing 19: below spoof_min_fail.
        Rec::new("198.51.100.1", 19, false),
        // External failing 20: possible spoofing.
        Rec::new("198.51.100.2", 20, false),
    ];
    Report::day("Google", "seed", midnight(3), recs)
}

fn seeded() -> Env {
    let env = Env::new();
    env.ingest(&[seed_cases()]);
    env
}

fn expected_problems() -> Value {
    json!([
        {"kind": "alignment_broken", "source_ip": "192.0.2.1", "ours": true, "messages": 100,
         "messages_pass": 90, "messages_fail": 10, "pass_pct": 90.0, "failure_reports": 0,
         "text": "192.0.2.1 (ours): only 90% DMARC pass (10/100 fail) -- alignment broken",
         "name": null, "asn": null, "country": null, "messages_forwarded": 0},
        {"kind": "possible_spoofing", "source_ip": "198.51.100.2", "ours": false, "messages": 20,
         "messages_pass": 0, "messages_fail": 20, "pass_pct": 0.0, "failure_reports": 0,
         "text": "198.51.100.2 (EXTERNAL): 20 failing msgs sending as us -- possible spoofing",
         "name": null, "asn": null, "country": null, "messages_forwarded": 0},
    ])
}

#[test]
fn seed_defaults_flag_exactly_the_seed_cases() {
    let env = seeded();
    let (code, out, err) = run(env
        .cmd()
        .args(["--our-net", OURS, "alert", "--format", "json"]));
    assert_eq!(code, 1, "{err}");
    assert_eq!(json(&out)["problems"], expected_problems());

    let (code, out, _) = run(env.cmd().args(["--our-net", OURS, "alert"]));
    assert_eq!(code, 1);
    assert!(
        out.starts_with("DMARC alignment, last 7 days (by source IP):\n"),
        "{out}"
    );
    assert!(
        out.contains("  192.0.2.1        [ours    ] total=100    pass=90% fail=10\n"),
        "{out}"
    );
    assert!(
        out.contains("  198.51.100.2     [EXTERNAL] total=20     pass=0% fail=20\n"),
        "{out}"
    );
    assert!(out.contains("\nProblems:\n- 192.0.2.1 (ours): only 90% DMARC pass (10/100 fail) -- alignment broken\n- 198.51.100.2 (EXTERNAL): 20 failing msgs sending as us -- possible spoofing"), "{out}");

    let (code, csv, _) = run(env
        .cmd()
        .args(["--our-net", OURS, "alert", "--format", "csv"]));
    assert_eq!(code, 1);
    assert_eq!(
        csv.lines().next(),
        Some(
            "kind,source_ip,ours,messages,messages_pass,messages_fail,pass_pct,failure_reports,\
             policy_domain,sessions,sessions_failure,failure_pct,top_result_types,text,\
             name,asn,country,messages_forwarded"
        )
    );
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("alignment_broken,192.0.2.1,true,100,90,10,90.0,0,,,,,,"));
}

#[test]
fn outside_the_window_there_is_no_problem() {
    let env = seeded();
    let (code, out, err) = run(env.cmd().args([
        "--our-net",
        OURS,
        "alert",
        "--days",
        "1",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["problems"], json!([]));
    assert!(
        err.contains("No reports in the window (last 1 day)"),
        "{err}"
    );
    let (code, out, _) = run(env.cmd().args(["--our-net", OURS, "alert", "--days", "1"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("No reports in the window (last 1 day); the newest report begins"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("No problems."), "{out}");
}

#[test]
fn flag_env_and_config_file_name_the_same_networks() {
    let env = seeded();
    let alert = |c: &mut assert_cmd::Command| {
        let (code, out, err) = run(c.args(["alert", "--format", "json"]));
        assert!(!err.contains("no networks"), "{err}");
        (code, json(&out)["problems"].clone())
    };
    let sources = |c: &mut assert_cmd::Command| {
        let (_, out, _) = run(c.args(["query", "sources", "--format", "json"]));
        json(&out)
    };
    let by_flag = alert(
        env.cmd()
            .args(["--our-net", "203.0.113.0/24", "--our-net", OURS]),
    );
    assert_eq!(by_flag, (1, expected_problems()));
    let by_env = alert(
        env.cmd()
            .env("DMARCDB_OUR_NETS", format!("203.0.113.0/24, {OURS}")),
    );
    assert_eq!(by_env, by_flag);
    let cfg = env.path("dmarcdb.toml");
    std::fs::write(
        &cfg,
        format!("our_nets = [\"203.0.113.0/24\", \"{OURS}\"]\n"),
    )
    .unwrap();
    let by_file = alert(env.cmd().arg("--config").arg(&cfg));
    assert_eq!(by_file, by_flag);
    // The default config file (platform config dir) counts too.
    let dflt = env.path("xdg/dmarcdb/config.toml");
    std::fs::create_dir_all(dflt.parent().unwrap()).unwrap();
    std::fs::copy(&cfg, &dflt).unwrap();
    assert_eq!(alert(&mut env.cmd()), by_flag);
    std::fs::remove_file(&dflt).unwrap();

    let s_flag = sources(env.cmd().args(["--our-net", OURS]));
    assert_eq!(sources(env.cmd().env("DMARCDB_OUR_NETS", OURS)), s_flag);
    assert_eq!(sources(env.cmd().arg("--config").arg(&cfg)), s_flag);

    // Precedence: the flag beats the environment, which beats the file.
    let none = "10.0.0.0/8";
    assert_eq!(
        alert(
            env.cmd()
                .env("DMARCDB_OUR_NETS", none)
                .args(["--our-net", OURS])
        ),
        by_flag
    );
    assert_eq!(
        alert(
            env.cmd()
                .arg("--config")
                .arg(&cfg)
                .env("DMARCDB_OUR_NETS", none)
        )
        .1
        .as_array()
        .unwrap()
        .len(),
        1
    );

    // Without networks everything is external: only the spoofing rule fires.
    let (code, out, err) = run(env.cmd().args(["alert", "--format", "json"]));
    assert_eq!(code, 1);
    let kinds: Vec<Value> = json(&out)["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["source_ip"].clone())
        .collect();
    assert_eq!(kinds, [json!("198.51.100.2")]);
    assert_eq!(
        err.matches("no networks of ours configured").count(),
        1,
        "{err}"
    );
}

#[test]
fn config_file_errors_and_thresholds() {
    let env = seeded();
    let missing = env.path("nope.toml");
    let (code, _, err) = run(env.cmd().arg("--config").arg(&missing).arg("alert"));
    assert_eq!(code, 2);
    assert!(err.contains("nope.toml"), "{err}");
    let cfg = env.path("c.toml");
    std::fs::write(&cfg, "[alert]\nmin_pass = 80\n").unwrap();
    let (code, _, err) = run(env.cmd().arg("--config").arg(&cfg).arg("alert"));
    assert_eq!(code, 2);
    assert!(err.contains("min_pass"), "{err}");
    std::fs::write(
        &cfg,
        format!("our_nets = [\"{OURS}\"]\n[alert]\nmin_pass_pct = 80\nspoof_min_fail = 19\n"),
    )
    .unwrap();
    let (code, out, _) = run(env
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .args(["alert", "--format", "json"]));
    assert_eq!(code, 1);
    let ips: Vec<Value> = json(&out)["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["source_ip"].clone())
        .collect();
    // Largest first.
    assert_eq!(ips, [json!("198.51.100.2"), json!("198.51.100.1")]);
}

#[test]
fn a_new_sender_is_one_never_seen_before_the_window() {
    let env = Env::new();
    let history = Report::day(
        "Google",
        "old",
        midnight(20),
        vec![
            Rec::new("192.0.2.1", 50, true),
            Rec::new("198.51.100.50", 12, true),
        ],
    );
    let now = Report::day(
        "Google",
        "new",
        midnight(2),
        vec![
            Rec::new("192.0.2.1", 50, true),
            Rec::new("198.51.100.50", 12, true),
            Rec::new("203.0.113.9", 12, true),
            Rec::new("203.0.113.10", 9, true),
            Rec::new("192.0.2.77", 50, true),
        ],
    );
    env.ingest(&[history, now]);
    let (code, out, err) = run(env
        .cmd()
        .args(["--our-net", OURS, "alert", "--format", "json"]));
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        json(&out)["problems"],
        json!([{"kind": "new_sender", "source_ip": "203.0.113.9", "ours": false, "messages": 12,
                "messages_pass": 12, "messages_fail": 0, "pass_pct": 100.0, "failure_reports": 0,
                "text": "203.0.113.9 (EXTERNAL): new sender, 12 msgs (100% DMARC pass), never seen before this window",
                "name": null, "asn": null, "country": null, "messages_forwarded": 0}])
    );
    // Too little history before a 15-day window: the rule steps aside and says why.
    let (code, out, _) = run(env.cmd().args(["--our-net", OURS, "alert", "--days", "15"]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("(new-sender check skipped: fewer than 7 days of reports before the window)"),
        "{out}"
    );
    let cfg = env.path("c.toml");
    std::fs::write(&cfg, "[alert]\nnew_sender = false\n").unwrap();
    let (code, _, _) = run(env
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .args(["--our-net", OURS, "alert"]));
    assert_eq!(code, 0);
}

#[test]
fn ingest_alert_runs_after_storing_and_keeps_the_worse_exit() {
    let env = Env::new();
    let dir = env.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("seed.xml"), seed_cases().xml()).unwrap();
    let (code, out, err) = run(env
        .cmd()
        .args(["--our-net", OURS, "ingest", "--alert"])
        .arg(&dir));
    assert_eq!(code, 1, "{err}");
    assert!(out.starts_with("1 new report(s)"), "{out}");
    assert!(
        out.contains("\n\nDMARC alignment, last 7 days (by source IP):"),
        "{out}"
    );
    assert!(out.contains("-- possible spoofing"), "{out}");
    // Nothing in a 1-day window: the ingest's own outcome stands.
    let (code, _, _) = run(env
        .cmd()
        .args([
            "--our-net",
            OURS,
            "ingest",
            "--alert",
            "--summary-days",
            "1",
        ])
        .arg(&dir));
    assert_eq!(code, 0);
    // A rejected input (3) outranks alert problems (1).
    std::fs::write(dir.join("junk.xml"), "<feedback>not a report").unwrap();
    let (code, out, _) = run(env
        .cmd()
        .args(["--our-net", OURS, "ingest", "--alert"])
        .arg(&dir));
    assert_eq!(code, 3);
    assert!(out.contains("Problems:"), "{out}");
    let (code, _, err) = run(env.cmd().args(["ingest", "--alert", "--dry-run"]).arg(&dir));
    assert_eq!(code, 2, "{err}");
}

/// A one-request HTTP server: returns its URL and a handle yielding the
/// request line and body it received.
fn listener() -> (String, JoinHandle<(String, String)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (stream, _) = l.accept().unwrap();
        let mut r = BufReader::new(stream);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let mut s = r.into_inner();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}")
            .unwrap();
        (
            line.trim_end().to_string(),
            String::from_utf8(body).unwrap(),
        )
    });
    (url, h)
}

/// A port nothing listens on.
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

const TOKEN: &str = "123456:SeCrEtToKeN";

#[test]
fn telegram_gets_the_seed_message() {
    let env = seeded();
    let (api, got) = listener();
    let (code, _, err) = run(env
        .cmd()
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_CHAT_ID", "-1001234")
        .env("DMARCDB_TELEGRAM_API", &api)
        .args(["--our-net", OURS, "alert", "--notify"]));
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("warning"), "{err}");
    let (line, body) = got.join().unwrap();
    assert_eq!(line, format!("POST /bot{TOKEN}/sendMessage HTTP/1.1"));
    let v = json(&body);
    assert_eq!(v["chat_id"], "-1001234");
    let text = v["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "⚠️ DMARC alignment alert\n\nDMARC alignment, last 7 days (by source IP):\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("\n\nIssues:\n- 192.0.2.1 (ours): only 90% DMARC pass (10/100 fail) -- alignment broken\n- 198.51.100.2 (EXTERNAL): 20 failing msgs sending as us -- possible spoofing"), "{text}");
}

#[test]
fn webhook_gets_json_from_flag_env_or_config() {
    let env = seeded();
    let (url, got) = listener();
    let (code, _, err) = run(env
        .cmd()
        .args(["--our-net", OURS, "alert", "--notify", "--webhook"])
        .arg(format!("{url}/hook?k=1")));
    assert_eq!(code, 1, "{err}");
    let (line, body) = got.join().unwrap();
    assert_eq!(line, "POST /hook?k=1 HTTP/1.1");
    let v = json(&body);
    assert_eq!(v["problems"], expected_problems());
    assert!(v["text"]
        .as_str()
        .unwrap()
        .contains("Issues:\n- 192.0.2.1 (ours)"));
    assert!(v["window"]["since"].is_string());

    let (url, got) = listener();
    let cfg = env.path("c.toml");
    std::fs::write(
        &cfg,
        format!("our_nets = [\"{OURS}\"]\n[notify]\nwebhook = \"{url}/from-config\"\n"),
    )
    .unwrap();
    let (code, _, _) = run(env
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .args(["alert", "--notify"]));
    assert_eq!(code, 1);
    assert_eq!(got.join().unwrap().0, "POST /from-config HTTP/1.1");

    let (url, got) = listener();
    let (code, _, _) = run(env
        .cmd()
        .env("DMARCDB_WEBHOOK", format!("{url}/from-env"))
        .args(["--our-net", OURS, "alert", "--notify"]));
    assert_eq!(code, 1);
    assert_eq!(got.join().unwrap().0, "POST /from-env HTTP/1.1");
}

#[test]
fn a_refused_notification_warns_without_secrets_and_keeps_the_exit_code() {
    let env = seeded();
    let dead = closed_port();
    let (code, out, err) = run(env
        .cmd()
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_CHAT_ID", "42")
        .env("DMARCDB_TELEGRAM_API", &dead)
        .args([
            "--our-net",
            OURS,
            "alert",
            "--notify",
            "--format",
            "json",
            "--webhook",
        ])
        .arg(format!("{dead}/hooks/SECRETPATH")));
    assert_eq!(code, 1, "{err}");
    assert_eq!(json(&out)["problems"], expected_problems());
    assert!(
        err.contains("warning: telegram notification failed"),
        "{err}"
    );
    assert!(
        err.contains(&format!("warning: webhook notification to {dead} failed")),
        "{err}"
    );
    assert!(
        !err.contains("SeCrEtToKeN") && !err.contains("SECRETPATH"),
        "{err}"
    );

    // No problems, nothing sent (a send would warn about the dead port).
    let (code, _, err) = run(env
        .cmd()
        .args([
            "--our-net",
            OURS,
            "alert",
            "--days",
            "1",
            "--notify",
            "--webhook",
        ])
        .arg(&dead));
    assert_eq!(code, 0);
    assert!(!err.contains("warning"), "{err}");
}
