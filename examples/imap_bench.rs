//! The IMAP item of `bench/run.sh` (issue 19): `dmarcdb imap` against a real
//! Dovecot through a latency proxy, at several round-trip times.
//!
//! For each round trip: a fresh Dovecot whose INBOX holds N unseen report
//! mails (written into its maildir before it starts), a proxy adding the
//! round trip, one timed run of `dmarcdb imap` into a new database, then
//! checks that every report is stored and every mail seen. Prints one
//! tab-separated line per round trip: rtt_ms, seconds, messages/s, round
//! trips (counted by the proxy), commands, SEARCH, FETCH, STORE (from
//! Dovecot's rawlog).
//!
//! ```text
//! cargo run --release --example imap_bench -- target/release/dmarcdb 2000 0,20,100
//! ```
//!
//! Shares the test harness (tests/common/) rather than copying it.

// The harness serves many tests; the bench uses part of it.
#![allow(dead_code)]

// An inline module with a path, so that `dovecot.rs` finds its own
// submodules (`dovecot/auth.rs`) as it does under tests/common/.
#[path = "../tests/common"]
mod common {
    pub mod dovecot;
    pub mod mail;
    pub mod proxy;
}

use common::{dovecot, mail, proxy};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dovecot::{Dovecot, Options};
use proxy::Proxy;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: imap_bench DMARCDB_BIN [MESSAGES] [RTT_MS,...] [BATCH]";
    let bin = args.get(1).expect(usage);
    let n: usize = args.get(2).map_or(2000, |s| s.parse().expect(usage));
    let rtts: Vec<u64> = args
        .get(3)
        .map_or("0,20,100", String::as_str)
        .split(',')
        .map(|s| s.trim().parse().expect(usage))
        .collect();
    let batch = args.get(4).map_or("200", String::as_str);
    println!("rtt_ms\tseconds\tmsgs_per_s\tround_trips\tcommands\tsearch\tfetch\tstore");
    for rtt in rtts {
        let line = measure(Path::new(bin), n, rtt, batch);
        println!("{line}");
    }
}

fn measure(bin: &Path, n: usize, rtt_ms: u64, batch: &str) -> String {
    let options = Options {
        rawlog: true,
        ..Options::default()
    };
    let d = Dovecot::start_with_mail(options, &|inbox| {
        for i in 0..n {
            let id = format!("bench-{i:06}");
            inbox.add(&mail::simple_report_mail(&id, 1_760_000_000), false);
        }
    })
    .expect("dovecot is not installed");
    let proxy = Proxy::start(
        ([127, 0, 0, 1], d.port()).into(),
        Duration::from_millis(rtt_ms),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.sqlite");
    let before = d.sessions_logged();
    let started = Instant::now();
    let out = Command::new(bin)
        .env_remove("DMARCDB_DB")
        .envs(d.env())
        .env("DMARC_IMAP_PORT", proxy.port().to_string())
        .arg("--db")
        .arg(&db)
        .args(["imap", "--batch", batch, "--ca-file"])
        .arg(d.ca_pem_path())
        .output()
        .expect("run dmarcdb");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "dmarcdb imap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(&format!("{n} new report(s)")),
        "not every report stored: {summary}"
    );
    assert_eq!(d.seen_count("INBOX"), n, "not every mail marked seen");
    let commands = d.commands(&before);
    let sent = |verb: &str| commands.iter().filter(|c| c.starts_with(verb)).count();
    format!(
        "{rtt_ms}\t{seconds:.2}\t{:.0}\t{}\t{}\t{}\t{}\t{}",
        n as f64 / seconds,
        proxy.round_trips(),
        commands.len(),
        sent("UID SEARCH"),
        sent("UID FETCH"),
        sent("UID STORE"),
    )
}
