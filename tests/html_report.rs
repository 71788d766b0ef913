//! `dmarcdb report --html`: the file opened in a real headless Chromium —
//! no console error, no request leaving the file, bars in proportion to
//! the daily counts `query daily` prints, markup from reports inert; and
//! screenshots at 390 and 1440 px under `target/screenshots/` for review.

mod common;

use common::browser::{screenshot_dir, Browser};
use common::cli::{dmarcdb, run_ok};
use common::pages::{self, bars, database, query_json, SINCE, UNTIL};

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
