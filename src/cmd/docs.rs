//! `wxtoken completions SHELL` and the hidden `wxtoken man DIR`: both generated
//! from the clap definitions in `cli.rs`, so they never drift from `--help`.
//! Packaging runs `man` on the binary it ships (see `pkg/build-deb`).

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs, Shell};

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "wxtoken", out);
    out.flush()?;
    Ok(())
}

/// Writes `wxtoken.1` and `wxtoken-COMMAND.1` for every visible command.
pub fn man(args: &ManArgs) -> Result<()> {
    let dir = args.dir.as_path();
    if !dir.is_dir() {
        return Err(crate::error::usage(format!(
            "{} is not a folder: create it first",
            dir.display()
        )));
    }
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("could not write the manual pages into {}", dir.display()))
}
