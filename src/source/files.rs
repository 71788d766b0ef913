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
use super::read::{read_rest, read_up_to};
use super::{Input, InputKind, Source, SourceError, SourceReason};

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
    /// The directories being walked, innermost last.
    dirs: Vec<Walked>,
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

/// A directory being walked.
struct Walked {
    /// The entries still to visit, in reverse order.
    entries: Vec<fs::DirEntry>,
    /// The directory held open, its regular files opened by name
    /// ([`super::at`]); `None` where it could not be opened again, and
    /// its entries are looked up by path.
    #[cfg(unix)]
    at: Option<super::at::Dir>,
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
        let meta = if named {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        };
        self.visit_found(path, meta, named)
    }

    /// [`Self::visit`] of an entry met in a directory walk.
    fn visit_entry(&mut self, entry: fs::DirEntry) -> Option<Result<Input, SourceError>> {
        #[cfg(unix)]
        if let Some(found) = self.visit_regular(&entry) {
            return found;
        }
        let meta = entry.metadata();
        self.visit_found(entry.path(), meta, false)
    }

    /// A walk's entry that its directory lists as a regular file, opened
    /// by name from the directory held open (`super::at`): what
    /// [`Self::visit_found`] would find, with one path walk less. `None`
    /// when the entry is not such a file, or no longer is: the caller
    /// looks it up by path.
    #[cfg(unix)]
    fn visit_regular(
        &mut self,
        entry: &fs::DirEntry,
    ) -> Option<Option<Result<Input, SourceError>>> {
        use std::os::unix::fs::{DirEntryExt, MetadataExt};
        let at = self.dirs.last()?.at.as_ref()?;
        if !entry.file_type().ok()?.is_file() {
            return None;
        }
        let path = entry.path();
        // Our own files are never opened: closing a descriptor of the
        // database would drop this process's locks on it.
        let listed = (at.dev, entry.ino());
        if self.opts.own.contains_id(&path, Some(listed)) {
            self.own_skipped += 1;
            return Some(None);
        }
        let name = display(&path);
        let file = match at.open_file(&entry.file_name()) {
            Ok(file) => file,
            Err(e) if super::at::is_link(&e) => return None,
            Err(e) => return Some(Some(Err(error(name, "cannot open: ", e)))),
        };
        let meta = match file.metadata() {
            Ok(meta) => meta,
            Err(e) => return Some(Some(Err(error(name, "", e)))),
        };
        let opened = (meta.dev(), meta.ino());
        if opened != listed && self.opts.own.contains_id(&path, Some(opened)) {
            // One of ours after all (a file mounted over the entry, or a
            // file system whose listing gives other numbers than the file,
            // as overlayfs may): kept open to the end of the process
            // rather than closed.
            std::mem::forget(file);
            self.own_skipped += 1;
            return Some(None);
        }
        if !meta.is_file() {
            // Changed since the listing: looked at again by path.
            return None;
        }
        Some(self.read_stream(name, file, Some(meta.len())))
    }

    /// [`Self::visit`], once `path` was looked up (its symlink not followed
    /// unless `named`).
    fn visit_found(
        &mut self,
        path: PathBuf,
        meta: io::Result<Metadata>,
        named: bool,
    ) -> Option<Result<Input, SourceError>> {
        let name = display(&path);
        let mut meta = match meta {
            Ok(meta) => meta,
            Err(e) => return Some(Err(error(name, "", e))),
        };
        if meta.file_type().is_symlink() {
            meta = match fs::metadata(&path) {
                Err(e) => return Some(Err(error(name, "cannot follow symlink: ", e))),
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
                return Some(Err(error(name, "cannot read directory: ", e)));
            }
        };
        let mut entries = Vec::new();
        let mut first_error = None;
        for entry in listing {
            match entry {
                Ok(entry) => entries.push((entry.file_name(), entry)),
                Err(e) => {
                    let name = path.display().to_string();
                    first_error.get_or_insert_with(|| error(name, "cannot read directory: ", e));
                }
            }
        }
        // Reversed, so that popping from the end goes in name order.
        entries.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        self.dirs.push(Walked {
            entries: entries.into_iter().map(|(_, entry)| entry).collect(),
            #[cfg(unix)]
            at: dir_key(meta).and_then(|(dev, _)| super::at::Dir::open(&path, dev).ok()),
        });
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
            Err(e) => Some(Err(error(name, "cannot open: ", e))),
        }
    }

    /// Reads a file or stream: an mbox becomes the current source, anything
    /// else one input. `len` is the file size when known.
    fn read_stream(
        &mut self,
        name: String,
        mut reader: impl Opened,
        len: Option<u64>,
    ) -> Option<Result<Input, SourceError>> {
        // Room for the whole file when its size is known (and allowed):
        // read into an empty vector, the head took ten reads of doubling
        // sizes (32 bytes first) and a copy at every doubling.
        // (One byte more: see `read_up_to`, which also spares a small
        // file's last read, the one that returns nothing.)
        let size = len.filter(|&len| len <= self.opts.max_input);
        let size = size.and_then(|len| usize::try_from(len).ok());
        let mut head = Vec::with_capacity(size.map_or(0, |size| size.saturating_add(1)));
        if let Err(e) = read_up_to(&mut reader, &mut head, HEAD_LEN as usize, size) {
            return Some(Err(error(name, "cannot read: ", e)));
        }
        if looks_like_mbox(&head) {
            let stream = Cursor::new(head).chain(reader);
            let mbox = MboxSource::from_reader(name, stream).with_max_message(self.opts.max_input);
            self.current = Some(Current::Mbox(mbox));
            return None;
        }
        // A head shorter than asked for ended at the end of the input:
        // reading on would only ask the OS once more for nothing (a
        // syscall per report file, on the writer's thread).
        let read = if (head.len() as u64) < HEAD_LEN {
            read_rest(io::empty(), head, len, self.opts.max_input)
        } else {
            read_rest(&mut reader, head, len, self.opts.max_input)
        };
        Some(match read {
            Ok(bytes) => Ok(Input {
                name,
                bytes: bytes.into(),
                kind: InputKind::File,
                token: 0,
                opened: reader.into_opened(),
            }),
            Err(e) => Err(error(name, "", e)),
        })
    }
}

/// A stream [`PathsSource::read_stream`] reads: a file is handed on open
/// with its input ([`Input::opened`]), to be closed off this thread.
trait Opened: Read + 'static {
    fn into_opened(self) -> Option<File>;
}

impl Opened for File {
    fn into_opened(self) -> Option<File> {
        Some(self)
    }
}

impl Opened for io::Stdin {
    fn into_opened(self) -> Option<File> {
        None
    }
}

#[cfg(test)]
impl Opened for Cursor<Vec<u8>> {
    fn into_opened(self) -> Option<File> {
        None
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
            let found = match self.dirs.last_mut() {
                Some(dir) => match dir.entries.pop() {
                    Some(entry) => self.visit_entry(entry),
                    None => {
                        self.dirs.pop();
                        continue;
                    }
                },
                None => {
                    let path = self.paths.pop_front()?;
                    self.visit(path, true)
                }
            };
            if let Some(result) = found {
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

/// How an input is named in messages: its path (`Path::display`, without
/// the formatting machinery for the usual UTF-8 path).
fn display(path: &Path) -> String {
    match path.to_str() {
        Some(s) => s.to_string(),
        None => path.display().to_string(),
    }
}

fn error(name: String, context: &'static str, e: io::Error) -> SourceError {
    SourceError {
        name,
        reason: SourceReason::Io { context, source: e },
        fatal: false,
    }
}

#[cfg(test)]
mod tests;
