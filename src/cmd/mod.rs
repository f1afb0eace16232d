//! The commands: each orchestrates config, upstream and store for one subcommand.

pub mod authorizers;
pub mod common;
pub mod docs;
pub mod history;
pub mod invalidate;
pub mod keygen;
pub mod push;
pub mod refresh;
pub mod session;
pub mod show;
pub mod sign;
pub mod status;
