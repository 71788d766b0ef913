//! Forwarding: which failing mail was evidently forwarded or sent through a
//! list, so it is counted apart from pass and fail and never reported as
//! spoofing.
//!
//! Forwarding breaks DMARC by design: the forwarder's address is not in
//! our SPF record, and a list that adds a footer or a subject tag breaks
//! our DKIM signature. Such mail is ours, re-sent by someone else; it is
//! lost when we enforce (expected, not a blocker) but it is not an attack.
//! A record that passed DMARC is never forwarded here, whatever else it
//! says. The rules, in order (the first that holds names the reason):
//!
//! 1. [`Rule::Forwarded`], [`Rule::MailingList`], [`Rule::TrustedForwarder`]:
//!    the reporter says so, with `<policy_evaluated><reason><type>`
//!    `forwarded`, `mailing_list` or `trusted_forwarder` (RFC 7489
//!    appendix C, PolicyOverrideType).
//! 2. [`Rule::Arc`]: the reporter overrode the policy for `local_policy`
//!    with a comment that says `arc=pass`: it accepted the mail on an
//!    intact ARC chain (RFC 8617), which intermediaries add exactly when
//!    they forward.
//! 3. [`Rule::BrokenByRelay`]: a DKIM signature of our own domain (the
//!    header From's, or a parent of it: relaxed alignment) is present but
//!    failed, and the mail came from a mailbox provider, security gateway
//!    or list service of the catalogue (by PTR, AS or a user entry's
//!    name). We signed it, so it started with us; the signature broke on
//!    the way, so someone changed it; and it left through a relay that
//!    forwards its users' mail. A spoofer cannot produce our signature, and
//!    replaying one from their own machines does not come from such a relay.
//! 4. [`Rule::ListService`]: the source is a catalogued mailing-list service
//!    (`Groups.io`): its machines only redistribute their members' mail.
//!
//! Pure functions over one record's facts; the store feeds them.

use super::catalogue::{under, Kind};

/// Why a failing record counts as forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Forwarded,
    MailingList,
    TrustedForwarder,
    Arc,
    BrokenByRelay,
    ListService,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Forwarded => "forwarded",
            Rule::MailingList => "mailing_list",
            Rule::TrustedForwarder => "trusted_forwarder",
            Rule::Arc => "arc",
            Rule::BrokenByRelay => "dkim_broken_by_relay",
            Rule::ListService => "list_service",
        }
    }
}

/// How a record's messages count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Pass,
    Fail,
    Forwarded(Rule),
}

/// One `<policy_evaluated><reason>`.
#[derive(Debug, Clone, Copy)]
pub struct Reason<'a> {
    /// As stored: lower case.
    pub kind: &'a str,
    pub comment: Option<&'a str>,
}

/// One `<auth_results><dkim>`.
#[derive(Debug, Clone, Copy)]
pub struct Dkim<'a> {
    pub domain: &'a str,
    pub result: &'a str,
}

/// What the rules look at in one record.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    pub dmarc_pass: bool,
    pub header_from: &'a str,
    pub reasons: &'a [Reason<'a>],
    pub dkim: &'a [Dkim<'a>],
    /// The catalogue kind of the source, when it is a catalogued service.
    pub source_kind: Option<Kind>,
}

/// Pass, fail, or forwarded by the first rule that holds.
pub fn classify(f: &Facts<'_>) -> Class {
    if f.dmarc_pass {
        return Class::Pass;
    }
    forwarding_rule(f).map_or(Class::Fail, Class::Forwarded)
}

/// The rule that makes a failing record forwarded, if any.
pub fn forwarding_rule(f: &Facts<'_>) -> Option<Rule> {
    reporter_says(f.reasons)
        .or_else(|| arc_pass(f.reasons).then_some(Rule::Arc))
        .or_else(|| broken_by_relay(f).then_some(Rule::BrokenByRelay))
        .or_else(|| (f.source_kind == Some(Kind::List)).then_some(Rule::ListService))
}

