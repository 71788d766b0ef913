//! `dmarcdb report --html`: the file opened in a real headless Chromium —
//! no console error, no request leaving the file, bars in proportion to
//! the daily counts `query daily` prints, markup from reports inert; and
//! screenshots at 390 and 1440 px under `target/screenshots/` for review;
//! the forwarded count, sender names and the SMTP TLS summary as `query`
//! gives them, reporter-written text in them inert.

mod common;

use common::browser::{screenshot_dir, Browser};
use common::cli::{dmarcdb, run_ok};
use common::pages::{self, bars, database, query_json, SINCE, UNTIL};

/// What the page must show for `s`: the five characters HTML gives a
/// meaning to as entities (written here, not borrowed from the crate).
fn entities(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The part of `html` inside `<section id="ID">`, if there is one.
fn section<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!("<section id=\"{id}\""))?;
    let rest = &html[start..];
    Some(&rest[..rest.find("</section>")?])
}

fn write_report(dir: &std::path::Path) -> std::path::PathBuf {
    let db = database(dir);
    let file = dir.join("report.html");
    run_ok(
        dmarcdb(&db)
            .args(["report", "--html"])
            .arg(&file)
            .args(["--since", SINCE, "--until", UNTIL]),
    );
    file
}

#[test]
fn report_file_opens_offline_with_no_console_error_and_no_outside_request() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_report(dir.path());
    let url = format!("file://{}", file.display());
    for width in [390, 1440] {
        let visit = browser.visit(&url, width, 900);
        assert!(
            visit.console.is_empty(),
            "console at {width} px: {:#?}",
            visit.console
        );
        let foreign = visit.foreign_requests(&url);
        assert!(foreign.is_empty(), "requests leaving the file: {foreign:?}");
        assert!(visit.dom.contains("Messages per day"), "{}", visit.dom);
        let out = screenshot_dir().join(format!("report-{width}.png"));
        browser.screenshot(&url, width, if width < 800 { 2400 } else { 1800 }, &out);
    }
}

#[test]
fn markup_in_org_name_report_id_and_header_from_renders_as_text() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_report(dir.path());
    let html = std::fs::read_to_string(&file).unwrap();
    // The page itself never has a script or an image element.
    for tag in ["<script", "<img", "<b "] {
        assert!(!html.contains(tag), "{tag} appears as markup in the file");
    }
    assert!(html.contains("&lt;b onmouseover=console.error(&#39;xss-from&#39;)&gt;"));
    let visit = browser.visit(&format!("file://{}", file.display()), 1440, 900);
    assert!(visit.console.is_empty(), "{:#?}", visit.console);
    for tag in ["<script", "<img", "<b "] {
        assert!(
            !visit.dom.contains(tag),
            "{tag} became an element:\n{}",
            visit.dom
        );
    }
    // ...and the reporter's words are there, as text.
    assert!(visit
        .dom
        .contains("&lt;script&gt;console.error('xss-org')&lt;/script&gt;"));
    assert!(visit
        .dom
        .contains(&format!("{} failing msgs", pages::HOSTILE_COUNT)));
}

#[test]
fn bars_are_in_proportion_to_the_daily_counts() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_report(dir.path());
    let db = dir.path().join("pages.sqlite");
    let daily = query_json(&db, "daily");
    let visit = browser.visit(&format!("file://{}", file.display()), 1440, 900);
    let drawn = bars(&visit.dom);
    let days = daily.as_array().unwrap();
    assert_eq!(drawn.len(), days.len(), "{drawn:?} vs {daily}");
    let max = days
        .iter()
        .map(|d| d["messages"].as_i64().unwrap())
        .max()
        .unwrap() as f64;
    for ((day, pass, fail, hp, hf), want) in drawn.iter().zip(days) {
        assert_eq!(day, want["day"].as_str().unwrap());
        assert_eq!(*pass, want["messages_pass"].as_i64().unwrap(), "{day}");
        assert_eq!(*fail, want["messages_fail"].as_i64().unwrap(), "{day}");
        let expect = |n: i64| 200.0 * n as f64 / max;
        assert!(
            (hp - expect(*pass)).abs() < 0.01,
            "{day}: pass bar {hp} for {pass} of {max}"
        );
        assert!(
            (hf - expect(*fail)).abs() < 0.01,
            "{day}: fail bar {hf} for {fail} of {max}"
        );
    }
    // Three days with messages, the busiest one as tall as the chart.
    assert_eq!(drawn.len(), 3);
    assert!(
        drawn.iter().any(|b| (b.3 + b.4 - 200.0).abs() < 0.01),
        "{drawn:?}"
    );
}

#[test]
fn report_to_stdout_is_the_same_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let out =
        run_ok(dmarcdb(&db).args(["report", "--html", "-", "--since", SINCE, "--until", UNTIL]));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("Content-Security-Policy"), "{html}");
    let sources = query_json(&db, "sources");
    let total: i64 = sources
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["messages"].as_i64().unwrap())
        .sum();
    // The headline's message count is the sum the sources view gives.
    let shown = format!("<span class=\"value\">{total}</span>");
    assert!(html.contains(&shown), "no {shown} in the headline");
}

