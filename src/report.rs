//! The error line: `wxtoken: ` what went wrong, its causes, and what to do, on
//! one line of stderr; and the exit status it ends with.
//!
//! Every fix that is not written into an error's own message comes from one
//! place, [`hint`], which asks each source of errors about each cause in the
//! chain: today the databases' error codes (`store::hint`).

use crate::cli::Cli;
use crate::error::{Exit, exit_status};
use crate::{out, secret, store, text};

/// Reports a command's error on stderr (unless it was reported already) and
/// gives its exit status. A closed stdout is no error: its reader had enough.
/// `places` (the database and config the command used, see
/// `cmd::common::places`) end the line, those the message does not name already.
pub fn error(err: &anyhow::Error, places: &[String]) -> Exit {
    if is_broken_pipe(err) {
        return Exit::Ok;
    }
    let (exit, print) = exit_status(err);
    if print {
        let message = message(err);
        let hint = hint(err).map(|h| format!(": {h}")).unwrap_or_default();
        let places = out::unnamed(&message, places);
        // Messages may quote paths and values others control.
        out::errln!(
            "wxtoken: {}",
            text::shown(&secret::redact(&format!("{message}{hint}{places}")))
        );
    }
    exit
}

/// Reports a command line clap refused (or prints the help or version it was
/// asked for) and gives the exit status.
pub fn command_line(e: &clap::Error) -> Exit {
    if !e.use_stderr() {
        let _ = e.print();
        return Exit::Ok;
    }
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return Exit::Usage;
    }
    out::errln!("wxtoken: {}", usage_line(e));
    Exit::Usage
}

/// What to do about an error, when wxtoken knows it from a cause's type and
/// code rather than from its message: the first cause that has a fix gives it
/// (a new source of fixes is asked here too).
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    err.chain().find_map(store::hint)
}

/// The error and its causes on one line, `: `-separated, without the repeats
/// that library errors carry (a cause that only restates the one before it).
pub fn message(err: &anyhow::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_database_error_deep_in_the_chain_gives_its_fix() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let err = Err::<(), _>(full)
            .context("could not write database /x.db")
            .unwrap_err();
        assert_eq!(
            hint(&err),
            Some("the disk is full: free some space (the stored token is unchanged)")
        );
        assert_eq!(hint(&anyhow::anyhow!("no such app")), None);
    }

    #[test]
    fn a_message_skips_causes_that_restate_the_one_before() {
        let err = anyhow::anyhow!("disk I/O error")
            .context("disk I/O error")
            .context("could not write database /x.db");
        assert_eq!(
            message(&err),
            "could not write database /x.db: disk I/O error"
        );
        let err = Err::<(), _>(std::io::Error::other("two\nlines"))
            .context("reading")
            .unwrap_err();
        assert_eq!(message(&err), "reading: two lines");
    }
}
