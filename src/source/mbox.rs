//! The mbox source: every message of an mbox file (or of stdin), in order,
//! named `<path>#<n>` (1-based). The file is only read, never modified, so
//! [`Source::ack`] has nothing to do.
//!
//! Splitting is mail-parser's [`MessageIterator`], which reads a stream line
//! by line: every line starting with `From ` begins a message (that line, the
//! envelope, is dropped), and `>From `, `>>From ` ... lose one `>` (mboxrd
//! un-quoting, which also undoes mboxo's quoting of plain `From `). Lines are
//! kept with their own ending, so LF and CRLF files both come out as written;
//! the blank line that separates messages stays at the end of the previous
//! one, which MIME parsing ignores.
//! A writer that relies on `Content-Length:` instead of quoting (mboxcl2)
//! would get its messages split at unquoted `From ` body lines.
//!
//! Memory holds one message at a time; a message over the size cap stops
//! the mbox with an error rather than growing without bound.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, Cursor, Read};
use std::path::Path;
use std::rc::Rc;

use mail_parser::mailbox::mbox::MessageIterator;

use super::read::DEFAULT_MAX_INPUT;
use super::{Input, InputKind, Source, SourceError, SourceReason};

/// Does `head`, the first bytes of a file, look like an mbox? It must start
/// with an envelope line (`From <sender> <date>`, the date holding a digit),
/// and, when `head` reaches the second line, that line must be a header
/// field (`Name:`): a text that merely opens with the word "From" is not an
/// mbox. A single-message mbox counts as an mbox.
pub fn looks_like_mbox(head: &[u8]) -> bool {
    let Some(rest) = head.strip_prefix(b"From ") else {
        return false;
    };
    let (envelope, next) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let envelope = String::from_utf8_lossy(envelope);
    let mut words = envelope.split_whitespace();
    let sender_and_date = words.next().is_some() && words.next().is_some();
    if !sender_and_date || !envelope.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    match next {
        None | Some([]) => true,
        Some(line) => starts_with_header_field(line),
    }
}

/// `Name:` with a field name of printable ASCII other than `:` (RFC 5322
/// section 2.2).
fn starts_with_header_field(line: &[u8]) -> bool {
    let name_len = line
        .iter()
        .take_while(|&&b| b.is_ascii_graphic() && b != b':')
        .count();
    name_len > 0 && line.get(name_len) == Some(&b':')
}

/// The messages of one mbox stream.
pub struct MboxSource {
    name: String,
    messages: MessageIterator<CappedReader>,
    /// Messages yielded so far.
    count: u64,
    done: bool,
    /// Shared with the reader inside `messages`.
    max_message: Rc<Cell<u64>>,
}

impl MboxSource {
    /// Opens the mbox file at `path` for streaming; messages are named
    /// `<path>#<n>`.
    pub fn open(path: &Path) -> Result<MboxSource, SourceError> {
        let file = File::open(path).map_err(|e| SourceError {
            name: path.display().to_string(),
            reason: SourceReason::Io {
                context: "cannot open: ",
                source: e,
            },
            fatal: false,
        })?;
        Ok(MboxSource::from_reader(path.display().to_string(), file))
    }

    /// An mbox already in memory (stdin); messages are named `<name>#<n>`.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> MboxSource {
        MboxSource::from_reader(name, Cursor::new(bytes))
    }

    /// An mbox read from any stream; messages are named `<name>#<n>`.
    pub fn from_reader(name: impl Into<String>, reader: impl Read + 'static) -> MboxSource {
        let max_message = Rc::new(Cell::new(DEFAULT_MAX_INPUT));
        let reader = CappedReader::new(Box::new(reader), Rc::clone(&max_message));
        MboxSource {
            name: name.into(),
            messages: MessageIterator::new(reader),
            count: 0,
            done: false,
            max_message,
        }
    }

    /// Largest message read, in bytes (default [`DEFAULT_MAX_INPUT`]). A
    /// bigger one ends the mbox with an error: finding the next message
    /// would mean reading through the whole oversized one.
    pub fn with_max_message(self, max: u64) -> MboxSource {
        self.max_message.set(max);
        self
    }
}

impl Source for MboxSource {
    fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
        if self.done {
            return None;
        }
        match self.messages.next() {
            None => {
                self.done = true;
                None
            }
            Some(Ok(message)) => {
                self.count += 1;
                Some(Ok(Input {
                    name: format!("{}#{}", self.name, self.count),
                    bytes: message.unwrap_contents().into(),
                    kind: InputKind::Mail,
                    token: self.count,
                    opened: None,
                }))
            }
            Some(Err(e)) => {
                // The iterator cannot resynchronise after a failed read.
                self.done = true;
                Some(Err(SourceError {
                    name: format!("{}#{}", self.name, self.count + 1),
                    reason: SourceReason::MboxCut(e),
                    fatal: false,
                }))
            }
        }
    }
}

/// A buffered reader that fails once more than the cap has been read since
/// the last line starting with `From ` (the start of the current message),
/// so a runaway message cannot fill memory inside [`MessageIterator`].
struct CappedReader {
    inner: Box<dyn Read>,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    cap: Rc<Cell<u64>>,
    /// Bytes consumed since the last `From ` line began.
    since_from: u64,
    /// At a line start with this many bytes of `From ` matched, or `None`
    /// in the middle of a line.
    line_start: Option<usize>,
}

impl CappedReader {
    fn new(inner: Box<dyn Read>, cap: Rc<Cell<u64>>) -> CappedReader {
        CappedReader {
            inner,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            filled: 0,
            cap,
            since_from: 0,
            line_start: Some(0),
        }
    }

