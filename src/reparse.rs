//! Reparse: rebuild what is stored from what was received, after a parser
//! fix or a schema migration, and give quarantined inputs another try.
//!
//! Two passes, both idempotent:
//!
//! 1. **Stored reports.** Every report's original bytes (`report_blob`, the
//!    XML as received, gzip-compressed) are parsed again and its header
//!    fields, records and their child rows are rewritten, one `BEGIN
//!    IMMEDIATE` transaction per report. A fingerprint of the rows (every
//!    column except row ids, `source` and `ingested_at`) taken before and
//!    after decides whether anything changed; when nothing did, the
//!    transaction is rolled back, so a database built by the current version
//!    is left byte-for-byte alone. Auth results are shared sets found by
//!    their key (schema.sql, `auth_set`): a set is rebuilt when its content
//!    as parsed changes, but rows of a set edited by hand are not noticed.
//!    A report whose bytes no longer parse is
//!    kept as it was and reported: deleting data because a newer parser is
//!    stricter would lose it.
//! 2. **Quarantine.** Every quarantined input is decompressed and run
//!    through the normal extract → parse → store path
//!    ([`ingest::ingest_input`]). When nothing of it is rejected any more,
//!    its quarantine row is deleted; otherwise the row stays, with the new
//!    reason and one more attempt counted.
//!
//! The rebuild needs SQL of its own (the fingerprint, the header update);
//! it lives here, next to the only code that uses it, and uses bound
//! parameters only. Records are written by the store's own
//! [`Inserter`], so ingest and reparse cannot drift apart. Like
//! `ingest`, this module prints nothing: the CLI hears [`Event`]s.

use std::io::Read;

use flate2::read::GzDecoder;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::extract::Payload;
use crate::ingest::{self, Fatal, Rejection};
use crate::model::ReportHeader;
use crate::parse::{ParseError, ReportReader};
use crate::source::{Input, InputKind};
use crate::store::{self, AuthSets, Inserter, Store, StoreError};

/// Totals of a reparse run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Stored reports whose rows were rewritten with different content.
    pub changed: u64,
    /// Stored reports that came out the same.
    pub unchanged: u64,
    /// Stored reports whose bytes no longer parse (kept as they were).
    pub failed: Vec<Rejection>,
    /// Quarantined inputs now stored (their quarantine rows deleted).
    pub recovered: u64,
    /// Quarantined inputs that still fail, each rejection with its reason.
    pub still_failing: u64,
    /// Every rejection met while retrying the quarantine.
    pub rejected: Vec<Rejection>,
}

