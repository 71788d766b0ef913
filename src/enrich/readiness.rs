//! Readiness: what would happen if a domain published `p=quarantine` or
//! `p=reject`, judged from the senders its reports show, and whether it
//! is safe to do so now. Pure: the store gathers the totals ([`Input`]).
//!
//! The rules (thresholds in [`Thresholds`], config `[readiness]`):
//!
//! - **Blockers**: senders that are ours or known services, with at least
//!   `min_sender_messages` messages and a DMARC pass rate below
//!   `min_pass_pct` (forwarded mail left out of the rate). Their failing
//!   mail is real mail of ours that enforcement would lose. Each says what
//!   to do: "set up DKIM for Amazon SES first" when none of its mail
//!   passed DKIM, else to fix its alignment.
//! - **Forwarders**: forwarded mail (see [`forwarding`](super::forwarding))
//!   and senders whose mail is mostly forwarded. Enforcing loses some of
//!   it (receivers that do not honour ARC); expected, reported apart, not
//!   a blocker.
//! - **Unknown**: failing mail from senders nobody named: what enforcing
//!   is for.
//! - **Not enough data**: fewer than `min_messages` messages in the window.
//! - **Subdomains**: `sp` and `np` as reporters saw them, and mail whose
//!   header From is a subdomain (the `sp` policy applies to it).
//! - **DNS drift**: reporters that saw a published policy other than the
//!   newest one (a stale TTL, or two DMARC records).
//!
//! Ready means no blocker and enough data. The next step walks the ladder
//! `p=none` → `p=quarantine; pct=<ramp_pct>` → `p=quarantine` → `p=reject`.

use serde::Serialize;

use super::catalogue::Category;

/// The policy asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Quarantine,
    Reject,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Quarantine => "quarantine",
            Target::Reject => "reject",
        }
    }
}

/// Config `[readiness]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A sender of ours or a known service below this pass % blocks.
    pub min_pass_pct: f64,
    /// ... when it sent at least this many messages.
    pub min_sender_messages: i64,
    /// Messages needed in the window before any verdict.
    pub min_messages: i64,
    /// The `pct=` of the first enforcing step.
    pub ramp_pct: u8,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            min_pass_pct: 98.0,
            min_sender_messages: 10,
            min_messages: 100,
            ramp_pct: 25,
        }
    }
}

/// One named sender's totals for the domain in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SenderTotals {
    pub name: String,
    pub category: Category,
    pub messages: i64,
    pub messages_pass: i64,
    /// Failing, not forwarded.
    pub messages_fail: i64,
    pub messages_forwarded: i64,
    /// Messages whose policy-evaluated DKIM passed (aligned).
    #[serde(skip)]
    pub messages_dkim_pass: i64,
}

impl SenderTotals {
    /// Pass % of the mail that is not forwarded (`None` without any).
    pub fn pass_pct(&self) -> Option<f64> {
        let judged = self.messages_pass + self.messages_fail;
        (judged > 0).then(|| (1000.0 * self.messages_pass as f64 / judged as f64).round() / 10.0)
    }
}

/// A published policy as one reporter saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    pub p: Option<String>,
    pub sp: Option<String>,
    pub np: Option<String>,
    pub pct: Option<i64>,
}

/// A reporter's view of the policy, with when it last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub org_name: String,
    #[serde(flatten)]
    pub policy: Published,
    /// The newest report date (epoch seconds) with this view.
    pub last_seen: i64,
}

/// What the store gathers for one domain and window.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub domain: String,
    pub senders: Vec<SenderTotals>,
    /// Every distinct (reporter, policy) seen, any order.
    pub seen: Vec<Seen>,
    /// Messages whose header From is a subdomain of the domain.
    pub subdomain_messages: i64,
}

/// A sender that must be fixed first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    pub name: String,
    pub category: Category,
    pub messages: i64,
    pub messages_fail: i64,
    pub pass_pct: Option<f64>,
    pub advice: String,
}

/// Messages the policy would act on, by who sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Impact {
    pub ours: i64,
    pub known_services: i64,
    pub forwarded: i64,
    pub unknown: i64,
}

/// Subdomain policies and mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subdomains {
    pub sp: Vec<String>,
    pub np: Vec<String>,
    pub messages: i64,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub domain: String,
    pub policy: Target,
    pub ready: bool,
    pub verdict: String,
    pub next_step: String,
    pub messages: i64,
    /// Failing (not forwarded) messages the policy would act on.
    pub would_act_on: Impact,
    pub blockers: Vec<Blocker>,
    pub forwarders: Vec<SenderTotals>,
    pub unknown: Vec<SenderTotals>,
    pub published: Option<Published>,
    pub subdomains: Subdomains,
    pub drift: Vec<Seen>,
}

