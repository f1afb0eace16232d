//! The pages and completions built in are what clap_mangen and clap_complete
//! make of the binary's own command line: `build.rs` reads `cli.rs` with
//! stand-ins for the enums and checks it imports, and a stand-in that drifts
//! (a ticket added, a help line changed) fails here.

use clap::CommandFactory;
use clap_complete::Shell;

use super::built;
use crate::cli::Cli;

#[path = "../../../build/docs.rs"]
mod generator;

#[test]
fn the_built_in_manual_pages_are_the_command_lines() {
    let pages = generator::man_pages(Cli::command());
    let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    let built_names: Vec<&str> = built::MAN_PAGES.iter().map(|(name, _)| *name).collect();
    assert_eq!(built_names, names);
    for ((name, page), (_, built)) in pages.iter().zip(built::MAN_PAGES) {
        assert_eq!(*built, page, "{name} differs: build.rs's stand-ins drifted");
    }
}

#[test]
fn the_built_in_completions_are_the_command_lines() {
    for (shell, built) in [
        (Shell::Bash, built::BASH),
        (Shell::Zsh, built::ZSH),
        (Shell::Fish, built::FISH),
    ] {
        let script = generator::completion(Cli::command(), shell);
        assert_eq!(built, script, "{shell}: build.rs's stand-ins drifted");
    }
}
