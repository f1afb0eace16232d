//! Refresh of third-party platforms: each platform's own token (with the
//! apps, first), then its customers' tokens and tickets, made from it. A
//! customer whose credential upstream refused (Reauthorize) is looked up once
//! a run in the platform's authorizer list (Open Platform), and refreshed
//! again when the list has another credential for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use super::target::{Link, Role, Target};
use super::{Options, run};
use crate::app::App;
use crate::clock;
use crate::config::platform::Platform;
use crate::error::{Exit, Silent};
use crate::graph::Api;
use crate::platform::keys::read_platform_secrets;
use crate::secret::Secret;
use crate::store::{Customer, CustomerState, Store};

/// Which of a platform's customers a run refreshes: all, or these appids.
pub type Pick = Option<Vec<String>>;

/// Reads each platform's secrets (and store key) into its link, whose
/// pushed ticket and database [`links`] sets; one that cannot be read is
/// printed (naming the fix) and counted, and stops only that platform.
pub fn read(
    platforms: Vec<(Platform, Pick)>,
    file: &std::path::Path,
) -> (Vec<(Link, Pick)>, usize) {
    let mut ready = Vec::new();
    let mut unreadable = 0;
    for (platform, pick) in platforms {
        match read_platform_secrets(&platform) {
            Ok(s) => {
                // The platform as an app: its own values are stored under its name.
                let app = App {
                    name: platform.name.clone(),
                    api: platform.kind,
                    appid: platform.appid.clone(),
                    secret: platform.secret.clone(),
                    tickets: Vec::new(),
                    api_base: platform.api_base.clone(),
                    daily_budget: crate::app::DEFAULT_DAILY_BUDGET,
                    agentid: None,
                };
                let link = Link {
                    platform,
                    app,
                    secret: s.secret,
                    store_key: s.store_key.map(Arc::new),
                    pushed: None,
                    token: Mutex::new(None),
                    db: None,
                };
                ready.push((link, pick));
            }
            Err(e) => {
                unreadable += 1;
                let mut line = format!("config {}: {}", file.display(), crate::report::message(&e));
                if line.contains("store_key_file") && !line.contains("keygen") {
                    line.push_str(" (make a store key with `wxtoken keygen PATH`)");
                }
                crate::out::errln!("wxtoken: {}", crate::text::shown(&line));
            }
        }
    }
    (ready, unreadable)
}

/// The links of the ready platforms, with their pushed tickets (the newest
/// stored, if recent enough) read from the store, and `db`.
pub fn links(
    store: &mut dyn Store,
    ready: Vec<(Link, Pick)>,
    db: Option<crate::store::Location>,
) -> Result<Vec<(Arc<Link>, Pick)>> {
    let names: Vec<String> = ready.iter().map(|(l, _)| l.app.name.clone()).collect();
    let rows = store.rows(&names)?;
    let now = clock::now();
    let mut links = Vec::new();
    for (mut link, pick) in ready {
        link.pushed = link.app.api.pushed_ticket().and_then(|(kind, max_age)| {
            rows.iter()
                .find(|row| row.app == link.app.name && row.known_kind() == Some(kind))
                .filter(|row| row.appid == link.app.appid && row.fetched_at >= now - max_age)
                .map(|row| row.value.clone())
        });
        link.db = db.clone();
        links.push((Arc::new(link), pick));
    }
    Ok(links)
}

/// The targets of the platforms' own tokens.
pub fn own_targets(links: &[(Arc<Link>, Pick)]) -> Vec<Target> {
    links
        .iter()
        .map(|(link, _)| Target {
            app: link.app.clone(),
            secret: Some(link.secret.clone()),
            seen: HashMap::new(),
            role: Role::Platform(link.clone()),
        })
        .collect()
}

