//! Untrusted text: reports and file names holding terminal escapes (CSI,
//! OSC window title, OSC 8 hyperlink, clear-screen, BEL, C1), bidi
//! overrides and NUL, fed through ingest and every way dmarcdb shows text.
//! Asserted: no raw control character reaches stdout or stderr, in any
//! format; JSON parses back to the original text; CSV cells follow the
//! formula rule.

mod fixture;

use std::path::Path;

use fixture::{midnight, run, Env, DAY};

/// The catalogue: each entry a name and an attack.
const ATTACKS: &[(&str, &str)] = &[
    ("csi", "\x1b[31mred\x1b[0m"),
    ("osc-title", "\x1b]0;pwned\x07"),
    (
        "osc8-link",
        "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    ),
    ("clear-screen", "\x1b[2J\x1b[H"),
    ("bel", "ding\x07"),
    ("c1-csi", "\u{9b}31m"),
    ("bidi", "abc\u{202e}lmx.exe\u{2066}x\u{2069}"),
    ("nul", "nul\0byte"),
    ("del", "del\x7fete"),
];

/// Every attack in one string, kept inside visible text so the parser's
/// trimming cannot touch it.
fn all_attacks() -> String {
    let mut s = String::from("a");
    for (_, a) in ATTACKS {
        s.push_str(a);
    }
    s.push('z');
    s
}

/// Control characters that must never reach a terminal raw: C0 but
/// newline, DEL, C1, bidi controls and marks, line/paragraph separators.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c != '\n' && dmarcdb::untrusted::is_control(c))
        .collect()
}

fn assert_clean(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let raw = raw_controls(&text);
    assert!(raw.is_empty(), "{what}: raw {raw:?} in\n{text}");
}

/// XML text for `s`: the markup characters escaped, control characters
/// written raw (the parser keeps them; XML 1.0 would refuse most, real
/// reporters send them anyway).
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

/// A report whose every text field holds `evil`.
fn hostile_report(evil: &str, id: &str, begin: i64) -> String {
    let e = xml_text(evil);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback><report_metadata>\
         <org_name>{e}</org_name><email>x{e}@example.net</email>\
         <extra_contact_info>{e}</extra_contact_info><report_id>{id}{e}</report_id>\
         <date_range><begin>{begin}</begin><end>{}</end></date_range><error>{e}</error>\
         </report_metadata><policy_published><domain>example.com</domain><p>reject</p>\
         </policy_published>\n<record><row><source_ip>198.51.100.7</source_ip><count>25</count>\
         <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf>\
         <reason><type>other</type><comment>{e}</comment></reason></policy_evaluated></row>\
         <identifiers><envelope_from>{e}</envelope_from><header_from>{e}</header_from>\
         </identifiers><auth_results><dkim><domain>{e}</domain><selector>{e}</selector>\
         <result>fail</result><human_result>{e}</human_result></dkim><spf><domain>{e}</domain>\
         <result>fail</result></spf></auth_results></record>\n</feedback>\n",
        begin + DAY - 1
    )
}

/// A temp env with the hostile report stored (and its file name hostile too).
fn stored() -> (Env, String) {
    let env = Env::new();
    let evil = all_attacks();
    let dir = env.path("reports");
    write(
        &dir.join(format!("r-{}.xml", file_safe(&evil))),
        &hostile_report(&evil, "r1", midnight(2)),
    );
    let (code, out, err) = run(env.cmd().arg("ingest").arg(&dir));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 new report(s)"), "{out}");
    (env, evil)
}

