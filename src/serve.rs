//! Serve: the read-only HTTP server behind `dmarcdb serve` (tiny_http,
//! synchronous, a few worker threads).
//!
//! What it enforces, whatever the pages are:
//!
//! - only `GET` and `HEAD` (anything else is `405`): there is no endpoint
//!   that writes;
//! - loopback by default; listening on any other address needs a token,
//!   which is then checked on every request (`Authorization: Bearer TOKEN`,
//!   or HTTP Basic with the token as password so a browser can ask for
//!   it), compared in constant time;
//! - without a token, the `Host` header must name a loopback address, so a
//!   web page elsewhere cannot reach the dashboard by DNS rebinding;
//! - every response carries a strict Content-Security-Policy (see
//!   [`page::layout`](crate::page::layout)), `nosniff`, no referrer, no
//!   framing, no caching.
//!
//! The pages themselves come from a [`Site`], one per worker thread (each
//! holds its own database connection). This module never prints: the
//! caller is told the bound address through a callback.

use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tiny_http::{Header, Method, Response, Server};

use crate::page::layout::csp_header;

/// Worker threads (the machine this runs on is usually small).
pub const WORKERS: usize = 4;

/// How to listen.
#[derive(Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// Required unless `listen` is loopback; then checked on every request.
    pub token: Option<String>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Why the server did not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listening on {0}, which is not loopback, needs a token (--token-file or serve.token_file in the config)")]
    NeedsToken(SocketAddr),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("cannot open the pages: {0}")]
    Site(String),
}

/// A request's path and its decoded query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    pub params: Vec<(String, String)>,
}

impl Request {
    /// Splits a request target (`/path?a=1&b=x%20y`).
    pub fn parse(target: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        let params = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Request {
            path: decode(path),
            params,
        }
    }

    /// The last value of `key`, if any and not empty.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn html(body: String) -> Reply {
        Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
        }
    }

    pub fn json(body: String) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: body.into_bytes(),
        }
    }

    /// A plain-text error page.
    pub fn error(status: u16, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{text}\n").into_bytes(),
        }
    }
}

/// The pages. One per worker thread.
pub trait Site {
    fn get(&mut self, req: &Request) -> Reply;
}

/// Serves until the process ends. `make_site` is called once per worker;
/// `ready` is told the bound address (port 0 picks a free one).
pub fn run<S, F>(
    opts: &Options,
    make_site: F,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError>
where
    S: Site + Send,
    F: Fn() -> Result<S, String> + Sync,
{
    let loopback = opts.listen.ip().is_loopback();
    if !loopback && opts.token.is_none() {
        return Err(ServeError::NeedsToken(opts.listen));
    }
    let server = Server::http(opts.listen).map_err(|e| ServeError::Bind {
        addr: opts.listen,
        reason: e.to_string(),
    })?;
    let bound = server.server_addr().to_ip().unwrap_or(opts.listen);
    let mut sites = Vec::with_capacity(WORKERS);
    for _ in 0..WORKERS {
        sites.push(make_site().map_err(ServeError::Site)?);
    }
    let gate = Gate {
        token: opts.token.as_deref().map(digest),
    };
    ready(bound);
    std::thread::scope(|s| {
        for mut site in sites {
            let (server, gate) = (&server, &gate);
            s.spawn(move || {
                while let Ok(req) = server.recv() {
                    let reply = gate.answer(&req, &mut site);
                    let _ = req.respond(response(reply));
                }
            });
        }
    });
    Ok(())
}

/// The checks every request passes before a page is made.
struct Gate {
    /// SHA-256 of the token: fixed length, so the comparison is constant
    /// time whatever the length of what was sent.
    token: Option<[u8; 32]>,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl Gate {
    fn answer(&self, req: &tiny_http::Request, site: &mut impl Site) -> Reply {
        let header = |name: &str| {
            req.headers()
                .iter()
                .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                .map(|h| h.value.as_str().to_string())
        };
        if let Some(expected) = &self.token {
            let offered = header("Authorization").and_then(|a| offered_token(&a));
            let ok = offered.is_some_and(|t| bool::from(digest(&t).ct_eq(expected)));
            if !ok {
                return Reply::error(401, "a token is required");
            }
        } else if !header("Host").is_some_and(|h| loopback_host(&h)) {
            return Reply::error(421, "this server answers only to a loopback host name");
        }
        if !matches!(req.method(), Method::Get | Method::Head) {
            return Reply::error(405, "read-only: only GET and HEAD");
        }
        site.get(&Request::parse(req.url()))
    }
}

/// The token in `Authorization: Bearer T` or `Basic base64(any:T)`.
fn offered_token(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        return text.split_once(':').map(|(_, t)| t.to_string());
    }
    None
}

/// `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080` (port optional).
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(n, _)| n)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn response(r: Reply) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut resp = Response::from_data(r.body).with_status_code(r.status);
    let csp = csp_header();
    let mut headers = vec![
        ("Content-Type", r.content_type),
        ("Content-Security-Policy", csp.as_str()),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Cache-Control", "no-store"),
    ];
    if r.status == 401 {
        headers.push((
            "WWW-Authenticate",
            "Basic realm=\"dmarcdb\", charset=\"UTF-8\"",
        ));
    }
    if r.status == 405 {
        headers.push(("Allow", "GET, HEAD"));
    }
    for (k, v) in headers {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let r = Request::parse("/api/sources?org=Google+Inc.&ip=2001%3Adb8%3A%3A1&days=&x");
        assert_eq!(r.path, "/api/sources");
        assert_eq!(r.param("org"), Some("Google Inc."));
        assert_eq!(r.param("ip"), Some("2001:db8::1"));
        assert_eq!(r.param("days"), None);
        assert_eq!(r.param("x"), None);
    }

    #[test]
    fn tokens_come_from_bearer_or_basic() {
        assert_eq!(offered_token("Bearer abc").as_deref(), Some("abc"));
        // "me:s3cret"
        assert_eq!(
            offered_token("Basic bWU6czNjcmV0").as_deref(),
            Some("s3cret")
        );
        assert_eq!(offered_token("Digest x"), None);
        assert_eq!(offered_token("Basic !!!"), None);
    }

    #[test]
    fn only_loopback_host_names_pass_without_a_token() {
        for h in [
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:8080",
            "LOCALHOST",
            "127.1.2.3",
        ] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "evil.example:8080",
            "192.0.2.1:8080",
            "[2001:db8::1]:80",
            "",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
    }
}
