//! `dmarcdb reparse` over stored SMTP TLS reports (RFC 8460) and DMARC
//! failure reports (RFC 6591): rows an older parser got wrong are rebuilt
//! from the bytes as received, to exactly what a fresh ingest of the same
//! bytes stores; a second run changes nothing; a report whose bytes no
//! longer parse is named and kept as it was; a kill leaves no report
//! half-rewritten. Runs on SQLite files, and on PostgreSQL with
//! `DMARCDB_TEST_DB=postgres` (.ci/run).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::cli::{db_arg, dmarcdb, execute, on_postgres, one, rows, run_ok};
use common::mail::{arf_mail, gzip, tls_json};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// Every content column of the TLS and failure report tables, keyed by
/// what the reports say rather than by row ids: what a rebuild must make
/// equal to a fresh ingest. `source` only with `with_source`.
fn dump(db: &Path, with_source: bool) -> Vec<String> {
    let source = if with_source { ", source" } else { "" };
    let queries = [
        format!(
            "SELECT org_name, report_id, date_begin, date_end, contact_info, policy_count,
               sessions_success, sessions_failure{source}
             FROM tls_report ORDER BY org_name, report_id"
        ),
        "SELECT r.org_name, r.report_id, p.seq, p.policy_type, CAST(p.policy_string AS TEXT),
           p.policy_domain, CAST(p.mx_host AS TEXT), p.sessions_success, p.sessions_failure
         FROM tls_policy p JOIN tls_report r ON r.id = p.report
         ORDER BY r.org_name, r.report_id, p.seq"
            .to_string(),
        "SELECT r.org_name, r.report_id, f.policy, f.seq, f.result_type, f.sending_mta_ip,
           f.receiving_mx_hostname, f.receiving_mx_helo, f.receiving_ip, f.failed_session_count,
           f.additional_information, f.failure_reason_code
         FROM tls_failure f JOIN tls_report r ON r.id = f.report
         ORDER BY r.org_name, r.report_id, f.policy, f.seq"
            .to_string(),
        format!(
            "SELECT identity, origin, feedback_type, version, user_agent, arrival_date,
               arrival_date_text, source_ip, reported_domain, CAST(reported_domains AS TEXT),
               original_mail_from, original_envelope_id, CAST(original_rcpt_to AS TEXT),
               auth_failure, delivery_result, dkim_domain, dkim_identity, dkim_selector,
               spf_dns, identity_alignment, reporting_mta,
               CAST(authentication_results AS TEXT), CAST(fields AS TEXT), reported_from,
               reported_to, reported_subject, reported_date, reported_message_id, message_id,
               redacted{source}
             FROM failure_report ORDER BY identity"
        ),
    ];
    queries.iter().flat_map(|sql| rows(db, sql)).collect()
}

