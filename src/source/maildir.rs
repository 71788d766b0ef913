//! The Maildir source: the messages of one Maildir folder, and marking them
//! seen the Maildir way once they are committed.
//!
//! By default only unseen messages are read: everything in `new/`, and the
//! messages in `cur/` without the `S` flag; with `all` the seen ones too.
//! Message ids are listed when the source is made (`new/` then `cur/`, each
//! in id order, which starts with the delivery time); bytes are read one
//! message at a time in [`Source::next_input`].
//!
//! [`Source::ack`] (unless `dry_run`) moves a message from `new/` to `cur/`
//! with the `S` flag, or adds `S` to one already in `cur/`. A message that
//! has vanished in between (another run or a mail client took it) is not an
//! error: it is no longer ours to mark. Maildir++ subfolders (`.Folder/`) are
//! separate Maildirs; [`subfolders`] lists them for the caller.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use maildir::Maildir;

use super::read::{read_capped, DEFAULT_MAX_INPUT};
use super::{Input, InputKind, Source, SourceError, SourceReason};

/// Is `path` a Maildir, a directory with `cur/`, `new/` and `tmp/`?
pub fn is_maildir(path: &Path) -> bool {
    ["cur", "new", "tmp"]
        .iter()
        .all(|sub| path.join(sub).is_dir())
}

/// The Maildir++ subfolders of the Maildir at `path` (`.Folder` directories
/// that are Maildirs themselves), sorted by name. Maildir++ keeps nested
/// folders flat (`.Reports.2024`), so one level is all there is.
pub fn subfolders(path: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = Maildir::from(path.to_path_buf())
        .list_subdirs()
        .filter_map(Result::ok)
        .map(|folder| folder.path().to_path_buf())
        .filter(|folder| is_maildir(folder))
        .collect();
    folders.sort();
    folders
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    New,
    Cur,
}

impl Sub {
    fn dir(self) -> &'static str {
        match self {
            Sub::New => "new",
            Sub::Cur => "cur",
        }
    }
}

/// One listed message.
#[derive(Debug)]
struct Entry {
    id: String,
    sub: Sub,
    path: PathBuf,
    seen: bool,
}

/// The messages of one Maildir folder.
pub struct MaildirSource {
    maildir: Maildir,
    all: bool,
    dry_run: bool,
    max_input: u64,
    entries: Vec<Entry>,
    /// Index of the next entry to read.
    next: usize,
    /// Listing problems, handed out before the messages.
    errors: Vec<SourceError>,
}

impl MaildirSource {
    /// Lists the messages of the Maildir at `path`: unseen ones, or all with
    /// `all`. With `dry_run`, [`Source::ack`] changes nothing on disk.
    /// Listing problems are yielded as errors by [`Source::next_input`].
    pub fn new(path: impl Into<PathBuf>, all: bool, dry_run: bool) -> MaildirSource {
        let maildir = Maildir::from(path.into());
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        for sub in [Sub::New, Sub::Cur] {
            list(&maildir, sub, &mut entries, &mut errors);
        }
        if !all {
            entries.retain(|entry| !entry.seen);
        }
        errors.reverse();
        MaildirSource {
            maildir,
            all,
            dry_run,
            max_input: DEFAULT_MAX_INPUT,
            entries,
            next: 0,
            errors,
        }
    }

    /// Biggest message read, in bytes (default [`DEFAULT_MAX_INPUT`]); a
    /// bigger one is an error naming it.
    pub fn with_max_input(mut self, max_input: u64) -> MaildirSource {
        self.max_input = max_input;
        self
    }

