//! The store's side of enrichment: network facts (`net_fact`) and the
//! reverse-DNS cache (`rdns`) of source IPs, and which IPs still need them.
//!
//! Both tables are derived and kept apart from the reports: they are
//! replaced row by row whenever `enrich` learns something, and emptying
//! them loses nothing a report holds. IPs are `record.source_ip` as the
//! reporter wrote it, so views join them on that column.
//!
//! The statements here are SQLite's; PostgreSQL's, the same operations,
//! are in `pg/enrich.rs`.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::sender_facts::{NetFactRow, RdnsRow};
use super::sqlite::Lite;
use super::{Backend, DbError, Store};
use crate::enrich::geo::NetInfo;
use crate::enrich::rdns::Ptr;

/// What is stored about one IP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFacts {
    pub net: Option<NetInfo>,
    /// The cached PTR answer and its lookup time.
    pub rdns: Option<(Ptr, i64)>,
}

/// `state` key: the highest report id whose source IPs `enrich` has seen.
pub(super) const ENRICHED: &str = "enrich_report";

impl Store {
    /// See [`Lite::unenriched_ips`].
    pub fn unenriched_ips(&self) -> Result<(Vec<String>, i64), DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => lite.unenriched_ips(),
            Backend::Postgres(pg) => pg.unenriched_ips(),
        }
    }

    /// See [`Lite::mark_enriched`].
    pub fn mark_enriched(&self, report: i64) -> Result<(), DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => lite.mark_enriched(report),
            Backend::Postgres(pg) => pg.mark_enriched(report),
        }
    }

    /// See [`Lite::enriched_ips`].
    pub fn enriched_ips(&self) -> Result<Vec<String>, DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => lite.enriched_ips(),
            Backend::Postgres(pg) => pg.enriched_ips(),
        }
    }

    /// See [`Lite::put_net_facts`].
    pub fn put_net_facts(&mut self, facts: &[(String, NetInfo)], now: i64) -> Result<(), DbError> {
        match &mut self.backend {
            Backend::Sqlite(lite) => lite.put_net_facts(facts, now),
            Backend::Postgres(pg) => {
                let rows: Vec<NetFactRow> = facts
                    .iter()
                    .map(|(ip, net)| NetFactRow {
                        ip: ip.clone(),
                        net: net.clone(),
                        looked_up_at: now,
                    })
                    .collect();
                pg.put_net_fact_rows(&rows, false).map(|_| ())
            }
        }
    }

    /// See [`Lite::put_rdns`].
    pub fn put_rdns(&mut self, answers: &[(String, Ptr)], now: i64) -> Result<(), DbError> {
        match &mut self.backend {
            Backend::Sqlite(lite) => lite.put_rdns(answers, now),
            Backend::Postgres(pg) => {
                let rows: Vec<RdnsRow> = answers
                    .iter()
                    .map(|(ip, ptr)| RdnsRow {
                        ip: ip.clone(),
                        ptr: ptr.clone(),
                        looked_up_at: now,
                    })
                    .collect();
                pg.put_rdns_rows(&rows, false).map(|_| ())
            }
        }
    }

    /// See [`Lite::rdns_looked_up`].
    pub fn rdns_looked_up(&self, ips: &[String]) -> Result<Vec<Option<i64>>, DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => lite.rdns_looked_up(ips),
            Backend::Postgres(pg) => pg.rdns_looked_up(ips),
        }
    }

    /// See [`Lite::ip_facts`].
    pub fn ip_facts(&self, ips: &[&str]) -> Result<HashMap<String, IpFacts>, DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => lite.ip_facts(ips),
            Backend::Postgres(pg) => pg.ip_facts(ips),
        }
    }

    /// See [`Lite::forget_enrichment`].
    pub fn forget_enrichment(&self) -> Result<(), DbError> {
        match &self.backend {
            Backend::Sqlite(lite) => lite.forget_enrichment(),
            Backend::Postgres(pg) => pg.forget_enrichment(),
        }
    }
}

impl Lite {
    /// The distinct source IPs of the reports stored after the last
    /// [`Lite::mark_enriched`], and the report id to mark when done.
    pub fn unenriched_ips(&self) -> Result<(Vec<String>, i64), DbError> {
        let done: i64 = self
            .conn
            .query_row(
                "SELECT value FROM state WHERE key = ?1",
                params![ENRICHED],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let last: i64 =
            self.conn
                .query_row("SELECT coalesce(max(id), 0) FROM report", [], |r| r.get(0))?;
        let mut st = self.conn.prepare(
            "SELECT DISTINCT c.source_ip FROM record c WHERE c.report > ?1 AND c.report <= ?2",
        )?;
        let ips = st
            .query_map(params![done, last], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok((ips, last))
    }

    /// Records that the source IPs of reports up to `report` are enriched.
    pub fn mark_enriched(&self, report: i64) -> Result<(), DbError> {
        self.conn.execute(
            "INSERT INTO state (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            params![ENRICHED, report],
        )?;
        Ok(())
    }

    /// Every IP with a stored fact or rDNS answer.
    pub fn enriched_ips(&self) -> Result<Vec<String>, DbError> {
        let mut st = self
            .conn
            .prepare("SELECT ip FROM net_fact UNION SELECT ip FROM rdns ORDER BY 1")?;
        let ips = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ips)
    }

    /// Replaces the network facts of these IPs, in one transaction.
    pub fn put_net_facts(&mut self, facts: &[(String, NetInfo)], now: i64) -> Result<(), DbError> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO net_fact (ip, asn, as_name, as_domain, country, looked_up_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (ip, f) in facts {
                st.execute(params![ip, f.asn, f.as_name, f.as_domain, f.country, now])?;
            }
        }
        Ok(tx.commit()?)
    }

