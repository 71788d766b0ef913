//! A private dnsmasq on a free loopback port, for reverse-DNS tests: it
//! answers only from the records given (`--host-record` makes A/AAAA and
//! PTR, `--ptr-record` a PTR alone) and NXDOMAIN for anything else under
//! the zones it is told are local. Without dnsmasq the test is skipped,
//! unless CI=true, where it fails. Stopped (killed by its pid) on drop.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dnsmasq {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<String> {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

/// Starts dnsmasq with `args` (records), or `None` when it is not
/// installed and CI is not set.
pub fn start(args: &[&str]) -> Option<Dnsmasq> {
    let Some(bin) = binary() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("dnsmasq is not installed (.ci/install-deps.sh installs dnsmasq-base)");
        }
        eprintln!("skipped: dnsmasq is not installed");
        return None;
    };
    for _ in 0..10 {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(&bin)
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--local=/in-addr.arpa/",
                "--local=/ip6.arpa/",
                "--local=/test/",
            ])
            .arg(format!("--port={port}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break; // the port was taken meanwhile: try another
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Some(Dnsmasq { child, addr });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("dnsmasq did not start");
}
