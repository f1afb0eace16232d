//! `wxtoken show`'s own, leaner command line (see [`ShowOnly`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::{Cli, Command, Global, ShowArgs};

/// `wxtoken show` alone. Scripts run `show` before every API call, and
/// building the whole command line (every command, every global option copied
/// into each) is most of its own work: `main` parses a `show` with this first,
/// and hands anything it does not take (help, errors, other commands) to
/// [`Cli`], so that what a user sees is the same. The global options are not
/// global here (clap's copying of them into the command and back is a third of
/// what it does): each side of `show` has its own, and [`ShowOnly::into_cli`]
/// joins them, or gives up when both sides have `-v`/`-q`.
#[derive(Parser, Debug)]
#[command(
    name = "wxtoken",
    disable_help_flag = true,
    disable_help_subcommand = true
)]
pub struct ShowOnly {
    #[command(flatten)]
    global: GlobalBefore,

    #[command(subcommand)]
    command: ShowCommand,
}

#[derive(Subcommand, Debug)]
enum ShowCommand {
    #[command(disable_help_flag = true)]
    Show {
        #[command(flatten)]
        args: ShowArgs,
        #[command(flatten)]
        global: GlobalAfter,
    },
}

/// [`Global`] before `show`: the variables are read here.
#[derive(Args, Debug)]
struct GlobalBefore {
    #[arg(long = "db", env = "WXTOKEN_DB")]
    db: Option<PathBuf>,
    #[arg(long = "config", env = "WXTOKEN_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long = "api-base", env = "WXTOKEN_API_BASE")]
    api_base: Option<String>,
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    #[arg(short = 'q', long = "quiet", conflicts_with = "verbose")]
    quiet: bool,
}

/// [`Global`] after `show` (whose `--api-base` is [`NoUpstream`]'s): given
/// here, an option wins over its variable, as in [`Cli`].
#[derive(Args, Debug)]
struct GlobalAfter {
    #[arg(long = "db")]
    db: Option<PathBuf>,
    #[arg(long = "config")]
    config: Option<PathBuf>,
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    #[arg(short = 'q', long = "quiet", conflicts_with = "verbose")]
    quiet: bool,
}

impl ShowOnly {
    /// The command line as [`Cli`] would have parsed it; `None` for `-v` or
    /// `-q` on both sides of `show` (for [`Cli`] to count or refuse). A global
    /// option given twice never gets here (`main`'s `repeated_global`).
    pub fn into_cli(self) -> Option<Cli> {
        let ShowCommand::Show {
            mut args,
            global: after,
        } = self.command;
        let before = self.global;
        if (before.verbose > 0 || before.quiet) && (after.verbose > 0 || after.quiet) {
            return None;
        }
        // Unused by `show`, but where clap's copying would put it.
        let api_base = args.no_upstream._api_base.take().or(before.api_base);
        args.no_upstream._api_base.clone_from(&api_base);
        let global = Global {
            db: after.db.or(before.db),
            config: after.config.or(before.config),
            api_base,
            verbose: before.verbose + after.verbose,
            quiet: before.quiet || after.quiet,
        };
        Some(Cli {
            global,
            command: Command::Show(args),
        })
    }
}
