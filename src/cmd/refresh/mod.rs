//! `wxtoken refresh`: fetch what is missing or near expiry, store it, exit.
//!
//! Refresh is plan, then work: [`plan`] decides from the stored rows what each
//! app needs and what the quota guard refuses (no I/O); [`run`] takes leases,
//! hands the jobs to workers and writes each result; [`work`] is one app's
//! upstream calls, in the credential graph's order. This file is the command's
//! entry: which apps, their secrets, and the options.

mod plan;
mod run;
mod work;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;

use crate::app::{self, Api, App, Kind};
use crate::cli::{Global, RefreshArgs};
use crate::error::{self, usage};
use crate::secret::Secret;
use crate::store::{self, Row, Store};
use crate::{config, out, text, upstream};

/// Upstream's `Date` further than this from the local clock gets a warning; a
/// stored value fetched further than this ahead of the local clock is renewed.
const MAX_CLOCK_SKEW: i64 = 60;
const DAY_MS: i64 = 86_400_000;

pub struct Options {
    pub force: bool,
    /// Renew what expires within this many seconds.
    pub ahead: i64,
    pub timeout: Duration,
    pub jobs: usize,
    /// The proxy for upstream calls (from the environment), if any.
    pub proxy: Option<upstream::Proxy>,
}

impl Options {
    /// The most time one app's refresh takes, retries and tickets included.
    fn app_budget(&self) -> Duration {
        self.timeout * 3
    }
}

/// An app to refresh, its secret, and the values it held when this run first looked.
pub struct Target {
    pub app: App,
    pub secret: Secret,
    pub seen: HashMap<Kind, String>,
}

impl Target {
    /// Whether `plan` looks at stored values of this kind: the token and the
    /// tickets the app is configured for.
    fn refreshes(&self, kind: &str) -> bool {
        match Kind::parse(kind) {
            Some(Kind::AccessToken) => true,
            Some(Kind::Ticket(t)) => self.app.tickets.contains(&t),
            None => false,
        }
    }
}

fn by_app(rows: Vec<Row>) -> HashMap<String, Vec<Row>> {
    let mut map: HashMap<String, Vec<Row>> = HashMap::new();
    for r in rows {
        map.entry(r.app.clone()).or_default().push(r);
    }
    map
}

/// `wxtoken refresh`: the apps to refresh (named on the command line, or from
/// the config), their secrets, then the run.
pub fn command(global: &Global, args: &RefreshArgs) -> Result<()> {
    crate::logging::init(global.verbose, global.quiet);
    let (apps, config) = match &args.appid {
        Some(appid) => {
            let app = config::cli_app(
                appid,
                args.name.as_deref(),
                args.api,
                args.secret_file.as_deref(),
                global.api_base.as_deref(),
            )?;
            not_another_configured_app(global, &app)?;
            (vec![app], None)
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
            let apps = select(config::load(&path, global.api_base.as_deref())?, &args.apps)?;
            (apps, Some(path))
        }
    };
    // An app whose secret cannot be read is a configuration error (exit 2), but
    // it does not stop the others.
    let mut ready = Vec::new();
    let mut unreadable = 0;
    for app in apps {
        match (config::read_secret(&app), &config) {
            (Ok(secret), _) => ready.push((app, secret)),
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
    if ready.is_empty() {
        return Err(error::Silent(2).into());
    }
    let proxy = upstream::Proxy::from_env().map_err(usage)?;
    let names: Vec<String> = ready.iter().map(|(app, _)| app.name.clone()).collect();
    let mut store = store::open(&crate::cmd::common::db_location(global)?)?;
    let opts = Options {
        force: args.force,
        ahead: args.ahead.as_secs() as i64,
        timeout: args.timeout,
        jobs: usize::from(args.jobs),
        proxy,
    };
    let result = run::run(store.as_mut(), ready, &opts);
    warn_if_ahead_outlasts_tokens(store.as_mut(), &names, opts.ahead);
    match result {
        // The apps with unreadable secrets make it a configuration error; the
        // others' failures were printed already.
        Ok(()) if unreadable > 0 => Err(error::Silent(2).into()),
        Err(e) if unreadable > 0 && e.is::<error::Silent>() => Err(error::Silent(2).into()),
        other => other,
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
    let Ok(apps) = config::load(&path, None) else {
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

/// The apps named with `--app` (all when none is named).
fn select(apps: Vec<app::App>, names: &[String]) -> Result<Vec<app::App>> {
    if names.is_empty() {
        return Ok(apps);
    }
    for name in names {
        if !apps.iter().any(|a| &a.name == name) {
            let mut known: Vec<String> =
                apps.iter().take(10).map(|a| text::shown(&a.name)).collect();
            if apps.len() > 10 {
                known.push(format!("and {} more", apps.len() - 10));
            }
            return Err(usage(format!(
                "unknown app {}: the config lists {}",
                text::quoted(name),
                known.join(", ")
            )));
        }
    }
    Ok(apps
        .into_iter()
        .filter(|a| names.contains(&a.name))
        .collect())
}
