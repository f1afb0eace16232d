//! wxtoken: keeps WeChat access tokens fresh in a database, for cron and scripts.
//!
//! `main` parses the command line, runs the command, and is the one place that
//! prints an error (`wxtoken: ...`) and maps it to the documented exit status.

mod app;
mod cli;
mod clock;
mod cmd;
mod config;
mod duration;
mod error;
mod logging;
mod secret;
mod store;
mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command, Global, RefreshArgs};
use crate::error::usage;
use crate::store::Store;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!(
                "wxtoken: {} (see `wxtoken --help`)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let (code, print) = error::exit_status(&err);
            if print {
                eprintln!("wxtoken: {}", secret::redact(&format!("{err:#}")));
            }
            code
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match &cli.command {
        Command::Show(args) => {
            // SAFETY: nothing has used SQLite yet, and `show` runs no other thread.
            unsafe { store::sqlite::Sqlite::configure_for_one_short_read() };
            let mut store = store::sqlite::Sqlite::open_read_only(&db_path(global)?)?;
            cmd::show::run(&mut store, args, &mut std::io::stdout().lock())
        }
        Command::Refresh(args) => {
            logging::init(global.verbose, global.quiet);
            refresh(global, args)
        }
    }
}

fn refresh(global: &Global, args: &RefreshArgs) -> Result<()> {
    let apps = match &args.appid {
        Some(appid) => vec![config::cli_app(
            appid,
            args.name.as_deref(),
            args.api,
            args.secret_file.as_deref(),
            global.api_base.as_deref(),
        )?],
        None => select(config_apps(global)?, &args.apps)?,
    };
    let apps = apps
        .into_iter()
        .map(|app| config::read_secret(&app).map(|secret| (app, secret)))
        .collect::<Result<Vec<_>>>()?;
    let mut store = store::sqlite::Sqlite::open(&db_path(global)?)?;
    let opts = cmd::refresh::Options {
        force: args.force,
        ahead: args.ahead.as_secs() as i64,
        timeout: args.timeout,
        jobs: usize::from(args.jobs),
    };
    cmd::refresh::run(&mut store as &mut dyn Store, apps, &opts)
}

/// The apps of the config file (`--config`, or the default file when it exists).
fn config_apps(global: &Global) -> Result<Vec<app::App>> {
    let path = match &global.config {
        Some(path) => path.clone(),
        None => config::default_path().ok_or_else(|| {
            usage(
                "no app to refresh: pass --appid ID (with the secret in WXTOKEN_SECRET or --secret-file), or list apps in a config file (--config FILE)",
            )
        })?,
    };
    config::load(&path, global.api_base.as_deref())
}

/// The apps named with `--app` (all when none is named).
fn select(apps: Vec<app::App>, names: &[String]) -> Result<Vec<app::App>> {
    if names.is_empty() {
        return Ok(apps);
    }
    for name in names {
        if !apps.iter().any(|a| &a.name == name) {
            let known: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
            return Err(usage(format!(
                "unknown app {name:?}: the config lists {}",
                known.join(", ")
            )));
        }
    }
    Ok(apps
        .into_iter()
        .filter(|a| names.contains(&a.name))
        .collect())
}

/// `--db`, or `$XDG_DATA_HOME/wxtoken/tokens.db` (`~/.local/share/wxtoken/tokens.db`).
fn db_path(global: &Global) -> Result<PathBuf> {
    if let Some(db) = &global.db {
        if db.as_os_str().is_empty() {
            return Err(usage("--db / WXTOKEN_DB is empty"));
        }
        return Ok(db.clone());
    }
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("wxtoken").join("tokens.db"))
        .ok_or_else(|| {
            usage("no database path: set --db / WXTOKEN_DB (neither XDG_DATA_HOME nor HOME is set)")
        })
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
