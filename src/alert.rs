//! Alert: per-source totals in a window → problems, judged as the Python
//! script dmarcdb replaces judged them, plus the "new sender" rule; and the texts that describe them.
//!
//! Rules (thresholds in [`Thresholds`], defaults are that script's):
//!
//! - `alignment_broken`: a source IP of ours with a DMARC pass rate below
//!   `min_pass_pct` (95) and at least `min_messages` (20) messages.
//! - `possible_spoofing`: an external source IP with at least
//!   `spoof_min_fail` (20) failing messages.
//! - `new_sender`: an external source IP with at least
//!   `new_sender_min_messages` (10) messages in the window that appears in
//!   no report beginning before the window. Every policy domain in the
//!   database is taken to be ours (its reports were sent to our rua
//!   address), so any record is someone "sending as us". It only runs when
//!   the oldest report begins `new_sender_min_history_days` (7) or more
//!   before the window (on a young database every sender is new), needs a
//!   window with a start, and skips IPs already flagged as spoofing.
//!
//! - `tls_failures`: a policy domain whose SMTP TLS sessions failed at
//!   least `tls_min_failure_pct` (1 %) and `tls_min_failed_sessions` (10)
//!   times in the window (see `alert/tls.rs`).
//!
//! A problem about a source IP also says how many DMARC failure reports
//! in the window name that IP as their Source-IP (`failure_reports`).
//!
//! Two deliberate differences from that script: every source is judged, not
//! just the 25 largest the summary shows; and the pass rate is compared
//! exactly (the script rounded to a whole percent first, so 94.6 % passed).
//!
//! This module queries and formats; it neither prints nor sends (the CLI
//! prints, [`notify`](crate::notify) sends).

use serde_json::{json, Value};

use crate::config::{OurNets, Thresholds};
use crate::enrich::catalogue::Catalogue;
use crate::query::{iso, pct, Filter, Novelty, Scope, SourceRow, Window};
use crate::render::{Column, Table};
use crate::store::{DbError, Store};

mod tls;
pub use tls::{judge_tls, tls_problem_json, TlsProblem};

/// Sources shown in the text summary (the Python script's `LIMIT 25`).
pub const SUMMARY_SOURCES: usize = 25;

/// Which rule a problem broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AlignmentBroken,
    PossibleSpoofing,
    NewSender,
    /// Not about a source IP: see [`TlsProblem`].
    TlsFailures,
}

impl Kind {
    /// The stable JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AlignmentBroken => "alignment_broken",
            Kind::PossibleSpoofing => "possible_spoofing",
            Kind::NewSender => "new_sender",
            Kind::TlsFailures => "tls_failures",
        }
    }
}

/// One problem: the rule, the source's totals, and a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: Kind,
    pub source: SourceRow,
    pub text: String,
    /// Failure reports in the window whose Source-IP is this source.
    pub failure_reports: i64,
}

/// The result of a check.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub window: Window,
    /// Every source in the window, largest first.
    pub sources: Vec<SourceRow>,
    pub problems: Vec<Problem>,
    /// Policy domains over the `tls_failures` thresholds.
    pub tls: Vec<TlsProblem>,
    /// Remarks for the text summary (a skipped rule and why).
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty() || !self.tls.is_empty()
    }
}

/// Runs every rule over the reports in `window`; `cat` names the senders
/// (and makes `ours = true` entries ours).
pub fn check(
    store: &Store,
    window: Window,
    nets: &OurNets,
    cat: &Catalogue,
    t: &Thresholds,
) -> Result<Outcome, DbError> {
    let all = Filter::default();
    let scope = Scope {
        window,
        filter: &all,
        nets,
        limit: None,
    };
    let mut notes = Vec::new();
    let mut novelty = None;
    if t.new_sender {
        match new_sender_test(store, window, t)? {
            Ok(n) => novelty = Some(n),
            Err(why) => notes.push(format!("new-sender check skipped: {why}")),
        }
    }
    let mut sources = crate::query::named_source_rows(store, &scope, cat)?;
    if let Some(n) = novelty {
        store.mark_new(&mut sources, n)?;
    }
    let mut problems = judge(&sources, t);
    let flagged: Vec<&str> = problems
        .iter()
        .map(|p| p.source.source_ip.as_str())
        .collect();
    let fresh: Vec<Problem> = sources
        .iter()
        .filter(|s| s.new && !flagged.contains(&s.source_ip.as_str()))
        .map(|s| problem(Kind::NewSender, s.clone()))
        .collect();
    problems.extend(fresh);
    let named = tls::failure_reports_by_ip(store.failure_reports_per_ip(&window)?);
    for p in &mut problems {
        let n = named
            .get(&tls::canonical(&p.source.source_ip))
            .copied()
            .unwrap_or(0);
        if n > 0 {
            p.failure_reports = n;
            let s = if n == 1 { "" } else { "s" };
            p.text.push_str(&format!("; {n} failure report{s} name it"));
        }
    }
    let tls = judge_tls(&store.tls_policies(&window)?, t);
    Ok(Outcome {
        window,
        sources,
        problems,
        tls,
        notes,
    })
}

