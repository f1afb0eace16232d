//! `wxtoken refresh`: fetch what is missing or near expiry, store it, exit.
//!
//! This file is the command's entry: which apps and platforms, their secrets,
//! the options, and the warnings about them; the refresh itself is the
//! engine's ([`crate::engine`]).

use std::collections::HashMap;

use anyhow::Result;

use crate::app::{self, Api, Kind};
use crate::cli::{Global, RefreshArgs};
use crate::config::platform::Platform;
use crate::engine::{self, Options, Role, Target};
use crate::error::{self, Exit, usage};
use crate::store::{self, Store};
use crate::{config, out, text, upstream};

/// `wxtoken refresh`: the apps and platforms to refresh (named on the command
/// line, or from the config), their secrets, then the run: the apps and the
/// platforms' own tokens first, then the platforms' customers.
pub fn command(global: &Global, args: &RefreshArgs) -> Result<()> {
    crate::logging::init(global.verbose, global.quiet);
    let (apps, platforms, config) = match &args.appid {
        Some(appid) => {
            let app = config::cli_app(
                appid,
                args.name.as_deref(),
                args.api,
                args.secret_file.as_deref(),
                global.api_base.as_deref(),
            )?;
            not_another_configured_app(global, &app)?;
            (vec![app], Vec::new(), None)
        }
        None => {
            for name in &args.apps {
                config::name_arg("--app", name)?;
            }
            let path = crate::cmd::common::config_path(global).ok_or_else(|| {
                let named = match args.apps.first().map(|n| text::clip(n, 40)) {
                    Some(name) => format!("--app {name} names an app of a config file, and there is none: pass --config FILE, or refresh it with --appid ID --name {name}"),
                    None => "no app to refresh: pass --appid ID (with the secret in WXTOKEN_SECRET or --secret-file), or list apps in a config file (--config FILE)".to_string(),
                };
                usage(named)
            })?;
            let all = config::load_all(&path, global.api_base.as_deref())?;
            let (apps, platforms) = select(all.apps, all.platforms, &args.apps)?;
            (apps, platforms, Some(path))
        }
    };
    crate::cmd::common::may_write(global, args.appid.is_some())?;
    // An app whose secret cannot be read is a configuration error (exit 2), but
    // it does not stop the others.
    let mut ready = Vec::new();
    let mut unreadable = 0;
    for app in apps {
        match (config::read_secret(&app), &config) {
            (Ok(secret), _) => ready.push(Target {
                app,
                secret: Some(secret),
                seen: HashMap::new(),
                role: Role::App,
            }),
            (Err(e), Some(file)) => {
                unreadable += 1;
                out::errln!(
                    "wxtoken: {}",
                    text::shown(&format!(
                        "config {}: {}",
                        file.display(),
                        crate::report::message(&e)
                    ))
                );
            }
            (Err(e), None) => return Err(e),
        }
    }
    let (platforms, unreadable_platforms) = match &config {
        Some(file) => engine::read(platforms, file),
        None => (Vec::new(), 0),
    };
    unreadable += unreadable_platforms;
    if ready.is_empty() && platforms.is_empty() {
        return Err(error::Silent(Exit::Usage).into());
    }
    let proxy = upstream::Proxy::from_env().map_err(usage)?;
    let mut store = crate::cmd::common::open_store(global, args.appid.is_some())?;
    warn_of_other_names(store.as_mut(), &ready);
    let links = engine::links(
        store.as_mut(),
        platforms,
        crate::cmd::common::db_location(global).ok(),
    )?;
    ready.extend(engine::own_targets(&links));
    let names: Vec<String> = ready.iter().map(|t| t.app.name.clone()).collect();
    let opts = Options {
        force: args.force,
        ahead: args.ahead.as_secs() as i64,
        timeout: args.timeout,
        jobs: usize::from(args.jobs),
        proxy,
        exchange_timeout: args.exchange_timeout,
    };
    let mut result = engine::refresh(store.as_mut(), ready, &opts);
    // Done, or failed with every failure printed already.
    let printed = |r: &Result<()>| r.as_ref().err().is_none_or(|e| e.is::<error::Silent>());
    // Customers come after their platforms' tokens, whatever became of the
    // apps (a database error ends the run).
    if !links.is_empty() && printed(&result) {
        let customers = engine::refresh_customers(store.as_mut(), &links, &opts);
        result = engine::worse(result, customers);
    }
    warn_if_ahead_outlasts_tokens(store.as_mut(), &names, opts.ahead);
    // export_dir's files, also of values this run found fresh (every app
    // stored when the run took the whole config).
    let whole = args.apps.is_empty() && args.appid.is_none();
    store.export(if whole { &[] } else { &names });
    let result = crate::cmd::common::export_outcome(store.as_mut(), result);
    // The apps with unreadable secrets make it a configuration error; the
    // others' failures were printed already.
    if unreadable > 0 && printed(&result) {
        return Err(error::Silent(Exit::Usage).into());
    }
    result
}