/// The row ids and first-stored times, which a rebuild keeps.
fn ids(db: &Path) -> Vec<String> {
    let mut out = rows(db, "SELECT id, ingested_at FROM tls_report ORDER BY id");
    out.extend(rows(
        db,
        "SELECT id, ingested_at FROM failure_report ORDER BY id",
    ));
    out
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn reparse(db: &Path) -> std::process::Output {
    dmarcdb(db).arg("reparse").output().unwrap()
}

/// `bytes` gzip-compressed, as an SQL literal of either backend.
fn gzip_literal(bytes: &[u8]) -> String {
    let hex: String = gzip(bytes).iter().map(|b| format!("{b:02x}")).collect();
    match on_postgres() {
        true => format!("decode('{hex}', 'hex')"),
        false => format!("x'{hex}'"),
    }
}

#[test]
fn rows_an_older_parser_got_wrong_are_rebuilt_to_a_fresh_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let (db, fresh) = (dir.path().join("r.db"), dir.path().join("fresh.db"));
    run_ok(dmarcdb(&db).arg("ingest").arg(samples()));
    run_ok(dmarcdb(&fresh).arg("ingest").arg(samples()));
    let ids_before = ids(&db);
    assert_eq!(dump(&db, true), dump(&fresh, true));
    // What an older parser could have stored: counts not summed, a policy
    // type in the reporter's case, failure details and a policy lost,
    // header fields of the failure report not read, an address list cut.
    execute(
        &db,
        "UPDATE tls_report SET sessions_failure = 0, contact_info = NULL, policy_count = 1;
         UPDATE tls_policy SET policy_type = 'STS' WHERE policy_type = 'sts';
         DELETE FROM tls_failure WHERE seq = 0;
         DELETE FROM tls_policy WHERE seq = 1 AND report IN
           (SELECT id FROM tls_report WHERE org_name = 'Example Mail Ltd');
         UPDATE failure_report SET source_ip = NULL, reported_subject = NULL,
           auth_failure = NULL, dkim_selector = 'sel', original_rcpt_to = '[]';",
    );
    assert_ne!(dump(&db, true), dump(&fresh, true));

    let out = reparse(&db);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        common::cli::stderr_text(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains(
            "aggregate reports: 0 changed, 3 unchanged, 0 could not be re-parsed; \
             TLS reports: 3 changed, 0 unchanged, 0 could not be re-parsed; \
             failure reports: 1 changed, 0 unchanged, 0 could not be re-parsed, \
             0 redacted (no mail kept);"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("rebuilt SMTP TLS report ").count(),
        3,
        "{text}"
    );
    assert!(
        text.contains("rebuilt SMTP TLS report 1: Example Mail Ltd 2026-11-01T00:00:00Z"),
        "{text}"
    );
    assert!(
        text.contains("rebuilt failure report 1: example.org 192.0.2.77 (")
            && text.contains("failure-example.org-dkim.eml)"),
        "{text}"
    );
    assert_eq!(dump(&db, true), dump(&fresh, true));
    assert_eq!(ids(&db), ids_before);

    // A second run finds nothing to do, and writes nothing.
    let again = run_ok(dmarcdb(&db).arg("reparse"));
    assert!(
        stdout(&again).contains(
            "TLS reports: 0 changed, 3 unchanged, 0 could not be re-parsed; \
             failure reports: 0 changed, 1 unchanged,"
        ),
        "{}",
        stdout(&again)
    );
    assert_eq!(dump(&db, true), dump(&fresh, true));
    assert_eq!(ids(&db), ids_before);
}

/// One report's rows given another report's bytes: every column the
/// report's rows hold must come from the bytes, the identity too.
#[test]
fn every_column_is_rewritten_from_the_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, fresh) = (dir.path().join("r.db"), dir.path().join("fresh.db"));
    let tls_a = samples().join("tls-example.org!2026-11-01.json");
    let tls_b = samples().join("tls-odd-case.json");
    let failure_a = samples().join("failure-example.org-dkim.eml");
    let failure_b = dir.path().join("b.eml");
    std::fs::write(
        &failure_b,
        arf_mail("b-1", "203.0.113.9", "other.example", 1_760_000_000),
    )
    .unwrap();
    for f in [&tls_a, &tls_b, &failure_a, &failure_b] {
        run_ok(dmarcdb(&db).arg("ingest").arg(f));
    }
    run_ok(dmarcdb(&fresh).arg("ingest").arg(&tls_a).arg(&failure_a));
    // B's rows, A's bytes, A gone: as if B had been stored from A's bytes
    // by a parser that read them all wrong.
    execute(
        &db,
        "UPDATE tls_report_blob SET gzip = (SELECT b.gzip FROM tls_report_blob b
           JOIN tls_report r ON r.id = b.report WHERE r.org_name = 'Example Mail Ltd')
         WHERE report = (SELECT id FROM tls_report WHERE org_name = 'Sloppy Reporter');
         DELETE FROM tls_failure WHERE report =
           (SELECT id FROM tls_report WHERE org_name = 'Example Mail Ltd');
         DELETE FROM tls_policy WHERE report =
           (SELECT id FROM tls_report WHERE org_name = 'Example Mail Ltd');
         DELETE FROM tls_report_blob WHERE report =
           (SELECT id FROM tls_report WHERE org_name = 'Example Mail Ltd');
         DELETE FROM tls_report WHERE org_name = 'Example Mail Ltd';
         UPDATE failure_report_blob SET gzip = (SELECT b.gzip FROM failure_report_blob b
           JOIN failure_report f ON f.id = b.report WHERE f.reported_domain = 'example.org')
         WHERE report = (SELECT id FROM failure_report WHERE reported_domain = 'other.example');
         DELETE FROM failure_report_blob WHERE report =
           (SELECT id FROM failure_report WHERE reported_domain = 'example.org');
         DELETE FROM failure_report WHERE reported_domain = 'example.org';",
    );
    let out = run_ok(dmarcdb(&db).arg("reparse"));
    let text = stdout(&out);
    assert!(
        text.contains("TLS reports: 1 changed, 0 unchanged"),
        "{text}"
    );
    assert!(
        text.contains("failure reports: 1 changed, 0 unchanged"),
        "{text}"
    );
    // Rebuilt under B's row ids, with B's sources, and A's content.
    assert_eq!(dump(&db, false), dump(&fresh, false));
    assert_eq!(
        rows(&db, "SELECT id, source FROM tls_report"),
        [format!("2|{}", tls_b.display())]
    );
}

