//! Tests of `raw.rs`: values bound by pointer, kept between runs or
//! copied, parameters counted, errors.

use super::*;

fn conn() -> Connection {
    let c = Connection::open_in_memory().unwrap();
    c.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
        .unwrap();
    c
}

#[test]
fn values_bound_by_pointer_are_stored_as_given_and_runs_do_not_mix() {
    let c = conn();
    // SAFETY: dropped before `c`.
    let mut st = unsafe { RawStatement::prepare(&c, "INSERT INTO t VALUES (?, ?, ?)") }.unwrap();
    for (i, text) in ["first", "", "third\u{e9}"].iter().enumerate() {
        // A value that dies right after its run.
        let owned = text.to_string();
        let bytes = vec![i as u8; i];
        let mut b = st.bind();
        b.int(i as i64).unwrap();
        b.text(&owned).unwrap();
        b.blob(&bytes).unwrap();
        assert_eq!(b.execute().unwrap(), 1);
    }
    let mut b = st.bind();
    b.null().unwrap();
    b.opt_text(None).unwrap();
    b.blob(&[]).unwrap();
    b.execute().unwrap();
    drop(st);
    type Row = (Option<i64>, Option<String>, Option<Vec<u8>>);
    let rows: Vec<Row> = c
        .prepare("SELECT a, b, c FROM t ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (Some(0), Some("first".into()), Some(vec![])),
            (Some(1), Some(String::new()), Some(vec![1])),
            (Some(2), Some("third\u{e9}".into()), Some(vec![2, 2])),
            (None, None, Some(vec![])),
        ]
    );
}

#[test]
fn values_kept_from_the_last_run_are_stored_again_and_others_replace_them() {
    let c = conn();
    // SAFETY: dropped before `c`.
    let mut st = unsafe { RawStatement::prepare(&c, "INSERT INTO t VALUES (?, ?, ?)") }.unwrap();
    type Row = (Option<i64>, Option<String>, Option<Vec<u8>>);
    let mut want: Vec<Row> = Vec::new();
    // Each parameter goes through the kinds of values, repeating some;
    // the text is a `'static` word (`Ok`) or borrowed for one run.
    type Run<'x> = (Option<i64>, Result<&'static str, &'x str>, Option<&'x [u8]>);
    let runs: [Run; 7] = [
        (Some(1), Ok("none"), None),
        (Some(1), Ok("none"), None),
        (Some(2), Err("borrowed"), Some(b"x")),
        (None, Ok("none"), Some(b"")),
        (None, Ok("pass"), None),
        (Some(2), Err("none"), None),
        (Some(2), Ok("pass"), Some(b"y")),
    ];
    for (a, b_, c_) in runs {
        let owned = b_.err().map(str::to_owned);
        let mut b = st.bind();
        match a {
            Some(a) => b.int(a).unwrap(),
            None => b.null().unwrap(),
        }
        match (b_, &owned) {
            (Ok(w), _) => b.word(w).unwrap(),
            (Err(_), Some(o)) => b.text(o).unwrap(),
            _ => unreachable!(),
        }
        match c_ {
            Some(v) => b.blob(v).unwrap(),
            None => b.null().unwrap(),
        }
        assert_eq!(b.execute().unwrap(), 1);
        want.push((
            a,
            Some(b_.unwrap_or_else(|e| e).to_owned()),
            c_.map(<[u8]>::to_vec),
        ));
    }
    // A binding that did not run clears every value: all are bound
    // again, also those equal to the last run's.
    let mut b = st.bind();
    b.int(2).unwrap();
    drop(b);
    let mut b = st.bind();
    b.int(2).unwrap();
    b.word("pass").unwrap();
    b.null().unwrap();
    assert_eq!(b.execute().unwrap(), 1);
    want.push((Some(2), Some("pass".into()), None));
    drop(st);
    let rows: Vec<Row> = c
        .prepare("SELECT a, b, c FROM t ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, want);
}

