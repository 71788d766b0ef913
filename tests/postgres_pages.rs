//! The pages on PostgreSQL, against SQLite: `report --html`, the `serve`
//! dashboard and its drill-down (source → its records → the report with
//! its original XML), the JSON API and the `digest` mail are the same on
//! both backends for the same enriched reports (`support/pg_world.rs`).
//! PostgreSQL is a throwaway cluster started by the tests, Exim a private
//! one (`common/smtp.rs`); without them the tests skip, unless `CI=true`.

mod common;
#[path = "support/dnsmasq.rs"]
mod dnsmasq;
#[path = "support/mmdb.rs"]
mod mmdb;
#[path = "support/pg_world.rs"]
mod pg_world;
#[path = "support/sender_reports.rs"]
mod sender_reports;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use common::smtp::Exim;
use mail_parser::MessageParser;
use pg_world::{cmd, date, dns, enrich, ingest, no_stamp, ok, world, World};

/// A running `dmarcdb serve`, stopped on drop.
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

fn serve(db: &OsStr) -> Server {
    let child = cmd(db, &["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        base: String::new(),
    };
    let mut err = BufReader::new(server.child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if !matches!(err.read_line(&mut line), Ok(n) if n > 0) {
            panic!("serve ended before listening: {line}");
        }
        if let Some(rest) = line.trim().strip_prefix("dmarcdb: serving ") {
            let base = rest.split_whitespace().next().unwrap();
            let port = base.trim_end_matches('/').rsplit(':').next().unwrap();
            server.base = format!("http://127.0.0.1:{port}");
            return server;
        }
    }
}

fn get(url: &str) -> String {
    let resp = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(resp.status(), 200, "{url}");
    resp.into_string().unwrap()
}

/// Both databases, filled with the same reports and enriched alike.
fn enriched() -> Option<(World, dnsmasq::Dnsmasq)> {
    let dns = dns()?;
    let w = world()?;
    for db in [&w.lite, &w.pg] {
        ingest(&w, db);
        enrich(&w, db, &dns);
    }
    Some((w, dns))
}

/// The dashboard, a source's records and the report they came from, as
/// one backend's server gives them.
fn pages(db: &OsStr, since: &str, until: &str) -> Vec<(String, String)> {
    let server = serve(db);
    let window = format!("since={since}&until={until}");
    let mut urls = vec![
        format!("/?{window}"),
        format!("/source?ip=45.1.2.3&{window}"),
        format!("/source?ip=2001%3ADB8%3A%3A5&{window}"),
        format!("/api/sources?{window}"),
    ];
    let mut out = Vec::new();
    let mut i = 0;
    while i < urls.len() {
        let page = no_stamp(&get(&format!("{}{}", server.base, urls[i])));
        if urls[i].starts_with("/source?ip=45") {
            let at = page.find("href=\"/report?id=").expect("a link to a report");
            let href = page[at + 6..].split('"').next().unwrap();
            urls.push(href.replace("&amp;", "&"));
        }
        out.push((urls[i].clone(), page));
        i += 1;
    }
    out
}

#[test]
fn dashboard_drill_down_and_html_report_are_the_same_on_both_backends() {
    let Some((w, _dns)) = enriched() else { return };
    let (since, until) = (date(30), date(0));
    let html = |db: &OsStr| {
        no_stamp(&ok(
            db,
            &[
                "report", "--html", "-", "--since", &since, "--until", &until,
            ],
        ))
    };
    let report = html(&w.pg);
    assert_eq!(html(&w.lite), report);
    assert!(report.contains("EVIL-AS"), "{report}");
    let (lite, pg) = (pages(&w.lite, &since, &until), pages(&w.pg, &since, &until));
    assert_eq!(lite.len(), 5);
    for (a, b) in lite.iter().zip(&pg) {
        assert_eq!(a, b, "{}", a.0);
    }
    // What PostgreSQL served is the real thing: names on the dashboard,
    // the source's records, the report's XML as text.
    assert!(pg[0].1.contains("Amazon SES"), "{}", pg[0].1);
    assert!(pg[1].1.contains("45.1.2.3"), "{}", pg[1].1);
    assert!(pg[2].1.contains("2001:DB8::5"), "{}", pg[2].1);
    let xml = &pg[4].1;
    assert!(
        xml.contains("&lt;report_id&gt;a&lt;/report_id&gt;"),
        "{xml}"
    );
    assert!(
        xml.contains("&lt;source_ip&gt;45.1.2.3&lt;/source_ip&gt;"),
        "{xml}"
    );
}

#[test]
fn digest_mails_the_same_figures_from_both_backends() {
    let Some(exim) = Exim::start() else { return };
    let Some((w, _dns)) = enriched() else { return };
    let pw = w.dir.path().join("smtp-password");
    std::fs::write(&pw, format!("{}\n", exim.password())).unwrap();
    let (since, until) = (date(30), date(0));
    for db in [&w.lite, &w.pg] {
        let port = exim.port().to_string();
        let mut c = cmd(
            db,
            &[
                "digest",
                "--to",
                "postmaster@example.org",
                "--since",
                &since,
                "--until",
                &until,
                "--smtp-host",
                exim.host(),
                "--smtp-port",
                &port,
                "--smtp-security",
                "plain",
                "--smtp-user",
                exim.user(),
                "--smtp-from",
                "dmarcdb <dmarc@example.org>",
            ],
        );
        let out = c.arg("--smtp-password-file").arg(&pw).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mails = exim.wait_for_messages(2);
    assert_eq!(mails.len(), 2);
    let parts: Vec<(String, String, String)> = mails
        .iter()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).unwrap();
            (
                m.subject().unwrap().to_string(),
                no_stamp(&m.body_text(0).unwrap()),
                no_stamp(&m.body_html(0).unwrap()),
            )
        })
        .collect();
    assert_eq!(parts[0], parts[1]);
    let text = &parts[0].1;
    assert!(text.contains("possible spoofing: 45.1.2.3"), "{text}");
    assert!(parts[0].2.contains("EVIL-AS"), "{}", parts[0].2);
}
