//! The paths source over real trees in temp dirs: order, Maildirs and
//! mboxes met on the way, links, special files, unreadable paths and the
//! run's own files.

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
    // Each file comes still open, for the parsing thread to close: the
    // same file as the one named.
    use std::os::unix::fs::MetadataExt;
    for (result, path) in results
        .iter()
        .zip(["a/y/w.xml", "a/y/x.zip", "a/z.xml.gz", "b.xml"])
    {
        let opened = result.as_ref().unwrap().opened.as_ref().expect("open");
        let (a, b) = (
            opened.metadata().unwrap(),
            fs::metadata(root.join(path)).unwrap(),
        );
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "{path}");
    }
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
    assert_eq!(
        err.reason.to_string(),
        "over the limit of 5000 bytes; not read"
    );
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
