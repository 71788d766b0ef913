//! Windows (`--days`, `--since`, `--until`): which days a view covers, and
//! the usage errors a window can be.

mod common;

use common::cli::dmarcdb;

#[test]
fn inverted_window_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.sqlite");
    for cmd in [&["query", "sources"][..], &["query", "daily"], &["alert"]] {
        let out = dmarcdb(&db)
            .args(cmd)
            .args(["--since", "2024-05-02", "--until", "2024-05-01"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--since 2024-05-02 is after --until 2024-05-01"),
            "{cmd:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{cmd:?}");
    }
    // Nothing was opened, so nothing was created.
    assert!(!db.exists());
    // One day is a window.
    let out = dmarcdb(&db)
        .args(["query", "sources", "--since", "2024-05-01"])
        .args(["--until", "2024-05-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}
