//! Reverse DNS against a real dnsmasq on loopback.

use std::net::UdpSocket;
use std::time::Instant;

use super::*;

use crate::enrich::test_support::dnsmasq;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn opts(server: SocketAddr) -> Options {
    Options {
        server: Some(server),
        timeout: Duration::from_millis(800),
        concurrency: 4,
    }
}

#[test]
fn confirmed_unconfirmed_and_no_name() {
    let Some(dns) = dnsmasq::start(&[
        "--host-record=mail-ed1-f69.google.test,209.85.220.69",
        "--host-record=o1.ptr1234.sendgrid.test,2001:db8::25",
        // The PTR claims a name whose address is another one.
        "--ptr-record=11.2.0.192.in-addr.arpa,mail.bank.test",
        "--host-record=mail.bank.test,192.0.2.99",
        // A PTR whose name does not exist at all.
        "--ptr-record=12.2.0.192.in-addr.arpa,ghost.nowhere.test",
    ]) else {
        return;
    };
    let ips = [
        ip("209.85.220.69"),
        ip("::ffff:209.85.220.69"),
        ip("2001:db8::25"),
        ip("192.0.2.11"),
        ip("192.0.2.12"),
        ip("198.51.100.1"),
    ];
    let got = lookup_all(&ips, &opts(dns.addr)).unwrap();
    let ptrs: Vec<Ptr> = got.into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        ptrs,
        vec![
            Ptr::Confirmed("mail-ed1-f69.google.test".into()),
            Ptr::Confirmed("mail-ed1-f69.google.test".into()),
            Ptr::Confirmed("o1.ptr1234.sendgrid.test".into()),
            Ptr::Unconfirmed("mail.bank.test".into()),
            Ptr::Unconfirmed("ghost.nowhere.test".into()),
            Ptr::None,
        ]
    );
    assert!(ptrs.iter().all(Ptr::is_answer));
}

#[test]
fn a_server_that_never_answers_fails_fast() {
    // A UDP socket that reads queries and drops them.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sink.local_addr().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    sink.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let mut seen = 0;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            if sink.recv_from(&mut buf).is_ok() {
                seen += 1;
            }
        }
        seen
    });
    let ips: Vec<IpAddr> = (1..=200).map(|i| ip(&format!("198.51.100.{i}"))).collect();
    let start = Instant::now();
    let got = lookup_all(&ips, &opts(addr)).unwrap();
    let took = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.join().unwrap();
    assert_eq!(got.len(), 200);
    assert!(got.iter().all(|(_, p)| !p.is_answer()), "{got:?}");
    // 200 addresses at 800 ms each would take 40 s at 4 at a time; it gives
    // up after the first few time out.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!((1..50).contains(&seen), "the server saw {seen} queries");
}

#[test]
fn cached_answers_are_due_again_after_their_age() {
    let day = Duration::from_secs(86_400);
    assert!(due(None, 1000, day));
    assert!(!due(Some(1000), 1000 + 86_399, day));
    assert!(due(Some(1000), 1000 + 86_400, day));
}