#[test]
fn copied_texts_are_stored_as_given_whether_bound_again_or_kept() {
    let c = conn();
    // SAFETY: dropped before `c`.
    let mut st = unsafe { RawStatement::prepare(&c, "INSERT INTO t VALUES (?, ?, ?)") }.unwrap();
    let mut want: Vec<(i64, Option<String>)> = Vec::new();
    // Repeats, changes (longer, so the copy grows and moves), NULL,
    // a borrowed text in between, and an empty text.
    let texts = [
        Some("a.example"),
        Some("a.example"),
        Some("a-much-longer-name.example"),
        Some("a-much-longer-name.example"),
        None,
        Some("a.example"),
        Some(""),
        Some(""),
    ];
    for (i, t) in texts.iter().enumerate() {
        // Each value dies after its run: what is kept is the copy.
        let owned = t.map(str::to_owned);
        let mut b = st.bind();
        b.int(i as i64).unwrap();
        if i == 5 {
            b.opt_text(owned.as_deref()).unwrap();
        } else {
            b.opt_text_copied(owned.as_deref()).unwrap();
        }
        b.null().unwrap();
        assert_eq!(b.execute().unwrap(), 1);
        want.push((i as i64, owned));
    }
    let owned = "a.example".to_string();
    let mut b = st.bind();
    b.int(8).unwrap();
    b.text_copied(&owned).unwrap();
    drop(b);
    let mut b = st.bind();
    b.int(9).unwrap();
    b.text_copied(&owned).unwrap();
    b.null().unwrap();
    b.execute().unwrap();
    want.push((9, Some(owned.clone())));
    drop(st);
    let rows: Vec<(i64, Option<String>)> = c
        .prepare("SELECT a, b FROM t ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, want);
}

#[test]
fn a_run_needs_every_parameter_bound_and_no_more() {
    let c = conn();
    // SAFETY: dropped before `c`.
    let mut st = unsafe { RawStatement::prepare(&c, "INSERT INTO t VALUES (?, ?, ?)") }.unwrap();
    let mut b = st.bind();
    b.int(1).unwrap();
    b.text("x").unwrap();
    assert!(b.execute().is_err());
    let mut b = st.bind();
    for _ in 0..3 {
        b.int(1).unwrap();
    }
    assert!(b.int(1).is_err());
    drop(b);
    let n: i64 = c
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_query_gives_its_first_rows_integer_or_none_and_needs_its_parameters() {
    let c = conn();
    c.execute_batch("INSERT INTO t VALUES (7, 'x', NULL), (8, 'x', NULL), (9, 'y', NULL)")
        .unwrap();
    // SAFETY: dropped before `c`.
    let mut st =
        unsafe { RawStatement::prepare(&c, "SELECT a FROM t WHERE b = ? ORDER BY a") }.unwrap();
    for (key, want) in [("x", Some(7)), ("z", None), ("y", Some(9))] {
        let owned = key.to_string();
        let mut b = st.bind();
        b.text(&owned).unwrap();
        assert_eq!(b.query_i64().unwrap(), want, "{key}");
    }
    assert!(st.bind().query_i64().is_err());
}

#[test]
fn errors_carry_sqlite_messages_and_leave_the_statement_usable() {
    let c = conn();
    c.execute_batch("CREATE TABLE u (a INTEGER NOT NULL)")
        .unwrap();
    // SAFETY: dropped before `c`.
    assert!(unsafe { RawStatement::prepare(&c, "INSERT INTO nope VALUES (?)") }.is_err());
    let mut st = unsafe { RawStatement::prepare(&c, "INSERT INTO u VALUES (?)") }.unwrap();
    let mut b = st.bind();
    b.null().unwrap();
    let e = b.execute().unwrap_err();
    assert!(e.to_string().contains("NOT NULL"), "{e}");
    let mut b = st.bind();
    b.int(5).unwrap();
    assert_eq!(b.execute().unwrap(), 1);
}
