//! The catalogue's data: mail services that send much of the world's
//! mail, each with what identifies its sending machines.
//!
//! Assembled by us from what the services publish and what their mail
//! shows: the domain their outbound hosts' reverse DNS ends in (Google's
//! `mail-*.google.com`, Amazon SES's `*.smtp-out.amazonses.com`,
//! SendGrid's `o*.ptr*.sendgrid.net`, Microsoft 365's
//! `*.outbound.protection.outlook.com`), their own AS numbers (only where
//! the AS is the service's and not a cloud anyone rents: AS16509 is all of
//! AWS, so it does not name Amazon SES), and the DKIM domain they sign
//! with when a customer has not set up their own (`amazonses.com`,
//! `sendgrid.net`, `*.gappssmtp.com`, `*.onmicrosoft.com`).
//!
//! Every entry has a test with an example of its mail (catalogue tests).

use super::{Kind, Service};

pub const SERVICES: &[Service] = &[
    Service {
        name: "Google",
        kind: Kind::Mailbox,
        ptr: &["google.com", "googlemail.com"],
        asns: &[15169],
        dkim: &["google.com", "gmail.com", "googlemail.com", "gappssmtp.com"],
    },
    Service {
        name: "Microsoft 365",
        kind: Kind::Mailbox,
        ptr: &["outlook.com", "hotmail.com", "microsoft.com"],
        asns: &[8075],
        dkim: &[
            "onmicrosoft.com",
            "outlook.com",
            "hotmail.com",
            "microsoft.com",
        ],
    },
    Service {
        name: "Amazon SES",
        kind: Kind::Esp,
        ptr: &["amazonses.com"],
        asns: &[],
        dkim: &["amazonses.com"],
    },
    Service {
        name: "SendGrid",
        kind: Kind::Esp,
        ptr: &["sendgrid.net"],
        asns: &[11377],
        dkim: &["sendgrid.net", "sendgrid.info"],
    },
    Service {
        name: "Mailchimp",
        kind: Kind::Esp,
        ptr: &["mcsv.net", "rsgsv.net", "mcdlv.net", "mandrillapp.com"],
        asns: &[],
        dkim: &["mcsv.net", "mcdlv.net", "mandrillapp.com"],
    },
    Service {
        name: "Mailgun",
        kind: Kind::Esp,
        ptr: &["mailgun.net", "mailgun.org"],
        asns: &[],
        dkim: &["mailgun.org", "mailgun.net"],
    },
    Service {
        name: "Postmark",
        kind: Kind::Esp,
        ptr: &["mtasv.net"],
        asns: &[],
        dkim: &["mtasv.net", "postmarkapp.com"],
    },
    Service {
        name: "SparkPost",
        kind: Kind::Esp,
        ptr: &["sparkpostmail.com"],
        asns: &[],
        dkim: &["sparkpostmail.com"],
    },
    Service {
        name: "Salesforce",
        kind: Kind::Esp,
        ptr: &["salesforce.com", "exacttarget.com"],
        asns: &[14340],
        dkim: &["salesforce.com", "exacttarget.com"],
    },
    Service {
        name: "Zendesk",
        kind: Kind::Esp,
        ptr: &["zendesk.com"],
        asns: &[],
        dkim: &["zendesk.com", "zdsys.com"],
    },
    Service {
        name: "HubSpot",
        kind: Kind::Esp,
        ptr: &["hubspotemail.net"],
        asns: &[],
        dkim: &["hubspotemail.net", "hubspot.com"],
    },
    Service {
        name: "Brevo",
        kind: Kind::Esp,
        ptr: &["sendinblue.com", "brevo.com", "mailin.fr"],
        asns: &[],
        dkim: &["sendinblue.com", "brevo.com", "mailin.fr"],
    },
    Service {
        name: "Mailjet",
        kind: Kind::Esp,
        ptr: &["mailjet.com"],
        asns: &[],
        dkim: &["mailjet.com"],
    },
    Service {
        name: "Proofpoint",
        kind: Kind::Gateway,
        ptr: &["pphosted.com", "ppe-hosted.com"],
        asns: &[],
        dkim: &[],
    },
    Service {
        name: "Mimecast",
        kind: Kind::Gateway,
        ptr: &["mimecast.com", "mimecast-offshore.com"],
        asns: &[30031],
        dkim: &[],
    },
    Service {
        name: "Cisco Secure Email",
        kind: Kind::Gateway,
        ptr: &["iphmx.com"],
        asns: &[],
        dkim: &[],
    },
    Service {
        name: "Yahoo",
        kind: Kind::Mailbox,
        ptr: &["yahoo.com", "yahoo.net", "aol.com"],
        asns: &[36647],
        dkim: &["yahoo.com", "aol.com"],
    },
    Service {
        name: "Apple iCloud",
        kind: Kind::Mailbox,
        ptr: &["icloud.com", "me.com", "apple.com"],
        asns: &[714, 6185],
        dkim: &["icloud.com", "me.com", "mac.com"],
    },
    Service {
        name: "Zoho",
        kind: Kind::Mailbox,
        ptr: &["zoho.com", "zohomail.com", "zoho.eu"],
        asns: &[2639],
        dkim: &["zoho.com", "zohomail.com", "zoho.eu"],
    },
    Service {
        name: "Fastmail",
        kind: Kind::Mailbox,
        ptr: &["messagingengine.com"],
        asns: &[],
        dkim: &["messagingengine.com", "fastmail.com"],
    },
    Service {
        name: "Groups.io",
        kind: Kind::List,
        ptr: &["groups.io"],
        asns: &[],
        dkim: &["groups.io"],
    },
];