    /// Marks the entry at `index` (an [`Input::token`]) seen; see the
    /// module doc. `name` is for the error message.
    pub(crate) fn mark_seen(&mut self, index: u64, name: &str) -> Result<(), SourceError> {
        let Some(entry) = usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get_mut(i))
        else {
            return Ok(());
        };
        if self.dry_run || entry.seen {
            return Ok(());
        }
        let result = match entry.sub {
            Sub::New => match self.maildir.move_new_to_cur_with_flags(&entry.id, "S") {
                // A mail client may have moved it to cur/ without reading it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.maildir.add_flags(&entry.id, "S")
                }
                other => other,
            },
            // The crate finds the file by listing cur/: linear per ack, but
            // only unseen messages in cur/ (usually few) get here.
            Sub::Cur => self.maildir.add_flags(&entry.id, "S"),
        };
        match result {
            Ok(()) => {}
            // Gone: another run took it, or it was deleted. Nothing to mark.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SourceError {
                    name: name.to_string(),
                    reason: SourceReason::Io {
                        context: "cannot mark seen: ",
                        source: e,
                    },
                    fatal: false,
                })
            }
        }
        entry.seen = true;
        entry.sub = Sub::Cur;
        Ok(())
    }

    /// Reads entry `index`, following it if its file was renamed since the
    /// listing. `None` when it is gone, or was marked seen meanwhile and
    /// only unseen messages are wanted.
    fn read(&mut self, index: usize) -> Option<Result<Input, SourceError>> {
        let entry = &mut self.entries[index];
        let bytes = match read_capped(&entry.path, self.max_input) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let moved = self.maildir.find(&entry.id)?;
                if moved.is_seen() && !self.all {
                    return None;
                }
                entry.sub = if moved.path().parent()?.ends_with("new") {
                    Sub::New
                } else {
                    Sub::Cur
                };
                entry.seen = moved.is_seen();
                entry.path = moved.path().clone();
                read_capped(&entry.path, self.max_input)
            }
            other => other,
        };
        let name = entry.path.display().to_string();
        Some(match bytes {
            Ok(bytes) => Ok(Input {
                name,
                bytes: bytes.into(),
                kind: InputKind::Mail,
                token: index as u64,
                opened: None,
            }),
            Err(e) => Err(SourceError {
                name,
                reason: SourceReason::Io {
                    context: "",
                    source: e,
                },
                fatal: false,
            }),
        })
    }
}

/// Appends the messages of `new/` or `cur/` to `entries`, sorted by id.
fn list(maildir: &Maildir, sub: Sub, entries: &mut Vec<Entry>, errors: &mut Vec<SourceError>) {
    let dir = maildir.path().join(sub.dir());
    // The crate's listing silently yields nothing for an unreadable
    // directory; check first so that it is reported.
    if let Err(e) = fs::read_dir(&dir) {
        errors.push(SourceError {
            name: dir.display().to_string(),
            reason: SourceReason::Io {
                context: "cannot read directory: ",
                source: e,
            },
            fatal: false,
        });
        return;
    }
    let listing = match sub {
        Sub::New => maildir.list_new(),
        Sub::Cur => maildir.list_cur(),
    };
    let start = entries.len();
    for result in listing {
        match result {
            Ok(mail) => entries.push(Entry {
                id: mail.id().to_string(),
                sub,
                path: mail.path().clone(),
                // Flags in new/ are not meaningful: new means unseen.
                seen: sub == Sub::Cur && mail.is_seen(),
            }),
            // E.g. a file in cur/ without the `:2,` info suffix; the crate
            // does not say which, and cannot flag it either.
            Err(e) => errors.push(SourceError {
                name: dir.display().to_string(),
                reason: SourceReason::Io {
                    context: "skipped an entry: ",
                    source: e,
                },
                fatal: false,
            }),
        }
    }
    entries[start..].sort_by(|a, b| a.id.cmp(&b.id));
}

impl Source for MaildirSource {
    fn next_input(&mut self) -> Option<Result<Input, SourceError>> {
        if let Some(error) = self.errors.pop() {
            return Some(Err(error));
        }
        while self.next < self.entries.len() {
            let index = self.next;
            self.next += 1;
            if let Some(result) = self.read(index) {
                return Some(result);
            }
        }
        None
    }

    fn ack(&mut self, input: &Input) -> Result<(), SourceError> {
        self.mark_seen(input.token, &input.name)
    }

    fn len_hint(&self) -> Option<u64> {
        Some((self.entries.len() - self.next) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A Maildir with 2 messages in new/, 1 unseen and 1 seen in cur/.
    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(root.join(sub)).unwrap();
        }
        fs::write(root.join("new/1000.a.host"), "Subject: a\n\nnew one\n").unwrap();
        fs::write(root.join("new/1001.b.host"), "Subject: b\n\nnew two\n").unwrap();
        fs::write(root.join("cur/0900.c.host:2,F"), "Subject: c\n\nunseen\n").unwrap();
        fs::write(root.join("cur/0800.d.host:2,RS"), "Subject: d\n\nseen\n").unwrap();
        dir
    }

