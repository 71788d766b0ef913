//! OAuth2 login for the IMAP source (Microsoft 365, Gmail): where the access
//! token comes from, and the two SASL mechanisms that carry it.
//!
//! The token is read anew for every connection, from a file (which some
//! other program keeps fresh) or from the standard output of a command
//! (which may refresh it; run with `sh -c`, its stderr kept for the error
//! message when it fails). Getting a token — the browser dance, refresh
//! tokens, client secrets — is left to that program; dmarcdb only presents
//! the access token.
//!
//! Mechanisms: `XOAUTH2` (Google's and Microsoft's, `user=…^Aauth=Bearer
//! …^A^A`) and `OAUTHBEARER` (RFC 7628, a GS2 header plus the same
//! key/value pairs). Without a choice, the one the server advertises
//! (`AUTH=…`) is used, `OAUTHBEARER` first. A refused token makes the
//! server send an error challenge (JSON, RFC 7628 §3.2.2); it is answered as
//! each mechanism requires, and its text goes into the error message.
//!
//! The token never appears in an error or a `Debug` output.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a token command may take before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of a token command's stderr quoted in an error.
const STDERR_SHOWN: usize = 500;

/// How to log in with OAuth2.
#[derive(Debug, Clone)]
pub struct OAuth2 {
    pub token: TokenSource,
    /// `None`: what the server advertises.
    pub mechanism: Option<Mechanism>,
}

/// Where the access token comes from, for each connection.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// A file whose first line is the token.
    File(PathBuf),
    /// A shell command printing the token on its first line of stdout.
    Command(String),
}

/// The SASL mechanisms carrying a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    XOAuth2,
    /// RFC 7628.
    OAuthBearer,
}

impl Mechanism {
    /// The name in `AUTHENTICATE` and in the `AUTH=` capability.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// `requested`, or the first of OAUTHBEARER and XOAUTH2 the server
    /// advertises.
    ///
    /// # Errors
    ///
    /// When nothing was requested and the server advertises neither.
    pub fn choose(
        requested: Option<Mechanism>,
        advertised: impl Fn(&str) -> bool,
    ) -> Result<Mechanism, String> {
        if let Some(m) = requested {
            return Ok(m);
        }
        [Mechanism::OAuthBearer, Mechanism::XOAuth2]
            .into_iter()
            .find(|m| advertised(&format!("AUTH={}", m.name())))
            .ok_or_else(|| {
                "the server advertises neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2; \
                 choose one with --oauth2-mechanism"
                    .to_owned()
            })
    }
}

/// An access token; never shown.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Read the token from `source`.
///
/// # Errors
///
/// A one-line reason: the file cannot be read or is empty, the command
/// cannot start, times out, fails (its exit status and stderr), or prints
/// nothing.
pub fn fetch_token(source: &TokenSource) -> Result<Token, String> {
    let (text, from) = match source {
        TokenSource::File(path) => {
            let from = format!("token file {}", path.display());
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {from}: {e}"))?;
            (text, from)
        }
        TokenSource::Command(cmd) => (run_command(cmd)?, format!("token command `{cmd}`")),
    };
    let token = text.lines().map(str::trim).find(|l| !l.is_empty());
    match token {
        Some(t) if t.bytes().all(|b| b.is_ascii_graphic()) => Ok(Token(t.to_owned())),
        Some(_) => Err(format!(
            "{from} gave a token with spaces or control characters"
        )),
        None => Err(format!("{from} gave no token (empty output)")),
    }
}

/// `sh -c cmd`: its stdout, or why it failed (never quoting its stdout).
fn run_command(cmd: &str) -> Result<String, String> {
    let shown = format!("token command `{cmd}`");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    // Read both pipes on their own threads so a chatty command cannot
    // block on a full pipe while we wait for it.
    let stdout = child.stdout.take().map(drain_thread);
    let stderr = child.stderr.take().map(drain_thread);
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} did not finish within {} s",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    };
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    let (out, err) = (join(stdout), join(stderr));
    if status.success() {
        return String::from_utf8(out)
            .map_err(|_| format!("{shown} printed a token that is not UTF-8"));
    }
    let err = String::from_utf8_lossy(&err);
    let mut err = err.split_whitespace().collect::<Vec<_>>().join(" ");
    if err.len() > STDERR_SHOWN {
        let mut cut = STDERR_SHOWN;
        while !err.is_char_boundary(cut) {
            cut -= 1;
        }
        err.truncate(cut);
        err.push('…');
    }
    let status = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    };
    Err(if err.is_empty() {
        format!("{shown} failed ({status}, nothing on stderr)")
    } else {
        format!("{shown} failed ({status}): {err}")
    })
}

