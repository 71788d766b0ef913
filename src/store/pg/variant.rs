//! Conflicting copies of a stored aggregate report on PostgreSQL: the
//! stored side of `store/variant.rs` (whose doc says how a conflict is
//! judged and which copy stays the report), on the `report_variant` table.

use sha2::{Digest, Sha256};

use super::super::variant::Copies;
use super::super::write::keep_bytes;
use super::super::{DbError, StoreError};
use super::admin::rebuild;
use super::Conn;
use crate::extract::{Limits, Payload, PayloadKind};
use crate::model::ReportHeader;
use crate::parse::ReportReader;

/// The id of the stored report with `header`'s identity key, if any
/// (committed, or written by this transaction).
pub fn stored_id(client: &mut Conn, header: &ReportHeader) -> Result<Option<i64>, DbError> {
    let k = header.key();
    let row = client.query_opt(
        "SELECT id FROM report WHERE org_name = $1 AND report_id = $2
         AND policy_domain = $3 AND date_begin = $4 AND date_end = $5",
        &[
            &k.org_name,
            &k.report_id,
            &k.policy_domain,
            &k.date_begin,
            &k.date_end,
        ],
    )?;
    Ok(row.map(|r| r.get(0)))
}

/// A report's savepoint inside a group, opened only when a conflict
/// writes.
pub struct Savepoint {
    /// In a group (outside one, the transaction is the report's own).
    wanted: bool,
    open: bool,
}

impl Savepoint {
    pub fn new(in_group: bool) -> Savepoint {
        Savepoint {
            wanted: in_group,
            open: false,
        }
    }

    /// Opens the savepoint (once; nothing outside a group).
    pub fn open(&mut self, client: &mut Conn) -> Result<(), postgres::Error> {
        if self.wanted && !self.open {
            client.batch_execute("SAVEPOINT report")?;
            self.open = true;
        }
        Ok(())
    }

    /// Keeps what was written since [`Savepoint::open`], or takes it back.
    pub fn close(self, client: &mut Conn, keep: bool) -> Result<(), postgres::Error> {
        match (self.open, keep) {
            (false, _) => Ok(()),
            (true, true) => client.batch_execute("RELEASE report"),
            (true, false) => client.batch_execute("ROLLBACK TO report; RELEASE report"),
        }
    }
}

/// A conflict's side on PostgreSQL inside a group: the report's savepoint
/// is opened before the first write, so a plain duplicate (the common
/// re-ingest) costs no savepoint.
pub struct Guarded<'a> {
    pub client: &'a mut Conn,
    pub sp: &'a mut Savepoint,
}

impl Copies for Guarded<'_> {
    fn stored_sha256(&mut self, id: i64) -> Result<Option<Vec<u8>>, DbError> {
        self.client.stored_sha256(id)
    }

    fn stored_copy(&mut self, id: i64) -> Result<Option<Payload>, DbError> {
        self.client.stored_copy(id)
    }

    fn is_kept(&mut self, sha: &[u8]) -> Result<bool, DbError> {
        self.client.is_kept(sha)
    }

    fn keep(
        &mut self,
        id: i64,
        sha: &[u8],
        source: &str,
        repair: Option<&str>,
        gzip: &[u8],
        now: i64,
    ) -> Result<(), DbError> {
        self.sp.open(self.client)?;
        self.client.keep(id, sha, source, repair, gzip, now)
    }

    fn replace(
        &mut self,
        id: i64,
        payload: &Payload,
        limits: &Limits,
        source: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.sp.open(self.client)?;
        self.client.replace(id, payload, limits, source, now)
    }
}

impl Copies for Conn {
    fn stored_sha256(&mut self, id: i64) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self
            .query_opt("SELECT sha256 FROM report_blob WHERE report = $1", &[&id])?
            .map(|r| r.get(0)))
    }

    fn stored_copy(&mut self, id: i64) -> Result<Option<Payload>, DbError> {
        let row = self.query_opt(
            "SELECT r.source, b.gzip FROM report r JOIN report_blob b ON b.report = r.id
             WHERE r.id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| Payload {
            name: r.get(0),
            data: r.get::<_, Vec<u8>>(1).into(),
            gzip: true,
            kind: PayloadKind::Aggregate,
        }))
    }

    fn is_kept(&mut self, sha: &[u8]) -> Result<bool, DbError> {
        Ok(self
            .query_opt("SELECT 1 FROM report_variant WHERE sha256 = $1", &[&sha])?
            .is_some())
    }

    fn keep(
        &mut self,
        id: i64,
        sha: &[u8],
        source: &str,
        repair: Option<&str>,
        gzip: &[u8],
        now: i64,
    ) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO report_variant (report, sha256, source, repair, gzip, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (sha256) DO UPDATE SET last_seen = excluded.last_seen",
            &[&id, &sha, &source, &repair, &gzip, &now],
        )?;
        Ok(())
    }

    fn replace(
        &mut self,
        id: i64,
        payload: &Payload,
        limits: &Limits,
        source: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut reader = ReportReader::new(payload.reader(limits));
        let header = reader.header()?;
        rebuild(self, id, &header, &mut || reader.next_record())?;
        self.execute(
            "UPDATE report SET source = $2, ingested_at = $3 WHERE id = $1",
            &[&id, &source, &now],
        )?;
        let blob = keep_bytes(payload);
        self.execute(
            "UPDATE report_blob SET sha256 = $2, gzip = $3 WHERE report = $1",
            &[&id, &Sha256::digest(&blob).as_slice(), &blob.as_ref()],
        )?;
        Ok(())
    }
}
