//! `dmarcdb serve`: the built binary listening on a free loopback port.
//! The JSON API answers exactly what `query VIEW --format json` prints; the
//! dashboard and the drill-down pages open in headless Chromium with no
//! console error and no request leaving the origin; only GET and HEAD;
//! off loopback a token is required and checked on every request.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::browser::{screenshot_dir, Browser};
use common::cli::{dmarcdb, run_ok};
use common::pages::{bars, database, query_json, HOSTILE_IP, SINCE, UNTIL};

const OUR_NET: &str = "203.0.113.0/24";

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `serve` with `extra` flags and waits for its "serving" line.
fn serve(db: &Path, listen: &str, extra: &[&str]) -> Server {
    let child = Command::new(assert_cmd::cargo::cargo_bin("dmarcdb"))
        .env_remove("DMARCDB_DB")
        .args(["--db"])
        .arg(db)
        .args(["--our-net", OUR_NET, "serve", "--listen", listen])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Owned by the Server at once, so that any panic below stops it.
    let mut server = Server {
        child,
        base: String::new(),
    };
    let mut err = BufReader::new(server.child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if !matches!(err.read_line(&mut line), Ok(n) if n > 0) {
            panic!(
                "serve ended before listening: {:?}",
                server.child.try_wait()
            );
        }
        if let Some(rest) = line.trim().strip_prefix("dmarcdb: serving ") {
            let base = rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/');
            let port = base.rsplit(':').next().unwrap();
            server.base = format!("http://127.0.0.1:{port}");
            return server;
        }
    }
}

/// Status, headers and body of a request.
fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, ureq::Response) {
    let mut r = ureq::request(method, url);
    for (k, v) in headers {
        r = r.set(k, v);
    }
    match r.call() {
        Ok(resp) => (resp.status(), resp),
        Err(ureq::Error::Status(code, resp)) => (code, resp),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn get(url: &str) -> (u16, String) {
    let (code, resp) = request("GET", url, &[]);
    (code, resp.into_string().unwrap())
}

#[test]
fn api_json_is_exactly_what_query_prints_for_every_view() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let server = serve(&db, "127.0.0.1:0", &[]);
    let window = [("since", SINCE), ("until", UNTIL)];
    let option_sets: Vec<Vec<(&str, &str)>> = vec![
        window.to_vec(),
        [&window[..], &[("domain", "example.org")]].concat(),
        [&window[..], &[("org", "Yahoo"), ("limit", "1")]].concat(),
        [&window[..], &[("ip", "192.0.2.0/24")]].concat(),
        [&window[..], &[("ours", "1")]].concat(),
        vec![("days", "100000")],
        vec![("since", "2030-01-01")],
        vec![],
    ];
    let views = [
        "sources", "daily", "orgs", "domains", "dkim", "spf", "failures", "reports",
    ];
    for view in views {
        for opts in &option_sets {
            let mut cli = dmarcdb(&db);
            cli.args(["--our-net", OUR_NET, "query", view, "--format", "json"]);
            let mut query = Vec::new();
            for (k, v) in opts {
                if *k == "ours" {
                    cli.arg("--ours");
                } else {
                    cli.arg(format!("--{k}")).arg(v);
                }
                query.push(format!("{k}={}", v.replace('/', "%2F")));
            }
            let want = String::from_utf8(run_ok(cli).stdout).unwrap();
            let url = format!("{}/api/{view}?{}", server.base, query.join("&"));
            let (code, got) = get(&url);
            assert_eq!(code, 200, "{url}: {got}");
            assert_eq!(got, want, "{url}");
        }
    }
    // A bad value gets the command line's own message.
    let (code, body) = get(&format!("{}/api/sources?since=yesterday", server.base));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("yesterday"), "{body}");
    let (code, _) = get(&format!("{}/api/nosuchview", server.base));
    assert_eq!(code, 400);
}