    /// Every file under new/ and cur/, as `sub/name`.
    fn listing(root: &Path) -> BTreeSet<String> {
        ["new", "cur"]
            .iter()
            .flat_map(|sub| {
                fs::read_dir(root.join(sub)).unwrap().map(move |entry| {
                    format!("{sub}/{}", entry.unwrap().file_name().to_string_lossy())
                })
            })
            .collect()
    }

    fn drain(source: &mut MaildirSource) -> Vec<Input> {
        std::iter::from_fn(|| source.next_input())
            .map(|result| result.expect("readable message"))
            .collect()
    }

    #[test]
    fn default_reads_unseen_only_and_all_reads_everything() {
        let dir = fixture();
        let root = dir.path();
        let mut unseen = MaildirSource::new(root, false, false);
        assert_eq!(unseen.len_hint(), Some(3));
        let names: Vec<String> = drain(&mut unseen).into_iter().map(|i| i.name).collect();
        let expected = ["new/1000.a.host", "new/1001.b.host", "cur/0900.c.host:2,F"];
        let expected: Vec<String> = expected
            .iter()
            .map(|p| root.join(p).display().to_string())
            .collect();
        assert_eq!(names, expected);

        let inputs = drain(&mut MaildirSource::new(root, true, false));
        assert_eq!(inputs.len(), 4);
        assert!(inputs.iter().all(|i| i.kind == InputKind::Mail));
        // cur/ in id order: the seen 0800 before the unseen 0900.
        assert_eq!(inputs[2].bytes.as_slice(), b"Subject: d\n\nseen\n");
    }

    #[test]
    fn ack_marks_seen_the_maildir_way() {
        let dir = fixture();
        let root = dir.path();
        let mut source = MaildirSource::new(root, false, false);
        for input in drain(&mut source) {
            source.ack(&input).unwrap();
            // A second ack of the same input is harmless.
            source.ack(&input).unwrap();
        }
        let expected: BTreeSet<String> = [
            "cur/1000.a.host:2,S",
            "cur/1001.b.host:2,S",
            "cur/0900.c.host:2,FS",
            "cur/0800.d.host:2,RS",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(listing(root), expected);

        assert_eq!(drain(&mut MaildirSource::new(root, false, false)).len(), 0);
        assert_eq!(drain(&mut MaildirSource::new(root, true, false)).len(), 4);
    }

    #[test]
    fn dry_run_ack_changes_nothing() {
        let dir = fixture();
        let root = dir.path();
        let before = listing(root);
        let mut source = MaildirSource::new(root, true, true);
        for input in drain(&mut source) {
            source.ack(&input).unwrap();
        }
        assert_eq!(listing(root), before);
    }

    #[test]
    fn message_taken_by_another_run_is_not_an_ack_error() {
        let dir = fixture();
        let root = dir.path();
        let mut source = MaildirSource::new(root, false, false);
        let first = source.next_input().unwrap().unwrap();
        fs::remove_file(root.join("new/1000.a.host")).unwrap();
        source.ack(&first).unwrap();
        // Another run marked this one seen after our listing: skipped.
        let mut other = MaildirSource::new(root, false, false);
        let second = other.next_input().unwrap().unwrap();
        other.ack(&second).unwrap();
        let rest: Vec<String> = drain(&mut source).into_iter().map(|i| i.name).collect();
        assert_eq!(
            rest,
            [root.join("cur/0900.c.host:2,F").display().to_string()]
        );
    }

    #[test]
    fn message_over_the_cap_is_an_error_naming_it() {
        let dir = fixture();
        let root = dir.path();
        let mut source = MaildirSource::new(root, false, false).with_max_input(10);
        let err = source.next_input().unwrap().unwrap_err();
        assert_eq!(err.name, root.join("new/1000.a.host").display().to_string());
        assert!(
            err.reason
                .to_string()
                .contains("over the limit of 10 bytes"),
            "{}",
            err.reason
        );
        assert!(!err.fatal);
    }

    #[test]
    fn subfolders_are_maildir_plus_plus_folders() {
        let dir = fixture();
        let root = dir.path();
        for folder in [".Reports", ".Reports.2024"] {
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(root.join(folder).join(sub)).unwrap();
            }
        }
        fs::create_dir(root.join(".NotAMaildir")).unwrap();
        assert_eq!(
            subfolders(root),
            [root.join(".Reports"), root.join(".Reports.2024")]
        );
        assert!(is_maildir(root));
        assert!(!is_maildir(&root.join(".NotAMaildir")));
    }
}