/// The checks above can fail: a page that loads an outside image and
/// writes to the console is caught by the same harness.
#[test]
fn harness_sees_outside_requests_and_console_messages() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("leaky.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><title>x</title><img src=\"http://127.0.0.1:9/pixel.png\">\
         <script>console.error('seen')</script>",
    )
    .unwrap();
    let url = format!("file://{}", page.display());
    let visit = browser.visit(&url, 390, 400);
    assert!(
        visit.console.iter().any(|l| l.contains("seen")),
        "{:#?}",
        visit.console
    );
    assert_eq!(
        visit.foreign_requests(&url),
        ["http://127.0.0.1:9/pixel.png"]
    );
}

#[test]
fn tls_summary_forwarded_and_sender_names_show_as_the_views_give_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let config = pages::config(dir.path());
    let file = dir.path().join("report.html");
    run_ok(
        dmarcdb(&db)
            .arg("--config")
            .arg(&config)
            .args(["report", "--html"])
            .arg(&file)
            .args(["--since", SINCE, "--until", UNTIL]),
    );
    let html = std::fs::read_to_string(&file).unwrap();
    for tag in ["<script", "<img", "<b "] {
        assert!(!html.contains(tag), "{tag} appears as markup in the file");
    }

    // The TLS section: one row per row of `query tls`, same numbers, the
    // reporter's words escaped.
    let tls = section(&html, "tls").expect("a TLS section");
    let want = query_json(&db, "tls");
    let want = want.as_array().unwrap();
    assert_eq!(want.len(), 2, "{want:?}");
    assert_eq!(tls.matches("<tr>").count(), want.len() + 1, "{tls}");
    for r in want {
        let row = format!(
            "<tr><td class=\"text\">{}</td><td class=\"text\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1} %</td>\
             <td class=\"text\">{}</td></tr>",
            entities(r["policy_domain"].as_str().unwrap()),
            entities(r["policy_type"].as_str().unwrap()),
            r["sessions"],
            r["sessions_failure"],
            r["failure_pct"].as_f64().unwrap(),
            entities(r["top_result_types"].as_str().unwrap()),
        );
        assert!(tls.contains(&row), "no {row} in {tls}");
    }
    // ...and those are the fixture's: most failures first.
    let first = format!(
        "<tr><td class=\"text\">{}</td><td class=\"text\">sts</td><td class=\"num\">100</td>\
         <td class=\"num\">10</td><td class=\"num\">10.0 %</td><td class=\"text\">{} (7), \
         certificate-expired (3)</td></tr>",
        entities(pages::TLS_DOMAIN),
        entities(pages::TLS_RESULT)
    );
    assert!(tls.contains(&first), "no {first} in {tls}");

    // The alert's TLS problem is among the problems, as text.
    let problems = section(&html, "problems").unwrap();
    let said = format!(
        "<span class=\"kind\">tls failures:</span> {}: 10 of 100 SMTP TLS sessions failed",
        entities(pages::TLS_DOMAIN)
    );
    assert!(problems.contains(&said), "no {said} in {problems}");

    // The headline's forwarded figure is the sources view's sum.
    let sources = query_json(&db, "sources");
    let forwarded: i64 = sources
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["messages_forwarded"].as_i64().unwrap())
        .sum();
    assert!(forwarded > 0, "the samples hold forwarded mail: {sources}");
    let fig =
        format!("<span class=\"label\">Forwarded</span><span class=\"value\">{forwarded}</span>");
    assert!(html.contains(&fig), "no {fig} in the headline");
    // Per source, in the failing sources' table.
    let failing = section(&html, "failing").unwrap();
    assert!(failing.contains("Of which forwarded"), "{failing}");

    // The sender's name (markup, from the config) beside its IP, as text.
    let srcs = section(&html, "sources").unwrap();
    let named = format!(
        "<td class=\"code\">{}</td><td class=\"text\">{}</td>",
        pages::NAMED_IP,
        entities(pages::SENDER)
    );
    assert!(srcs.contains(&named), "no {named} in {srcs}");

    // A window without TLS reports has no TLS section.
    let out = run_ok(dmarcdb(&db).args([
        "report",
        "--html",
        "-",
        "--since",
        UNTIL,
        "--until",
        "2025-11-04",
    ]));
    let later = String::from_utf8(out.stdout).unwrap();
    assert!(later.contains("<section id=\"sources\""), "{later}");
    assert!(section(&later, "tls").is_none(), "{later}");

    // In the browser: nothing of it runs, the words are there as text.
    let Some(browser) = Browser::find() else {
        return;
    };
    let visit = browser.visit(&format!("file://{}", file.display()), 1440, 900);
    assert!(visit.console.is_empty(), "{:#?}", visit.console);
    for tag in ["<script", "<img", "<b "] {
        assert!(!visit.dom.contains(tag), "{tag} became an element");
    }
    assert!(visit.dom.contains("SMTP TLS"), "{}", visit.dom);
    assert!(visit
        .dom
        .contains("&lt;script&gt;console.error('xss-result')&lt;/script&gt; (7)"));
    assert!(visit
        .dom
        .contains("&lt;img src=x onerror=console.error('xss-tls')&gt;.example"));
    let out = screenshot_dir().join("report-tls-1440.png");
    browser.screenshot(&format!("file://{}", file.display()), 1440, 2400, &out);
}