    /// Caches reverse-DNS answers (failures are not answers: skipped).
    pub fn put_rdns(&mut self, answers: &[(String, Ptr)], now: i64) -> Result<(), DbError> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO rdns (ip, ptr, confirmed, looked_up_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (ip, p) in answers {
                let (ptr, confirmed) = match p {
                    Ptr::Confirmed(n) => (Some(n.as_str()), true),
                    Ptr::Unconfirmed(n) => (Some(n.as_str()), false),
                    Ptr::None => (None, false),
                    Ptr::Failed(_) => continue,
                };
                st.execute(params![ip, ptr, confirmed, now])?;
            }
        }
        Ok(tx.commit()?)
    }

    /// When each IP's rDNS answer was cached (`None`: never).
    pub fn rdns_looked_up(&self, ips: &[String]) -> Result<Vec<Option<i64>>, DbError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT looked_up_at FROM rdns WHERE ip = ?1")?;
        ips.iter()
            .map(|ip| Ok(st.query_row(params![ip], |r| r.get(0)).optional()?))
            .collect()
    }

    /// The stored facts of these IPs (IPs without any are left out).
    ///
    /// Point lookups for a few IPs; a view over a long window asks about
    /// many, and then reading both tables whole is cheaper (and with none
    /// enriched, both are empty and nothing is asked).
    pub fn ip_facts(&self, ips: &[&str]) -> Result<HashMap<String, IpFacts>, DbError> {
        let stored: i64 = self.conn.query_row(
            "SELECT (SELECT count(*) FROM net_fact) + (SELECT count(*) FROM rdns)",
            [],
            |r| r.get(0),
        )?;
        if stored == 0 {
            return Ok(HashMap::new());
        }
        if ips.len() as i64 * 4 > stored {
            return self.all_facts(ips);
        }
        self.some_facts(ips)
    }

    /// [`Lite::ip_facts`] by looking each IP up.
    fn some_facts(&self, ips: &[&str]) -> Result<HashMap<String, IpFacts>, DbError> {
        let mut out: HashMap<String, IpFacts> = HashMap::new();
        let mut net = self.conn.prepare_cached(
            "SELECT asn, as_name, as_domain, country FROM net_fact WHERE ip = ?1",
        )?;
        let mut rdns = self
            .conn
            .prepare_cached("SELECT ptr, confirmed, looked_up_at FROM rdns WHERE ip = ?1")?;
        for ip in ips {
            let n = net
                .query_row(params![ip], |r| {
                    Ok(NetInfo {
                        asn: r.get(0)?,
                        as_name: r.get(1)?,
                        as_domain: r.get(2)?,
                        country: r.get(3)?,
                    })
                })
                .optional()?;
            let d = rdns
                .query_row(params![ip], |r| {
                    let ptr: Option<String> = r.get(0)?;
                    let confirmed: bool = r.get(1)?;
                    let p = match ptr {
                        Some(n) if confirmed => Ptr::Confirmed(n),
                        Some(n) => Ptr::Unconfirmed(n),
                        None => Ptr::None,
                    };
                    Ok((p, r.get(2)?))
                })
                .optional()?;
            if n.is_some() || d.is_some() {
                out.insert(ip.to_string(), IpFacts { net: n, rdns: d });
            }
        }
        Ok(out)
    }

    /// [`Lite::ip_facts`] by reading both tables whole.
    fn all_facts(&self, ips: &[&str]) -> Result<HashMap<String, IpFacts>, DbError> {
        let want: std::collections::HashSet<&str> = ips.iter().copied().collect();
        let mut out: HashMap<String, IpFacts> = HashMap::new();
        let mut st = self
            .conn
            .prepare("SELECT ip, asn, as_name, as_domain, country FROM net_fact")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let ip: String = r.get(0)?;
            let ip = ip.as_str();
            if want.contains(ip) {
                out.entry(ip.to_string()).or_default().net = Some(NetInfo {
                    asn: r.get(1)?,
                    as_name: r.get(2)?,
                    as_domain: r.get(3)?,
                    country: r.get(4)?,
                });
            }
        }
        let mut st = self
            .conn
            .prepare("SELECT ip, ptr, confirmed, looked_up_at FROM rdns")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let ip: String = r.get(0)?;
            let ip = ip.as_str();
            if want.contains(ip) {
                let ptr: Option<String> = r.get(1)?;
                let p = match ptr {
                    Some(n) if r.get::<_, bool>(2)? => Ptr::Confirmed(n),
                    Some(n) => Ptr::Unconfirmed(n),
                    None => Ptr::None,
                };
                out.entry(ip.to_string()).or_default().rdns = Some((p, r.get(3)?));
            }
        }
        Ok(out)
    }

    /// Empties both tables (`enrich --forget`): they are derived.
    pub fn forget_enrichment(&self) -> Result<(), DbError> {
        Ok(self.conn.execute_batch(
            "DELETE FROM net_fact; DELETE FROM rdns;
             DELETE FROM state WHERE key = 'enrich_report';",
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{Limits, Payload};

    const XML: &str = r#"<feedback><report_metadata><org_name>o</org_name><email>e</email>
  <report_id>r1</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>
  <policy_published><domain>example.com</domain><p>none</p></policy_published>
  <record><row><source_ip>192.0.2.1</source_ip><count>4</count><policy_evaluated>
  <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
  <identifiers><header_from>example.com</header_from></identifiers>
  <auth_results><spf><domain>example.com</domain><result>pass</result></spf></auth_results></record>
  <record><row><source_ip>2001:db8::1</source_ip><count>1</count><policy_evaluated>
  <disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
  <identifiers><header_from>example.com</header_from></identifiers>
  <auth_results><spf><domain>example.com</domain><result>fail</result></spf></auth_results></record>
</feedback>"#;

    #[test]
    fn facts_and_rdns_are_kept_apart_from_reports_and_replaced() {
        let mut s = Store::open_in_memory().unwrap();
        let p = Payload {
            name: "t".into(),
            data: std::sync::Arc::new(XML.as_bytes().to_vec()),
            gzip: false,
            kind: crate::extract::PayloadKind::Aggregate,
        };
        s.store_report(&p, &Limits::default(), "t").unwrap();
        let (ips, last) = s.unenriched_ips().unwrap();
        let mut sorted = ips.clone();
        sorted.sort();
        assert_eq!(sorted, ["192.0.2.1", "2001:db8::1"]);
        s.mark_enriched(last).unwrap();
        assert!(s.unenriched_ips().unwrap().0.is_empty());

        let google = NetInfo {
            asn: Some(15169),
            as_name: Some("GOOGLE".into()),
            as_domain: None,
            country: Some("US".into()),
        };
        s.put_net_facts(&[("192.0.2.1".into(), google.clone())], 1000)
            .unwrap();
        s.put_rdns(
            &[
                ("192.0.2.1".into(), Ptr::Confirmed("mail.google.com".into())),
                ("2001:db8::1".into(), Ptr::None),
                ("198.51.100.1".into(), Ptr::Failed("timeout".into())),
            ],
            1000,
        )
        .unwrap();
        let f = s
            .ip_facts(&["192.0.2.1", "2001:db8::1", "198.51.100.1"])
            .unwrap();
        assert_eq!(f["192.0.2.1"].net, Some(google));
        assert_eq!(
            f["192.0.2.1"].rdns,
            Some((Ptr::Confirmed("mail.google.com".into()), 1000))
        );
        // NXDOMAIN is cached as such; a failure is not cached.
        assert_eq!(f["2001:db8::1"].rdns, Some((Ptr::None, 1000)));
        assert!(!f.contains_key("198.51.100.1"));
        assert_eq!(
            s.rdns_looked_up(&["2001:db8::1".into(), "198.51.100.1".into()])
                .unwrap(),
            [Some(1000), None]
        );
        // A later answer replaces the cached one.
        s.put_rdns(
            &[("2001:db8::1".into(), Ptr::Unconfirmed("x.test".into()))],
            2000,
        )
        .unwrap();
        let f = s.ip_facts(&["2001:db8::1"]).unwrap();
        assert_eq!(
            f["2001:db8::1"].rdns,
            Some((Ptr::Unconfirmed("x.test".into()), 2000))
        );
        assert_eq!(s.enriched_ips().unwrap(), ["192.0.2.1", "2001:db8::1"]);
        let reports: i64 = s
            .conn
            .query_row("SELECT count(*) FROM record", [], |r| r.get(0))
            .unwrap();
        s.forget_enrichment().unwrap();
        assert!(s.enriched_ips().unwrap().is_empty());
        assert_eq!(s.unenriched_ips().unwrap().0.len(), 2);
        let after: i64 = s
            .conn
            .query_row("SELECT count(*) FROM record", [], |r| r.get(0))
            .unwrap();
        assert_eq!(reports, after);
    }
}
