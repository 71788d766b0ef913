//! Naming and grouping per-IP totals.

use super::*;
use crate::enrich::catalogue::{Sender, SenderFile};

fn totals(
    ip: &str,
    ours: bool,
    messages: i64,
    pass: i64,
    fail: FailSplit,
    dkim: &[&str],
) -> IpTotals {
    IpTotals {
        source_ip: ip.into(),
        ours,
        messages,
        messages_pass: pass,
        messages_dkim_pass: pass,
        fail,
        dkim_pass_domains: dkim.iter().map(|d| d.to_string()).collect(),
    }
}

fn facts(asn: u32, country: &str, ptr: Option<&str>) -> IpFacts {
    IpFacts {
        net: Some(NetInfo {
            asn: Some(asn),
            as_name: Some(format!("AS-{asn}")),
            as_domain: None,
            country: Some(country.into()),
        }),
        rdns: ptr.map(|p| (Ptr::Confirmed(p.into()), 1)),
    }
}

#[test]
fn sources_get_names_facts_and_forwarded_counts() {
    let mut f = HashMap::new();
    f.insert("149.72.1.1".to_string(), facts(11377, "US", None));
    f.insert("149.72.1.2".to_string(), facts(11377, "US", None));
    f.insert(
        "209.85.220.69".to_string(),
        facts(15169, "US", Some("mail-ed1-f69.google.com")),
    );
    f.insert("45.1.2.3".to_string(), facts(64500, "RU", None));
    let broken = FailSplit {
        overridden: 2,
        our_dkim_broken: 30,
        other: 3,
    };
    let rows = vec![
        totals(
            "149.72.1.1",
            false,
            100,
            90,
            FailSplit {
                other: 10,
                ..Default::default()
            },
            &["sendgrid.net"],
        ),
        totals("149.72.1.2", false, 50, 50, FailSplit::default(), &[]),
        totals("209.85.220.69", false, 40, 5, broken, &[]),
        totals(
            "45.1.2.3",
            false,
            25,
            0,
            FailSplit {
                other: 25,
                ..Default::default()
            },
            &[],
        ),
        totals(
            "203.0.113.5",
            true,
            500,
            499,
            FailSplit {
                our_dkim_broken: 1,
                ..Default::default()
            },
            &["example.com"],
        ),
        totals(
            "192.0.2.77",
            false,
            3,
            0,
            FailSplit {
                overridden: 3,
                ..Default::default()
            },
            &[],
        ),
    ];
    let s = name_sources(rows, &f, &Catalogue::default());
    let view: Vec<(&str, Category, i64, i64)> = s
        .iter()
        .map(|s| {
            (
                s.sender_name(),
                s.category,
                s.messages_forwarded,
                s.messages_fail(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("SendGrid", Category::KnownService, 0, 10),
            ("SendGrid", Category::KnownService, 0, 0),
            // Gmail forwarding our signed mail: overridden + broken DKIM.
            ("Google", Category::Forwarder, 32, 3),
            ("AS-64500", Category::Unknown, 0, 25),
            // Ours: never excused as forwarded.
            (UNNAMED_OURS, Category::Ours, 0, 1),
            (UNNAMED, Category::Forwarder, 3, 0),
        ]
    );
    assert_eq!(s[0].label(), "SendGrid (AS11377, US)");
    assert_eq!(s[2].ptr.as_deref(), Some("mail-ed1-f69.google.com"));
    assert_eq!(s[5].label(), "");

    let g = group(&s);
    let names: Vec<&str> = g.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [UNNAMED_OURS, "SendGrid", "Google", "AS-64500", UNNAMED]
    );
    let sg = &g[1];
    assert_eq!(
        (
            sg.ips,
            sg.asns.as_slice(),
            sg.messages,
            sg.messages_pass,
            sg.messages_fail
        ),
        (2, &[11377u32][..], 150, 140, 10)
    );
    assert_eq!(sg.pass_pct, Some(93.3));
    assert_eq!(sg.dkim_domains, ["sendgrid.net"]);
    assert_eq!(sg.countries, ["US"]);
    let j = serde_json::to_value(&g[2]).unwrap();
    assert_eq!(j["category"], "forwarder");
    assert_eq!(j["messages_forwarded"], 32);
    assert_eq!(j["pass_pct"], 62.5);
}

#[test]
fn user_senders_name_and_make_ours() {
    let user = Sender::from_file(&SenderFile {
        name: "Newsletter".into(),
        dkim_domains: vec!["news.example.com".into()],
        ours: true,
        ..SenderFile::default()
    })
    .unwrap();
    let rows = vec![totals(
        "54.240.8.1",
        false,
        10,
        4,
        FailSplit {
            overridden: 6,
            ..Default::default()
        },
        &["news.example.com"],
    )];
    let s = name_sources(rows, &HashMap::new(), &Catalogue::new(vec![user]));
    assert_eq!(s[0].sender_name(), "Newsletter");
    assert!(s[0].ours);
    assert_eq!(
        (s[0].category, s[0].messages_forwarded),
        (Category::Ours, 0)
    );
    assert_eq!(group(&s)[0].category, Category::Ours);
}