    fn track(&mut self, bytes_consumed: usize) {
        const FROM: &[u8] = b"From ";
        for &b in &self.buf[self.pos..self.pos + bytes_consumed] {
            self.since_from += 1;
            self.line_start = match self.line_start {
                Some(k) if b == FROM[k] && k + 1 == FROM.len() => {
                    self.since_from = 0;
                    None
                }
                Some(k) if b == FROM[k] => Some(k + 1),
                _ if b == b'\n' => Some(0),
                _ => None,
            };
        }
    }
}

impl Read for CappedReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for CappedReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let cap = self.cap.get();
        if self.since_from > cap {
            return Err(io::Error::other(format!(
                "message is over the limit of {cap} bytes"
            )));
        }
        if self.pos == self.filled {
            self.filled = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.filled - self.pos);
        self.track(amt);
        self.pos += amt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MBOX: &str = "From alice@example.com Sat Jan  3 01:05:34 2024\n\
Subject: one\n\
\n\
first body\n\
>From me, with love\n\
>>From quoted twice\n\
\n\
From bob@example.com Sun Jan  4 02:00:00 2024\n\
Subject: two\n\
\n\
second body\n\
\n\
From carol@example.com Mon Jan  5 03:00:00 2024\n\
Subject: three\n\
\n\
third body\n";

    fn collect(source: &mut dyn Source) -> Vec<Result<Input, SourceError>> {
        std::iter::from_fn(|| source.next_input()).collect()
    }

    fn names_and_bodies(inputs: Vec<Result<Input, SourceError>>) -> Vec<(String, String)> {
        inputs
            .into_iter()
            .map(|r| {
                let input = r.expect("message");
                assert_eq!(input.kind, InputKind::Mail);
                (
                    input.name,
                    String::from_utf8(input.bytes.to_vec()).expect("utf-8"),
                )
            })
            .collect()
    }

    #[test]
    fn lf_mbox_yields_every_message_unquoting_from_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports.mbox");
        std::fs::write(&path, MBOX).unwrap();

        let mut source = MboxSource::open(&path).unwrap();
        let got = names_and_bodies(collect(&mut source));
        let name = path.display().to_string();
        assert_eq!(
            got,
            vec![
                (
                    format!("{name}#1"),
                    "Subject: one\n\nfirst body\nFrom me, with love\n>From quoted twice\n\n"
                        .to_string()
                ),
                (
                    format!("{name}#2"),
                    "Subject: two\n\nsecond body\n\n".to_string()
                ),
                (
                    format!("{name}#3"),
                    "Subject: three\n\nthird body\n".to_string()
                ),
            ]
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            MBOX.as_bytes(),
            "file untouched"
        );
    }

    #[test]
    fn crlf_mbox_keeps_crlf_and_unquotes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crlf.mbox");
        let crlf = MBOX.replace('\n', "\r\n");
        std::fs::write(&path, &crlf).unwrap();

        let mut source = MboxSource::open(&path).unwrap();
        let got = names_and_bodies(collect(&mut source));
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].1,
            "Subject: one\r\n\r\nfirst body\r\nFrom me, with love\r\n>From quoted twice\r\n\r\n"
        );
        assert_eq!(got[2].1, "Subject: three\r\n\r\nthird body\r\n");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            crlf.as_bytes(),
            "file untouched"
        );
    }

    #[test]
    fn in_memory_mbox_is_named_after_the_given_name() {
        let mut source = MboxSource::from_bytes("stdin", MBOX.as_bytes().to_vec());
        let names: Vec<String> = names_and_bodies(collect(&mut source))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["stdin#1", "stdin#2", "stdin#3"]);
    }

    #[test]
    fn message_over_the_cap_stops_the_mbox_with_an_error() {
        // The cap counts from the `From ` of the envelope line, so message 1
        // (about 110 bytes) is over 40 before its body is read.
        let mut source =
            MboxSource::from_bytes("big", MBOX.as_bytes().to_vec()).with_max_message(40);
        let got = collect(&mut source);
        assert_eq!(got.len(), 1, "{got:?}");
        let err = got.into_iter().next().unwrap().unwrap_err();
        assert_eq!(err.name, "big#1");
        assert!(
            err.reason
                .to_string()
                .contains("over the limit of 40 bytes"),
            "{}",
            err.reason
        );
        assert!(!err.fatal);
        assert!(source.next_input().is_none());
    }

    /// A reader returning one byte per call, like a slow pipe.
    struct OneByte(Cursor<Vec<u8>>);

    impl Read for OneByte {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(1);
            self.0.read(&mut out[..n])
        }
    }

    #[test]
    fn small_messages_pass_a_small_cap() {
        let reader = OneByte(Cursor::new(MBOX.as_bytes().to_vec()));
        let mut source = MboxSource::from_reader("m", reader).with_max_message(200);
        assert_eq!(names_and_bodies(collect(&mut source)).len(), 3);
    }

    #[test]
    fn detection_by_content() {
        assert!(looks_like_mbox(MBOX.as_bytes()));
        assert!(looks_like_mbox(MBOX.replace('\n', "\r\n").as_bytes()));
        assert!(looks_like_mbox(
            b"From - Mon Jan  1 00:00:00 2024\nX-Mozilla-Status: 0001\n"
        ));
        assert!(looks_like_mbox(
            b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024"
        ));
        assert!(!looks_like_mbox(
            b"From the desk of the postmaster: hello\nthere\n"
        ));
        assert!(!looks_like_mbox(b"From me\n"));
        assert!(!looks_like_mbox(b"<?xml version=\"1.0\"?><feedback/>"));
        assert!(!looks_like_mbox(b"\x1f\x8b\x08\x00"));
        assert!(!looks_like_mbox(b""));
    }
}