/// The new-sender test for this window, or why the rule cannot run.
fn new_sender_test(
    store: &Store,
    window: Window,
    t: &Thresholds,
) -> Result<Result<Novelty, String>, DbError> {
    let Some(since) = window.since else {
        return Ok(Err("the window has no start".into()));
    };
    let history = i64::from(t.new_sender_min_history_days) * 86_400;
    Ok(match store.oldest_report()? {
        Some(oldest) if oldest <= since - history => Ok(Novelty {
            before: since,
            min_messages: t.new_sender_min_messages,
        }),
        _ => Err(format!(
            "fewer than {} days of reports before the window",
            t.new_sender_min_history_days
        )),
    })
}

/// The two volume rules over per-source totals: alignment broken, possible
/// spoofing.
pub fn judge(sources: &[SourceRow], t: &Thresholds) -> Vec<Problem> {
    let mut out = Vec::new();
    for s in sources {
        if s.messages <= 0 {
            continue;
        }
        if s.ours && s.messages >= t.min_messages && s.pass_pct() < t.min_pass_pct {
            out.push(problem(Kind::AlignmentBroken, s.clone()));
        }
        // Forwarded mail is ours, re-sent: never spoofing.
        if !s.ours && s.messages_fail() - s.messages_forwarded >= t.spoof_min_fail {
            out.push(problem(Kind::PossibleSpoofing, s.clone()));
        }
    }
    out
}

fn problem(kind: Kind, s: SourceRow) -> Problem {
    let (ip, total, failed, p) = (
        &s.source_ip,
        s.messages,
        s.messages_fail(),
        fmt_pct(s.pass_pct()),
    );
    // Who it is, when known: "SendGrid (AS11377, US)".
    let who = |tag: &str| match s.label.as_str() {
        "" => format!("({tag})"),
        l => format!("({tag}: {l})"),
    };
    let text = match kind {
        Kind::AlignmentBroken => format!(
            "{ip} {}: only {p}% DMARC pass ({failed}/{total} fail) -- alignment broken",
            who("ours")
        ),
        Kind::PossibleSpoofing => {
            let failed = failed - s.messages_forwarded;
            format!(
                "{ip} {}: {failed} failing msgs sending as us -- possible spoofing",
                who("EXTERNAL")
            )
        }
        Kind::NewSender if !s.label.is_empty() => format!(
            "{ip} (EXTERNAL): new sender: {}, {total} msgs ({p}% DMARC pass), never seen before this window",
            s.label
        ),
        Kind::NewSender => format!(
            "{ip} (EXTERNAL): new sender, {total} msgs ({p}% DMARC pass), never seen before this window"
        ),
        Kind::TlsFailures => String::new(),
    };
    Problem {
        kind,
        source: s,
        text,
        failure_reports: 0,
    }
}

