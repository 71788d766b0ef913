//! dmarcdb as an installed Unix tool: `--version` names the commit it was
//! built from, `completions` writes scripts the shells accept, `man` writes
//! pages `man` renders. (`cargo install` itself is exercised by `.ci/run`.)

use std::io::Write;
use std::process::{Command as Std, Stdio};

use assert_cmd::Command;

fn dmarcdb() -> Command {
    Command::cargo_bin("dmarcdb").unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = dmarcdb().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `git rev-parse --short HEAD` in the source tree, when it is a checkout.
fn git_head() -> Option<String> {
    let out = Std::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn version_names_the_git_commit() {
    let version = stdout_of(&["--version"]);
    let pkg = env!("CARGO_PKG_VERSION");
    match git_head() {
        Some(head) => assert_eq!(version.trim(), format!("dmarcdb {pkg} ({head})")),
        // A build from a source archive: the version alone.
        None => assert_eq!(version.trim(), format!("dmarcdb {pkg}")),
    }
}

#[test]
fn bash_completion_loads_and_completes_commands_and_flags() {
    let script = stdout_of(&["completions", "bash"]);
    // Load it into a real bash and ask it to complete `dmarcdb im` and
    // `dmarcdb imap --oauth2-t`.
    let probe = format!(
        "{script}\n\
         COMP_WORDS=(dmarcdb im); COMP_CWORD=1; _dmarcdb dmarcdb im dmarcdb; echo \"${{COMPREPLY[@]}}\"\n\
         COMP_WORDS=(dmarcdb imap --oauth2-t); COMP_CWORD=2; _dmarcdb dmarcdb --oauth2-t imap; \
         echo \"${{COMPREPLY[@]}}\"\n"
    );
    let mut bash = Std::new("bash")
        .arg("--norc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    bash.stdin
        .take()
        .unwrap()
        .write_all(probe.as_bytes())
        .unwrap();
    let out = bash.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines.first().copied(), Some("imap"), "{text}");
    let flags: Vec<&str> = lines.get(1).unwrap_or(&"").split(' ').collect();
    assert!(flags.contains(&"--oauth2-token-file"), "{text}");
    assert!(flags.contains(&"--oauth2-token-command"), "{text}");
}

#[test]
fn zsh_and_fish_completions_name_every_command() {
    let zsh = stdout_of(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef dmarcdb"), "{}", &zsh[..40]);
    let fish = stdout_of(&["completions", "fish"]);
    for command in [
        "ingest",
        "imap",
        "query",
        "alert",
        "reparse",
        "quarantine",
        "man",
    ] {
        assert!(zsh.contains(&format!("'{command}:")), "zsh lacks {command}");
        assert!(
            fish.contains(&format!("-a \"{command}\"")),
            "fish lacks {command}"
        );
    }
    // Each shell that is installed accepts its script.
    for (shell, script) in [("zsh", &zsh), ("fish", &fish)] {
        let Ok(mut child) = Std::new(shell)
            .arg("-n")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("notice: {shell} is not installed; its script is checked by content only");
            continue;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn man_pages_render_for_the_tool_and_each_command() {
    let page = stdout_of(&["man"]);
    assert!(
        page.contains(".TH dmarcdb 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    let imap = stdout_of(&["man", "imap"]);
    assert!(imap.contains(".TH dmarcdb-imap 1"));
    assert!(
        imap.contains("tls\\-fingerprint"),
        "the imap page lists its flags"
    );
    // `man` itself renders it (groff under it), when installed.
    match Std::new("man")
        .arg("-l")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut man) => {
            man.stdin
                .take()
                .unwrap()
                .write_all(imap.as_bytes())
                .unwrap();
            let out = man.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                text.contains("OPTIONS") && text.contains("oauth2"),
                "{text}"
            );
        }
        Err(_) => eprintln!("notice: man is not installed; page checked by content only"),
    }
    let out = dmarcdb().args(["man", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuch") && err.contains("imap"), "{err}");
}

/// Every help text (every command, every flag) and the README describe
/// behaviour in users' words: none speaks of "the seed" (the Python script
/// dmarcdb replaces), a word no user knows. The hidden benchmark command's
/// random seed is not user-facing.
#[test]
fn help_and_readme_never_say_seed() {
    use clap::CommandFactory;
    fn walk(cmd: &mut clap::Command, path: &str, found: &mut Vec<String>) {
        let help = cmd.render_long_help().to_string();
        if help.to_lowercase().contains("seed") {
            found.push(path.to_owned());
        }
        for sub in cmd.get_subcommands_mut().filter(|s| !s.is_hide_set()) {
            let path = format!("{path} {}", sub.get_name());
            walk(sub, &path, found);
        }
    }
    let mut found = Vec::new();
    walk(&mut dmarcdb::cli::Cli::command(), "dmarcdb", &mut found);
    assert!(found.is_empty(), "help of {found:?} says \"seed\"");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.to_lowercase().contains("seed"))
        .collect();
    assert!(lines.is_empty(), "README says \"seed\": {lines:#?}");
}
