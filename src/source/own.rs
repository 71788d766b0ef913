//! Own files: the files a run writes itself — the database in use and its
//! SQLite companions (`-wal`, `-shm`, `-journal`), and any output file —
//! which [`open_paths`](super::files::open_paths) must never read back as
//! inputs. Keeping the database inside the folder of reports it ingests
//! (`--db reports/dmarc.sqlite ingest reports/`) is natural; without this
//! every run would quarantine the database's own bytes and exit 3.
//!
//! A file is ours when its canonical path is one of ours (the companions
//! may not exist yet when the walk starts, so paths are compared, not only
//! inodes), or when it is the same file by device and inode (a hard link or
//! a symlink to the database under another name). To keep the walk cheap,
//! only entries whose name is one of ours are resolved; every other file
//! costs one set lookup.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The suffixes SQLite appends to a database's name for its companions.
const SQLITE_COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// The files one run writes; see the module doc.
#[derive(Debug, Default)]
pub struct OwnFiles {
    /// As given (relative paths are resolved when first needed, after the
    /// database has been created).
    given: Vec<PathBuf>,
    /// Their file names, the cheap first test.
    names: HashSet<OsString>,
    /// Canonical paths and (device, inode)s, worked out on first use.
    resolved: OnceLock<Resolved>,
}

#[derive(Debug, Default)]
struct Resolved {
    paths: HashSet<PathBuf>,
    ids: HashSet<(u64, u64)>,
}

impl OwnFiles {
    /// No files of our own (a dry run writes nothing).
    pub fn none() -> OwnFiles {
        OwnFiles::default()
    }

    /// The database at `path` and its companions.
    pub fn database(path: &Path) -> OwnFiles {
        let mut own = OwnFiles::default();
        own.add(path.to_path_buf());
        for suffix in SQLITE_COMPANIONS {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            own.add(PathBuf::from(name));
        }
        own
    }

    /// One more file the run writes.
    pub fn add(&mut self, path: PathBuf) {
        if let Some(name) = path.file_name() {
            self.names.insert(name.to_owned());
        }
        self.given.push(path);
    }

    /// Whether `path` is one of ours; `meta` is the metadata of the file
    /// it names (of a symlink's target), whose identity catches links.
    pub fn contains(&self, path: &Path, meta: &Metadata) -> bool {
        self.contains_id(path, id(meta))
    }

    /// [`Self::contains`] for a file known by its (device, inode), as read
    /// from its directory entry before it is opened.
    pub fn contains_id(&self, path: &Path, key: Option<(u64, u64)>) -> bool {
        if self.given.is_empty() {
            return false;
        }
        let resolved = self.resolved.get_or_init(|| self.resolve());
        if key.is_some_and(|k| resolved.ids.contains(&k)) {
            return true;
        }
        path.file_name().is_some_and(|n| self.names.contains(n))
            && canonical(path).is_some_and(|p| resolved.paths.contains(&p))
    }

    /// Whether a walk of `inputs` could meet one of these files: one of
    /// them is an input, or lies in a folder given as one (compared by
    /// canonical path; one that cannot be resolved counts as met). The
    /// database may be made while the walk goes on only when it cannot
    /// (`ingest::Opening`): else the walk might meet it half-made, or miss
    /// it and not say it skipped it.
    pub fn within(&self, inputs: &[PathBuf]) -> bool {
        let inputs: Vec<PathBuf> = inputs.iter().filter_map(|p| canonical(p)).collect();
        self.given.iter().any(|own| match canonical(own) {
            Some(own) => inputs.iter().any(|input| own.starts_with(input)),
            None => true,
        })
    }

    fn resolve(&self) -> Resolved {
        let mut r = Resolved::default();
        for path in &self.given {
            if let Some(p) = canonical(path) {
                r.paths.insert(p);
            }
            if let Some(k) = fs::metadata(path).ok().as_ref().and_then(id) {
                r.ids.insert(k);
            }
        }
        r
    }
}

/// The canonical form of `path`, which need not exist: its directory
/// resolved, its name kept.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = fs::canonicalize(path) {
        return Some(p);
    }
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::canonicalize(dir).ok().map(|d| d.join(name))
}

