//! `wxtoken completions SHELL` and the hidden `wxtoken man DIR`: both generated
//! from the clap definitions in `cli.rs`, so they never drift from `--help`.
//! Packaging runs `man` on the binary it ships (see `pkg/build-deb`).
//!
//! The manual pages add what `--help` leaves out (`docs/man.rs`): the
//! examples under EXAMPLES, and ENVIRONMENT, EXIT STATUS, FILES and SEE ALSO;
//! `wxtoken.toml(5)` describes the config file. Completions leave out the
//! hidden `man` and complete no file names where a value is not a path.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Command, CommandFactory, ValueHint};

use crate::cli::{Cli, CompletionsArgs, ManArgs, Shell};

mod man;

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut for_completion(Cli::command()), "wxtoken", out);
    out.flush()?;
    Ok(())
}

/// The values that name files or folders: the only ones completed as paths.
const PATHS: [&str; 7] = [
    "db",
    "config",
    "secret_file",
    "output",
    "path",
    "dir",
    "file",
];

/// `cmd` as completion scripts should know it: without hidden commands
/// (clap_complete lists them all), and with every value that is not a path
/// (an app's name, an appid, a duration) completed as nothing rather than as
/// file names.
fn for_completion(cmd: Command) -> Command {
    let mut shown = Command::new(cmd.get_name().to_string());
    for arg in cmd.get_arguments() {
        let mut arg = arg.clone();
        if arg.get_action().takes_values()
            && arg.get_value_hint() == ValueHint::Unknown
            && !PATHS.contains(&arg.get_id().as_str())
        {
            arg = arg.value_hint(ValueHint::Other);
        }
        shown = shown.arg(arg);
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        shown = shown.subcommand(for_completion(sub.clone()));
    }
    shown
}

/// Writes `wxtoken.1`, `wxtoken-COMMAND.1` for every visible command, and
/// `wxtoken.toml.5`.
pub fn man(args: &ManArgs) -> Result<()> {
    let dir = args.dir.as_path();
    if !dir.is_dir() {
        return Err(crate::error::usage(format!(
            "{} is not a folder: create it first",
            dir.display()
        )));
    }
    man::write_all(Cli::command(), dir)
        .with_context(|| format!("could not write the manual pages into {}", dir.display()))
}
