//! `wxtoken show`'s plain command lines, read without clap (see [`show_plain`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use super::{Cli, Command, Global, NoUpstream, ShowArgs, ShowFormat};
use crate::app::Ticket;

/// A `show` command line as [`Cli`] reads it, when it has only the plain
/// forms; `None` for anything else, which `main` hands to clap
/// ([`super::ShowOnly`], then [`Cli`]), so that help, errors and every
/// unusual form read exactly as clap has them.
///
/// Scripts run `show` before every API call, and building even
/// [`super::ShowOnly`]'s clap `Command` (its arguments, their names, the
/// allocations behind them) and matching the line against it was most of
/// `show`'s own work. The plain forms: global options before `show`; `show`;
/// then its own options and the global ones, each option at most once on the
/// whole line, its value the next word (`--app NAME`); `-v`, `-vv`,
/// `--verbose`, `-q`, `--quiet`. Everything else is left to clap:
/// `--name=VALUE`, `--`, short options together (`-vq`), an option given
/// twice (`-v show -v`) or before `show` when it is `show`'s own, an unknown
/// word, a value that is empty, starts with `-` or is not UTF-8, one clap
/// would refuse (`--ticket nope`, `--min-ttl 5x`), options that conflict, and
/// an empty or non-UTF-8 `WXTOKEN_DB`, `WXTOKEN_CONFIG` or `WXTOKEN_API_BASE`.
/// Those variables are read through `env` (`std::env::var_os`) as clap reads
/// them: each one, whether its option is given or not.
pub fn show_plain(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&'static str) -> Option<OsString>,
) -> Option<Cli> {
    let mut line = Line::default();
    let mut show = false;
    let mut args = args.into_iter();
    while let Some(word) = args.next() {
        let word = word.into_string().ok()?;
        match word.as_str() {
            "show" if !show => show = true,
            "-q" | "--quiet" => once(&mut line.quiet, ())?,
            "--verbose" => once(&mut line.verbose, 1)?,
            short
                if short.len() > 1
                    && short.starts_with('-')
                    && short.bytes().skip(1).all(|b| b == b'v') =>
            {
                let count = u8::try_from(short.len() - 1).ok()?;
                once(&mut line.verbose, count)?;
            }
            long => {
                let mut next = || value(args.next()?);
                match (long, show) {
                    ("--db", _) => once(&mut line.db, next()?)?,
                    ("--config", _) => once(&mut line.config, next()?)?,
                    ("--api-base", _) => once(&mut line.api_base, next()?)?,
                    ("--app", true) => once(&mut line.app, next()?)?,
                    ("--appid", true) => once(&mut line.appid, next()?)?,
                    ("--platform", true) => once(&mut line.platform, next()?)?,
                    ("--ticket", true) => {
                        once(&mut line.ticket, Ticket::from_str(&next()?, false).ok()?)?;
                    }
                    ("--format", true) => {
                        once(
                            &mut line.format,
                            ShowFormat::from_str(&next()?, false).ok()?,
                        )?;
                    }
                    ("--min-ttl", true) => {
                        once(&mut line.min_ttl, crate::duration::parse(&next()?).ok()?)?;
                    }
                    _ => return None,
                }
            }
        }
    }
    line.into_cli(show, env)
}

/// What a plain `show` line gave, each option at most once.
#[derive(Default)]
struct Line {
    db: Option<String>,
    config: Option<String>,
    api_base: Option<String>,
    verbose: Option<u8>,
    quiet: Option<()>,
    app: Option<String>,
    appid: Option<String>,
    platform: Option<String>,
    ticket: Option<Ticket>,
    format: Option<ShowFormat>,
    min_ttl: Option<Duration>,
}

impl Line {
    fn into_cli(self, show: bool, env: impl Fn(&'static str) -> Option<OsString>) -> Option<Cli> {
        let conflict = (self.app.is_some() && self.appid.is_some())
            || (self.platform.is_some()
                && (self.app.is_some() || self.appid.is_some() || self.ticket.is_some()))
            || (self.quiet.is_some() && self.verbose.is_some());
        if !show || conflict {
            return None;
        }
        // clap reads each variable even when its option is given, and
        // refuses an empty or non-UTF-8 one then too.
        let given_or = |given: Option<String>, name| Some(given.or(variable(env(name))?));
        let db = given_or(self.db, "WXTOKEN_DB")?.map(PathBuf::from);
        let config = given_or(self.config, "WXTOKEN_CONFIG")?.map(PathBuf::from);
        let api_base = given_or(self.api_base, "WXTOKEN_API_BASE")?;
        let args = ShowArgs {
            app: self.app,
            appid: self.appid,
            ticket: self.ticket,
            // `ShowArgs`'s defaults (`default_value`), which a test compares.
            min_ttl: self.min_ttl.unwrap_or(Duration::from_secs(60)),
            format: self.format.unwrap_or(ShowFormat::Plain),
            platform: self.platform,
            // Unused by `show`, but where clap's copying of globals puts it.
            no_upstream: NoUpstream {
                _api_base: api_base.clone(),
            },
        };
        let global = Global {
            db,
            config,
            api_base,
            verbose: self.verbose.unwrap_or(0),
            quiet: self.quiet.is_some(),
        };
        Some(Cli {
            global,
            command: Command::Show(args),
        })
    }
}

/// Sets `slot`; `None` when it was set already.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// An option's value: UTF-8, not empty, not starting with `-`.
fn value(word: OsString) -> Option<String> {
    let word = word.into_string().ok()?;
    (!word.is_empty() && !word.starts_with('-')).then_some(word)
}

/// A variable's value: `Some(None)` when unset, `None` (left to clap) when
/// empty or not UTF-8.
fn variable(value: Option<OsString>) -> Option<Option<String>> {
    match value {
        None => Some(None),
        Some(value) => value.into_string().ok().filter(|v| !v.is_empty()).map(Some),
    }
}
