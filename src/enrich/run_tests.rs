//! A whole run: databases, a real DNS server, the store.

use super::*;
use crate::extract::{Limits, Payload};
use serde_json::json;

use crate::enrich::test_support::dnsmasq;
use crate::enrich::test_support::mmdb;

fn report(ips: &[&str]) -> Payload {
    let records: String = ips
        .iter()
        .map(|ip| {
            format!(
                "<record><row><source_ip>{ip}</source_ip><count>1</count><policy_evaluated>
                 <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
                 <identifiers><header_from>example.com</header_from></identifiers>
                 <auth_results><spf><domain>example.com</domain><result>pass</result></spf></auth_results></record>"
            )
        })
        .collect();
    let xml = format!(
        "<feedback><report_metadata><org_name>o</org_name><email>e</email>
         <report_id>{}</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>
         <policy_published><domain>example.com</domain><p>none</p></policy_published>{records}</feedback>",
        ips.join(",")
    );
    Payload {
        name: "t".into(),
        data: std::sync::Arc::new(xml.into_bytes()),
        gzip: false,
        kind: crate::extract::PayloadKind::Aggregate,
    }
}

#[test]
fn a_run_stores_facts_and_caches_rdns_until_due() {
    let Some(dns) = dnsmasq::start(&["--host-record=mail-ed1-f69.google.test,209.85.220.69"])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let asn = dir.path().join("asn.mmdb");
    std::fs::write(
        &asn,
        mmdb::build(
            "GeoLite2-ASN",
            6,
            &[(
                "209.85.128.0/17",
                json!({"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"}),
            )],
        ),
    )
    .unwrap();
    let mut store = Store::open_in_memory().unwrap();
    store
        .store_report(
            &report(&["209.85.220.69", "198.51.100.1"]),
            &Limits::default(),
            "t",
        )
        .unwrap();
    let mut opts = Options {
        geo: Geo::open(Some(&asn), None).unwrap(),
        rdns: Some(rdns::Options {
            server: Some(dns.addr),
            timeout: Duration::from_millis(800),
            concurrency: 4,
        }),
        rdns_max_age: Duration::from_secs(86_400),
        refresh: false,
    };
    let s = run(&mut store, &opts, 1000).unwrap();
    assert_eq!(
        (
            s.geo_looked_up,
            s.geo_found,
            s.rdns_asked,
            s.rdns_confirmed,
            s.rdns_none
        ),
        (2, 1, 2, 1, 1)
    );
    let f = store.ip_facts(&["209.85.220.69", "198.51.100.1"]).unwrap();
    assert_eq!(f["209.85.220.69"].net.as_ref().unwrap().asn, Some(15169));
    assert_eq!(
        f["209.85.220.69"].rdns,
        Some((Ptr::Confirmed("mail-ed1-f69.google.test".into()), 1000))
    );
    assert_eq!(f["198.51.100.1"].rdns, Some((Ptr::None, 1000)));
    // Cached: nothing to ask, nothing new for the databases.
    let s = run(&mut store, &opts, 2000).unwrap();
    assert_eq!((s.geo_looked_up, s.rdns_asked), (0, 0));
    // A day later both are due again; a refresh looks the databases up again.
    opts.refresh = true;
    let s = run(&mut store, &opts, 1000 + 86_400).unwrap();
    assert_eq!((s.geo_looked_up, s.rdns_asked), (2, 2));
    // A dead server: a warning, the run succeeds.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    opts.rdns.as_mut().unwrap().server = Some(sink.local_addr().unwrap());
    let s = run(&mut store, &opts, 1000 + 3 * 86_400).unwrap();
    assert_eq!(s.rdns_failed, 2);
    assert!(
        s.warnings[0].starts_with("reverse DNS failed for 2 of 2"),
        "{:?}",
        s.warnings
    );
    // The old answers stay cached.
    let f = store.ip_facts(&["209.85.220.69"]).unwrap();
    assert_eq!(f["209.85.220.69"].rdns.as_ref().unwrap().1, 1000 + 86_400);
}
