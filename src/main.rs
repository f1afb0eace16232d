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
mod engine;
mod error;
mod fault;
mod fsafe;
mod graph;
mod logging;
mod out;
mod owner;
mod platform;
mod progress;
mod render;
mod report;
mod secret;
mod store;
mod text;
mod tls_roots;
mod upstream;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let exit = match parse() {
        Ok(cli) => {
            // refresh fails app by app: each line names what it used.
            if matches!(cli.command, Command::Refresh(_)) {
                out::name_places(places(&cli));
            }
            run(&cli).map_or_else(
                |err| report::error(&err, &places(&cli)),
                |()| error::Exit::Ok,
            )
        }
        Err(e) => report::command_line(&e),
    };
    exit.into()
}

/// The command line. A `show` in its plain forms is read without clap first
/// ([`cli::show_plain`]); then a `show` is parsed without the other commands
/// ([`cli::ShowOnly`]); whatever neither takes goes to the full parser.
fn parse() -> Result<Cli, clap::Error> {
    if let Some(option) = repeated_global(std::env::args_os().skip(1)) {
        return Err(clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            format!("the global option '{option}' is given more than once: give it once"),
        ));
    }
    if let Some(cli) = cli::show_plain(std::env::args_os().skip(1), std::env::var_os) {
        return Ok(cli);
    }
    if std::env::args_os().any(|a| a == "show")
        && let Some(cli) = parse_show()
    {
        return Ok(cli);
    }
    Cli::try_parse()
}

/// A `show` by [`cli::ShowOnly`], if it takes the line. What clap built and
/// matched is left to the exit rather than freed, as the process ends soon.
fn parse_show() -> Option<Cli> {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = cli::ShowOnly::command();
    let matches = command.try_get_matches_from_mut(std::env::args_os());
    std::mem::forget(command);
    let mut matches = matches.ok()?;
    let show = cli::ShowOnly::from_arg_matches_mut(&mut matches);
    std::mem::forget(matches);
    show.ok()?.into_cli()
}

/// What a failing command names: the database it used, and the config file
/// for the commands that read one.
fn places(cli: &Cli) -> Vec<String> {
    let config = match &cli.command {
        Command::Show(_) | Command::History(_) | Command::Invalidate(_) => false,
        Command::Refresh(args) => args.appid.is_none(),
        Command::Status(_) | Command::Push(_) | Command::Authorizers(_) | Command::Sign(_) => true,
        Command::Completions(_) | Command::Man(_) | Command::Keygen(_) => return Vec::new(),
    };
    cmd::common::places(&cli.global, config)
}

/// The global option given more than once, if any. clap refuses a repeated
/// option within one command, but takes the last of a global option given both
/// before and after the command's name: a caller allowed to append arguments
/// (a sudo rule ending in a wildcard) could then replace the database, the
/// config or the API base chosen by the fixed part of the line. Options never
/// take a value that starts with `-` here, so every word before `--` that looks
/// like an option is one, as clap reads it too. `-v` may repeat (`-vv`).
pub fn repeated_global(args: impl Iterator<Item = std::ffi::OsString>) -> Option<&'static str> {
    const ONCE: [&str; 4] = ["--db", "--config", "--api-base", "--quiet"];
    let mut seen = [false; ONCE.len()];
    for arg in args {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        let found = if arg.starts_with("--") {
            let name = arg.split_once('=').map_or(&*arg, |(name, _)| name);
            ONCE.iter().position(|o| *o == name)
        } else if arg.starts_with('-') && arg[1..].contains('q') {
            Some(3)
        } else {
            None
        };
        if let Some(i) = found {
            if seen[i] {
                return Some(ONCE[i]);
            }
            seen[i] = true;
        }
    }
    None
}

fn run(cli: &Cli) -> Result<()> {
    let global = &cli.global;
    match &cli.command {
        Command::Show(args) => cmd::show::run(global, args),
        Command::Refresh(args) => cmd::refresh::command(global, args),
        Command::Status(args) => cmd::status::run(global, args),
        Command::History(args) => cmd::history::run(global, args),
        Command::Invalidate(args) => cmd::invalidate::run(global, args),
        Command::Completions(args) => cmd::docs::completions(args),
        Command::Man(args) => cmd::docs::man(args),
        Command::Keygen(args) => cmd::keygen::run(&args.path),
        Command::Push(args) => cmd::push::run(global, args),
        Command::Authorizers(args) => cmd::authorizers::run(global, args),
        Command::Sign(args) => cmd::sign::run(global, args),
    }
}

#[cfg(test)]
mod tests;
