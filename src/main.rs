//! wxtoken: keeps WeChat access tokens fresh in a database, for cron and scripts.
//!
//! `main` parses the command line, runs the command (`cmd/<command>.rs`), and
//! is the one place that reports an error and maps it to the documented exit
//! status (`report`, `error::Exit`).
//!
//! std's `main` and its runtime: SIGPIPE is ignored, so a write into a closed
//! pipe is an error (EPIPE) that each command handles, never a signal that would
//! end a `refresh` between its upstream call and its commit. (A C `main` that
//! skipped this runtime saved 5% of a `show`, some 65 µs: too little to keep.)
// Diagnostics go through `out::errln!`, which survives a closed or full stderr.
#![deny(clippy::print_stderr, clippy::print_stdout)]

mod app;
mod cli;
mod clock;
mod cmd;
mod config;
mod duration;
mod error;
mod fault;
mod fsafe;
mod logging;
mod out;
// The push and refresh flows that use these building blocks come next.
#[allow(dead_code)]
mod platform;
mod render;
mod report;
mod secret;
mod store;
mod text;
mod trust;
mod upstream;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command, Global, RefreshArgs};
use crate::cmd::common::{config_path, db_location};
use crate::error::usage;
use crate::report::message;
use crate::store::Store;

fn main() -> std::process::ExitCode {
    let exit = match Cli::try_parse() {
        Ok(cli) => run(&cli).map_or_else(|err| report::error(&err), |()| error::Exit::Ok),
        Err(e) => report::command_line(&e),
    };
    exit.into()
}

fn run(cli: &Cli) -> Result<()> {
    let global = &cli.global;
    match &cli.command {
        Command::Show(args) => cmd::show::run(global, args),
        Command::Refresh(args) => {
            logging::init(global.verbose, global.quiet);
            refresh(global, args)
        }
        Command::Status(args) => cmd::status::run(global, args),
        Command::History(args) => cmd::history::run(global, args),
        Command::Invalidate(args) => cmd::invalidate::run(global, args),
        Command::Completions(args) => cmd::docs::completions(args),
        Command::Man(args) => cmd::docs::man(args),
        Command::Keygen(args) => cmd::keygen::run(&args.path),
    }
}

fn refresh(global: &Global, args: &RefreshArgs) -> Result<()> {
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
            let path = config_path(global).ok_or_else(|| {
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
                    text::shown(&format!("config {}: {}", file.display(), message(&e)))
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
    let mut store = store::open(&db_location(global)?)?;
    let opts = cmd::refresh::Options {
        force: args.force,
        ahead: args.ahead.as_secs() as i64,
        timeout: args.timeout,
        jobs: usize::from(args.jobs),
        proxy,
    };
    let result = cmd::refresh::run(store.as_mut(), ready, &opts);
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
        .filter(|r| r.api != app::Api::Stable.as_str() && ahead >= r.expires_at - r.fetched_at)
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
    let Some(path) = config_path(global) else {
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