/// What the caller hears about, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A stored report's rows were rebuilt with different content.
    Changed {
        id: i64,
        header: &'a ReportHeader,
        source: &'a str,
    },
    /// A stored report could not be re-parsed, or a quarantined input (or a
    /// report in it) was rejected again.
    Rejected(&'a Rejection),
    /// A quarantined input is now stored.
    Recovered { source: &'a str },
}

/// Runs both passes over `store`. Only a database error stops the run.
pub fn run(
    store: &mut Store,
    opts: &ingest::Options,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<Summary, Fatal> {
    let mut sum = Summary::default();
    rebuild_reports(store, opts, &mut sum, on_event)?;
    retry_quarantine(store, opts, &mut sum, on_event)?;
    Ok(sum)
}

/// The result of rebuilding one report.
enum Rebuilt {
    Changed(Box<ReportHeader>, String),
    Unchanged,
}

fn rebuild_reports(
    store: &mut Store,
    opts: &ingest::Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    for id in ids(store.conn(), "SELECT id FROM report ORDER BY id")? {
        match rebuild(store.conn(), id, opts) {
            Ok(Rebuilt::Unchanged) => sum.unchanged += 1,
            Ok(Rebuilt::Changed(header, source)) => {
                sum.changed += 1;
                on_event(&Event::Changed {
                    id,
                    header: &header,
                    source: &source,
                });
            }
            Err(Failure::Report(name, reason)) => {
                let r = Rejection {
                    name,
                    reason: format!("stored report {id} kept as it was: {reason}"),
                };
                on_event(&Event::Rejected(&r));
                sum.failed.push(r);
            }
            Err(Failure::Db(e)) => return Err(Fatal::Db(e)),
        }
    }
    Ok(())
}

/// Why one report could not be rebuilt.
enum Failure {
    /// Its bytes do not parse (or would collide with another report): the
    /// report is left alone. Carries the report's source and the reason.
    Report(String, String),
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Db(e)
    }
}

/// Rewrites report `id` from its stored bytes in one transaction,
/// committed only when the rows changed.
fn rebuild(conn: &Connection, id: i64, opts: &ingest::Options) -> Result<Rebuilt, Failure> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let row = tx
        .query_row(
            "SELECT r.source, b.gzip FROM report r JOIN report_blob b ON b.report = r.id
             WHERE r.id = ?1",
            params![id],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )
        .optional()?;
    let Some((source, gzip)) = row else {
        // Deleted meanwhile, or stored without its bytes: nothing to rebuild from.
        return Ok(Rebuilt::Unchanged);
    };
    let before = fingerprint(&tx, id)?;
    let payload = Payload {
        name: source.clone(),
        data: gzip.into(),
        gzip: true,
    };
    let header = match rewrite(&tx, id, &payload, opts) {
        Ok(header) => header,
        Err(StoreError::Parse(e)) => return Err(Failure::Report(source, e.to_string())),
        Err(StoreError::Db(e)) if is_constraint(&e) => {
            let reason = "it now parses to the identity of another stored report".to_string();
            return Err(Failure::Report(source, reason));
        }
        Err(StoreError::Db(e)) => return Err(Failure::Db(e)),
    };
    if fingerprint(&tx, id)? == before {
        // Dropping `tx` rolls back: an unchanged report is not even rewritten.
        return Ok(Rebuilt::Unchanged);
    }
    // Its records may have changed source IPs.
    store::forget_report_ips(&tx, id)?;
    tx.commit()?;
    Ok(Rebuilt::Changed(Box::new(header), source))
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

/// Parses `payload` and replaces report `id`'s header fields, records and
/// child rows (deleting the records cascades to their children).
fn rewrite(
    tx: &Transaction<'_>,
    id: i64,
    payload: &Payload,
    opts: &ingest::Options,
) -> Result<ReportHeader, StoreError> {
    let mut reader = ReportReader::new(payload.reader(&opts.limits));
    let header = reader.header()?;
    update_header(tx, id, &header)?;
    tx.execute("DELETE FROM override_reason WHERE report = ?1", params![id])?;
    tx.execute("DELETE FROM record WHERE report = ?1", params![id])?;
    // A cache of this transaction only: nothing to forget on rollback.
    let mut sets = AuthSets::default();
    let mut ins = Inserter::new(tx, &mut sets, id)?;
    let (mut records, mut messages, mut passed) = (0i64, 0i64, 0i64);
    while let Some(rec) = reader.next_record()? {
        ins.insert(&rec)?;
        records += 1;
        messages = messages.saturating_add(rec.count);
        if rec.dmarc_pass() {
            passed = passed.saturating_add(rec.count);
        }
    }
    if records == 0 {
        return Err(ParseError::NotAReport("no <record> elements".into()).into());
    }
    tx.execute(
        "UPDATE report SET record_count = ?2, message_count = ?3, pass_count = ?4 WHERE id = ?1",
        params![id, records, messages, passed],
    )?;
    Ok(header)
}

/// Every header column the parser fills, as `store` inserts them.
fn update_header(tx: &Transaction<'_>, id: i64, h: &ReportHeader) -> rusqlite::Result<()> {
    let errors = store::header_errors(h);
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&id];
    values.extend(store::header_values(h, &errors));
    let placeholders = (2..=values.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    tx.prepare_cached(&format!(
        "UPDATE report SET ({}) = ({placeholders}) WHERE id = ?1",
        store::HEADER_COLUMNS
    ))?
    .execute(values.as_slice())?;
    Ok(())
}

/// Columns that say where and when a row was stored, or which shared row
/// it points at, not what it holds.
const NOT_CONTENT: &[&str] = &["id", "report", "source", "ingested_at", "auth", "auth_set"];

/// What a report's records hold: the records, then the rows they point
/// at or own, each in (record, seq) order.
const ROWS: &[&str] = &[
    "SELECT * FROM report WHERE id = ?1",
    "SELECT * FROM record WHERE report = ?1 ORDER BY seq",
    "SELECT d.* FROM record r JOIN dkim_result d ON d.auth_set = r.auth
     WHERE r.report = ?1 ORDER BY r.seq, d.seq",
    "SELECT s.* FROM record r JOIN spf_result s ON s.auth_set = r.auth
     WHERE r.report = ?1 ORDER BY r.seq, s.seq",
    "SELECT * FROM override_reason WHERE report = ?1 ORDER BY record, seq",
];

/// A digest of everything stored about report `id`: every column (so a
/// column added by a later migration counts too) except row ids and
/// provenance. Records are keyed by their position in the report and auth
/// results are hashed by content, not by the id of their shared set.
fn fingerprint(conn: &Connection, id: i64) -> rusqlite::Result<[u8; 32]> {
    let mut h = Sha256::new();
    for sql in ROWS {
        hash_rows(conn, sql, id, &mut h)?;
    }
    Ok(h.finalize().into())
}

/// Feeds every content column of every row of `sql` (bound to `id`) into
/// `h`.
fn hash_rows(conn: &Connection, sql: &str, id: i64, h: &mut Sha256) -> rusqlite::Result<()> {
    let mut st = conn.prepare_cached(sql)?;
    let names: Vec<String> = st.column_names().iter().map(|n| n.to_string()).collect();
    let mut rows = st.query(params![id])?;
    while let Some(row) = rows.next()? {
        h.update(b"\x1erow");
        for (i, name) in names.iter().enumerate() {
            if !NOT_CONTENT.contains(&name.as_str()) {
                feed(h, name, row.get_ref(i)?);
            }
        }
    }
    Ok(())
}

/// One value, typed and length-prefixed so that no two rows hash alike by
/// accident of concatenation.
fn feed(h: &mut Sha256, name: &str, value: ValueRef<'_>) {
    h.update((name.len() as u64).to_le_bytes());
    h.update(name.as_bytes());
    let (tag, bytes): (u8, Vec<u8>) = match value {
        ValueRef::Null => (0, Vec::new()),
        ValueRef::Integer(n) => (1, n.to_le_bytes().to_vec()),
        ValueRef::Real(x) => (2, x.to_le_bytes().to_vec()),
        ValueRef::Text(t) => (3, t.to_vec()),
        ValueRef::Blob(b) => (4, b.to_vec()),
    };
    h.update([tag]);
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(&bytes);
}

fn ids(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<i64>> {
    let mut st = conn.prepare(sql)?;
    let ids = st.query_map([], |r| r.get(0))?.collect();
    ids
}

/// Retries every quarantined input that was there when the pass started.
fn retry_quarantine(
    store: &mut Store,
    opts: &ingest::Options,
    sum: &mut Summary,
    on_event: &mut dyn FnMut(&Event<'_>),
) -> Result<(), Fatal> {
    for id in ids(store.conn(), "SELECT id FROM quarantine ORDER BY id")? {
        let row = store
            .conn()
            .query_row(
                "SELECT source, gzip FROM quarantine WHERE id = ?1",
                params![id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?;
        let Some((source, gzip)) = row else {
            continue; // Retried by a concurrent run meanwhile.
        };
        let bytes = match gunzip(&gzip, opts.limits.max_decompressed) {
            Ok(bytes) => bytes,
            Err(reason) => {
                let r = Rejection {
                    name: source,
                    reason,
                };
                on_event(&Event::Rejected(&r));
                sum.rejected.push(r);
                sum.still_failing += 1;
                continue;
            }
        };
        // The quarantine does not say whether this was a mail; extraction
        // tells by content, and a mail holding no report is then "not a
        // report" rather than a rejection.
        let input = Input {
            name: source,
            bytes: bytes.into(),
            kind: InputKind::File,
            token: 0,
        };
        let mut retry = ingest::Summary::default();
        let mut forward = |ev: &ingest::Event<'_>| {
            if let ingest::Event::Rejected(r) = ev {
                on_event(&Event::Rejected(r));
            }
        };
        ingest::ingest_input(&input, store, opts, &mut retry, &mut forward)?;
        if retry.rejected.is_empty() {
            store
                .conn()
                .execute("DELETE FROM quarantine WHERE id = ?1", params![id])?;
            sum.recovered += 1;
            on_event(&Event::Recovered {
                source: &input.name,
            });
        } else {
            sum.still_failing += 1;
            sum.rejected.extend(retry.rejected);
        }
    }
    Ok(())
}

/// The quarantined bytes, at most `max` of them (the same cap as an input
/// file: a run with a smaller `--max-size` does not read more).
fn gunzip(gzip: &[u8], max: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    GzDecoder::new(gzip)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("quarantined bytes unreadable: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!("over the limit of {max} bytes; not read"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Limits;

    const XML: &str = r#"<feedback><report_metadata><org_name>o</org_name><email>a@o</email>
      <report_id>r1</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>
      <policy_published><domain>d.example</domain></policy_published>
      <record><row><source_ip>192.0.2.1</source_ip><count>4</count><policy_evaluated>
      <disposition>none</disposition><dkim>fail</dkim><spf>pass</spf>
      <reason><type>forwarded</type></reason></policy_evaluated></row>
      <identifiers><header_from>d.example</header_from></identifiers>
      <auth_results><dkim><domain>a</domain><result>fail</result></dkim>
      <dkim><domain>b</domain><result>pass</result></dkim>
      <spf><domain>d.example</domain><result>pass</result></spf></auth_results></record>
      <record><row><source_ip>2001:db8::1</source_ip><count>1</count><policy_evaluated>
      <disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
      <identifiers><header_from>d.example</header_from></identifiers>
      <auth_results><spf><domain>x</domain><result>fail</result></spf></auth_results></record>
      </feedback>"#;

    fn stored() -> Store {
        let mut s = Store::open_in_memory().unwrap();
        let p = Payload {
            name: "t.xml".into(),
            data: XML.as_bytes().to_vec().into(),
            gzip: false,
        };
        s.store_report(&p, &Limits::default(), "t.xml").unwrap();
        s
    }

    fn reparse(s: &mut Store) -> Summary {
        run(s, &ingest::Options::default(), &mut |_| {}).unwrap()
    }

    fn one(s: &Store, sql: &str) -> i64 {
        s.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn current_rows_are_left_alone() {
        let mut s = stored();
        s.conn()
            .execute_batch("INSERT INTO state VALUES ('sender_report', 1)")
            .unwrap();
        let sum = reparse(&mut s);
        assert_eq!((sum.changed, sum.unchanged), (0, 1));
        // Rolled back: not even the sender table was invalidated.
        assert_eq!(one(&s, "SELECT count(*) FROM state"), 1);
        assert_eq!(one(&s, "SELECT count(*) FROM auth_set"), 2);
    }

    #[test]
    fn damaged_rows_are_rebuilt_from_the_bytes() {
        let mut s = stored();
        s.conn()
            .execute_batch(
                "UPDATE report SET message_count = 0, org_name = 'wrong';
                 UPDATE record SET auth = NULL, dkim = 'none';
                 DELETE FROM override_reason;
                 DELETE FROM record WHERE source_ip = '2001:db8::1';
                 INSERT INTO state VALUES ('sender_report', 1);",
            )
            .unwrap();
        let sum = reparse(&mut s);
        assert_eq!((sum.changed, sum.unchanged), (1, 0));
        assert_eq!(one(&s, "SELECT message_count FROM report"), 5);
        assert_eq!(one(&s, "SELECT count(*) FROM record"), 2);
        assert_eq!(one(&s, "SELECT count(*) FROM record WHERE auth IS NULL"), 0);
        assert_eq!(
            one(&s, "SELECT count(*) FROM record WHERE dkim = 'fail'"),
            2
        );
        assert_eq!(one(&s, "SELECT count(*) FROM override_reason"), 1);
        assert_eq!(one(&s, "SELECT count(*) FROM dkim_result"), 2);
        // The records' addresses may have changed: senders are recounted.
        assert_eq!(one(&s, "SELECT count(*) FROM state"), 0);
        assert_eq!(
            one(&s, "SELECT count(*) FROM report WHERE org_name = 'o'"),
            1
        );
        let again = reparse(&mut s);
        assert_eq!((again.changed, again.unchanged), (0, 1));
        // The old records' override reasons went with them.
        let dangling = "SELECT count(*) FROM pragma_foreign_key_check";
        assert_eq!(one(&s, dangling), 0);
    }

    #[test]
    fn a_child_row_moved_to_another_record_is_a_change() {
        for damage in [
            "UPDATE record SET auth = (SELECT max(auth) FROM record) WHERE seq = 0",
            "UPDATE override_reason SET record = 1",
        ] {
            let mut s = stored();
            s.conn().execute_batch(damage).unwrap();
            assert_eq!(reparse(&mut s).changed, 1, "{damage}");
        }
    }

    #[test]
    fn unparseable_stored_bytes_keep_the_report() {
        let mut s = stored();
        let junk = crate::store::gzip(b"<feedback>");
        s.conn()
            .execute("UPDATE report_blob SET gzip = ?1", params![junk])
            .unwrap();
        let sum = reparse(&mut s);
        assert_eq!(sum.failed.len(), 1, "{sum:?}");
        assert!(sum.failed[0].reason.contains("kept as it was"), "{sum:?}");
        assert_eq!(one(&s, "SELECT count(*) FROM record"), 2);
    }

    #[test]
    fn quarantine_that_now_stores_is_cleared_and_the_rest_stays() {
        let mut s = Store::open_in_memory().unwrap();
        s.quarantine("good.xml", "some old reason", XML.as_bytes())
            .unwrap();
        s.quarantine("bad.xml", "not a report", b"<html/>").unwrap();
        let sum = reparse(&mut s);
        assert_eq!((sum.recovered, sum.still_failing), (1, 1), "{sum:?}");
        assert_eq!(one(&s, "SELECT count(*) FROM report"), 1);
        assert_eq!(one(&s, "SELECT count(*) FROM quarantine"), 1);
        assert_eq!(one(&s, "SELECT attempts FROM quarantine"), 2);
        let again = reparse(&mut s);
        assert_eq!((again.recovered, again.still_failing), (0, 1));
        assert_eq!(one(&s, "SELECT count(*) FROM report"), 1);
    }
}
