//! One example per catalogue entry, as its mail shows up in reports, and
//! the order in which evidence counts.

use super::*;

fn cat() -> Catalogue {
    Catalogue::default()
}

fn by_ptr(ptr: &str) -> Option<String> {
    let e = Evidence {
        ptr: Some(ptr),
        ..Evidence::default()
    };
    cat().name(&e).map(|n| n.name)
}

fn by_asn(asn: u32) -> Option<String> {
    let e = Evidence {
        asn: Some(asn),
        ..Evidence::default()
    };
    cat().name(&e).map(|n| n.name)
}

fn by_dkim(d: &str) -> Option<String> {
    let dkim = [d];
    let e = Evidence {
        dkim: &dkim,
        ..Evidence::default()
    };
    cat().name(&e).map(|n| n.name)
}

/// (entry, how its mail shows up): a PTR name, an AS number or a DKIM
/// domain seen in real reports or published by the service.
enum Ex {
    Ptr(&'static str),
    Asn(u32),
    Dkim(&'static str),
}

const EXAMPLES: &[(&str, Ex)] = &[
    ("Google", Ex::Ptr("mail-sor-f41.google.com")),
    ("Google", Ex::Asn(15169)),
    ("Google", Ex::Dkim("example-com.20230601.gappssmtp.com")),
    (
        "Microsoft 365",
        Ex::Ptr("mail-db8eur05on2101.outbound.protection.outlook.com"),
    ),
    ("Microsoft 365", Ex::Asn(8075)),
    ("Microsoft 365", Ex::Dkim("contoso.onmicrosoft.com")),
    ("Amazon SES", Ex::Ptr("a8-25.smtp-out.amazonses.com")),
    ("Amazon SES", Ex::Dkim("amazonses.com")),
    ("SendGrid", Ex::Ptr("o1.ptr2693.sendgrid.net")),
    ("SendGrid", Ex::Asn(11377)),
    ("Mailchimp", Ex::Ptr("mail132-4.atl131.mcsv.net")),
    ("Mailchimp", Ex::Ptr("mail187-10.suw11.mandrillapp.com")),
    ("Mailchimp", Ex::Dkim("mandrillapp.com")),
    ("Mailgun", Ex::Ptr("m228-4.mailgun.net")),
    ("Mailgun", Ex::Dkim("mailgun.org")),
    ("Postmark", Ex::Ptr("mta-1.pm.mtasv.net")),
    ("Postmark", Ex::Dkim("pm.mtasv.net")),
    ("SparkPost", Ex::Ptr("mta-203-4.sparkpostmail.com")),
    ("Salesforce", Ex::Ptr("smtp01-ia4-sp3.mta.salesforce.com")),
    ("Salesforce", Ex::Asn(14340)),
    ("Salesforce", Ex::Ptr("mta.s7.exacttarget.com")),
    ("Zendesk", Ex::Ptr("outbyip-192-161-151-4.zendesk.com")),
    ("Zendesk", Ex::Dkim("zendesk.com")),
    ("HubSpot", Ex::Ptr("mx1.hubspotemail.net")),
    ("HubSpot", Ex::Dkim("hubspotemail.net")),
    ("Brevo", Ex::Ptr("mail1.sendinblue.com")),
    ("Brevo", Ex::Ptr("mail2.mailin.fr")),
    ("Brevo", Ex::Dkim("brevo.com")),
    ("Mailjet", Ex::Ptr("o1.mail.mailjet.com")),
    ("Proofpoint", Ex::Ptr("mx0b-00123a01.pphosted.com")),
    ("Mimecast", Ex::Ptr("eu-smtp-delivery-1.mimecast.com")),
    ("Mimecast", Ex::Asn(30031)),
    ("Cisco Secure Email", Ex::Ptr("esa2.hc1234-4.iphmx.com")),
    ("Yahoo", Ex::Ptr("sonic301-20.consmr.mail.ne1.yahoo.com")),
    ("Yahoo", Ex::Asn(36647)),
    ("Yahoo", Ex::Dkim("aol.com")),
    ("Apple iCloud", Ex::Ptr("mr85p00im-ztdg06021101.me.com")),
    ("Apple iCloud", Ex::Asn(714)),
    ("Apple iCloud", Ex::Dkim("icloud.com")),
    ("Zoho", Ex::Ptr("sender4-op-o12.zoho.com")),
    ("Zoho", Ex::Asn(2639)),
    ("Zoho", Ex::Dkim("zohomail.com")),
    ("Fastmail", Ex::Ptr("out1-smtp.messagingengine.com")),
    ("Fastmail", Ex::Dkim("fastmail.com")),
    ("Groups.io", Ex::Ptr("mail02.groups.io")),
];

#[test]
fn every_catalogue_entry_is_named_by_its_examples() {
    for (want, ex) in EXAMPLES {
        let got = match ex {
            Ex::Ptr(p) => by_ptr(p),
            Ex::Asn(a) => by_asn(*a),
            Ex::Dkim(d) => by_dkim(d),
        };
        assert_eq!(got.as_deref(), Some(*want), "example for {want}");
    }
    for s in SERVICES {
        assert!(
            EXAMPLES.iter().any(|(n, _)| *n == s.name),
            "catalogue entry {} has no example",
            s.name
        );
        assert!(service(s.name).is_some());
    }
}

#[test]
fn every_listed_identifier_names_its_own_entry() {
    for s in SERVICES {
        for d in s.ptr {
            assert_eq!(
                by_ptr(&format!("host1.{d}")).as_deref(),
                Some(s.name),
                "{d}"
            );
        }
        for a in s.asns {
            assert_eq!(by_asn(*a).as_deref(), Some(s.name), "AS{a}");
        }
        for d in s.dkim {
            assert_eq!(by_dkim(d).as_deref(), Some(s.name), "{d}");
        }
    }
}

#[test]
fn ptr_beats_asn_beats_dkim_then_as_name_then_ptr_domain() {
    // Mail that Gmail forwarded: Google's PTR and AS, SendGrid's DKIM.
    let dkim = ["sendgrid.net"];
    let e = Evidence {
        ptr: Some("mail-ed1-f69.google.com"),
        asn: Some(15169),
        dkim: &dkim,
        ..Evidence::default()
    };
    let n = cat().name(&e).unwrap();
    assert_eq!((n.name.as_str(), n.basis), ("Google", Basis::Ptr));

    let e = Evidence {
        ptr: Some("vps12.hosting.example.net"),
        asn: Some(11377),
        dkim: &dkim,
        ..Evidence::default()
    };
    assert_eq!(cat().name(&e).unwrap().basis, Basis::Asn);

    let e = Evidence {
        asn: Some(64500),
        as_name: Some("EXAMPLE-HOSTING"),
        dkim: &dkim,
        ..Evidence::default()
    };
    assert_eq!(cat().name(&e).unwrap().basis, Basis::Dkim);

    let e = Evidence {
        ptr: Some("mx1.mail.example.co.uk"),
        asn: Some(64500),
        as_name: Some("EXAMPLE-HOSTING"),
        ..Evidence::default()
    };
    let n = cat().name(&e).unwrap();
    assert_eq!(
        (n.name.as_str(), n.basis, n.known()),
        ("EXAMPLE-HOSTING", Basis::AsName, false)
    );

    let e = Evidence {
        ptr: Some("mx1.mail.example.co.uk"),
        ..Evidence::default()
    };
    let n = cat().name(&e).unwrap();
    assert_eq!(
        (n.name.as_str(), n.basis),
        ("example.co.uk", Basis::PtrDomain)
    );

    assert_eq!(cat().name(&Evidence::default()), None);
}

#[test]
fn user_entries_win_and_can_be_ours() {
    let f: Vec<SenderFile> = toml::from_str::<std::collections::HashMap<String, Vec<SenderFile>>>(
        r#"
        [[sender]]
        name = "Our mail relay"
        nets = ["209.85.220.0/24"]
        ours = true
        [[sender]]
        name = "Newsletter (our SES account)"
        dkim_domains = ["news.example.com"]
        ours = true
        [[sender]]
        name = "Partner helpdesk"
        ptr_suffixes = ["helpdesk.partner.example"]
        "#,
    )
    .unwrap()
    .remove("sender")
    .unwrap();
    let user: Vec<Sender> = f.iter().map(|s| Sender::from_file(s).unwrap()).collect();
    let c = Catalogue::new(user);

    // Google's address, PTR and AS: the user's network entry wins.
    let e = Evidence {
        ip: Some("::ffff:209.85.220.69".parse().unwrap()),
        ptr: Some("mail-ed1-f69.google.com"),
        asn: Some(15169),
        ..Evidence::default()
    };
    let n = c.name(&e).unwrap();
    assert_eq!(
        (n.name.as_str(), n.basis, n.ours()),
        ("Our mail relay", Basis::Net, true)
    );

    // Amazon SES's PTR, but signed by our own domain: ours by DKIM.
    let dkim = ["mail.news.example.com"];
    let e = Evidence {
        ptr: Some("a8-25.smtp-out.amazonses.com"),
        dkim: &dkim,
        ..Evidence::default()
    };
    let n = c.name(&e).unwrap();
    assert_eq!(
        (n.name.as_str(), n.basis, n.ours()),
        ("Newsletter (our SES account)", Basis::Dkim, true)
    );

    let e = Evidence {
        ptr: Some("out3.helpdesk.partner.example"),
        asn: Some(11377),
        ..Evidence::default()
    };
    let n = c.name(&e).unwrap();
    assert_eq!(
        (n.name.as_str(), n.ours(), n.known()),
        ("Partner helpdesk", false, true)
    );

    // A bad network is an error naming the entry.
    let bad = SenderFile {
        name: "x".into(),
        nets: vec!["300.1.2.3/8".into()],
        ..SenderFile::default()
    };
    assert!(Sender::from_file(&bad).unwrap_err().contains("\"x\""));
}

#[test]
fn domains_match_on_label_boundaries() {
    assert!(under("mail.google.com", "google.com"));
    assert!(under("google.com", "google.com"));
    assert!(under("MAIL.Google.COM", "google.com"));
    assert!(!under("notgoogle.com", "google.com"));
    assert!(!under("google.com.evil.example", "google.com"));
    assert_eq!(
        by_ptr("mail.notgoogle.com").as_deref(),
        Some("notgoogle.com")
    );
    assert_eq!(base_domain("a.b.example.co.uk."), Some("example.co.uk"));
}

#[test]
fn categories() {
    let google = cat().name(&Evidence {
        asn: Some(15169),
        ..Evidence::default()
    });
    let groups = cat().name(&Evidence {
        ptr: Some("mail02.groups.io"),
        ..Evidence::default()
    });
    let label = cat().name(&Evidence {
        as_name: Some("HOSTING-AS"),
        ..Evidence::default()
    });
    assert_eq!(Category::of(google.as_ref(), true, 0, 0), Category::Ours);
    assert_eq!(
        Category::of(google.as_ref(), false, 90, 10),
        Category::KnownService
    );
    assert_eq!(
        Category::of(google.as_ref(), false, 5, 40),
        Category::Forwarder
    );
    assert_eq!(
        Category::of(groups.as_ref(), false, 50, 0),
        Category::Forwarder
    );
    assert_eq!(Category::of(label.as_ref(), false, 0, 0), Category::Unknown);
    assert_eq!(Category::of(None, false, 0, 0), Category::Unknown);
    assert_eq!(Category::KnownService.as_str(), "known service");
}
