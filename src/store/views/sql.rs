//! The WHERE clause every view shares: window, filters and "is ours", as
//! SQL text with numbered, bound parameters (never interpolated values).
//!
//! Views read `report r CROSS JOIN record c ON c.report = r.id`. The
//! `CROSS JOIN` is SQLite's way of fixing the join order: reports are
//! narrowed by `date_begin` through `report_date_begin`, then their records
//! are read through the record key, (report, seq). Left to itself the
//! planner could prefer scanning every record in the file.

use rusqlite::types::Value as SqlValue;

use super::{Filter, Scope, Side};
use crate::config::{self, OurNets};

/// The rows every view starts from.
pub(crate) const FROM: &str = "FROM report r CROSS JOIN record c ON c.report = r.id";

/// Messages that passed DMARC, for `sum(...)`.
pub(crate) const PASS: &str = "CASE WHEN c.dmarc_pass THEN c.count ELSE 0 END";

/// SQL text being built and its parameters, bound as `?1`, `?2`, ...
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub args: Vec<SqlValue>,
}

impl Sql {
    /// Binds `v` and returns its placeholder.
    pub fn bind(&mut self, v: impl Into<SqlValue>) -> String {
        self.args.push(v.into());
        format!("?{}", self.args.len())
    }

    /// 1 when `c.ip_bin` is in one of our networks, else 0 (also for a
    /// record without an address).
    pub fn ours(&mut self, nets: &OurNets) -> String {
        if nets.is_empty() {
            return "0".to_string();
        }
        let ranges: Vec<String> = nets
            .ranges()
            .into_iter()
            .map(|(lo, hi)| {
                let (lo, hi) = (self.bind(lo.to_vec()), self.bind(hi.to_vec()));
                format!("c.ip_bin BETWEEN {lo} AND {hi}")
            })
            .collect();
        format!("coalesce(({}), 0)", ranges.join(" OR "))
    }

    /// Conditions on the report alone (alias `r`): the window and `--org`.
    pub fn report_conds(&mut self, q: &Scope<'_>) -> Vec<String> {
        let mut conds = vec![
            format!("r.date_begin >= {}", self.bind(q.window.lo())),
            format!("r.date_begin < {}", self.bind(q.window.hi())),
        ];
        conds.extend(self.org_cond(q));
        conds
    }

    /// `--org`, when given.
    pub fn org_cond(&mut self, q: &Scope<'_>) -> Option<String> {
        let org = q.filter.org.as_ref()?;
        Some(format!(
            "r.org_name = {} COLLATE NOCASE",
            self.bind(org.clone())
        ))
    }

    /// Reports whose range reaches into `[lo, hi)` (epoch seconds), for
    /// `daily`: those that begin in it, found through `report_date_begin`,
    /// and those that begin before it and end after its start, through
    /// `report_date_end` (the `+` keeps the planner off the begin index
    /// there, which would read all of the history before the window).
    pub fn overlap_cond(&mut self, lo: i64, hi: i64) -> String {
        let (lo, hi) = (self.bind(lo), self.bind(hi));
        format!(
            "r.id IN (SELECT id FROM report WHERE date_begin >= {lo} AND date_begin < {hi} \
             UNION ALL SELECT id FROM report WHERE date_end > {lo} AND +date_begin < {lo})"
        )
    }

    /// Conditions that need the record (alias `c`): `--domain` (policy
    /// domain or header_from), `--ip`, `--ours` / `--external`.
    pub fn record_conds(&mut self, f: &Filter, nets: &OurNets) -> Vec<String> {
        let mut conds = Vec::new();
        if let Some(d) = &f.domain {
            let d = self.bind(d.trim().trim_end_matches('.').to_string());
            conds.push(format!(
                "(r.policy_domain = {d} COLLATE NOCASE OR c.header_from = {d} COLLATE NOCASE)"
            ));
        }
        if let Some(net) = &f.ip {
            let (lo, hi) = config::range(net);
            let (lo, hi) = (self.bind(lo.to_vec()), self.bind(hi.to_vec()));
            conds.push(format!("c.ip_bin BETWEEN {lo} AND {hi}"));
        }
        match f.side {
            Some(Side::Ours) => conds.push(format!("{} = 1", self.ours(nets))),
            Some(Side::External) => conds.push(format!("{} = 0", self.ours(nets))),
            None => {}
        }
        conds
    }

    /// `WHERE ...` for a view over [`FROM`].
    pub fn where_all(&mut self, q: &Scope<'_>) -> String {
        let mut conds = self.report_conds(q);
        conds.extend(self.record_conds(q.filter, q.nets));
        format!("WHERE {}", conds.join(" AND "))
    }

    /// `LIMIT ?`, where no limit (or 0) is SQLite's -1.
    pub fn limit(&mut self, limit: Option<u64>) -> String {
        let n = match limit {
            Some(n) if n > 0 => i64::try_from(n).unwrap_or(i64::MAX),
            _ => -1,
        };
        format!("LIMIT {}", self.bind(n))
    }
}
