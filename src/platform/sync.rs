//! `wxtoken authorizers sync`: not in this build.

use anyhow::{Result, anyhow};

use crate::cli::Global;

pub fn run(_global: &Global, platform: &str) -> Result<()> {
    Err(anyhow!(
        "platform {}: authorizers sync is not available in this build",
        crate::text::quoted(platform)
    ))
}
