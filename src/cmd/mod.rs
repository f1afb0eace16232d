//! The commands: each orchestrates config, upstream and store for one subcommand.

pub mod common;
pub mod docs;
pub mod history;
pub mod invalidate;
pub mod keygen;
pub mod refresh;
pub mod show;
pub mod status;
