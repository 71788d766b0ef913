//! The `tls_failures` rule, over SMTP TLS reports (RFC 8460), and the count
//! of failure reports (RFC 6591) that name a source IP.
//!
//! `tls_failures`: a policy domain whose SMTP TLS sessions in the window
//! failed at least `tls_min_failure_pct` (1 %) of the time and at least
//! `tls_min_failed_sessions` (10) times, summed over its policy types and
//! every report. The text and JSON name the result types with most failed
//! sessions, which say what to fix (an expired certificate, a host name
//! mismatch, no STARTTLS, an MTA-STS policy that cannot be fetched).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde_json::{json, Value};

use super::fmt_pct;
use crate::config::Thresholds;
use crate::query::top_result_types;
use crate::store::TlsPolicyRow;

/// One policy domain over the `tls_failures` thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsProblem {
    pub policy_domain: String,
    /// Successful plus failed sessions.
    pub sessions: i64,
    pub sessions_failure: i64,
    /// `100 * sessions_failure / sessions`.
    pub failure_pct: f64,
    /// (result type, failed sessions), most first.
    pub result_types: Vec<(String, i64)>,
    pub text: String,
}

/// The rule over the per-domain-and-type rows of the window.
pub fn judge_tls(rows: &[TlsPolicyRow], t: &Thresholds) -> Vec<TlsProblem> {
    // Per domain: sessions, failures, failed sessions per result type.
    let mut domains: BTreeMap<&str, (i64, i64, BTreeMap<&str, i64>)> = BTreeMap::new();
    for r in rows {
        let d = domains.entry(&r.policy_domain).or_default();
        d.0 += r.sessions;
        d.1 += r.sessions_failure;
        for (rt, n) in &r.result_types {
            *d.2.entry(rt).or_default() += n;
        }
    }
    let mut out: Vec<TlsProblem> = domains
        .into_iter()
        .filter(|(_, (sessions, failed, _))| *sessions > 0 && *failed >= t.tls_min_failed_sessions)
        .map(|(domain, (sessions, failed, types))| {
            let pct = 100.0 * failed as f64 / sessions as f64;
            let mut types: Vec<(String, i64)> =
                types.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
            types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            (domain, sessions, failed, pct, types)
        })
        .filter(|(.., pct, _)| *pct >= t.tls_min_failure_pct)
        .map(|(domain, sessions, failed, pct, types)| {
            let mut text = format!(
                "{domain}: {failed} of {sessions} SMTP TLS sessions failed ({}%) -- TLS delivery failing",
                fmt_pct(pct)
            );
            if !types.is_empty() {
                text.push_str(&format!("; top result types: {}", top_result_types(&types)));
            }
            TlsProblem {
                policy_domain: domain.to_string(),
                sessions,
                sessions_failure: failed,
                failure_pct: pct,
                result_types: types,
                text,
            }
        })
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.sessions_failure));
    out
}

/// A TLS problem as JSON: `kind` (`tls_failures`), `policy_domain`,
/// `sessions`, `sessions_failure`, `failure_pct` (one decimal),
/// `top_result_types` (`[{"result_type", "sessions"}]`, most first, at most
/// three), `text`.
pub fn tls_problem_json(p: &TlsProblem) -> Value {
    let top: Vec<Value> = p
        .result_types
        .iter()
        .take(3)
        .map(|(t, n)| json!({"result_type": t, "sessions": n}))
        .collect();
    json!({
        "kind": "tls_failures",
        "policy_domain": p.policy_domain,
        "sessions": p.sessions,
        "sessions_failure": p.sessions_failure,
        "failure_pct": (p.failure_pct * 10.0).round() / 10.0,
        "top_result_types": top,
        "text": p.text,
    })
}

/// Failure reports per source IP, keyed by the address in its canonical
/// form, so `2001:DB8::0001` in an aggregate report finds `2001:db8::1`.
pub fn failure_reports_by_ip(rows: Vec<(String, i64)>) -> HashMap<String, i64> {
    let mut by_ip = HashMap::new();
    for (ip, n) in rows {
        *by_ip.entry(canonical(&ip)).or_insert(0) += n;
    }
    by_ip
}

/// An address as `IpAddr` prints it; anything else as written.
pub fn canonical(ip: &str) -> String {
    ip.trim()
        .parse::<IpAddr>()
        .map_or_else(|_| ip.trim().to_string(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        domain: &str,
        ty: &str,
        sessions: i64,
        failed: i64,
        types: &[(&str, i64)],
    ) -> TlsPolicyRow {
        TlsPolicyRow {
            policy_domain: domain.into(),
            policy_type: ty.into(),
            sessions,
            sessions_failure: failed,
            failure_pct: None,
            result_types: types.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn both_thresholds_must_be_met_summed_over_policy_types() {
        let t = Thresholds::default();
        let rows = [
            // 10 of 1000 = 1.0 % across two types: a problem.
            row("a.example", "sts", 600, 6, &[("certificate-expired", 6)]),
            row(
                "a.example",
                "tlsa",
                400,
                4,
                &[("dane-required", 1), ("certificate-expired", 3)],
            ),
            // 9 failures only.
            row("b.example", "sts", 10, 9, &[]),
            // 20 failures but 0.2 %.
            row("c.example", "sts", 10_000, 20, &[]),
        ];
        let p = judge_tls(&rows, &t);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].sessions, p[0].sessions_failure), (1000, 10));
        assert_eq!(
            p[0].text,
            "a.example: 10 of 1000 SMTP TLS sessions failed (1%) -- TLS delivery failing; \
             top result types: certificate-expired (9), dane-required (1)"
        );
        let v = tls_problem_json(&p[0]);
        assert_eq!(v["failure_pct"], 1.0);
        assert_eq!(
            v["top_result_types"][0]["result_type"],
            "certificate-expired"
        );
        assert_eq!(v["top_result_types"][0]["sessions"], 9);
    }

    #[test]
    fn thresholds_are_configurable() {
        let t = Thresholds {
            tls_min_failed_sessions: 5,
            tls_min_failure_pct: 50.0,
            ..Thresholds::default()
        };
        assert_eq!(
            judge_tls(&[row("b.example", "sts", 10, 9, &[])], &t).len(),
            1
        );
        assert!(judge_tls(&[row("b.example", "sts", 100, 9, &[])], &t).is_empty());
    }

    #[test]
    fn addresses_are_compared_canonically() {
        let m = failure_reports_by_ip(vec![("2001:DB8::0001".into(), 2), ("192.0.2.1".into(), 1)]);
        assert_eq!(m.get(&canonical("2001:db8::1")), Some(&2));
        assert_eq!(m.get(&canonical(" 192.0.2.1")), Some(&1));
    }
}