#[test]
fn a_report_whose_bytes_no_longer_parse_is_named_and_kept_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    run_ok(dmarcdb(&db).arg("ingest").arg(samples()));
    // Rows a rebuild would change, bytes that no longer parse as the kind
    // they were stored as, and TLS bytes that now name another stored
    // report.
    let not_arf = b"From: a@example.org\r\nSubject: hello\r\n\r\nno report here\r\n";
    execute(
        &db,
        &format!(
            "UPDATE tls_report SET policy_count = 7;
             UPDATE failure_report SET source_ip = '192.0.2.1';
             UPDATE tls_report_blob SET gzip = {}
             WHERE report = (SELECT id FROM tls_report WHERE org_name = 'Sloppy Reporter');
             UPDATE tls_report_blob SET gzip = (SELECT b.gzip FROM tls_report_blob b
               JOIN tls_report r ON r.id = b.report WHERE r.org_name = 'Example Mail Ltd')
             WHERE report = (SELECT id FROM tls_report WHERE org_name = 'Example Gzip Sender');
             UPDATE failure_report_blob SET gzip = {};",
            gzip_literal(br#"{"organization-name": "Sloppy Reporter", "policies": ["#),
            gzip_literal(not_arf)
        ),
    );
    let before = dump(&db, true);
    let out = reparse(&db);
    assert_eq!(out.status.code(), Some(3));
    let text = stdout(&out);
    assert!(
        text.contains(
            "TLS reports: 1 changed, 0 unchanged, 2 could not be re-parsed; \
             failure reports: 0 changed, 0 unchanged, 1 could not be re-parsed,"
        ),
        "{text}"
    );
    let err = common::cli::stderr_text(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    let named = |file: &str, why: &str| {
        lines
            .iter()
            .any(|l| l.contains(file) && l.contains("kept as it was") && l.contains(why))
    };
    assert!(named("tls-odd-case.json", "JSON error"), "{err}");
    assert!(
        named(
            "tls-gzip-sender!example.org.json.gz",
            "now parses to the identity of another stored report"
        ),
        "{err}"
    );
    assert!(
        named("failure-example.org-dkim.eml", "not a DMARC failure report"),
        "{err}"
    );
    // Only the report that still parses was rewritten.
    let after = dump(&db, true);
    assert_ne!(after, before);
    assert_eq!(
        rows(
            &db,
            "SELECT org_name, policy_count FROM tls_report ORDER BY id"
        ),
        [
            "Example Mail Ltd|2",
            "Example Gzip Sender|7",
            "Sloppy Reporter|7"
        ]
    );
    assert_eq!(
        one(
            &db,
            "SELECT count(*) FROM failure_report WHERE source_ip = '192.0.2.1'"
        ),
        1
    );
    // And the next run says the same, changing nothing.
    let again = reparse(&db);
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(dump(&db, true), after);
}

#[test]
fn a_failure_report_stored_redacted_is_counted_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let mail = samples().join("failure-example.org-dkim.eml");
    run_ok(dmarcdb(&db).args(["ingest", "--redact"]).arg(&mail));
    let before = dump(&db, true);
    let out = run_ok(dmarcdb(&db).arg("reparse"));
    assert!(
        stdout(&out).contains(
            "failure reports: 0 changed, 0 unchanged, 0 could not be re-parsed, \
             1 redacted (no mail kept);"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(dump(&db, true), before);
}

/// `reparse` of many damaged TLS reports, killed at moments spread over
/// its run: each report is found either as it was or fully rebuilt, never
/// in between, and a run to the end rebuilds the rest.
#[test]
fn a_killed_reparse_leaves_no_report_half_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let (db, fresh) = (dir.path().join("r.db"), dir.path().join("fresh.db"));
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    const N: i64 = 150;
    for i in 0..N {
        let failures = [("certificate-expired", 1 + i), ("validation-failure", 2)];
        let json = tls_json(
            "kill.example",
            &format!("k-{i}"),
            1_760_000_000 + i * 86_400,
            "example.org",
            100 + i,
            &failures,
        );
        std::fs::write(inputs.join(format!("{i}.json")), json).unwrap();
    }
    run_ok(dmarcdb(&db).arg("ingest").arg(&inputs));
    run_ok(dmarcdb(&fresh).arg("ingest").arg(&inputs));
    let damage = "UPDATE tls_report SET sessions_failure = -1;
                  DELETE FROM tls_failure WHERE seq = 1;";
    // Either as damaged (-1, one detail) or as rebuilt (the real sum, two).
    let consistent = "SELECT count(*) FROM tls_report r WHERE NOT (
          (r.sessions_failure = -1
             AND (SELECT count(*) FROM tls_failure f WHERE f.report = r.id) = 1)
          OR (r.sessions_failure = (SELECT sum(failed_session_count) FROM tls_failure f
                                    WHERE f.report = r.id)
             AND (SELECT count(*) FROM tls_failure f WHERE f.report = r.id) = 2))";
    let damaged = "SELECT count(*) FROM tls_report WHERE sessions_failure = -1";
    // How long a whole run takes here, now: the kills land within it.
    execute(&db, damage);
    let started = Instant::now();
    run_ok(dmarcdb(&db).arg("reparse"));
    let whole = started.elapsed();
    assert_eq!(one(&db, damaged), 0);
    execute(&db, damage);
    let mut killed_midway = 0;
    for tenths in [2u32, 3, 4, 5, 6, 7, 8, 9] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dmarcdb"))
            .env_remove("DMARCDB_DB")
            .env_remove("DATABASE_URL")
            .arg("--db")
            .arg(db_arg(&db))
            .arg("reparse")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * tenths / 10);
        let _ = child.kill();
        child.wait().unwrap();
        assert_eq!(
            one(&db, consistent),
            0,
            "after a kill at {tenths}/10 of a run"
        );
        let left = one(&db, damaged);
        if left > 0 && left < N {
            killed_midway += 1;
        }
        if left == 0 {
            // All rebuilt already: damaged again for the next kill.
            execute(&db, damage);
        }
    }
    run_ok(dmarcdb(&db).arg("reparse"));
    assert_eq!(dump(&db, true), dump(&fresh, true));
    // Some kills landed in the middle of a run's work.
    assert!(
        killed_midway > 0,
        "no kill landed in the middle of a run ({whole:?})"
    );
}
