//! `dmarcdb completions SHELL` and `dmarcdb man [COMMAND]`: shell completion
//! scripts and roff manual pages, generated from the clap definitions so
//! they always list the flags this binary has.
//!
//! Both write to stdout; where to put them is the packager's or the user's
//! choice (README, "Install").

use std::io::Write;

use clap::{Args, CommandFactory, ValueEnum};

use super::Cli;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The page of one command (`dmarcdb-imap(1)`) instead of the main
    /// page, `dmarcdb(1)`.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

pub fn cmd_completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory first: clap_complete panics on a failed write, and
    // `| head` closing the pipe is not a panic.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dmarcdb", &mut script);
    print(&script)
}

pub fn cmd_man(args: &ManArgs) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = match &args.command {
        None => clap_mangen::Man::new(cmd),
        Some(name) => {
            let sub = cmd
                .get_subcommands()
                .find(|s| s.get_name() == name && !s.is_hide_set() && name != "help")
                .cloned();
            let Some(sub) = sub else {
                let known: Vec<&str> = cmd
                    .get_subcommands()
                    .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                    .map(clap::Command::get_name)
                    .collect();
                anyhow::bail!("no command {name:?}; the commands are {}", known.join(", "));
            };
            // `dmarcdb-imap`, as man pages of subcommands are named (git-log(1)).
            let usage = format!("dmarcdb {name}");
            clap_mangen::Man::new(sub.bin_name(usage).version(env!("DMARCDB_VERSION")))
                .title(format!("dmarcdb-{name}"))
        }
    };
    let mut page = Vec::new();
    man.render(&mut page)?;
    print(&page)
}

fn print(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(Exit::Ok)
}
