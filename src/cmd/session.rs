//! A platform's session for the commands that work on one platform (`push`'s
//! redirect, `authorizers add`, `link` and `sync`): the platform read from the
//! config, its secrets read, the store open, then handed to the engine.

use std::time::Duration;

use anyhow::Result;

use crate::cli::Global;
use crate::engine::{self, Session};
use crate::error::{Exit, Silent, usage};
use crate::secret::Secret;
use crate::text::quoted;

/// The platform `name` of the config, its secrets read and the store open.
pub fn platform_session(global: &Global, name: &str) -> Result<Session> {
    let path = crate::cmd::common::config_path(global).ok_or_else(|| {
        usage(format!(
            "platform {} needs a config file: pass --config FILE",
            quoted(name)
        ))
    })?;
    let config = crate::config::load_all(&path, global.api_base.as_deref())?;
    let platform = config
        .platforms
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            usage(format!(
                "unknown platform {}: the config {} has no [[platform]] of that name",
                quoted(name),
                path.display()
            ))
        })?;
    let proxy = crate::upstream::Proxy::from_env().map_err(usage)?;
    // Secrets that cannot be read were reported, and leave `ready` empty.
    let (mut ready, _) = engine::read(vec![(platform, None)], &path);
    let ready = ready.pop().ok_or(Silent(Exit::Usage))?;
    let store = crate::cmd::common::open_store(global, false)?;
    let db = crate::cmd::common::db_location(global).ok();
    Session::new(store, ready, db, proxy)
}

/// Exchanges the redirect's `code` for platform `name`'s customer (see
/// [`engine::add_code`]): `PLATFORM/APPID` once its credential is stored.
pub fn add_code(
    global: &Global,
    name: &str,
    code: &Secret,
    timeout: Option<Duration>,
) -> Result<String> {
    let mut s = platform_session(global, name)?;
    engine::add_code(&mut s, name, code, timeout)
}