fn drain_thread(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Log in with `oauth` on a fresh (greeted, not authenticated) client.
///
/// # Errors
///
/// A one-line reason without the token: it could not be fetched, no
/// mechanism fits, or the server refused it (with the server's words).
pub fn authenticate<T: Read + Write>(
    mut client: imap::Client<T>,
    user: &str,
    host: &str,
    port: u16,
    oauth: &OAuth2,
) -> Result<imap::Session<T>, String> {
    let token = fetch_token(&oauth.token)?;
    let mechanism = {
        let caps = client
            .capabilities()
            .map_err(|e| format!("CAPABILITY failed: {e}"))?;
        Mechanism::choose(oauth.mechanism, |c| caps.has_str(c))?
    };
    let sasl = Sasl {
        mechanism,
        initial: initial_response(mechanism, user, host, port, &token),
        step: Cell::new(0),
        server_said: RefCell::new(None),
    };
    client
        .authenticate(mechanism.name(), &sasl)
        .map_err(|(e, _)| {
            let mut reason = format!("OAuth2 login ({}) as {user} refused: {e}", mechanism.name());
            if let Some(said) = sasl.server_said.borrow().as_deref() {
                reason.push_str(&format!(" (server said {said})"));
            }
            reason.replace(token.secret(), "<token>")
        })
}

/// The client's first message of `mechanism`.
fn initial_response(
    mechanism: Mechanism,
    user: &str,
    host: &str,
    port: u16,
    token: &Token,
) -> Vec<u8> {
    let t = token.secret();
    match mechanism {
        Mechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {t}\x01\x01"),
        // RFC 7628 §3.1: gs2-header "n,a=<authzid>," then kvpairs. `,` and
        // `=` in the user name are escaped as in RFC 5801.
        Mechanism::OAuthBearer => {
            let authzid = user.replace('=', "=3D").replace(',', "=2C");
            format!("n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {t}\x01\x01")
        }
    }
    .into_bytes()
}

/// One SASL exchange; see the module doc.
struct Sasl {
    mechanism: Mechanism,
    initial: Vec<u8>,
    step: Cell<u32>,
    /// The server's error challenge, if it sent one.
    server_said: RefCell<Option<String>>,
}

impl imap::Authenticator for Sasl {
    type Response = Vec<u8>;

    fn process(&self, challenge: &[u8]) -> Vec<u8> {
        let step = self.step.get();
        self.step.set(step + 1);
        if step == 0 {
            return self.initial.clone();
        }
        // An error challenge: keep it for the message (bounded, printable)
        // and end the exchange (RFC 7628 §3.2.3: a single ^A; XOAUTH2: an
        // empty response).
        let text: String = String::from_utf8_lossy(challenge)
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        *self.server_said.borrow_mut() = Some(text);
        match self.mechanism {
            Mechanism::XOAuth2 => Vec::new(),
            Mechanism::OAuthBearer => vec![0x01],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_responses_follow_each_mechanism() {
        let t = Token("ya29.tok".into());
        assert_eq!(
            initial_response(Mechanism::XOAuth2, "a@b.example", "h", 993, &t),
            b"user=a@b.example\x01auth=Bearer ya29.tok\x01\x01"
        );
        assert_eq!(
            initial_response(Mechanism::OAuthBearer, "a,=b", "imap.example", 993, &t),
            b"n,a=a=2C=3Db,\x01host=imap.example\x01port=993\x01auth=Bearer ya29.tok\x01\x01"
        );
    }

    #[test]
    fn mechanism_follows_the_request_then_the_server() {
        let none = |_: &str| false;
        let both = |c: &str| c == "AUTH=XOAUTH2" || c == "AUTH=OAUTHBEARER";
        let xo = |c: &str| c == "AUTH=XOAUTH2";
        assert_eq!(Mechanism::choose(None, both), Ok(Mechanism::OAuthBearer));
        assert_eq!(Mechanism::choose(None, xo), Ok(Mechanism::XOAuth2));
        assert!(Mechanism::choose(None, none).is_err());
        let forced = Mechanism::choose(Some(Mechanism::XOAuth2), none);
        assert_eq!(forced, Ok(Mechanism::XOAuth2));
    }

    #[test]
    fn token_command_failure_reports_status_and_stderr() {
        let cmd = "printf 'se%s\\n' cret; echo expired >&2; exit 7";
        let e = fetch_token(&TokenSource::Command(cmd.into())).unwrap_err();
        assert!(e.contains("exit status 7") && e.contains("expired"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let t = fetch_token(&TokenSource::Command("printf '\\n  tok123 \\n'".into())).unwrap();
        assert_eq!(t.secret(), "tok123");
        assert!(!format!("{t:?}").contains("tok123"));
        let e = fetch_token(&TokenSource::Command("true".into())).unwrap_err();
        assert!(e.contains("gave no token"), "{e}");
    }

    #[test]
    fn token_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "abc\nignored\n").unwrap();
        assert_eq!(
            fetch_token(&TokenSource::File(p.clone())).unwrap().secret(),
            "abc"
        );
        std::fs::write(&p, "").unwrap();
        assert!(fetch_token(&TokenSource::File(p))
            .unwrap_err()
            .contains("no token"));
    }
}
