//! The sender facts (`net_fact`, `rdns`) as whole rows, for `dmarcdb
//! copy`: read from one database, written into another. A copied row
//! replaces the destination's only when it was looked up later, so a copy
//! can be run again (or both ways) and the newest answer stays on both
//! sides. `report_ips` is not copied: the destination writes it with each
//! report. The `enrich_report` mark is not copied either (report ids differ
//! between databases): the destination's next `enrich` looks its reports'
//! IPs up in the MaxMind databases again, and asks reverse DNS only for
//! IPs whose cached answer is older than the configured age.

use rusqlite::{params, Transaction, TransactionBehavior};

use super::{Backend, DbError, Store};
use crate::enrich::geo::NetInfo;
use crate::enrich::rdns::Ptr;

/// One `net_fact` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetFactRow {
    pub ip: String,
    pub net: NetInfo,
    pub looked_up_at: i64,
}

/// One `rdns` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdnsRow {
    pub ip: String,
    pub ptr: Ptr,
    pub looked_up_at: i64,
}

impl Store {
    /// Every `net_fact` row, by IP.
    pub fn net_fact_rows(&self) -> Result<Vec<NetFactRow>, DbError> {
        self.rows(
            "SELECT ip, asn, as_name, as_domain, country, looked_up_at FROM net_fact ORDER BY ip",
            &self.sql(),
            |r| {
                Ok(NetFactRow {
                    ip: r.get(0)?,
                    net: NetInfo {
                        asn: r.get(1)?,
                        as_name: r.get(2)?,
                        as_domain: r.get(3)?,
                        country: r.get(4)?,
                    },
                    looked_up_at: r.get(5)?,
                })
            },
        )
    }

    /// Every `rdns` row, by IP.
    pub fn rdns_rows(&self) -> Result<Vec<RdnsRow>, DbError> {
        self.rows(
            "SELECT ip, ptr, confirmed, looked_up_at FROM rdns ORDER BY ip",
            &self.sql(),
            |r| {
                let ptr = match r.get::<Option<String>>(1)? {
                    Some(n) if r.get::<bool>(2)? => Ptr::Confirmed(n),
                    Some(n) => Ptr::Unconfirmed(n),
                    None => Ptr::None,
                };
                Ok(RdnsRow {
                    ip: r.get(0)?,
                    ptr,
                    looked_up_at: r.get(3)?,
                })
            },
        )
    }

    /// Writes `rows`, each unless the destination's row for its IP was
    /// looked up as late or later; returns how many were written.
    pub fn import_net_facts(&mut self, rows: &[NetFactRow]) -> Result<u64, DbError> {
        match &mut self.backend {
            Backend::Sqlite(lite) => {
                let tx = Transaction::new_unchecked(&lite.conn, TransactionBehavior::Immediate)?;
                let mut n = 0;
                {
                    let mut st = tx.prepare(
                        "INSERT INTO net_fact (ip, asn, as_name, as_domain, country, looked_up_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (ip) DO UPDATE SET asn = excluded.asn,
                           as_name = excluded.as_name, as_domain = excluded.as_domain,
                           country = excluded.country, looked_up_at = excluded.looked_up_at
                         WHERE excluded.looked_up_at > net_fact.looked_up_at",
                    )?;
                    for r in rows {
                        let f = &r.net;
                        n += st.execute(params![
                            r.ip,
                            f.asn,
                            f.as_name,
                            f.as_domain,
                            f.country,
                            r.looked_up_at
                        ])? as u64;
                    }
                }
                tx.commit()?;
                Ok(n)
            }
            Backend::Postgres(pg) => pg.put_net_fact_rows(rows, true),
        }
    }

    /// [`Store::import_net_facts`] for `rdns`.
    pub fn import_rdns(&mut self, rows: &[RdnsRow]) -> Result<u64, DbError> {
        match &mut self.backend {
            Backend::Sqlite(lite) => {
                let tx = Transaction::new_unchecked(&lite.conn, TransactionBehavior::Immediate)?;
                let mut n = 0;
                {
                    let mut st = tx.prepare(
                        "INSERT INTO rdns (ip, ptr, confirmed, looked_up_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (ip) DO UPDATE SET ptr = excluded.ptr,
                           confirmed = excluded.confirmed, looked_up_at = excluded.looked_up_at
                         WHERE excluded.looked_up_at > rdns.looked_up_at",
                    )?;
                    for r in rows {
                        let (ptr, confirmed) = match &r.ptr {
                            Ptr::Confirmed(n) => (Some(n.as_str()), true),
                            Ptr::Unconfirmed(n) => (Some(n.as_str()), false),
                            Ptr::None => (None, false),
                            Ptr::Failed(_) => continue,
                        };
                        n += st.execute(params![r.ip, ptr, confirmed, r.looked_up_at])? as u64;
                    }
                }
                tx.commit()?;
                Ok(n)
            }
            Backend::Postgres(pg) => pg.put_rdns_rows(rows, true),
        }
    }
}