/// Rule 1: the reporter's own override reason.
pub fn reporter_says(reasons: &[Reason<'_>]) -> Option<Rule> {
    reasons.iter().find_map(|r| match r.kind.trim() {
        "forwarded" => Some(Rule::Forwarded),
        "mailing_list" => Some(Rule::MailingList),
        "trusted_forwarder" => Some(Rule::TrustedForwarder),
        _ => None,
    })
}

/// Rule 2: a `local_policy` override accepted on ARC.
pub fn arc_pass(reasons: &[Reason<'_>]) -> bool {
    reasons.iter().any(|r| {
        r.kind.trim() == "local_policy"
            && r.comment.is_some_and(|c| {
                c.to_ascii_lowercase()
                    .split(|ch: char| ch.is_whitespace() || ch == ';' || ch == ',')
                    .any(|w| w == "arc=pass")
            })
    })
}

/// Rule 3: our own DKIM signature, broken, from a relay.
pub fn broken_by_relay(f: &Facts<'_>) -> bool {
    relays(f.source_kind) && f.dkim.iter().any(|d| ours_failed(d, f.header_from))
}

/// Rule 3's sources: mailbox providers, gateways and list services.
pub fn relays(kind: Option<Kind>) -> bool {
    matches!(kind, Some(Kind::Mailbox | Kind::Gateway | Kind::List))
}

/// One source's failing messages, split by what the per-record parts of
/// the rules found; the store counts these in SQL over many records (the
/// same tests as [`reporter_says`], [`arc_pass`] and [`ours_failed`]),
/// and [`forwarded`] adds what the source's kind decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailSplit {
    /// Rules 1 and 2 hold (the reporter's reason).
    pub overridden: i64,
    /// Not overridden, but our own DKIM signature failed (rule 3 without
    /// its source test).
    pub our_dkim_broken: i64,
    /// Every other failing message.
    pub other: i64,
}

/// The forwarded messages of a source of `kind` with these failures:
/// exactly what [`classify`] gives record by record.
pub fn forwarded(split: &FailSplit, kind: Option<Kind>) -> i64 {
    let mut n = split.overridden;
    if relays(kind) {
        n += split.our_dkim_broken;
    }
    if kind == Some(Kind::List) {
        n += split.other
            + if relays(kind) {
                0
            } else {
                split.our_dkim_broken
            };
    }
    n
}

/// A signature by the header From domain or a parent of it (relaxed
/// alignment, RFC 7489 section 3.1.1, without the public-suffix walk: a
/// parent that is a public suffix cannot sign) that did not pass.
pub fn ours_failed(d: &Dkim<'_>, header_from: &str) -> bool {
    let domain = d.domain.trim().trim_end_matches('.');
    !domain.is_empty()
        && domain.contains('.')
        && under(header_from.trim().trim_end_matches('.'), domain)
        && matches!(
            d.result.trim(),
            "fail" | "permerror" | "temperror" | "neutral"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(kind: &'static str, comment: Option<&'static str>) -> Reason<'static> {
        Reason { kind, comment }
    }

    const OUR_DKIM_FAILED: &[Dkim] = &[Dkim {
        domain: "example.com",
        result: "fail",
    }];

    fn failing() -> Facts<'static> {
        Facts {
            header_from: "example.com",
            ..Facts::default()
        }
    }

    #[test]
    fn passing_mail_is_never_forwarded() {
        let r = [reason("forwarded", None)];
        let f = Facts {
            dmarc_pass: true,
            reasons: &r,
            ..failing()
        };
        assert_eq!(classify(&f), Class::Pass);
        assert_eq!(classify(&failing()), Class::Fail);
    }

    #[test]
    fn rule1_reporter_override_reasons() {
        for (kind, rule) in [
            ("forwarded", Rule::Forwarded),
            ("mailing_list", Rule::MailingList),
            ("trusted_forwarder", Rule::TrustedForwarder),
        ] {
            let r = [reason("local_policy", None), reason(kind, Some("x"))];
            let f = Facts {
                reasons: &r,
                ..failing()
            };
            assert_eq!(classify(&f), Class::Forwarded(rule), "{kind}");
        }
        // Other reasons are not forwarding.
        for kind in ["sampled_out", "local_policy", "other"] {
            let r = [reason(kind, None)];
            let f = Facts {
                reasons: &r,
                ..failing()
            };
            assert_eq!(classify(&f), Class::Fail, "{kind}");
        }
    }

    #[test]
    fn rule2_local_policy_on_arc() {
        let r = [reason("local_policy", Some("arc=pass"))];
        let f = Facts {
            reasons: &r,
            ..failing()
        };
        assert_eq!(classify(&f), Class::Forwarded(Rule::Arc));
        let r = [reason("local_policy", Some("arc=fail"))];
        let f = Facts {
            reasons: &r,
            ..failing()
        };
        assert_eq!(classify(&f), Class::Fail);
        // Not a local_policy override: not this rule.
        let r = [reason("other", Some("arc=pass"))];
        assert!(!arc_pass(&r));
    }

    #[test]
    fn rule3_our_signature_broken_by_a_relay() {
        let f = Facts {
            dkim: OUR_DKIM_FAILED,
            source_kind: Some(Kind::Mailbox),
            header_from: "news.example.com",
            ..failing()
        };
        assert_eq!(classify(&f), Class::Forwarded(Rule::BrokenByRelay));
        for kind in [Kind::Gateway, Kind::List] {
            let f = Facts {
                source_kind: Some(kind),
                ..f
            };
            assert!(matches!(classify(&f), Class::Forwarded(_)));
        }
        // From an ESP, or an unknown machine: a replay, not forwarding.
        for kind in [Some(Kind::Esp), None] {
            let f = Facts {
                source_kind: kind,
                ..f
            };
            assert_eq!(classify(&f), Class::Fail);
        }
        // Someone else's broken signature proves nothing about us.
        let theirs = [Dkim {
            domain: "mailer.example.net",
            result: "fail",
        }];
        let f2 = Facts { dkim: &theirs, ..f };
        assert_eq!(classify(&f2), Class::Fail);
        // A signature of ours that passed but did not align (or no
        // signature at all) is not this rule either.
        let passed = [Dkim {
            domain: "example.com",
            result: "pass",
        }];
        assert_eq!(classify(&Facts { dkim: &passed, ..f }), Class::Fail);
        assert_eq!(classify(&Facts { dkim: &[], ..f }), Class::Fail);
    }

    /// The aggregate path counts what [`classify`] does, record by record.
    #[test]
    fn forwarded_totals_agree_with_classify() {
        let fwd = [reason("forwarded", None)];
        let records: [(&[Reason], &[Dkim], i64); 3] =
            [(&fwd, &[], 3), (&[], OUR_DKIM_FAILED, 5), (&[], &[], 7)];
        let split = FailSplit {
            overridden: 3,
            our_dkim_broken: 5,
            other: 7,
        };
        for kind in [
            None,
            Some(Kind::Esp),
            Some(Kind::Mailbox),
            Some(Kind::Gateway),
            Some(Kind::List),
        ] {
            let by_record: i64 = records
                .iter()
                .filter(|(r, d, _)| {
                    let f = Facts {
                        reasons: r,
                        dkim: d,
                        source_kind: kind,
                        ..failing()
                    };
                    matches!(classify(&f), Class::Forwarded(_))
                })
                .map(|(_, _, n)| n)
                .sum();
            assert_eq!(forwarded(&split, kind), by_record, "{kind:?}");
        }
    }

    #[test]
    fn rule4_list_services() {
        let f = Facts {
            source_kind: Some(Kind::List),
            ..failing()
        };
        assert_eq!(classify(&f), Class::Forwarded(Rule::ListService));
    }
}
