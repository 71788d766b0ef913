//! A tiny OAuth2 token introspection endpoint (RFC 7662) on loopback, for
//! Dovecot's oauth2 passdb in the IMAP OAuth2 tests.
//!
//! It knows one good token for one user and answers every request, on a
//! thread of its own, with `{"active": true, "username": USER}` when the
//! request carries that token — as the form field `token` (`post`), as the
//! query parameter `access_token` (`get`, with [`Introspection::get_url`]),
//! or as `Authorization: Bearer` (`auth`) — and
//! `{"active": false}` otherwise. It counts the requests, so that a test can
//! tell the server really asked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running endpoint; it stops with the test process.
pub struct Introspection {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl Introspection {
    /// Serve on a free port of 127.0.0.1.
    pub fn start(good_token: &str, user: &str) -> Introspection {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind introspection port");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let (token, user, count) = (good_token.to_owned(), user.to_owned(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = answer(stream, &token, &user);
            }
        });
        Introspection { port, requests }
    }

    /// `http://127.0.0.1:PORT/introspect`, for modes `post` and `auth`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }

    /// The URL for mode `get`, to which Dovecot appends the token.
    pub fn get_url(&self) -> String {
        format!("{}?access_token=", self.url())
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Read one HTTP/1.1 request, answer it, close.
fn answer(stream: TcpStream, token: &str, user: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    let mut bearer = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("authorization") {
            bearer = value.strip_prefix("Bearer ").unwrap_or("").to_owned();
        }
    }
    let mut body = vec![0; length.min(64 * 1024)];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body);
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    // `post`: the form field `token`; `get`: Dovecot appends the token to
    // the URL, then `&client_id=&client_secret=`.
    let form_token = body.split('&').find_map(|kv| kv.strip_prefix("token="));
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let query_token = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("access_token="));
    let good = [form_token, query_token, Some(bearer.as_str())].contains(&Some(token));
    let json = if good {
        format!(r#"{{"active": true, "username": "{user}"}}"#)
    } else {
        r#"{"active": false}"#.to_owned()
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    )?;
    stream.flush()
}
