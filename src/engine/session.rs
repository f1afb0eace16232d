//! One platform's refresh outside `refresh` itself: for `push`, `authorizers
//! add`, `link` and `sync` (the platform's token, to call its APIs with).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::platforms::{self, Pick};
use super::{Link, Options, run};
use crate::error::{Exit, Silent};
use crate::store::Store;
use crate::text::shown;
use crate::upstream::Proxy;

pub struct Session {
    pub store: Box<dyn Store>,
    pub link: Arc<Link>,
    pub opts: Options,
}

impl Session {
    /// The session of the platform `ready` (its secrets read), on the open
    /// `store`; `db` is where that store is, for the link's workers.
    pub fn new(
        mut store: Box<dyn Store>,
        ready: (Link, Pick),
        db: Option<crate::store::Location>,
        proxy: Option<Proxy>,
    ) -> Result<Session> {
        let mut links = platforms::links(store.as_mut(), vec![ready], db)?;
        let (link, _) = links.pop().ok_or(Silent(Exit::Usage))?;
        let opts = Options {
            force: false,
            ahead: 75 * 60,
            timeout: Duration::from_secs(10),
            jobs: 1,
            proxy,
            exchange_timeout: None,
        };
        Ok(Session { store, link, opts })
    }

    /// Refreshes the platform's own token if due; fails (printed) when there
    /// is no usable one after.
    pub fn own_token(&mut self) -> Result<()> {
        let targets = platforms::own_targets(&[(self.link.clone(), None)]);
        run::run(self.store.as_mut(), targets, &self.opts)?;
        if !self.link.load_token(self.store.as_mut())? {
            crate::out::errln!(
                "wxtoken: platform {}: no usable token; run `wxtoken refresh --app {}` to see why",
                shown(&self.link.app.name),
                shown(&self.link.app.name)
            );
            return Err(Silent(Exit::Failure).into());
        }
        Ok(())
    }
}
