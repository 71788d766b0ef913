//! A TCP proxy on loopback that adds a round-trip time, as a remote mail
//! server has (loopback has none), and counts round trips.
//!
//! Each direction of each connection is a reader thread that stamps every
//! chunk it reads and a writer thread that forwards it half the round trip
//! later, so that bandwidth is untouched and pipelined bytes stay
//! pipelined: only waiting for an answer costs the delay. A round trip is
//! counted each time the client sends after having received (or first):
//! the number of times a client that waits for each answer must wait. The
//! traffic is TLS, so commands themselves are counted in Dovecot's rawlog
//! ([`super::dovecot::Dovecot::commands`]).
//!
//! Used by the IMAP tests and by `examples/imap_bench.rs` (bench/run.sh).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A running proxy; stops accepting when dropped (open connections run on
/// until either side closes).
pub struct Proxy {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct Stats {
    round_trips: AtomicU64,
    connections: AtomicU64,
}

impl Proxy {
    /// Listen on a free port of 127.0.0.1 and forward every connection to
    /// `upstream`, each way delayed by half of `rtt`.
    pub fn start(upstream: SocketAddr, rtt: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy: bind");
        let addr = listener.local_addr().expect("proxy: local_addr");
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (Arc::clone(&stats), Arc::clone(&stop));
        thread::spawn(move || {
            for client in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                st.connections.fetch_add(1, Ordering::SeqCst);
                connect_pair(client, server, rtt / 2, Arc::clone(&st));
            }
        });
        Proxy { addr, stats, stop }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Round trips so far, over all connections.
    pub fn round_trips(&self) -> u64 {
        self.stats.round_trips.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.stats.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Which side spoke last on a connection: 0 nobody, 1 client, 2 server.
type LastSpoke = Arc<std::sync::atomic::AtomicU8>;

fn connect_pair(client: TcpStream, server: TcpStream, delay: Duration, stats: Arc<Stats>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let last: LastSpoke = Arc::default();
    let pairs = [
        (client.try_clone(), server.try_clone(), true),
        (server.try_clone(), client.try_clone(), false),
    ];
    for (from, to, upstream) in pairs {
        let (Ok(from), Ok(to)) = (from, to) else {
            return;
        };
        let (stats, last) = (Arc::clone(&stats), Arc::clone(&last));
        pump(from, to, delay, move || {
            let me = if upstream { 1 } else { 2 };
            if last.swap(me, Ordering::SeqCst) != me && upstream {
                stats.round_trips.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
}

/// Copy `from` to `to`, each chunk `delay` after it was read; `on_chunk`
/// runs as each chunk is read.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    delay: Duration,
    on_chunk: impl Fn() + Send + 'static,
) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    on_chunk();
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Read);
    });
    thread::spawn(move || {
        for (due, bytes) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
