//! The commands: each orchestrates config, upstream and store for one subcommand.

pub mod refresh;
pub mod show;