#[test]
fn dashboard_and_drill_down_open_in_a_browser_cleanly() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let server = serve(&db, "127.0.0.1:0", &[]);
    let origin = server.base.clone();
    let dash = format!("{origin}/?since={SINCE}&until={UNTIL}");
    for width in [390, 1440] {
        let visit = browser.visit(&dash, width, 900);
        assert!(visit.console.is_empty(), "{:#?}", visit.console);
        assert!(
            visit.requests.iter().any(|u| u == &dash),
            "{:?}",
            visit.requests
        );
        assert!(
            visit.foreign_requests(&origin).is_empty(),
            "{:?}",
            visit.requests
        );
        assert!(!visit.dom.contains("<script"), "{}", visit.dom);
        let drawn = bars(&visit.dom);
        let daily = query_json(&db, "daily");
        assert_eq!(drawn.len(), daily.as_array().unwrap().len());
        for ((day, pass, fail, ..), want) in drawn.iter().zip(daily.as_array().unwrap()) {
            assert_eq!(day, want["day"].as_str().unwrap());
            assert_eq!(*pass, want["messages_pass"].as_i64().unwrap());
            assert_eq!(*fail, want["messages_fail"].as_i64().unwrap());
        }
        let out = screenshot_dir().join(format!("dashboard-{width}.png"));
        browser.screenshot(&dash, width, if width < 800 { 2400 } else { 1800 }, &out);
    }
    // Source → its records → the report they came from, with its XML.
    let (code, page) = get(&format!("{origin}/?since={SINCE}&until={UNTIL}"));
    assert_eq!(code, 200);
    let source_link = format!("/source?ip={HOSTILE_IP}&amp;since={SINCE}&amp;until={UNTIL}");
    assert!(
        page.contains(&source_link),
        "no {source_link} in the dashboard"
    );
    let source_url = format!("{origin}/source?ip={HOSTILE_IP}&since={SINCE}&until={UNTIL}");
    let (code, records) = get(&source_url);
    assert_eq!(code, 200, "{records}");
    let i = records
        .find("href=\"/report?id=")
        .expect("no link to a report");
    let href = records[i + 6..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let report_url = format!("{origin}{href}");
    let visit = browser.visit(&report_url, 1440, 900);
    assert!(visit.console.is_empty(), "{:#?}", visit.console);
    assert!(
        visit.foreign_requests(&origin).is_empty(),
        "{:?}",
        visit.requests
    );
    // The XML is shown as text: its own escapes escaped once more.
    assert!(visit.dom.contains("&lt;feedback&gt;"), "{}", visit.dom);
    assert!(
        visit.dom.contains("&lt;org_name&gt;&amp;lt;script&amp;gt;"),
        "{}",
        visit.dom
    );
    assert!(
        !visit.dom.contains("<script") && !visit.dom.contains("<img"),
        "{}",
        visit.dom
    );
    browser.screenshot(
        &report_url,
        1440,
        1400,
        &screenshot_dir().join("report-page-1440.png"),
    );
}

#[test]
fn only_get_and_head_with_a_strict_policy_and_a_loopback_host() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let server = serve(&db, "127.0.0.1:0", &[]);
    let url = format!("{}/", server.base);
    let (code, resp) = request("GET", &url, &[]);
    assert_eq!(code, 200);
    let csp = resp.header("Content-Security-Policy").unwrap().to_string();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(resp.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(request("HEAD", &url, &[]).0, 200);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(request(method, &url, &[]).0, 405, "{method}");
    }
    // A page elsewhere reaching us by DNS rebinding names its own host.
    assert_eq!(
        request("GET", &url, &[("Host", "rebind.example:80")]).0,
        421
    );
    assert_eq!(get(&format!("{}/nope", server.base)).0, 404);
}

#[test]
fn off_loopback_a_token_is_required_and_checked_on_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");
    let out = dmarcdb(&db)
        .args(["serve", "--listen", &listen])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a token"), "{err}");

    let token = "t0ken-for-the-test";
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let server = serve(
        &db,
        &listen,
        &["--token-file", token_file.to_str().unwrap()],
    );
    let url = format!("{}/api/orgs?since={SINCE}&until={UNTIL}", server.base);
    let (code, resp) = request("GET", &url, &[]);
    assert_eq!(code, 401);
    assert!(resp
        .header("WWW-Authenticate")
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(
        request("GET", &url, &[("Authorization", "Bearer wrong")]).0,
        401
    );
    let prefix = &token[..token.len() - 1];
    assert_eq!(
        request(
            "GET",
            &url,
            &[("Authorization", &format!("Bearer {prefix}"))]
        )
        .0,
        401
    );
    let bearer = format!("Bearer {token}");
    for _ in 0..3 {
        assert_eq!(request("GET", &url, &[("Authorization", &bearer)]).0, 200);
    }
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{token}"));
    let (code, resp) = request("GET", &url, &[("Authorization", &format!("Basic {basic}"))]);
    assert_eq!(code, 200);
    let body = resp.into_string().unwrap();
    assert!(body.contains("\"org_name\""), "{body}");
    // Still read-only with the token.
    assert_eq!(request("POST", &url, &[("Authorization", &bearer)]).0, 405);
}