/// A percentage for people: whole when it is whole, else one decimal
/// (so 94.6 % is not shown as a passing-looking "95%").
pub fn fmt_pct(p: f64) -> String {
    let r = (p * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// The summary: a header naming the window (`label`, e.g. "last 7
/// days") and one line per source, largest first, at most
/// [`SUMMARY_SOURCES`]. `empty` replaces the lines when there are none.
pub fn summary(o: &Outcome, label: &str, empty: Option<&str>) -> String {
    let mut lines = vec![format!("DMARC alignment, {label} (by source IP):")];
    for s in o.sources.iter().take(SUMMARY_SOURCES) {
        let tag = if s.ours { "ours" } else { "EXTERNAL" };
        lines.push(format!(
            "  {:<16} [{tag:<8}] total={:<6} pass={}% fail={}",
            s.source_ip,
            s.messages,
            fmt_pct(s.pass_pct()),
            s.messages_fail()
        ));
    }
    if o.sources.len() > SUMMARY_SOURCES {
        lines.push(format!(
            "  ... and {} more source(s)",
            o.sources.len() - SUMMARY_SOURCES
        ));
    }
    if o.sources.is_empty() {
        lines.push(format!(
            "  {}",
            empty.unwrap_or("(no reports in this window)")
        ));
    }
    for n in &o.notes {
        lines.push(format!("  ({n})"));
    }
    lines.join("\n")
}

/// The whole text: summary, then the problems (or that there are none).
pub fn report_text(o: &Outcome, label: &str, empty: Option<&str>) -> String {
    let mut s = summary(o, label, empty);
    if o.has_problems() {
        s.push_str("\n\nProblems:\n");
        s.push_str(&problem_lines(o));
    } else {
        s.push_str("\n\nNo problems.");
    }
    s
}

fn problem_lines(o: &Outcome) -> String {
    let ips = o.problems.iter().map(|p| &p.text);
    let tls = o.tls.iter().map(|p| &p.text);
    let lines: Vec<String> = ips.chain(tls).map(|t| format!("- {t}")).collect();
    lines.join("\n")
}

/// The notification text (the Python script's Telegram message).
pub fn notification_text(o: &Outcome, label: &str) -> String {
    format!(
        "⚠️ DMARC alignment alert\n\n{}\n\nIssues:\n{}",
        summary(o, label, None),
        problem_lines(o)
    )
}

/// `alert --format json`:
/// `{"window": {"since", "until"}, "problems": [...]}`, each problem with
/// `kind`, `source_ip`, `ours`, `messages`, `messages_pass`,
/// `messages_fail`, `pass_pct`, `text` (see [`problem_json`]).
pub fn to_json(o: &Outcome) -> Value {
    let opt = |t: Option<i64>| t.map(iso).unwrap_or(Value::Null);
    json!({
        "window": {"since": opt(o.window.since), "until": opt(o.window.until)},
        "problems": o.problems.iter().map(problem_json)
            .chain(o.tls.iter().map(tls_problem_json))
            .collect::<Vec<_>>(),
    })
}

/// One problem as JSON: `kind` (`alignment_broken`, `possible_spoofing`,
/// `new_sender`), `source_ip`, `ours`, `messages`, `messages_pass`,
/// `messages_fail`, `pass_pct` (one decimal), `failure_reports` (failure
/// reports naming the IP), `text`; then `name`, `asn`, `country` (null when
/// unknown) and `messages_forwarded`. TLS problems: [`tls_problem_json`].
pub fn problem_json(p: &Problem) -> Value {
    let s = &p.source;
    json!({
        "kind": p.kind.as_str(),
        "source_ip": s.source_ip,
        "ours": s.ours,
        "messages": s.messages,
        "messages_pass": s.messages_pass,
        "messages_fail": s.messages_fail(),
        "pass_pct": pct(s.messages_pass as f64, s.messages as f64),
        "failure_reports": p.failure_reports,
        "text": p.text,
        "name": s.name,
        "asn": s.asn,
        "country": s.country,
        "messages_forwarded": s.messages_forwarded,
    })
}

/// The problems as a table (for `--format csv`), same keys as the JSON
/// (a key a problem does not have is empty; `top_result_types` as text).
pub fn to_table(o: &Outcome) -> Table {
    let mut t = Table::new(vec![
        Column::text("kind"),
        Column::text("source_ip"),
        Column::text("ours"),
        Column::num("messages"),
        Column::num("messages_pass"),
        Column::num("messages_fail"),
        Column::num("pass_pct"),
        Column::num("failure_reports"),
        Column::text("policy_domain"),
        Column::num("sessions"),
        Column::num("sessions_failure"),
        Column::num("failure_pct"),
        Column::text("top_result_types"),
        Column::text("text"),
        Column::text("name"),
        Column::num("asn"),
        Column::text("country"),
        Column::num("messages_forwarded"),
    ]);
    let tls = o.tls.iter().map(|p| {
        let mut v = tls_problem_json(p);
        v["top_result_types"] = json!(crate::query::top_result_types(&p.result_types));
        v
    });
    for v in o.problems.iter().map(problem_json).chain(tls) {
        let keys = t.columns.iter().map(|c| v[c.key].clone()).collect();
        t.rows.push(keys);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(ip: &str, ours: bool, messages: i64, pass: i64) -> SourceRow {
        SourceRow {
            source_ip: ip.into(),
            ours,
            messages,
            messages_pass: pass,
            ..SourceRow::default()
        }
    }

    fn kinds(rows: &[SourceRow]) -> Vec<(String, Kind)> {
        judge(rows, &Thresholds::default())
            .into_iter()
            .map(|p| (p.source.source_ip, p.kind))
            .collect()
    }

    #[test]
    fn default_thresholds() {
        let rows = [
            src("a", true, 100, 90),
            src("b", true, 100, 96),
            src("c", true, 19, 0),
            src("d", false, 19, 0),
            src("e", false, 20, 0),
            src("f", true, 20, 18),
        ];
        assert_eq!(
            kinds(&rows),
            vec![
                ("a".to_string(), Kind::AlignmentBroken),
                ("e".to_string(), Kind::PossibleSpoofing),
                ("f".to_string(), Kind::AlignmentBroken),
            ]
        );
    }

    #[test]
    fn exact_rate_not_rounded_to_a_whole_percent() {
        // 94.6 %: the Python script rounded to 95 and stayed quiet.
        assert_eq!(kinds(&[src("a", true, 1000, 946)]).len(), 1);
        assert!(kinds(&[src("a", true, 1000, 950)]).is_empty());
    }

    #[test]
    fn texts_keep_the_python_script_wording() {
        let p = judge(&[src("192.0.2.1", true, 100, 90)], &Thresholds::default());
        assert_eq!(
            p[0].text,
            "192.0.2.1 (ours): only 90% DMARC pass (10/100 fail) -- alignment broken"
        );
        let p = judge(&[src("198.51.100.9", false, 25, 5)], &Thresholds::default());
        assert_eq!(
            p[0].text,
            "198.51.100.9 (EXTERNAL): 20 failing msgs sending as us -- possible spoofing"
        );
        assert_eq!(fmt_pct(94.64), "94.6");
        assert_eq!(fmt_pct(100.0), "100");
    }

    #[test]
    fn named_senders_in_texts_and_forwarded_mail_is_not_spoofing() {
        let mut s = src("149.72.1.2", false, 12, 12);
        s.label = "SendGrid (AS11377, US)".into();
        s.name = Some("SendGrid".into());
        s.asn = Some(11377);
        s.country = Some("US".into());
        let p = problem(Kind::NewSender, s.clone());
        assert_eq!(
            p.text,
            "149.72.1.2 (EXTERNAL): new sender: SendGrid (AS11377, US), 12 msgs (100% DMARC pass), never seen before this window"
        );
        let v = problem_json(&p);
        assert_eq!(
            (v["name"].as_str(), v["asn"].as_u64(), v["country"].as_str()),
            (Some("SendGrid"), Some(11377), Some("US"))
        );
        // 30 failing, 25 of them forwarded: 5 left, below the threshold.
        let mut g = src("209.85.220.69", false, 30, 0);
        g.messages_forwarded = 25;
        assert!(kinds(&[g.clone()]).is_empty());
        g.messages_forwarded = 5;
        g.label = "Google (AS15169, US)".into();
        let p = judge(&[g], &Thresholds::default());
        assert_eq!(
            p[0].text,
            "209.85.220.69 (EXTERNAL: Google (AS15169, US)): 25 failing msgs sending as us -- possible spoofing"
        );
    }

    #[test]
    fn json_problem_keys() {
        let p = judge(&[src("192.0.2.1", true, 100, 90)], &Thresholds::default());
        let v = problem_json(&p[0]);
        assert_eq!(v["kind"], "alignment_broken");
        assert_eq!(v["messages_fail"], 10);
        assert_eq!(v["pass_pct"], 90.0);
    }
}
