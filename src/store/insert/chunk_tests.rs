//! [`Inserter::insert_chunk`]: records handed over in chunks of any size
//! are stored as the same records inserted one at a time are.

use rusqlite::Connection;

use super::tests::with_dkim;
use super::{AuthSets, Inserter};
use crate::model::{OverrideReason, Record};

/// Record `i` of a report: four auth sets in turn (one of them none), a
/// reason on every third, every tenth without a valid address.
fn record(i: usize) -> Record {
    let mut r = match i % 4 {
        3 => Record::default(),
        k => with_dkim(&format!("d{k}.example")),
    };
    r.source_ip = if i % 10 == 9 {
        format!("not an address {i}").into()
    } else {
        format!("198.51.100.{}", i % 250).into()
    };
    r.count = i as i64 + 1;
    if i % 3 == 0 {
        r.policy_evaluated.reasons.push(OverrideReason {
            kind: format!("k{i}").into(),
            comment: None,
        });
    }
    r
}

fn stored(conn: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut st = conn.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |row| {
        (0..n)
            .map(|i| {
                let v: rusqlite::types::Value = row.get(i)?;
                Ok(format!("{v:?}"))
            })
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Every `record` and `override_reason` row of report 1, after `records`
/// records went in by `chunks` (sizes, repeated) or one at a time (`[]`).
fn rows(records: usize, chunks: &[usize]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(include_str!("../../../schema.sql"))
        .unwrap();
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    let mut sets = AuthSets::default();
    let mut ins = Inserter::new(&conn, &mut sets, 1).unwrap();
    let mut next = 0;
    if chunks.is_empty() {
        for i in 0..records {
            ins.insert(record(i)).unwrap();
        }
    } else {
        for &size in chunks.iter().cycle() {
            if next == records {
                break;
            }
            let end = (next + size).min(records);
            let mut chunk: Vec<Record> = (next..end).map(record).collect();
            ins.insert_chunk(&mut chunk).unwrap();
            assert!(chunk.is_empty());
            next = end;
        }
    }
    ins.finish().unwrap();
    (
        stored(&conn, "SELECT * FROM record ORDER BY report, seq"),
        stored(&conn, "SELECT * FROM override_reason ORDER BY record, seq"),
    )
}

#[test]
fn chunks_of_any_size_store_what_records_one_at_a_time_do() {
    for n in [1, 31, 32, 33, 100, 203] {
        let (want_records, want_reasons) = rows(n, &[]);
        assert_eq!(want_records.len(), n);
        assert_eq!(want_reasons.len(), n.div_ceil(3));
        for chunks in [&[1][..], &[64], &[5, 33, 0, 7], &[31], &[32], &[100]] {
            let (records, reasons) = rows(n, chunks);
            assert_eq!(records, want_records, "{n} records by {chunks:?}");
            assert_eq!(reasons, want_reasons, "{n} records by {chunks:?}");
        }
    }
}
