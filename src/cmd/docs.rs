//! `wxtoken completions SHELL` and `wxtoken man DIR`: text made from
//! the clap definitions in `cli.rs` when wxtoken is built (`build.rs`, with
//! `build/docs.rs`), so it never drifts from `--help` and the binary carries
//! none of the code that writes it. Packaging runs both on the binary it ships
//! (see `pkg/build-deb`).

use anyhow::{Context, Result};

use crate::cli::{CompletionsArgs, ManArgs, Shell};

mod built {
    include!(concat!(env!("OUT_DIR"), "/docs.rs"));
}

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let script = match args.shell {
        Shell::Bash => built::BASH,
        Shell::Zsh => built::ZSH,
        Shell::Fish => built::FISH,
    };
    crate::render::print(script)
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
    built::MAN_PAGES
        .iter()
        .try_for_each(|(name, page)| std::fs::write(dir.join(name), page))
        .with_context(|| format!("could not write the manual pages into {}", dir.display()))
}

#[cfg(test)]
mod tests;
