//! The source behind `dmarcdb ingest PATH...`: files, directories, stdin,
//! and the Maildirs and mboxes among them, one input at a time.
//!
//! For each path, in order:
//! - `-` is stdin, read to the end;
//! - a Maildir (a directory with `cur/`, `new/`, `tmp/`) is read by
//!   [`MaildirSource`], with its Maildir++ `.Folder`s when `recursive`;
//! - any other directory is walked depth-first in name order; Maildirs met
//!   on the way are read as Maildirs, symlinks to directories are not
//!   followed (so a link to a parent cannot loop), and sockets, FIFOs and
//!   devices inside are skipped;
//! - a file (or stdin, or a FIFO named on the command line) whose first
//!   bytes look like an mbox ([`looks_like_mbox`]) is streamed by
//!   [`MboxSource`]; anything else is one [`InputKind::File`] input of at
//!   most `max_input` bytes.
//!
//! Files the run writes itself (the database and its companions, see
//! [`OwnFiles`]) are skipped wherever they are met, and counted.
//!
//! A path that cannot be read is a non-fatal error naming it, and the rest
//! goes on. Only directory listings (names) are held in memory; file
//! contents are read when their turn comes.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, Metadata};
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::maildir::{is_maildir, subfolders, MaildirSource};
use super::mbox::{looks_like_mbox, MboxSource};
use super::own::OwnFiles;
pub use super::read::DEFAULT_MAX_INPUT;
use super::read::{io_reason, read_rest};
use super::{Input, InputKind, Source, SourceError};

/// How much of a file is read to decide whether it is an mbox.
const HEAD_LEN: u64 = 4096;

/// Options for [`open_paths`].
#[derive(Debug, Clone)]
pub struct PathOptions {
    /// Maildir: read seen messages too, not only unseen ones.
    pub all: bool,
    /// Maildir: read the Maildir++ subfolders (`.Folder/`) too.
    pub recursive: bool,
    /// Maildir: leave messages unmarked on ack.
    pub dry_run: bool,
    /// Biggest file (or message) read, in bytes; a bigger one is an error.
    pub max_input: u64,
    /// Files this run writes, never read as inputs.
    pub own: Arc<OwnFiles>,
}

impl Default for PathOptions {
    fn default() -> PathOptions {
        PathOptions {
            all: false,
            recursive: false,
            dry_run: false,
            max_input: DEFAULT_MAX_INPUT,
            own: Arc::default(),
        }
    }
}

/// The inputs found at `paths`, in order; see the module doc.
pub fn open_paths(paths: &[PathBuf], opts: &PathOptions) -> Box<dyn Source> {
    Box::new(PathsSource::new(paths.to_vec(), opts.clone()))
}

/// A source being drained before the walk goes on.
enum Current {
    /// Index into `PathsSource::maildirs`.
    Maildir(usize),
    Mbox(MboxSource),
}

struct PathsSource {
    opts: PathOptions,
    /// Command-line paths not started yet.
    paths: VecDeque<PathBuf>,
    /// The directories being walked, innermost last; each holds the entries
    /// still to visit, in reverse order.
    dirs: Vec<Vec<PathBuf>>,
    /// (device, inode) of the directories entered, against bind-mount loops
    /// and a directory named twice.
    visited: HashSet<(u64, u64)>,
    /// Maildirs found but not opened yet.
    maildir_queue: VecDeque<PathBuf>,
    /// Every Maildir opened, kept so that late acks still reach it.
    maildirs: Vec<MaildirSource>,
    current: Option<Current>,
    /// Own files met and skipped.
    own_skipped: u64,
}

/// Input tokens of Maildir messages carry the Maildir's index + 1 in the
/// high half and the Maildir's own token in the low half; 0 in the high
/// half means nothing to ack.
const TOKEN_SHIFT: u32 = 32;

impl PathsSource {
    fn new(paths: Vec<PathBuf>, opts: PathOptions) -> PathsSource {
        PathsSource {
            opts,
            paths: paths.into(),
            dirs: Vec::new(),
            visited: HashSet::new(),
            maildir_queue: VecDeque::new(),
            maildirs: Vec::new(),
            current: None,
            own_skipped: 0,
        }
    }

    /// The next input of the current Maildir or mbox, if any.
    fn next_from_current(&mut self) -> Option<Result<Input, SourceError>> {
        match self.current.as_mut()? {
            // Nothing to ack in an mbox: token 0.
            Current::Mbox(mbox) => mbox
                .next_input()
                .map(|result| result.map(|input| Input { token: 0, ..input })),
            Current::Maildir(index) => {
                let high = (*index as u64 + 1) << TOKEN_SHIFT;
                let next = self.maildirs[*index].next_input();
                next.map(|result| {
                    result.map(|input| Input {
                        token: high | input.token,
                        ..input
                    })
                })
            }
        }
    }