/// Refreshes the picked customers of each platform that has customers and a
/// usable token; then recovers the credentials of those upstream refused, and
/// refreshes the recovered. Failures are printed; the result says whether any.
pub fn refresh_customers(
    store: &mut dyn Store,
    links: &[(Arc<Link>, Pick)],
    opts: &Options,
) -> Result<()> {
    let mut result = Ok(());
    let mut keep = |r: Result<()>| result = worse(std::mem::replace(&mut result, Ok(())), r);
    for (link, pick) in links {
        let customized = link.platform.customized();
        let Some(token_node) = crate::graph::customer_token_node(link.app.api, customized) else {
            continue;
        };
        let customers = picked(store.customers(&link.platform.name)?, pick);
        for appid in pick.iter().flatten() {
            if !customers.iter().any(|c| &c.appid == appid) {
                keep(Err(crate::error::Silent(Exit::Usage).into()));
                crate::out::errln!(
                    "wxtoken: {}/{}: no such customer of platform {}: import it (`wxtoken authorizers import`) or wait for its authorization push",
                    link.platform.name,
                    crate::text::shown(appid),
                    link.platform.name
                );
            }
        }
        // A customer token made without the platform's (a 代开发 company's,
        // gettoken with its permanent code) is renewed without it; a
        // pending code waits for it.
        let usable = link.load_token(store)?;
        if !usable && token_node.needs_platform() {
            log::info!(
                "{}: no usable platform token; its customers wait",
                link.app.name
            );
            continue;
        }
        let before: Vec<String> = (customers.iter())
            .filter(|c| c.state == CustomerState::Reauthorize)
            .map(|c| c.appid.clone())
            .collect();
        let customers = drop_expired_installs(store, link, customers)?;
        if usable && !super::codes::finish_pending(store, link, &customers, opts)? {
            keep(Err(crate::error::Silent(Exit::Failure).into()));
        }
        drop(customers);
        // Read again (the exchanges and the reading of authorizations changed
        // them), and not held during the run: its targets have what it needs.
        let (targets, unopened) = {
            let customers = picked(store.customers(&link.platform.name)?, pick);
            super::info::reread(store, link, &customers, opts)?;
            customer_targets(link, &customers)
        };
        if unopened > 0 {
            keep(Err(crate::error::Silent(Exit::Failure).into()));
        }
        keep(run::run(store, targets, opts));
        let reauth: Vec<Customer> = picked(store.customers(&link.platform.name)?, pick)
            .into_iter()
            .filter(|c| c.state == CustomerState::Reauthorize)
            .collect();
        let recovered = match link.platform.kind {
            Api::OpenPlatform if !reauth.is_empty() => {
                super::sync::recover(store, link, &reauth, opts)?
            }
            _ => Vec::new(),
        };
        for c in reauth.iter().filter(|c| !recovered.contains(&c.appid)) {
            let name = format!("{}/{}", link.platform.name, crate::text::shown(&c.appid));
            let what = link.platform.kind.grant_kind();
            if before.contains(&c.appid) {
                log::warn!(
                    "{name}: needs re-authorization (its {what} was refused): its token is not renewed until it authorizes again"
                );
            } else {
                keep(Err(crate::error::Silent(Exit::Failure).into()));
                crate::out::errln!(
                    "wxtoken: {name}: upstream refused its {what}{}: it must authorize the platform again; its token is not renewed",
                    match link.platform.kind {
                        Api::OpenPlatform => " (61023) and the authorizer list has no other",
                        _ => " (40084)",
                    }
                );
            }
        }
        if !recovered.is_empty() {
            let customers = picked(store.customers(&link.platform.name)?, &Some(recovered));
            let (targets, _) = customer_targets(link, &customers);
            keep(run::run(store, targets, opts));
        }
    }
    result
}

/// The worse of two results: an error not printed yet over one printed, then
/// the worse exit status (a configuration error over a failure over
/// success); the first when they are alike.
pub fn worse(a: Result<()>, b: Result<()>) -> Result<()> {
    let rank = |r: &Result<()>| match r {
        Ok(()) => (false, Exit::Ok),
        Err(e) => match e.downcast_ref::<Silent>() {
            Some(Silent(exit)) => (false, *exit),
            None => (true, Exit::Failure),
        },
    };
    if rank(&b) > rank(&a) { b } else { a }
}

/// Drops the pending WeCom installs whose code ended unexchanged (kept
/// under a pending key, they can never be exchanged nor named): said once,
/// as they are gone after. The company is stored again when WeCom pushes
/// another code (the company installs again, or the permanent code is reset).
fn drop_expired_installs(
    store: &mut dyn Store,
    link: &Link,
    customers: Vec<Customer>,
) -> Result<Vec<Customer>> {
    let now = clock::now();
    let mut kept = Vec::new();
    for c in customers {
        let expired = c.appid.starts_with(crate::store::PENDING_PREFIX)
            && c.credential.is_none()
            && c.pending_until.is_some_and(|until| until < now);
        if expired && store.drop_expired_code(&c.platform, &c.appid, now)? {
            log::warn!(
                "{}/{}: its install code ended before it could be exchanged; dropped: run `wxtoken refresh` more often than every 10 minutes, and have the company install again (or reset its permanent code)",
                link.platform.name,
                crate::text::shown(&c.appid)
            );
            continue;
        }
        kept.push(c);
    }
    Ok(kept)
}

fn picked(customers: Vec<Customer>, pick: &Pick) -> Vec<Customer> {
    (customers.into_iter())
        .filter(|c| pick.as_ref().is_none_or(|appids| appids.contains(&c.appid)))
        .collect()
}

/// The targets of active customers, with their credentials opened; revoked
/// and reauthorize ones are left out. A credential that does not open is
/// printed and counted.
fn customer_targets(link: &Arc<Link>, customers: &[Customer]) -> (Vec<Target>, usize) {
    let p = &link.platform;
    let mut unopened = 0;
    let mut out = Vec::with_capacity(customers.len());
    for c in customers {
        let name = format!("{}/{}", p.name, c.appid);
        match c.state {
            CustomerState::Revoked => {
                log::info!("{name}: authorization revoked; skipped");
                continue;
            }
            CustomerState::Reauthorize => continue,
            CustomerState::Active => {}
        }
        // Pending codes were exchanged before (`codes`): only credentials here.
        let Some(sealed) = &c.credential else {
            log::info!("{name}: no credential and no pending code; skipped");
            continue;
        };
        let aad = [p.name.as_str(), &c.appid, p.kind.grant_kind()];
        let key = link.store_key.as_ref().ok_or("no store key".to_string());
        let opened = key.and_then(|key| key.open(sealed, &aad).map_err(|e| e.to_string()));
        let grant = match opened {
            Ok(plain) => Secret::new(plain),
            Err(e) => {
                unopened += 1;
                crate::out::errln!(
                    "wxtoken: {}: {e} (platform {}, store_key_file)",
                    crate::text::shown(&name),
                    p.name
                );
                continue;
            }
        };
        out.push(Target {
            app: App {
                name,
                appid: c.appid.clone(),
                tickets: p.tickets.clone(),
                ..link.app.clone()
            },
            secret: None,
            seen: HashMap::new(),
            role: Role::Customer {
                link: link.clone(),
                grant,
            },
        });
    }
    (out, unopened)
}
