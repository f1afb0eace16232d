//! `wxtoken authorizers sync`: every authorizer of an Open Platform component
//! from `api_get_authorizer_list` (500 a page), sealed and stored; and the
//! recovery of refresh tokens upstream refused (61023) from the same list,
//! which `refresh` runs once a run.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::Global;
use crate::cmd::refresh::{self, Link};
use crate::error::usage;
use crate::platform::config::PlatformKind;
use crate::store::{Customer, CustomerState, Store};
use crate::text::shown;
use crate::upstream::{Client, Failure};

const LIST_PATH: &str = "/cgi-bin/component/api_get_authorizer_list";
/// WeChat's largest page.
const PAGE: usize = 500;
/// More authorizers than any component has: the listing stops there.
const MOST_AUTHORIZERS: usize = 1_000_000;
/// Customers written per transaction.
const BATCH: usize = 500;
const KIND: &str = "authorizer_refresh_token";

/// One authorizer as listed: its appid, refresh token and authorization time.
pub struct Listed {
    pub appid: String,
    pub refresh_token: String,
    pub auth_time: Option<i64>,
}

/// Every authorizer of the link's component, page by page, with its token.
pub fn list(client: &Client, link: &Link, deadline: Instant) -> Result<Vec<Listed>, Failure> {
    let token = link
        .token()
        .ok_or_else(|| Failure::Guard("no usable component token".to_string()))?;
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let body = serde_json::json!({
            "component_appid": link.app.appid,
            "offset": offset,
            "count": PAGE,
        });
        let query = [("component_access_token", token.as_str())];
        let page = client.post_json(&link.app, LIST_PATH, &query, Some(&body), deadline)?;
        let total = page
            .get("total_count")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as usize;
        let items = page
            .get("list")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let got = items.len();
        for item in items {
            let text = |key: &str| item.get(key).and_then(|v| v.as_str()).map(str::to_string);
            let (Some(appid), Some(refresh_token)) =
                (text("authorizer_appid"), text("refresh_token"))
            else {
                continue;
            };
            if let Some(why) = refused(&appid, &refresh_token) {
                log::warn!(
                    "platform {}: authorizer list: skipped the entry {}: {why}",
                    link.platform.name,
                    crate::text::quoted_max(&appid, 80)
                );
                continue;
            }
            crate::secret::Secret::new(refresh_token.clone());
            let auth_time = item.get("auth_time").and_then(|v| v.as_i64());
            out.push(Listed {
                appid,
                refresh_token,
                auth_time,
            });
        }
        // `offset` counts listed entries, kept or not.
        offset += got;
        if got == 0 || offset >= total.min(MOST_AUTHORIZERS) {
            return Ok(out);
        }
    }
}

/// Why a listed authorizer is not stored, if it is not: the checks of `push`
/// and `authorizers import` (an appid of letters, digits, `-` and `_`; a
/// token of WeChat's alphabet, at most [`MAX_VALUE_LEN`] bytes).
fn refused(appid: &str, refresh_token: &str) -> Option<&'static str> {
    use crate::platform::push::{is_customer_id, pushed_alphabet};
    use crate::upstream::classify::MAX_VALUE_LEN;
    if !is_customer_id(appid) {
        return Some("not an appid (letters, digits, - and _, at most 64)");
    }
    if refresh_token.is_empty()
        || refresh_token.len() > MAX_VALUE_LEN
        || !pushed_alphabet(refresh_token)
    {
        return Some(
            "its refresh_token is empty, too long or has characters outside [A-Za-z0-9-_.~+/=@]",
        );
    }
    None
}

/// Recovers the refresh tokens of `customers` (in Reauthorize) from the
/// authorizer list: one whose listed token differs from its stored one is
/// stored sealed and made Active. The appids recovered.
pub fn recover(
    store: &mut dyn Store,
    link: &Arc<Link>,
    customers: &[Customer],
    timeout: Duration,
) -> Result<Vec<String>> {
    let client = refresh::client(timeout)?;
    let listed = match list(&client, link, refresh::deadline(timeout)) {
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

/// `wxtoken authorizers sync --platform NAME`.
pub fn run(global: &Global, platform_name: &str) -> Result<()> {
    crate::logging::init(global.verbose, global.quiet);
    let mut session = refresh::platform_session(global, platform_name)?;
    let link = session.link.clone();
    if link.platform.kind != PlatformKind::OpenPlatform {
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
    session.own_token()?;
    let timeout = session.opts.timeout;
    let client = refresh::client(timeout)?;
    let listed = list(&client, &link, refresh::deadline(timeout)).map_err(|f| {
        crate::out::errln!(
            "wxtoken: {}",
            crate::secret::redact(&format!(
                "platform {}: authorizer list: {}",
                shown(&link.platform.name),
                f.describe(true)
            ))
        );
        crate::error::Silent(1)
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
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "platform {}: {} authorizers synced ({new} new)",
        shown(&link.platform.name),
        listed.len()
    )?;
    Ok(())
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
