//! The one SQL builder of the views: the WHERE clause every view shares
//! (window, filters and "is ours") as SQL text with numbered, bound
//! parameters (never interpolated values), and the few pieces whose
//! spelling differs between SQLite and PostgreSQL ([`Dialect`]). View SQL
//! is written once, with these pieces, for both backends.
//!
//! Views read [`Sql::from`]: reports joined to their records. On SQLite
//! the `CROSS JOIN` fixes the join order: reports are narrowed by
//! `date_begin` through `report_date_begin`, then their records are read
//! through the record key, (report, seq); left to itself the planner could
//! prefer scanning every record in the file. PostgreSQL's planner picks
//! the same order from its statistics (and has no `CROSS JOIN ... ON`).

use rusqlite::types::Value as SqlValue;

use super::{Filter, Scope, Side};
use crate::config::{self, OurNets};

/// Messages that passed DMARC, for `sum(...)` (`dmarc_pass` is an integer
/// on SQLite, a boolean on PostgreSQL: both read as a condition).
pub(crate) const PASS: &str = "CASE WHEN c.dmarc_pass THEN c.count ELSE 0 END";

/// Which SQL the text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Dialect {
    #[default]
    Sqlite,
    Postgres,
}

/// SQL text being built and its parameters, bound as `?1`, `?2`, ... on
/// SQLite and `$1`, `$2`, ... on PostgreSQL.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub dialect: Dialect,
    pub args: Vec<SqlValue>,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Sql {
        Sql {
            dialect,
            args: Vec::new(),
        }
    }

    /// Binds `v` and returns its placeholder.
    pub fn bind(&mut self, v: impl Into<SqlValue>) -> String {
        self.args.push(v.into());
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.args.len()),
            Dialect::Postgres => format!("${}", self.args.len()),
        }
    }

    /// The rows every view starts from: `report r` and `record c`.
    pub fn from(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "FROM report r CROSS JOIN record c ON c.report = r.id",
            Dialect::Postgres => "FROM report r JOIN record c ON c.report = r.id",
        }
    }

    /// `sum(e)` as a 64-bit integer (PostgreSQL sums bigints as numeric).
    pub fn sum(&self, e: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("sum({e})"),
            Dialect::Postgres => format!("sum({e})::bigint"),
        }
    }

    /// `a = b`, ignoring ASCII case (SQLite's `NOCASE`).
    pub fn nocase_eq(&self, a: &str, b: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("{a} = {b} COLLATE NOCASE"),
            Dialect::Postgres => format!("lower({a}) = lower({b})"),
        }
    }

    /// `name` is a subdomain of `domain` (ends with "." and `domain`,
    /// ignoring ASCII case).
    pub fn subdomain_of(&self, name: &str, domain: &str) -> String {
        let tail = match self.dialect {
            Dialect::Sqlite => {
                format!("substr({name}, -length({domain}) - 1) = '.' || {domain} COLLATE NOCASE")
            }
            Dialect::Postgres => {
                format!("lower(right({name}, length({domain}) + 1)) = '.' || lower({domain})")
            }
        };
        format!("length({name}) > length({domain}) AND {tail}")
    }

    /// The values of `e` over the group, joined by ", " in the order of
    /// `order`.
    pub fn join_text(&self, e: &str, order: &str) -> String {
        match self.dialect {
            // SQLite reads the rows in key order, which `order` names.
            Dialect::Sqlite => format!("group_concat({e}, ', ')"),
            Dialect::Postgres => format!("string_agg({e}, ', ' ORDER BY {order})"),
        }
    }

    /// Whether any row of the group makes `cond` true (as 1 or 0 on
    /// SQLite, a boolean on PostgreSQL; either reads as a condition).
    pub fn any(&self, cond: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("max({cond})"),
            Dialect::Postgres => format!("bool_or({cond})"),
        }
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
        match self.dialect {
            Dialect::Sqlite => format!("coalesce(({}), 0)", ranges.join(" OR ")),
            Dialect::Postgres => format!("CASE WHEN {} THEN 1 ELSE 0 END", ranges.join(" OR ")),
        }
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
        let org = self.bind(org.clone());
        Some(self.nocase_eq("r.org_name", &org))
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
            let (p, h) = self.domain_conds(d);
            conds.push(format!("({p} OR {h})"));
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

    /// `--domain` `d`'s two halves, either of which keeps a record: the
    /// report's policy domain is `d`, the record's header_from is `d`.
    pub fn domain_conds(&mut self, d: &str) -> (String, String) {
        let d = self.bind(d.trim().trim_end_matches('.').to_string());
        (
            self.nocase_eq("r.policy_domain", &d),
            self.nocase_eq("c.header_from", &d),
        )
    }

    /// `WHERE ...` for a view over [`Sql::from`].
    pub fn where_all(&mut self, q: &Scope<'_>) -> String {
        let mut conds = self.report_conds(q);
        conds.extend(self.record_conds(q.filter, q.nets));
        format!("WHERE {}", conds.join(" AND "))
    }

    /// `LIMIT ?`; no limit (or 0) is the largest one.
    pub fn limit(&mut self, limit: Option<u64>) -> String {
        let n = match limit {
            Some(n) if n > 0 => i64::try_from(n).unwrap_or(i64::MAX),
            _ => match self.dialect {
                Dialect::Sqlite => -1,
                Dialect::Postgres => i64::MAX,
            },
        };
        format!("LIMIT {}", self.bind(n))
    }
}

/// The JSON pieces of the views over TLS and failure reports: a JSON array
/// built by an aggregate, returned as text on both backends.
impl Sql {
    /// The values of `e` over the group as a JSON array in the order of
    /// `order` (`[]` for no rows); `e` may start with `DISTINCT`.
    pub fn json_list(&self, e: &str, order: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("json_group_array({e} ORDER BY {order})"),
            Dialect::Postgres => format!("coalesce(json_agg({e} ORDER BY {order})::text, '[]')"),
        }
    }

    /// A JSON array of `a` and `b`.
    pub fn json_pair(&self, a: &str, b: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("json_array({a}, {b})"),
            Dialect::Postgres => format!("json_build_array({a}, {b})"),
        }
    }

    /// A JSON column as text (PostgreSQL keeps them as jsonb).
    pub fn json_text(&self, col: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => col.to_string(),
            Dialect::Postgres => format!("{col}::text"),
        }
    }
}
