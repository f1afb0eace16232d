//! wxtoken: keeps WeChat access tokens fresh in a database, for cron and scripts.
//!
//! `main` parses the command line, runs the command, and is the one place that
//! prints an error (`wxtoken: ...`) and maps it to the documented exit status.
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
mod graph;
mod logging;
mod out;
mod owner;
mod secret;
mod store;
mod text;
mod trust;
mod upstream;

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command, Global};
use crate::error::usage;
use crate::store::Store;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(wxtoken())
}

/// The whole program; its result is the exit status.
fn wxtoken() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return 0;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return 2;
        }
        Err(e) => {
            out::errln!("wxtoken: {}", usage_line(&e));
            return 2;
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(err) if is_broken_pipe(&err) => 0,
        Err(err) => {
            let (code, print) = error::exit_status(&err);
            if print {
                let hint = store::hint(&err)
                    .map(|h| format!(": {h}"))
                    .unwrap_or_default();
                // Messages may quote paths and values others control.
                out::errln!(
                    "wxtoken: {}",
                    text::shown(&secret::redact(&format!("{}{hint}", message(&err))))
                );
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
            let mut store = store::open_read_only(&db_location(global)?)?;
            cmd::show::run(store.as_mut(), args, &mut std::io::stdout().lock())
        }
        Command::Refresh(args) => cmd::refresh::command(global, args),
        Command::Status(args) => {
            logging::init(global.verbose, global.quiet);
            let apps = match config_path(global) {
                Some(path) => config::load(&path, global.api_base.as_deref())?,
                None => Vec::new(),
            };
            let mut store = open_if_present(global)?;
            let now = clock::now();
            let lines = cmd::status::lines(
                store.as_deref_mut().map(|s| s as &mut dyn Store),
                &apps,
                now,
            )?;
            match &args.output {
                Some(path) => {
                    let mut text = Vec::new();
                    cmd::status::write(&lines, args.format, now, &mut text)?;
                    cmd::status::write_atomically(path, &text)
                }
                None => cmd::status::write(&lines, args.format, now, &mut std::io::stdout().lock()),
            }
        }
        Command::History(args) => {
            logging::init(global.verbose, global.quiet);
            if let Some(app) = &args.app {
                config::name_arg("--app", app)?;
            }
            let mut store = open_if_present(global)?;
            cmd::history::run(
                store.as_deref_mut().map(|s| s as &mut dyn Store),
                args.app.as_deref(),
                args.limit as usize,
                &mut std::io::stdout().lock(),
            )
        }
        Command::Completions(args) => {
            cmd::docs::completions(args.shell, &mut std::io::stdout().lock())
        }
        Command::Man(args) => cmd::docs::man(&args.dir),
        Command::Invalidate(args) => {
            logging::init(global.verbose, global.quiet);
            config::name_arg("--app", &args.app)?;
            let if_token =
                cmd::invalidate::if_token(args.if_token.as_deref(), &mut std::io::stdin().lock())?;
            let location = db_location(global)?;
            // Opening read-only first: invalidate never creates a database.
            if open_if_present(global)?.is_none() {
                return Err(usage(
                    "no database yet: nothing to invalidate (run `wxtoken refresh` first)",
                ));
            }
            let mut store = store::open(&location)?;
            let kind = args
                .ticket
                .map_or(app::Kind::AccessToken, app::Kind::Ticket);
            cmd::invalidate::run(store.as_mut(), &args.app, kind, if_token.as_deref())
        }
    }
}

/// The database for reading, or `None` when there is none yet.
fn open_if_present(global: &Global) -> Result<Option<Box<dyn Store>>> {
    match store::open_read_only(&db_location(global)?) {
        Ok(store) => Ok(Some(store)),
        Err(e) if e.is::<error::NoToken>() => Ok(None),
        Err(e) => Err(e),
    }
}

/// `--config`, or the default config file when it exists.
fn config_path(global: &Global) -> Option<PathBuf> {
    global.config.clone().or_else(config::default_path)
}

/// `--db`, or `$XDG_DATA_HOME/wxtoken/tokens.db` (`~/.local/share/wxtoken/tokens.db`).
fn db_location(global: &Global) -> Result<store::Location> {
    if let Some(db) = &global.db {
        if db.as_os_str().is_empty() {
            return Err(usage("--db / WXTOKEN_DB is empty"));
        }
        return store::Location::parse(db.clone());
    }
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("wxtoken").join("tokens.db"))
        .ok_or_else(|| {
            usage("no database path: set --db / WXTOKEN_DB (neither XDG_DATA_HOME nor HOME is set)")
        })
        .and_then(|path| {
            text::max_bytes(
                "the default database path (under XDG_DATA_HOME or HOME)",
                &path.to_string_lossy(),
                store::MAX_DB_ARG,
            )?;
            Ok(store::Location::Sqlite(path))
        })
}

/// clap's error on one line: the problem, the argument, the valid values and its
/// tip, and which `--help` to read.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.trim_start_matches("error: ").to_string());
        }
    }
    let commands = <Cli as clap::CommandFactory>::command();
    let command = std::env::args()
        .skip(1)
        .find(|a| commands.get_subcommands().any(|c| c.get_name() == a));
    let help = match command {
        Some(c) => format!("wxtoken {c} --help"),
        None => "wxtoken --help".to_string(),
    };
    let problem = parts.join(" ").replace(" tip: ", "; ");
    format!("{} (see `{help}`)", clip_quoted(problem.trim()))
}

/// clap's message with each value it quotes ('...') cut to a few dozen
/// characters and the whole to a few hundred: a 70 kB argument is not echoed.
fn clip_quoted(problem: &str) -> String {
    let clipped: Vec<String> = problem
        .split('\'')
        .enumerate()
        .map(|(i, part)| match i % 2 {
            1 => text::clip(part, 60),
            _ => part.to_string(),
        })
        .collect();
    text::clip(&clipped.join("'"), 600)
}

/// The error and its causes on one line, `: `-separated, without the repeats
/// that library errors carry (a cause that only restates the one before it).
fn message(err: &anyhow::Error) -> String {
    let mut line = String::new();
    let mut previous = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !previous.is_empty() && (text.contains(&previous) || previous.contains(&text)) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
        previous = text;
    }
    line.replace('\n', " ")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
