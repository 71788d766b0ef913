//! The records of a generated report: who sends, what passes, and the
//! shape each reporter gives a record (what it leaves out).

use super::{Reporter, Rng};
use crate::model::{
    AuthResult, Disposition, DkimAuthResult, Identifiers, OverrideReason, PolicyEvaluated, Record,
    SpfAuthResult,
};

/// ESPs that sign "our" mail with their own key besides ours.
const ESP_SIGNERS: &[(&str, &str)] = &[
    ("sendgrid.net", "s1"),
    ("amazonses.com", "ug7nbtf4gccmlpwj322ax3p6ow6yfsug"),
    ("mcsv.net", "k2"),
    ("mailgun.org", "mx"),
];
/// Domains strangers sign or bounce with.
const STRANGER_DOMAINS: &[&str] = &[
    "bulk-mailer.example.net",
    "promo.example.org",
    "mx.invalid",
    "smtp.test",
    "newsletters.example",
    "cheap-pills.example.biz",
];
/// First octets of the random "public-looking" stranger addresses.
const PUBLIC_OCTETS: &[u8] = &[
    23, 31, 37, 45, 62, 77, 80, 85, 91, 103, 109, 176, 185, 193, 212,
];

fn our_ip(rng: &mut Rng) -> String {
    if rng.chance(80) {
        format!("203.0.113.{}", 1 + rng.below(254))
    } else {
        let (net, host) = (rng.below(16) as u16, 1 + rng.below(0xfff) as u16);
        std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, net, 0, 0, 0, host).to_string()
    }
}

fn stranger_ip(rng: &mut Rng) -> String {
    if rng.chance(40) {
        return format!("198.51.100.{}", 1 + rng.below(254));
    }
    let o = rng.pick(PUBLIC_OCTETS);
    let (a, b, c) = (rng.below(256), rng.below(256), 1 + rng.below(254));
    format!("{o}.{a}.{b}.{c}")
}

/// A message count in `1..=max`, small ones most likely (like real traffic).
fn skewed(rng: &mut Rng, max: u64) -> i64 {
    let cap = 1 + rng.below(max);
    1 + rng.below(cap) as i64
}

fn result(pass: bool) -> AuthResult {
    if pass {
        AuthResult::Pass
    } else {
        AuthResult::Fail
    }
}

/// One record, as `reporter` writes it (fields it never writes are left
/// empty, so the parser reads back exactly this value).
pub(super) fn record(rng: &mut Rng, reporter: Reporter, domain: &str) -> Record {
    let ours = rng.chance(70);
    let header_from = match rng.below(10) {
        0 => format!("news.{domain}"),
        _ => domain.to_string(),
    };
    let mut rec = Record {
        identifiers: Identifiers {
            header_from: header_from.as_str().into(),
            ..Identifiers::default()
        },
        ..Record::default()
    };
    let envelope;
    if ours {
        rec.source_ip = our_ip(rng).into();
        rec.count = skewed(rng, 500);
        let dkim_ok = rng.chance(96);
        let spf_ok = rng.chance(90);
        envelope = format!("bounce.{domain}");
        rec.dkim.push(DkimAuthResult {
            domain: header_from.into(),
            selector: Some((*rng.pick(&["google", "selector1", "s1", "k1"])).into()),
            result: result(dkim_ok),
            human_result: None,
        });
        if rng.chance(40) {
            let (d, s) = rng.pick(ESP_SIGNERS);
            rec.dkim.push(DkimAuthResult {
                domain: (*d).into(),
                selector: Some((*s).into()),
                result: AuthResult::Pass,
                human_result: None,
            });
        }
        rec.spf.push(spf(rng, &envelope, spf_ok));
        rec.policy_evaluated = evaluated(rng, dkim_ok, spf_ok);
    } else {
        rec.source_ip = stranger_ip(rng).into();
        rec.count = skewed(rng, 4);
        let spoof = rng.chance(60);
        envelope = if spoof {
            domain.to_string()
        } else {
            rng.pick(STRANGER_DOMAINS).to_string()
        };
        match rng.below(10) {
            0..=4 => {}
            5..=7 => rec.dkim.push(DkimAuthResult {
                domain: (*rng.pick(STRANGER_DOMAINS)).into(),
                selector: Some("default".into()),
                result: AuthResult::Pass,
                human_result: None,
            }),
            _ => rec.dkim.push(DkimAuthResult {
                domain: domain.into(),
                selector: Some("selector1".into()),
                result: AuthResult::Fail,
                human_result: None,
            }),
        }
        rec.spf.push(spf(rng, &envelope, !spoof));
        // A few strangers are legitimate forwarders SPF happens to align for.
        let spf_aligned = rng.chance(3);
        rec.policy_evaluated = evaluated(rng, false, spf_aligned);
    }
    shape(reporter, &mut rec, &envelope);
    rec
}

/// An SPF result for `domain`; `authorised` is whether the IP may send for it.
fn spf(rng: &mut Rng, domain: &str, authorised: bool) -> SpfAuthResult {
    let result = if authorised {
        if rng.chance(95) {
            AuthResult::Pass
        } else {
            AuthResult::TempError
        }
    } else {
        rng.pick(&[
            AuthResult::Fail,
            AuthResult::SoftFail,
            AuthResult::Neutral,
            AuthResult::None,
        ])
        .clone()
    };
    SpfAuthResult {
        domain: domain.into(),
        scope: Some("mfrom".into()),
        result,
        human_result: None,
    }
}

/// `policy_evaluated` for a `p=reject` domain: failing mail is rejected
/// unless the receiver overrides (forwarding, ARC, a mailing list).
fn evaluated(rng: &mut Rng, dkim: bool, spf: bool) -> PolicyEvaluated {
    let mut pe = PolicyEvaluated {
        disposition: Disposition::None,
        dkim: result(dkim),
        spf: result(spf),
        reasons: Vec::new(),
    };
    if dkim || spf {
        return pe;
    }
    if rng.chance(8) {
        let (kind, comment) = *rng.pick(&[
            ("forwarded", None),
            ("local_policy", Some("arc=pass")),
            ("mailing_list", None),
            ("trusted_forwarder", Some("")),
        ]);
        pe.reasons.push(OverrideReason {
            kind: kind.into(),
            comment: comment.filter(|c| !c.is_empty()).map(Into::into),
        });
    } else {
        pe.disposition = Disposition::Reject;
    }
    pe
}

/// Drops what `reporter` does not write.
fn shape(reporter: Reporter, rec: &mut Record, envelope: &str) {
    match reporter {
        Reporter::Microsoft => {
            rec.identifiers.envelope_to = Some("outlook.com".into());
            rec.identifiers.envelope_from = Some(envelope.into());
        }
        Reporter::Google | Reporter::Yahoo => {
            for s in &mut rec.spf {
                s.scope = None;
            }
        }
    }
}
