//! Auth results as shared sets: records with the same results share one
//! set, its key is what SQLite's `json_array` writes, and a set first
//! stored by a report that was rolled back is stored again.

use super::*;

#[test]
fn records_with_the_same_auth_results_share_one_set() {
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    s.store_report(&payload(XML), &l, "t").unwrap();
    s.store_report(&payload(SHARED), &l, "t").unwrap();
    assert_eq!(count(&s, "record"), 4);
    assert_eq!(count(&s, "auth_set"), 2);
    assert_eq!(count(&s, "dkim_result"), 3);
    assert_eq!(count(&s, "spf_result"), 2);
    let sets: Vec<Option<i64>> = s
        .conn
        .prepare(
            "SELECT auth FROM record r JOIN report p ON p.id = r.report
             WHERE p.report_id = 'r2' ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sets.len(), 3);
    assert!(sets[0].is_some());
    assert_eq!(sets[0], sets[1]);
    assert_eq!(sets[2], None);
    assert_eq!(count(&s, "override_reason"), 3);
    assert_references_hold(&s);
}

#[test]
fn auth_keys_are_what_sqlite_json_array_writes() {
    let (_, records) = crate::parse::parse_all(SHARED.as_bytes()).unwrap();
    let mut key = String::new();
    auth_key(&records[0], &mut key);
    let d = &records[0].dkim[0];
    assert!(d.human_result.as_deref().unwrap().contains('\t'), "{d:?}");
    let sp = &records[0].spf[0];
    let conn = Connection::open_in_memory().unwrap();
    let expected: String = conn
        .query_row(
            "SELECT json_array(json_array('dkim', ?1, ?2, ?3, ?4),
                               json_array('spf', ?5, ?6, ?7, NULL))",
            params![
                d.domain.as_str(),
                d.selector.as_deref(),
                d.result.as_str(),
                d.human_result.as_deref(),
                sp.domain.as_str(),
                sp.scope.as_deref(),
                sp.result.as_str()
            ],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(key, expected);
    // Every control character, one by one.
    for c in (0u8..0x20).chain([0x7f]) {
        let mut rec = records[0].clone();
        rec.spf.clear();
        rec.dkim[0].human_result = Some(format!("a{}b", c as char).into());
        auth_key(&rec, &mut key);
        let expected: String = conn
            .query_row(
                "SELECT json_array(json_array('dkim', ?1, ?2, ?3, ?4))",
                params![
                    d.domain.as_str(),
                    d.selector.as_deref(),
                    d.result.as_str(),
                    rec.dkim[0].human_result.as_deref()
                ],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(key, expected, "character {c:#x}");
    }
}

#[test]
fn a_set_first_stored_by_a_report_rolled_back_is_stored_again() {
    let mut s = Store::open_in_memory().unwrap();
    let l = Limits::default();
    s.set_batching(true).unwrap();
    // The new set is inserted, then a bad record rolls the report back.
    let bad = SHARED.replace(
        "</feedback>",
        "<record><row><source_ip>x</source_ip><count>1</count></row></record></feedback>",
    );
    assert!(s.store_report(&payload(&bad), &l, "bad").is_err());
    assert_eq!(count(&s, "auth_set"), 0);
    // The same set again, in the same open group, then committed.
    s.store_report(&payload(SHARED), &l, "good").unwrap();
    s.set_batching(false).unwrap();
    assert_eq!(count(&s, "auth_set"), 1);
    let dangling: i64 = s
        .conn
        .query_row(
            "SELECT count(*) FROM record WHERE auth IS NOT NULL
             AND auth NOT IN (SELECT id FROM auth_set)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dangling, 0);
    assert_references_hold(&s);
}
