//! A platform's authorizers from its list (`platform::sync::list`): every one
//! stored sealed (`authorizers sync`), or the refresh tokens upstream refused
//! (61023) recovered from it, which `refresh` does once a run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::{Link, Options, Session};
use crate::error::Exit;
use crate::graph::Api;
use crate::platform::storekey::StoreKey;
use crate::platform::sync::{Listed, list};
use crate::store::{Customer, CustomerState, Store};
use crate::text::shown;
use crate::upstream::{Client, Failure};

/// Customers written per transaction.
const BATCH: usize = 500;
/// The kind an authorizer's refresh token is sealed under.
const KIND: &str = Api::OpenPlatform.grant_kind();

/// Recovers the refresh tokens of `customers` (in Reauthorize) from the
/// authorizer list: one whose listed token differs from its stored one is
/// stored sealed and made Active. The appids recovered.
pub fn recover(
    store: &mut dyn Store,
    link: &Arc<Link>,
    customers: &[Customer],
    opts: &Options,
) -> Result<Vec<String>> {
    let listed = match listed(link, opts) {
        Ok(listed) => listed,
        Err(f) => {
            log::warn!(
                "{}: the authorizer list could not be read to recover refused refresh tokens: {}",
                link.app.name,
                f.describe(true)
            );
            return Ok(Vec::new());
        }
    };
    let by_appid: HashMap<&str, &Listed> = listed.iter().map(|l| (l.appid.as_str(), l)).collect();
    let Some(key) = link.store_key.as_ref() else {
        return Ok(Vec::new());
    };
    let now = crate::clock::now();
    let mut recovered = Vec::new();
    let mut updates = Vec::new();
    for c in customers {
        let Some(l) = by_appid.get(c.appid.as_str()) else {
            continue;
        };
        let aad = [link.platform.name.as_str(), c.appid.as_str(), KIND];
        let stored = c.credential.as_deref().and_then(|s| key.open(s, &aad).ok());
        if stored.as_deref() == Some(l.refresh_token.as_str()) {
            continue;
        }
        log::info!(
            "{}/{}: recovered its refresh token from the authorizer list",
            link.platform.name,
            c.appid
        );
        updates.push(Customer {
            credential: Some(key.seal(&l.refresh_token, &aad)?),
            state: CustomerState::Active,
            updated_at: now,
            ..c.clone()
        });
        recovered.push(c.appid.clone());
    }
    store.upsert_customers(&updates)?;
    Ok(recovered)
}

/// The platform's authorizer list, read with its token within an app's budget.
fn listed(link: &Link, opts: &Options) -> Result<Vec<Listed>, Failure> {
    let client = Client::new(opts.timeout, opts.proxy.clone());
    let deadline = Instant::now() + opts.app_budget();
    list(
        &client,
        &link.app,
        &link.platform.name,
        link.token(),
        deadline,
    )
}

/// What a sync stored: the authorizers listed, and how many were new.
pub struct Synced {
    pub listed: usize,
    pub new: usize,
}

/// Lists the session's platform's authorizers and stores each, sealed with
/// `key`, made Active (their info kept); the platform's token refreshed first
/// if due. A list that cannot be read is printed (then `Silent(Exit::Failure)`).
pub fn sync(session: &mut Session, key: &StoreKey) -> Result<Synced> {
    let link = session.link.clone();
    session.own_token()?;
    let listed = listed(&link, &session.opts).map_err(|f| {
        crate::out::errln!(
            "wxtoken: {}",
            crate::secret::redact(&format!(
                "platform {}: authorizer list: {}",
                shown(&link.platform.name),
                f.describe(true)
            ))
        );
        crate::error::Silent(Exit::Failure)
    })?;
    let store = session.store.as_mut();
    let known: HashMap<String, Customer> = store
        .customers(&link.platform.name)?
        .into_iter()
        .map(|c| (c.appid.clone(), c))
        .collect();
    let now = crate::clock::now();
    let mut new = 0;
    let mut batch = Vec::new();
    for l in &listed {
        let aad = [link.platform.name.as_str(), l.appid.as_str(), KIND];
        let credential = Some(key.seal(&l.refresh_token, &aad)?);
        let customer = match known.get(&l.appid) {
            Some(c) => Customer {
                credential,
                state: CustomerState::Active,
                authorized_at: l.auth_time.or(c.authorized_at),
                updated_at: now,
                ..c.clone()
            },
            None => {
                new += 1;
                Customer {
                    platform: link.platform.name.clone(),
                    appid: l.appid.clone(),
                    credential,
                    pending_code: None,
                    pending_until: None,
                    state: CustomerState::Active,
                    info: None,
                    authorized_at: l.auth_time,
                    updated_at: now,
                }
            }
        };
        batch.push(customer);
        if batch.len() == BATCH {
            store.upsert_customers(&std::mem::take(&mut batch))?;
        }
    }
    store.upsert_customers(&batch)?;
    Ok(Synced {
        listed: listed.len(),
        new,
    })
}