    /// Looks at one path: returns an input or an error, or starts a
    /// directory walk or a Maildir/mbox source and returns `None`.
    /// `named` is true for a path given on the command line, whose
    /// symlinks are followed.
    fn visit(&mut self, path: PathBuf, named: bool) -> Option<Result<Input, SourceError>> {
        if named && path.as_os_str() == "-" {
            return self.read_stream("stdin".to_string(), io::stdin(), None);
        }
        let name = path.display().to_string();
        let meta = if named {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        };
        let mut meta = match meta {
            Ok(meta) => meta,
            Err(e) => return Some(Err(error(name, "", &e))),
        };
        if meta.file_type().is_symlink() {
            meta = match fs::metadata(&path) {
                Err(e) => return Some(Err(error(name, "cannot follow symlink: ", &e))),
                // Not followed: a link to a parent would loop.
                Ok(target) if target.is_dir() => return None,
                Ok(target) => target,
            };
        }
        if meta.is_dir() {
            self.enter_dir(path, &meta)
        } else if self.opts.own.contains(&path, &meta) {
            self.own_skipped += 1;
            None
        } else if meta.is_file() || named {
            self.read_file(&path, name, &meta)
        } else {
            // Opening a FIFO found in a tree would block.
            None
        }
    }

    fn enter_dir(&mut self, path: PathBuf, meta: &Metadata) -> Option<Result<Input, SourceError>> {
        if let Some(key) = dir_key(meta) {
            if !self.visited.insert(key) {
                return None;
            }
        }
        if is_maildir(&path) {
            if self.opts.recursive {
                let folders = subfolders(&path);
                self.maildir_queue.push_back(path);
                self.maildir_queue.extend(folders);
            } else {
                self.maildir_queue.push_back(path);
            }
            return None;
        }
        let listing = match fs::read_dir(&path) {
            Ok(listing) => listing,
            Err(e) => {
                let name = path.display().to_string();
                return Some(Err(error(name, "cannot read directory: ", &e)));
            }
        };
        let mut entries = Vec::new();
        let mut first_error = None;
        for entry in listing {
            match entry {
                Ok(entry) => entries.push(entry.path()),
                Err(e) => {
                    let name = path.display().to_string();
                    first_error.get_or_insert_with(|| error(name, "cannot read directory: ", &e));
                }
            }
        }
        // Reversed, so that popping from the end goes in name order.
        entries.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
        self.dirs.push(entries);
        first_error.map(Err)
    }

    fn read_file(
        &mut self,
        path: &Path,
        name: String,
        meta: &Metadata,
    ) -> Option<Result<Input, SourceError>> {
        match File::open(path) {
            Ok(file) => {
                let len = meta.is_file().then_some(meta.len());
                self.read_stream(name, file, len)
            }
            Err(e) => Some(Err(error(name, "cannot open: ", &e))),
        }
    }

    /// Reads a file or stream: an mbox becomes the current source, anything
    /// else one input. `len` is the file size when known.
    fn read_stream(
        &mut self,
        name: String,
        mut reader: impl Read + 'static,
        len: Option<u64>,
    ) -> Option<Result<Input, SourceError>> {
        let mut head = Vec::new();
        if let Err(e) = reader.by_ref().take(HEAD_LEN).read_to_end(&mut head) {
            return Some(Err(error(name, "cannot read: ", &e)));
        }
        if looks_like_mbox(&head) {
            let stream = Cursor::new(head).chain(reader);
            let mbox = MboxSource::from_reader(name, stream).with_max_message(self.opts.max_input);
            self.current = Some(Current::Mbox(mbox));
            return None;
        }
        Some(match read_rest(reader, head, len, self.opts.max_input) {
            Ok(bytes) => Ok(Input {
                name,
                bytes: bytes.into(),
                kind: InputKind::File,
                token: 0,
            }),
            Err(e) => Err(error(name, "", &e)),
        })
    }
}

