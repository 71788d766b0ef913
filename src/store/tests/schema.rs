//! The schema: a new file's version, page size and mode, and a file of
//! schema version 1 migrated to exactly what this version stores.

use super::*;

#[test]
fn new_file_is_private_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let s = Store::open(&path).unwrap();
    let v: i64 = s
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, VERSION);
    let page: i64 = s
        .conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap();
    assert_eq!(page, 8192);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}

/// A file in WAL mode opens in it with `synchronous = NORMAL` without
/// either pragma (SQLite is built with that default for WAL,
/// `.cargo/config.toml`), as a new file is set up: the same durability.
#[test]
fn new_and_existing_files_are_wal_with_synchronous_normal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    for _ in 0..2 {
        let s = Store::open(&path).unwrap();
        let mode: String = s
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = s
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 1));
    }
}

/// Writes what `from` holds into a new file laid out as schema version 1
/// (the first release's), as that version stored it.
fn as_version_1(from: &Store, path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(include_str!("../migrations/v1.sql"))
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    let src = from.path().unwrap().to_string();
    conn.execute("ATTACH ?1 AS v2", params![src]).unwrap();
    conn.execute_batch(
        "INSERT INTO report SELECT * FROM v2.report;
         INSERT INTO report_blob SELECT * FROM v2.report_blob;
         CREATE TEMP TABLE ids AS
           SELECT report, seq, row_number() OVER (ORDER BY report, seq) AS id FROM v2.record;
         INSERT INTO record (id, report, source_ip, ip_bin, count, disposition, dkim, spf,
                             dmarc_pass, header_from, envelope_from, envelope_to)
           SELECT i.id, c.report, c.source_ip, c.ip_bin, c.count, c.disposition, c.dkim,
                  c.spf, c.dmarc_pass, c.header_from, c.envelope_from, c.envelope_to
           FROM v2.record c JOIN ids i USING (report, seq);
         INSERT INTO dkim_result
           SELECT i.id, d.seq, d.domain, d.selector, d.result, d.human_result
           FROM v2.record c JOIN ids i USING (report, seq)
           JOIN v2.dkim_result d ON d.auth_set = c.auth;
         INSERT INTO spf_result
           SELECT i.id, d.seq, d.domain, d.scope, d.result, d.human_result
           FROM v2.record c JOIN ids i USING (report, seq)
           JOIN v2.spf_result d ON d.auth_set = c.auth;
         INSERT INTO override_reason
           SELECT i.id, o.seq, o.type, o.comment
           FROM v2.override_reason o JOIN ids i ON i.report = o.report AND i.seq = o.record;",
    )
    .unwrap();
}

fn schema_of(conn: &Connection) -> Vec<(String, String)> {
    conn.prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_1_file_is_migrated_to_what_this_version_stores() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.db");
    let old = dir.path().join("old.db");
    {
        let mut s = Store::open(&fresh).unwrap();
        let l = Limits::default();
        s.store_report(&payload(XML), &l, "a").unwrap();
        s.store_report(&payload(SHARED), &l, "b").unwrap();
        s.store_report(&generated(3, 300), &l, "c").unwrap();
        as_version_1(&s, &old);
    }
    let mut migrated = Store::open(&old).unwrap();
    let fresh = Store::open(&fresh).unwrap();
    let v: i64 = migrated
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, VERSION);
    assert_eq!(schema_of(&migrated.conn), schema_of(&fresh.conn));
    for table in [
        "record",
        "auth_set",
        "dkim_result",
        "spf_result",
        "override_reason",
    ] {
        assert_eq!(count(&migrated, table), count(&fresh, table), "{table}");
    }
    // Re-parsing every report from its bytes finds nothing to change (as
    // `reparse` does it): the migrated rows are what this version stores.
    let ids = migrated.report_ids().unwrap();
    assert_eq!(ids.len(), 3);
    for id in ids {
        let payload = migrated.report_bytes(id).unwrap().unwrap();
        let mut reader = crate::parse::ReportReader::new(payload.reader(&Limits::default()));
        let header = reader.header().unwrap();
        let mut next = || reader.next_record();
        let rebuilt = migrated.rebuild_report(id, &header, &mut next).unwrap();
        assert_eq!(rebuilt, Rebuilt::Unchanged, "report {id}");
    }
    // And the same auth-set keys, so later inserts find the migrated sets.
    let keys = |s: &Store| -> Vec<String> {
        s.conn
            .prepare("SELECT key FROM auth_set ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(keys(&migrated), keys(&fresh));
    assert_references_hold(&migrated);
}