/// A file's identity, where the platform has one.
fn id(meta: &Metadata) -> Option<(u64, u64)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn is_ours(own: &OwnFiles, path: &Path) -> bool {
        own.contains(path, &fs::metadata(path).unwrap())
    }

    #[test]
    fn database_and_companions_are_ours_others_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let db = root.join("dmarc.sqlite");
        for name in [
            "dmarc.sqlite",
            "dmarc.sqlite-wal",
            "dmarc.sqlite-shm",
            "dmarc.sqlite-journal",
            "other.sqlite",
            "report.xml",
        ] {
            fs::write(root.join(name), b"x").unwrap();
        }
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub/dmarc.sqlite"), b"x").unwrap();
        let own = OwnFiles::database(&db);
        for name in [
            "dmarc.sqlite",
            "dmarc.sqlite-wal",
            "dmarc.sqlite-shm",
            "dmarc.sqlite-journal",
        ] {
            assert!(is_ours(&own, &root.join(name)), "{name}");
        }
        for name in ["other.sqlite", "report.xml", "sub/dmarc.sqlite"] {
            assert!(!is_ours(&own, &root.join(name)), "{name}");
        }
        // Reached by another spelling of the same directory.
        assert!(is_ours(&own, &root.join("sub/../dmarc.sqlite-wal")));
        assert!(!is_ours(&OwnFiles::none(), &db));
    }

    #[test]
    fn links_to_the_database_are_ours() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let db = root.join("dmarc.sqlite");
        fs::write(&db, b"x").unwrap();
        fs::create_dir(root.join("in")).unwrap();
        symlink(&db, root.join("in/link.xml")).unwrap();
        fs::hard_link(&db, root.join("in/hard.xml")).unwrap();
        let own = OwnFiles::database(&db);
        assert!(is_ours(&own, &root.join("in/link.xml")));
        assert!(is_ours(&own, &root.join("in/hard.xml")));
    }

    #[test]
    fn companions_created_after_the_first_check_are_still_ours() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let db = root.join("dmarc.sqlite");
        fs::write(&db, b"x").unwrap();
        let own = OwnFiles::database(&db);
        assert!(is_ours(&own, &db));
        fs::write(root.join("dmarc.sqlite-wal"), b"x").unwrap();
        assert!(is_ours(&own, &root.join("dmarc.sqlite-wal")));
    }

    #[test]
    fn a_relative_database_path_is_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("dmarc.sqlite-shm"), b"x").unwrap();
        let cwd = std::env::current_dir().unwrap();
        let rel = pathdiff(root, &cwd).join("dmarc.sqlite");
        let own = OwnFiles::database(&rel);
        assert!(is_ours(&own, &root.join("dmarc.sqlite-shm")));
    }

    #[test]
    fn a_database_in_an_ingested_folder_or_given_as_input_is_within() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("in/sub")).unwrap();
        fs::create_dir_all(root.join("out")).unwrap();
        let own = OwnFiles::database(&root.join("in/sub/new.sqlite"));
        assert!(own.within(&[root.join("in")]));
        assert!(own.within(&[root.join("out"), root.join("in/sub/../sub")]));
        // A file that does not exist yet, given as an input itself.
        assert!(own.within(&[root.join("in/sub/new.sqlite")]));
        assert!(!own.within(&[root.join("out"), root.join("in/other")]));
        assert!(!own.within(&[PathBuf::from("-")]));
        // A folder that is not there: cannot tell, so it counts as met.
        let nowhere = OwnFiles::database(&root.join("no/such/new.sqlite"));
        assert!(nowhere.within(&[root.join("out")]));
        assert!(!OwnFiles::none().within(&[root.to_path_buf()]));
    }

    /// `to` relative to `from` (both absolute), with `..` steps.
    fn pathdiff(to: &Path, from: &Path) -> PathBuf {
        let (to, from): (Vec<_>, Vec<_>) = (to.components().collect(), from.components().collect());
        let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
        let mut p = PathBuf::new();
        for _ in common..from.len() {
            p.push("..");
        }
        to[common..].iter().for_each(|c| p.push(c));
        p
    }
}
