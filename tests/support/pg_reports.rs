//! Reports of several reporters (auth results, reasons, a two-day range,
//! one outside a 7-day window) that tests/postgres.rs and
//! tests/postgres_grafana.rs store, and the PostgreSQL test database they
//! store them in. Include with `#[path]` beside `fixture`.
#![allow(dead_code)]

use crate::fixture::{midnight, postgres, Env, Rec, Report, DAY};

/// Reports of several reporters, with auth results, reasons and a
/// two-day range.
pub fn reports() -> Vec<Report> {
    let google = Report::day(
        "Google",
        "g1",
        midnight(2),
        vec![
            Rec::new("192.0.2.10", 90, true),
            Rec::new("192.0.2.10", 10, false).spf_auth(&[("example.com", "softfail")]),
            Rec::new("203.0.113.5", 30, false)
                .envelope_from("evil.example")
                .dkim_auth(&[("evil.example", "x", "fail")])
                .spf_auth(&[("evil.example", "fail")]),
        ],
    );
    let yahoo = Report::day(
        "Yahoo",
        "y1",
        midnight(1),
        vec![
            Rec::new("192.0.2.10", 50, true),
            Rec::new("::ffff:192.0.2.11", 20, true)
                .dkim_auth(&[("example.com", "s1", "pass"), ("esp.example", "k2", "pass")]),
            Rec::new("2001:db8::1", 7, false).header_from("Example.COM"),
        ],
    );
    let mut mailru = Report::day(
        "Mail.ru",
        "m1",
        midnight(4) + DAY / 2,
        vec![
            Rec::new("198.51.100.7", 80, true)
                .header_from("example.org")
                .evaluated("pass", "fail")
                .dkim_auth(&[("example.org", "s2", "pass")])
                .spf_auth(&[("fwd.example", "fail")]),
            Rec::new("198.51.100.7", 20, false)
                .header_from("example.org")
                .spf_auth(&[("fwd.example", "fail")]),
        ],
    );
    mailru.domain = "example.org".into();
    mailru.end = mailru.begin + DAY;
    let old = Report::day(
        "google",
        "old",
        midnight(30),
        vec![Rec::new("192.0.2.10", 1000, true)],
    );
    vec![google, yahoo, mailru, old]
}

pub fn pg_env() -> Option<Env> {
    postgres::cluster()?;
    Some(Env::on(true))
}
