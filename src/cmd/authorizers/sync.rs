//! `wxtoken authorizers sync --platform NAME`: every authorizer of an Open
//! Platform component from its list, sealed and stored (`engine::sync`).

use anyhow::Result;

use crate::cli::Global;
use crate::error::usage;
use crate::graph::Api;
use crate::text::shown;

/// `wxtoken authorizers sync --platform NAME`.
pub fn run(global: &Global, platform_name: &str) -> Result<()> {
    let mut session = crate::cmd::session::platform_session(global, platform_name)?;
    let link = session.link.clone();
    if link.platform.kind != Api::OpenPlatform {
        return Err(usage(format!(
            "platform {}: WeCom has no API that lists the companies that installed a suite (they come from the create_auth push or the install redirect): store them with `wxtoken push` or `wxtoken authorizers import`",
            shown(&link.platform.name)
        )));
    }
    let Some(key) = link.store_key.clone() else {
        return Err(usage(format!(
            "platform {}: no store_key_file: make one with `wxtoken keygen PATH` and set it",
            shown(&link.platform.name)
        )));
    };
    let synced = crate::engine::sync::sync(&mut session, &key)?;
    crate::render::print(&format!(
        "platform {}: {} authorizers synced ({} new)\n",
        shown(&link.platform.name),
        synced.listed,
        synced.new
    ))
}

#[cfg(test)]
mod tests;
