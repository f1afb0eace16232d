//! What a refresh works on: an app, a third-party platform's own token, or
//! one of a platform's customers. Each is a target with its own name (the
//! `app` column and its lease): `NAME`, `PLATFORM`, `PLATFORM/APPID`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Result;

use crate::app::{App, Kind};
use crate::config::platform::Platform;
use crate::graph::{self, Node};
use crate::platform::storekey::StoreKey;
use crate::secret::Secret;
use crate::store::Store;

/// A target to refresh, and the values it held when this run first looked.
pub struct Target {
    pub app: App,
    /// The app's or platform's secret; a customer has none.
    pub secret: Option<Secret>,
    pub seen: HashMap<Kind, String>,
    pub role: Role,
}

pub enum Role {
    App,
    /// A platform's own token.
    Platform(Arc<Link>),
    /// A platform's customer, with its opened long-lived credential (a
    /// pending code is exchanged before, by `codes`).
    Customer {
        link: Arc<Link>,
        grant: Secret,
    },
}

/// A platform, as its targets (its own and its customers') share it.
pub struct Link {
    pub platform: Platform,
    /// The platform as an app: its name, its appid, its API and base.
    pub app: App,
    pub secret: Secret,
    pub store_key: Option<Arc<StoreKey>>,
    /// The pushed ticket its token is made from, if one is recent enough.
    pub pushed: Option<String>,
    /// Its token, as its customers use it: the stored one, or the one a
    /// customer's worker fetched when that went stale (shared, so one worker
    /// renews it for all).
    pub token: Mutex<Option<String>>,
    /// The database, to see what is stored before renewing the token: when
    /// another run (another host) renewed it already, that one is used.
    pub db: Option<crate::store::Location>,
}

impl Link {
    pub fn token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Its valid token as `store` holds it now.
    pub fn stored_token(&self, store: &mut dyn Store) -> Result<Option<String>> {
        let kind = self.platform.kind.token_kind();
        let now = crate::clock::now();
        let rows = store.rows(std::slice::from_ref(&self.app.name))?;
        Ok((rows.into_iter())
            .find(|r| r.known_kind() == Some(kind) && r.appid == self.app.appid)
            .filter(|r| r.invalidated_at.is_none() && r.expires_at > now)
            .map(|r| r.value))
    }

    /// Reads its stored token in: whether it is usable.
    pub fn load_token(&self, store: &mut dyn Store) -> Result<bool> {
        let token = self.stored_token(store)?;
        let usable = token.is_some();
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = token;
        Ok(usable)
    }
}

impl Target {
    /// The nodes this target refreshes, in the graph's order: a value after
    /// the values it is made from.
    pub fn nodes(&self) -> Vec<&'static Node> {
        let api = self.app.api;
        let token = match &self.role {
            Role::App | Role::Platform(_) => graph::token_node(api),
            Role::Customer { link, .. } => {
                graph::customer_token_node(api, link.platform.customized())
            }
        };
        let tickets = self
            .app
            .tickets
            .iter()
            .filter_map(|t| graph::node(api, Kind::Ticket(*t)));
        token.into_iter().chain(tickets).collect()
    }
}
