//! One platform's refresh outside `refresh` itself: for `authorizers sync`
//! (the platform's token, to list its authorizers).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::platforms;
use super::{Link, Options, run};
use crate::cli::Global;
use crate::error::{Silent, usage};
use crate::platform::config::Platform;
use crate::store::Store;
use crate::text::{quoted, shown};

pub struct Session {
    pub store: Box<dyn Store>,
    pub link: Arc<Link>,
    pub opts: Options,
}

impl Session {
    /// Refreshes the platform's own token if due; fails (printed) when there
    /// is no usable one after.
    pub fn own_token(&mut self) -> Result<()> {
        let targets = platforms::own_targets(&[(self.link.clone(), None)]);
        run::run(self.store.as_mut(), targets, &self.opts)?;
        if !platforms::load_token(self.store.as_mut(), &self.link)? {
            crate::out::errln!(
                "wxtoken: platform {}: no usable token; run `wxtoken refresh --app {}` to see why",
                shown(&self.link.app.name),
                shown(&self.link.app.name)
            );
            return Err(Silent(1).into());
        }
        Ok(())
    }
}

fn options(timeout: Duration) -> Result<Options> {
    Ok(Options {
        force: false,
        ahead: 75 * 60,
        timeout,
        jobs: 1,
        proxy: crate::upstream::Proxy::from_env().map_err(usage)?,
        exchange_timeout: None,
    })
}

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
    session(global, platform, options(Duration::from_secs(10))?)
}

fn session(global: &Global, platform: Platform, opts: Options) -> Result<Session> {
    let file = crate::cmd::common::config_path(global).unwrap_or_default();
    let (ready, unreadable) = platforms::read(vec![(platform, None)], &file);
    if unreadable > 0 {
        return Err(Silent(2).into());
    }
    let mut store = crate::cmd::common::open_store(global, false)?;
    let mut links = platforms::links(
        store.as_mut(),
        ready,
        crate::cmd::common::db_location(global).ok(),
    )?;
    let (link, _) = links.pop().ok_or(Silent(2))?;
    Ok(Session { store, link, opts })
}
