//! Readiness verdicts: ready, blocked, forwarders, unknown, drift.

use super::*;

fn sender(
    name: &str,
    category: Category,
    pass: i64,
    fail: i64,
    fwd: i64,
    dkim: i64,
) -> SenderTotals {
    SenderTotals {
        name: name.into(),
        category,
        messages: pass + fail + fwd,
        messages_pass: pass,
        messages_fail: fail,
        messages_forwarded: fwd,
        messages_dkim_pass: dkim,
    }
}

fn seen(org: &str, p: &str, pct: Option<i64>, sp: Option<&str>, last: i64) -> Seen {
    Seen {
        org_name: org.into(),
        policy: Published {
            p: Some(p.into()),
            sp: sp.map(Into::into),
            np: None,
            pct,
        },
        last_seen: last,
    }
}

fn input(senders: Vec<SenderTotals>) -> Input {
    Input {
        domain: "example.com".into(),
        senders,
        seen: vec![seen("google.com", "none", None, None, 100)],
        subdomain_messages: 0,
    }
}

#[test]
fn ready_when_ours_and_known_services_pass() {
    let i = input(vec![
        sender("Our relay", Category::Ours, 500, 2, 0, 500),
        sender("SendGrid", Category::KnownService, 300, 0, 0, 300),
        sender("Google", Category::Forwarder, 3, 5, 40, 3),
        sender("EVIL-HOSTING", Category::Unknown, 0, 120, 0, 0),
    ]);
    let r = judge(&i, Target::Reject, &Thresholds::default());
    assert!(r.ready, "{r:?}");
    assert_eq!(r.verdict, "ready for p=reject");
    assert_eq!(
        r.next_step,
        "publish p=quarantine; pct=25 first, then pct=100, then p=reject"
    );
    assert_eq!(
        r.would_act_on,
        Impact {
            ours: 2,
            known_services: 0,
            forwarded: 45,
            unknown: 120
        }
    );
    assert_eq!(r.forwarders.len(), 1);
    assert_eq!(r.unknown[0].name, "EVIL-HOSTING");
    assert!(r.drift.is_empty());
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["policy"], "reject");
    assert_eq!(j["ready"], true);
    assert_eq!(j["forwarders"][0]["category"], "forwarder");
    assert_eq!(j["published"]["p"], "none");
}

#[test]
fn a_known_service_without_dkim_blocks() {
    let i = input(vec![
        sender("Our relay", Category::Ours, 500, 0, 0, 500),
        sender("Amazon SES", Category::KnownService, 40, 60, 0, 0),
        sender("Zendesk", Category::KnownService, 90, 10, 0, 90),
        // Too small to block.
        sender("Mailgun", Category::KnownService, 0, 9, 0, 0),
    ]);
    let r = judge(&i, Target::Quarantine, &Thresholds::default());
    assert!(!r.ready);
    let names: Vec<&str> = r.blockers.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["Amazon SES", "Zendesk"]);
    assert_eq!(
        r.blockers[0].advice,
        "set up DKIM for Amazon SES first (signing as example.com)"
    );
    assert_eq!(r.blockers[0].pass_pct, Some(40.0));
    assert!(r.blockers[1]
        .advice
        .starts_with("fix Zendesk: 10 messages fail DMARC"));
    assert_eq!(
        r.verdict,
        "not ready: p=quarantine would quarantine mail of Amazon SES, Zendesk"
    );
    assert!(r.next_step.starts_with("set up DKIM for Amazon SES first"));
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["blockers"][0]["messages_fail"], 60);
    assert_eq!(j["blockers"][0]["category"], "known service");
}

#[test]
fn not_enough_data_is_not_ready() {
    let i = input(vec![sender("Our relay", Category::Ours, 50, 0, 0, 50)]);
    let r = judge(&i, Target::Quarantine, &Thresholds::default());
    assert!(!r.ready);
    assert_eq!(
        r.verdict,
        "not enough data: 50 messages, at least 100 needed"
    );
}

#[test]
fn drift_and_subdomain_policies() {
    let mut i = input(vec![sender("Our relay", Category::Ours, 500, 0, 0, 500)]);
    i.seen = vec![
        seen("google.com", "quarantine", Some(25), Some("none"), 300),
        seen("Yahoo", "none", None, None, 200),
        seen("Yahoo", "quarantine", Some(25), Some("none"), 100),
        seen("Microsoft", "quarantine", Some(25), Some("reject"), 290),
    ];
    i.subdomain_messages = 7;
    let r = judge(&i, Target::Reject, &Thresholds::default());
    assert_eq!(
        r.published.as_ref().unwrap().p.as_deref(),
        Some("quarantine")
    );
    let drift: Vec<(&str, Option<&str>)> = r
        .drift
        .iter()
        .map(|d| (d.org_name.as_str(), d.policy.p.as_deref()))
        .collect();
    // Yahoo's latest view is p=none; Microsoft sees another sp.
    assert_eq!(
        drift,
        [("Microsoft", Some("quarantine")), ("Yahoo", Some("none"))]
    );
    assert_eq!(r.subdomains.sp, ["none", "reject"]);
    assert_eq!(r.subdomains.messages, 7);
    assert_eq!(
        r.next_step,
        "raise pct to 100 (now 25), then run readiness again"
    );
}

#[test]
fn the_ladder() {
    let l = |c, pct, t| ladder(c, pct, t, 25);
    assert_eq!(
        l("none", None, Target::Quarantine),
        "publish p=quarantine; pct=25, then raise pct to 100"
    );
    assert_eq!(
        l("quarantine", Some(100), Target::Reject),
        "publish p=reject"
    );
    assert_eq!(
        l("quarantine", None, Target::Quarantine),
        "p=quarantine is already published: nothing to do"
    );
    assert_eq!(
        l("reject", None, Target::Quarantine),
        "p=reject is already published: nothing to do"
    );
    assert_eq!(
        l("reject", Some(50), Target::Reject),
        "raise pct to 100 (now 50), then run readiness again"
    );
}