/// `s` as part of a file name: everything but `/` and NUL is allowed.
fn file_safe(s: &str) -> String {
    s.replace(['/', '\0'], "_")
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn json_keeps_the_report_text_exactly() {
    let (env, evil) = stored();
    let (code, out, err) = run(env.cmd().args(["query", "reports", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let v = fixture::json(&out);
    assert_eq!(v[0]["org_name"], evil.as_str());
    assert_eq!(v[0]["report_id"], format!("r1{evil}"));
}

#[test]
fn rejected_and_dry_run_lines_show_names_escaped() {
    let env = Env::new();
    let evil = all_attacks();
    let dir = env.path("reports");
    // A file that is not a report, named with every attack, and a report
    // whose fields hold them, for the dry run's line.
    write(&dir.join(file_safe(&evil)), "garbage, not a report");
    write(
        &dir.join(format!("ok-{}.xml", file_safe(&evil))),
        &hostile_report(&evil, "r1", midnight(2)),
    );
    for args in [&["ingest"][..], &["ingest", "--dry-run"]] {
        let out = env.cmd().args(args).arg(&dir).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_clean(&format!("{args:?} stdout"), &out.stdout);
        assert_clean(&format!("{args:?} stderr"), &out.stderr);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("rejected "), "{err}");
        assert!(err.contains("\\x1b]0;pwned\\x07"), "{err}");
        assert!(err.contains("\\u{202e}"), "{err}");
    }
    let out = env
        .cmd()
        .args(["ingest", "--dry-run"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("a\\x1b[31mred"), "{stdout}");
}

#[test]
fn the_database_keeps_the_raw_text() {
    // Stored data stays byte-faithful: the database holds the raw text.
    let (env, evil) = stored();
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let org: String = conn
        .query_row("SELECT org_name FROM report", [], |r| r.get(0))
        .unwrap();
    assert_eq!(org, evil);
}

const VIEWS: &[&str] = &[
    "sources", "daily", "orgs", "domains", "dkim", "spf", "failures", "reports",
];

/// Whether a CSV cell would run as a formula in a spreadsheet.
fn formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Both hostile reports stored: every field holds every attack, and the
/// second one's fields also begin with formula characters.
fn stored_both() -> (Env, String) {
    let (env, evil) = stored();
    let dir = env.path("more");
    std::fs::create_dir_all(&dir).unwrap();
    let formulas = format!("=1+1{evil}");
    write(
        &dir.join("f.xml"),
        &hostile_report(&formulas, "r2", midnight(3))
            .replace("<header_from>=", "<header_from>@")
            .replace("<envelope_from>=", "<envelope_from>-")
            .replace("<selector>=", "<selector>+"),
    );
    let (code, _, err) = run(env.cmd().arg("ingest").arg(&dir));
    assert_eq!(code, 0, "{err}");
    (env, evil)
}

#[test]
fn every_view_in_every_format_is_safe() {
    let (env, evil) = stored_both();
    for view in VIEWS {
        let q = |format: &str| {
            let out = env
                .cmd()
                .args(["query", view, "--days", "30", "--format", format])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{view} {format}");
            assert_clean(&format!("{view} {format} stderr"), &out.stderr);
            out.stdout
        };
        let table = q("table");
        assert_clean(&format!("{view} table"), &table);

        let json_bytes = q("json");
        assert_clean(&format!("{view} json"), &json_bytes);
        let json: serde_json::Value = serde_json::from_slice(&json_bytes).unwrap();
        let csv = q("csv");
        assert_clean(&format!("{view} csv"), &csv);
        let mut rdr = csv::Reader::from_reader(csv.as_slice());
        let keys = rdr.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        let json_rows = json.as_array().unwrap();
        assert_eq!(rows.len(), json_rows.len(), "{view}");
        for (row, obj) in rows.iter().zip(json_rows) {
            for (cell, key) in row.iter().zip(&keys) {
                let value = &obj[key];
                assert!(!formula(cell), "{view} {key}: {cell:?}");
                // A text cell is the JSON text with control characters
                // made visible, with one ' in front when it then begins
                // like a formula (or with ').
                if let Some(text) = value.as_str() {
                    let text = dmarcdb::untrusted::visible(text);
                    let expected = if formula(&text) || text.starts_with('\'') {
                        format!("'{text}")
                    } else {
                        text.to_string()
                    };
                    assert_eq!(cell, expected, "{view} {key}");
                }
            }
        }
        // The attacks reach JSON (where text fields are shown) unchanged.
        let text = serde_json::to_string(&json).unwrap();
        if !matches!(*view, "sources" | "daily") {
            assert!(
                text.contains(&serde_json::to_string(&evil).unwrap()[1..10]),
                "{view}"
            );
        }
    }
}

#[test]
fn alert_and_quarantine_list_are_safe() {
    let (env, evil) = stored_both();
    let dir = env.path("bad");
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir.join(file_safe(&evil)), "not a report");
    let out = env.cmd().arg("ingest").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    for args in [
        &["alert", "--days", "30"][..],
        &["alert", "--days", "30", "--format", "json"],
        &["alert", "--days", "30", "--format", "csv"],
        &["quarantine", "list"],
        &["quarantine", "list", "--format", "csv"],
        &["quarantine", "list", "--format", "json"],
        &["ingest", "--alert"],
    ] {
        let mut cmd = env.cmd();
        cmd.args(args);
        if args[0] == "ingest" {
            cmd.arg(env.path("more"));
        }
        let out = cmd.output().unwrap();
        assert_clean(&format!("{args:?} stdout"), &out.stdout);
        assert_clean(&format!("{args:?} stderr"), &out.stderr);
    }
    let out = env
        .cmd()
        .args(["quarantine", "list", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[0]["source"]
        .as_str()
        .unwrap()
        .ends_with(&file_safe(&evil)));
}

#[test]
fn zip_member_names_and_fatal_errors_are_escaped() {
    let env = Env::new();
    let evil = all_attacks();
    // A zip whose only member, named with every attack, is not a report.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        format!("{}.xml", file_safe(&evil)),
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::Write::write_all(&mut zip, b"<html>not a report</html>").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let path = env.path("reports/members.zip");
    std::fs::write(&path, bytes).unwrap();
    let out = env.cmd().arg("ingest").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_clean("zip member stderr", &out.stderr);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("members.zip::"), "{err}");
    assert!(
        err.contains("a\\x1b[31mred") && err.contains("\\u{202e}"),
        "{err}"
    );

    // A database path under a file named with the attacks: a fatal error
    // naming it.
    let blocker = env.path(&format!("f{}", file_safe(&evil)));
    write(&blocker, "a file, not a directory");
    let out = assert_cmd::Command::cargo_bin("dmarcdb")
        .unwrap()
        .env_remove("DMARCDB_DB")
        .arg("--db")
        .arg(blocker.join("x.sqlite"))
        .args(["query", "reports"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_clean("fatal error", &out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: cannot open database"));
}