/// A classic appid that the database also holds under another name (the
/// one-app command line stores it under the appid, a config then under
/// `shop`): two names are two fetchers, each ending the other's token five
/// minutes after it fetches. Said once per app and run.
fn warn_of_other_names(store: &mut dyn Store, targets: &[Target]) {
    let classic = Api::Classic.as_str();
    let apps: Vec<&app::App> = targets
        .iter()
        .filter(|t| matches!(t.role, Role::App) && t.app.api == Api::Classic)
        .map(|t| &t.app)
        .collect();
    if apps.is_empty() {
        return;
    }
    let Ok(rows) = store.rows(&[]) else { return };
    for app in apps {
        let other = rows
            .iter()
            .filter(|r| r.api == classic && r.known_kind() == Some(Kind::AccessToken))
            .find(|r| r.appid == app.appid && r.app != app.name);
        if let Some(other) = other {
            let shown = text::quoted(&other.app);
            log::warn!(
                "app {}: appid {} is also stored under the name {shown}: two names fetch two classic tokens, and each fetch ends the other's 5 minutes later; keep one (stop refreshing {shown} and delete its rows: DELETE FROM wxtoken_tokens WHERE app = '{}')",
                text::quoted(&app.name),
                text::quoted(&app.appid),
                text::shown(&other.app.replace('\'', "''"))
            );
        }
    }
}

/// An `--ahead` at or above the lifetime of the stored tokens makes every run
/// fetch them all again, spending the daily quota: say so once. (Not for
/// stable apps: their API hands out the current token with what it has left,
/// and refetching it every run is the point.)
fn warn_if_ahead_outlasts_tokens(store: &mut dyn Store, apps: &[String], ahead: i64) {
    let Ok(rows) = store.rows(apps) else { return };
    let mut short: Vec<&store::Row> = rows
        .iter()
        .filter(|r| r.api != Api::Stable.as_str() && ahead >= r.expires_at - r.fetched_at)
        // Pushed tickets are not renewed by refresh.
        .filter(|r| !r.known_kind().is_some_and(Kind::is_pushed))
        .collect();
    short.sort_by_key(|r| r.expires_at - r.fetched_at);
    if let Some(first) = short.first() {
        let mut names: Vec<&str> = short.iter().map(|r| r.app.as_str()).collect();
        names.dedup();
        log::warn!(
            "--ahead {ahead}s is at or above the lifetime of the tokens it renews ({} s for app {:?}{}): every run fetches them again and spends the daily quota; use less, e.g. the default 75m",
            first.expires_at - first.fetched_at,
            first.app,
            match names.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            }
        );
    }
}

/// A command-line app must not take the name of a configured app with another
/// appid or API: it would overwrite that app's token. (A config that does not
/// load is no concern of the command-line form.)
fn not_another_configured_app(global: &Global, app: &app::App) -> Result<()> {
    let Some(path) = crate::cmd::common::config_path(global) else {
        return Ok(());
    };
    let Ok(config::Config { apps, .. }) = config::load_all(&path, None) else {
        return Ok(());
    };
    match apps.iter().find(|a| a.name == app.name) {
        Some(c) if c.appid != app.appid || c.api != app.api => Err(usage(format!(
            "app {} is in the config {} with appid {} (api {}): refresh it with --app {}, or store this one under another --name",
            text::quoted(&app.name),
            path.display(),
            text::shown(&c.appid),
            c.api.as_str(),
            text::shown(&app.name)
        ))),
        _ => Ok(()),
    }
}

/// The apps and platforms named with `--app` (all when none is named): an
/// app's name, a platform's (its token and all its customers), or
/// `PLATFORM/APPID` (the platform's token and that customer).
#[allow(clippy::type_complexity)]
fn select(
    apps: Vec<app::App>,
    platforms: Vec<Platform>,
    names: &[String],
) -> Result<(Vec<app::App>, Vec<(Platform, engine::Pick)>)> {
    if names.is_empty() {
        return Ok((apps, platforms.into_iter().map(|p| (p, None)).collect()));
    }
    let mut picks: HashMap<String, engine::Pick> = HashMap::new();
    for name in names {
        if apps.iter().any(|a| &a.name == name) {
            continue;
        }
        if platforms.iter().any(|p| &p.name == name) {
            picks.insert(name.clone(), None);
            continue;
        }
        if let Some((platform, appid)) = name.split_once('/')
            && let Some(p) = platforms.iter().find(|p| p.name == platform)
            && !appid.is_empty()
        {
            let pick = picks
                .entry(p.name.clone())
                .or_insert_with(|| Some(Vec::new()));
            if let Some(appids) = pick {
                appids.push(appid.to_string());
            }
            continue;
        }
        let mut known: Vec<String> = (apps.iter().map(|a| &a.name))
            .chain(platforms.iter().map(|p| &p.name))
            .take(10)
            .map(|n| text::shown(n))
            .collect();
        let count = apps.len() + platforms.len();
        if count > 10 {
            known.push(format!("and {} more", count - 10));
        }
        return Err(usage(format!(
            "unknown app {}: the config lists {} (a platform's customer is PLATFORM/APPID)",
            text::quoted(name),
            known.join(", ")
        )));
    }
    let picked = (platforms.into_iter())
        .filter_map(|p| picks.remove(&p.name).map(|pick| (p, pick)))
        .collect();
    let apps = apps
        .into_iter()
        .filter(|a| names.contains(&a.name))
        .collect();
    Ok((apps, picked))
}