impl Source for PathsSource {
    fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
        loop {
            if let Some(next) = self.next_from_current() {
                return Some(next);
            }
            self.current = None;
            if let Some(path) = self.maildir_queue.pop_front() {
                let maildir = MaildirSource::new(path, self.opts.all, self.opts.dry_run)
                    .with_max_input(self.opts.max_input);
                self.maildirs.push(maildir);
                self.current = Some(Current::Maildir(self.maildirs.len() - 1));
                continue;
            }
            let (path, named) = match self.dirs.last_mut() {
                Some(entries) => match entries.pop() {
                    Some(path) => (path, false),
                    None => {
                        self.dirs.pop();
                        continue;
                    }
                },
                None => (self.paths.pop_front()?, true),
            };
            if let Some(result) = self.visit(path, named) {
                return Some(result);
            }
        }
    }

    fn ack(&mut self, input: &Input) -> Result<(), SourceError> {
        let high = input.token >> TOKEN_SHIFT;
        let low = input.token & ((1 << TOKEN_SHIFT) - 1);
        match usize::try_from(high) {
            Ok(index @ 1..) => match self.maildirs.get_mut(index - 1) {
                Some(maildir) => maildir.mark_seen(low, &input.name),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn own_files_skipped(&self) -> u64 {
        self.own_skipped
    }
}

/// Identity of a directory, where the platform has one.
fn dir_key(meta: &Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

fn error(name: String, context: &str, e: &io::Error) -> SourceError {
    SourceError {
        name,
        reason: format!("{context}{}", io_reason(e)),
        fatal: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn drain(source: &mut dyn Source) -> Vec<Result<Input, SourceError>> {
        std::iter::from_fn(|| source.next_input()).collect()
    }

    /// Each input as `name` or `error name: reason`, relative to `root`.
    fn outline(results: &[Result<Input, SourceError>], root: &Path) -> Vec<String> {
        let strip = |name: &str| {
            let root = format!("{}/", root.display());
            name.strip_prefix(&root).unwrap_or(name).to_string()
        };
        results
            .iter()
            .map(|result| match result {
                Ok(input) => strip(&input.name),
                Err(e) => format!("error {}: {}", strip(&e.name), e.reason),
            })
            .collect()
    }

    fn write(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn make_maildir(path: &Path) {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(path.join(sub)).unwrap();
        }
    }

    const MBOX: &[u8] = b"From a@example.com Mon Jan  1 00:00:00 2024\nSubject: 1\n\none\n\n\
From b@example.com Mon Jan  1 00:00:01 2024\nSubject: 2\n\ntwo\n";

    #[test]
    fn directory_tree_yields_all_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("b.xml"), b"<b/>");
        write(&root.join("a/z.xml.gz"), b"z");
        write(&root.join("a/y/x.zip"), b"x");
        write(&root.join("a/y/w.xml"), b"w");
        fs::create_dir(root.join("c")).unwrap();

        let results = drain(&mut *open_paths(
            &[root.to_path_buf()],
            &PathOptions::default(),
        ));
        assert_eq!(
            outline(&results, root),
            ["a/y/w.xml", "a/y/x.zip", "a/z.xml.gz", "b.xml"]
        );
        let first = results[0].as_ref().unwrap();
        assert_eq!(
            (first.kind, first.bytes.as_slice()),
            (InputKind::File, &b"w"[..])
        );
    }

    #[test]
    fn symlink_loop_terminates() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("sub/report.xml"), b"<r/>");
        symlink("..", root.join("sub/parent")).unwrap();
        symlink(root, root.join("sub/absolute")).unwrap();
        // A link to itself cannot even be resolved: an error, and on.
        symlink("self", root.join("sub/self")).unwrap();

        let results = drain(&mut *open_paths(
            &[root.to_path_buf()],
            &PathOptions::default(),
        ));
        assert_eq!(
            outline(&results, root),
            [
                "sub/report.xml",
                "error sub/self: cannot follow symlink: too many levels of symbolic links"
            ]
        );
    }

    #[test]
    fn unreadable_entry_is_an_error_and_the_walk_goes_on() {
        // Tests run as root, so chmod 000 would not stop the read; a
        // dangling symlink fails for root too.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("a.xml"), b"a");
        symlink(root.join("gone"), root.join("b.xml")).unwrap();
        write(&root.join("c.xml"), b"c");

        let results = drain(&mut *open_paths(
            &[root.to_path_buf()],
            &PathOptions::default(),
        ));
        assert_eq!(
            outline(&results, root),
            [
                "a.xml",
                "error b.xml: cannot follow symlink: no such file or directory",
                "c.xml"
            ]
        );
        assert!(results
            .iter()
            .all(|r| r.as_ref().map_or_else(|e| !e.fatal, |_| true)));
    }

    #[test]
    fn missing_path_is_a_non_fatal_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("there.xml"), b"x");
        let paths = [root.join("missing.xml"), root.join("there.xml")];
        let results = drain(&mut *open_paths(&paths, &PathOptions::default()));
        assert_eq!(
            outline(&results, root),
            ["error missing.xml: no such file or directory", "there.xml"]
        );
        assert!(!results[0].as_ref().unwrap_err().fatal);
    }

    #[test]
    fn file_over_max_input_is_an_error_naming_size_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("big.xml"), &[b'x'; 100]);
        write(&root.join("small.xml"), b"tiny");
        let opts = PathOptions {
            max_input: 10,
            ..PathOptions::default()
        };
        let results = drain(&mut *open_paths(&[root.to_path_buf()], &opts));
        assert_eq!(
            outline(&results, root),
            [
                "error big.xml: 100 bytes, over the limit of 10 bytes; not read",
                "small.xml"
            ]
        );
    }

    #[test]
    fn mbox_file_yields_its_messages() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("archive"), MBOX);
        write(&root.join("report.xml"), b"From here on, not an mbox\n");
        let results = drain(&mut *open_paths(
            &[root.to_path_buf()],
            &PathOptions::default(),
        ));
        assert_eq!(
            outline(&results, root),
            ["archive#1", "archive#2", "report.xml"]
        );
        let kinds: Vec<InputKind> = results.iter().map(|r| r.as_ref().unwrap().kind).collect();
        assert_eq!(kinds, [InputKind::Mail, InputKind::Mail, InputKind::File]);
        assert_eq!(
            results[1].as_ref().unwrap().bytes.as_slice(),
            b"Subject: 2\n\ntwo\n"
        );
    }

    #[test]
    fn stream_is_an_mbox_or_one_file() {
        let mut source = PathsSource::new(Vec::new(), PathOptions::default());
        assert!(source
            .read_stream("stdin".into(), Cursor::new(MBOX.to_vec()), None)
            .is_none());
        let results = drain(&mut source);
        assert_eq!(outline(&results, Path::new("/")), ["stdin#1", "stdin#2"]);

        let mut source = PathsSource::new(Vec::new(), PathOptions::default());
        let input = source
            .read_stream("stdin".into(), Cursor::new(b"<feedback/>".to_vec()), None)
            .unwrap()
            .unwrap();
        assert_eq!(
            (input.name.as_str(), input.kind, input.bytes.as_slice()),
            ("stdin", InputKind::File, &b"<feedback/>"[..])
        );

        // A pipe has no size: the cap is applied while reading.
        let opts = PathOptions {
            max_input: 5000,
            ..PathOptions::default()
        };
        let mut source = PathsSource::new(Vec::new(), opts);
        let err = source
            .read_stream("stdin".into(), Cursor::new(vec![b'x'; 6000]), None)
            .unwrap()
            .unwrap_err();
        assert_eq!(err.reason, "over the limit of 5000 bytes; not read");
    }

    #[test]
    fn maildirs_are_read_as_maildirs_and_acked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let inbox = root.join("inbox");
        make_maildir(&inbox);
        make_maildir(&inbox.join(".Reports"));
        write(&inbox.join("new/1.x"), b"Subject: top\n\n");
        write(&inbox.join(".Reports/new/2.x"), b"Subject: sub\n\n");
        write(&root.join("loose.xml"), b"<x/>");

        // Found inside a walk, without subfolders.
        let results = drain(&mut *open_paths(
            &[root.to_path_buf()],
            &PathOptions::default(),
        ));
        assert_eq!(outline(&results, root), ["inbox/new/1.x", "loose.xml"]);

        // Named directly, recursive: subfolders too; acks reach the Maildir
        // even after the walk moved on.
        let opts = PathOptions {
            recursive: true,
            ..PathOptions::default()
        };
        let mut source = open_paths(&[inbox.clone(), root.join("loose.xml")], &opts);
        let results = drain(&mut *source);
        assert_eq!(
            outline(&results, root),
            ["inbox/new/1.x", "inbox/.Reports/new/2.x", "loose.xml"]
        );
        for input in results {
            source.ack(&input.unwrap()).unwrap();
        }
        assert!(inbox.join("cur/1.x:2,S").is_file());
        assert!(inbox.join(".Reports/cur/2.x:2,S").is_file());
        assert!(drain(&mut *open_paths(&[inbox], &opts)).is_empty());
    }

    #[test]
    fn dry_run_leaves_maildir_alone() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        make_maildir(&inbox);
        write(&inbox.join("new/1.x"), b"Subject: top\n\n");
        let opts = PathOptions {
            dry_run: true,
            ..PathOptions::default()
        };
        let mut source = open_paths(std::slice::from_ref(&inbox), &opts);
        for input in drain(&mut *source) {
            source.ack(&input.unwrap()).unwrap();
        }
        assert!(inbox.join("new/1.x").is_file());
    }
}