/// Judges `input` for publishing `target`.
pub fn judge(input: &Input, target: Target, t: &Thresholds) -> Readiness {
    let messages: i64 = input.senders.iter().map(|s| s.messages).sum();
    let mut impact = Impact::default();
    let (mut blockers, mut forwarders, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for s in &input.senders {
        impact.forwarded += s.messages_forwarded;
        match s.category {
            Category::Ours => impact.ours += s.messages_fail,
            Category::KnownService => impact.known_services += s.messages_fail,
            Category::Forwarder => impact.forwarded += s.messages_fail,
            Category::Unknown => impact.unknown += s.messages_fail,
        }
        if s.messages_forwarded > 0 || s.category == Category::Forwarder {
            forwarders.push(s.clone());
        }
        if s.category == Category::Unknown && s.messages_fail > 0 {
            unknown.push(s.clone());
        }
        if let Some(b) = blocker(s, &input.domain, t) {
            blockers.push(b);
        }
    }
    let by_size = |a: &SenderTotals, b: &SenderTotals| b.messages.cmp(&a.messages);
    forwarders.sort_by(by_size);
    unknown.sort_by(by_size);
    blockers.sort_by_key(|b| std::cmp::Reverse(b.messages_fail));
    let (published, drift) = newest_and_drift(&input.seen);
    let subdomains = subdomains(&input.seen, input.subdomain_messages);
    let enough = messages >= t.min_messages;
    let ready = enough && blockers.is_empty();
    let current = published
        .as_ref()
        .and_then(|p| p.p.as_deref())
        .unwrap_or("none");
    let verdict = if !enough {
        format!(
            "not enough data: {messages} messages, at least {} needed",
            t.min_messages
        )
    } else if !blockers.is_empty() {
        let names: Vec<&str> = blockers.iter().map(|b| b.name.as_str()).collect();
        format!(
            "not ready: p={} would {} mail of {}",
            target.as_str(),
            if target == Target::Reject {
                "reject"
            } else {
                "quarantine"
            },
            names.join(", ")
        )
    } else {
        format!("ready for p={}", target.as_str())
    };
    let next_step = if !enough {
        "collect more reports before changing the policy".to_string()
    } else if let Some(b) = blockers.first() {
        format!("{}, then run readiness again", b.advice)
    } else {
        ladder(
            current,
            published.as_ref().and_then(|p| p.pct),
            target,
            t.ramp_pct,
        )
    };
    Readiness {
        domain: input.domain.clone(),
        policy: target,
        ready,
        verdict,
        next_step,
        messages,
        would_act_on: impact,
        blockers,
        forwarders,
        unknown,
        published,
        subdomains,
        drift,
    }
}

fn blocker(s: &SenderTotals, domain: &str, t: &Thresholds) -> Option<Blocker> {
    if !matches!(s.category, Category::Ours | Category::KnownService)
        || s.messages < t.min_sender_messages
        || s.messages_fail == 0
    {
        return None;
    }
    let pct = s.pass_pct()?;
    if pct >= t.min_pass_pct {
        return None;
    }
    let advice = if s.messages_dkim_pass == 0 {
        format!("set up DKIM for {} first (signing as {domain})", s.name)
    } else {
        format!(
            "fix {}: {} messages fail DMARC (check its DKIM and SPF domains align with {domain})",
            s.name, s.messages_fail
        )
    };
    Some(Blocker {
        name: s.name.clone(),
        category: s.category,
        messages: s.messages,
        messages_fail: s.messages_fail,
        pass_pct: Some(pct),
        advice,
    })
}

/// The policy the newest report saw, and the reporters whose latest view
/// differs from it.
fn newest_and_drift(seen: &[Seen]) -> (Option<Published>, Vec<Seen>) {
    let Some(newest) = seen.iter().max_by(|a, b| {
        a.last_seen
            .cmp(&b.last_seen)
            .then(b.org_name.cmp(&a.org_name))
    }) else {
        return (None, Vec::new());
    };
    let mut latest: Vec<&Seen> = Vec::new();
    for s in seen {
        match latest.iter_mut().find(|l| l.org_name == s.org_name) {
            Some(l) if l.last_seen < s.last_seen => *l = s,
            Some(_) => {}
            None => latest.push(s),
        }
    }
    let mut drift: Vec<Seen> = latest
        .into_iter()
        .filter(|s| s.policy != newest.policy)
        .cloned()
        .collect();
    drift.sort_by(|a, b| a.org_name.cmp(&b.org_name));
    (Some(newest.policy.clone()), drift)
}

fn subdomains(seen: &[Seen], messages: i64) -> Subdomains {
    let mut sp: Vec<String> = seen.iter().filter_map(|s| s.policy.sp.clone()).collect();
    let mut np: Vec<String> = seen.iter().filter_map(|s| s.policy.np.clone()).collect();
    for v in [&mut sp, &mut np] {
        v.sort();
        v.dedup();
    }
    Subdomains { sp, np, messages }
}

/// The next rung from the current policy toward `target`.
pub fn ladder(current: &str, pct: Option<i64>, target: Target, ramp: u8) -> String {
    let full = pct.is_none_or(|p| p >= 100);
    match (current, target) {
        ("reject", _) if full => "p=reject is already published: nothing to do".into(),
        ("quarantine", Target::Quarantine) if full => {
            "p=quarantine is already published: nothing to do".into()
        }
        ("quarantine", Target::Reject) if full => "publish p=reject".into(),
        ("quarantine" | "reject", _) => format!(
            "raise pct to 100 (now {}), then run readiness again",
            pct.unwrap_or(100)
        ),
        (_, Target::Quarantine) => {
            format!("publish p=quarantine; pct={ramp}, then raise pct to 100")
        }
        (_, Target::Reject) => {
            format!("publish p=quarantine; pct={ramp} first, then pct=100, then p=reject")
        }
    }
}

#[cfg(test)]
#[path = "readiness_tests.rs"]
mod tests;
