//! Writing wxtoken's lines to stderr, whatever became of it.
//!
//! A closed pipe, a full disk or a vanished terminal must never end a run: a
//! `refresh` between its upstream call and its commit has a token to store, an
//! attempt to record and a lease to release, and its exit status still tells the
//! outcome. So every diagnostic goes through [`errln!`], which drops what cannot
//! be written, where `eprintln!` would panic. (Output on stdout is the command's
//! result: its write errors are returned, and a closed pipe ends the command
//! quietly; see `main`.)

use std::io::Write;

/// Writes `line` and a newline to stderr in one write, ignoring any failure.
/// This is the one place every diagnostic passes: whatever it quotes (an appid
/// from the database, a server's notice, a path), control and bidirectional
/// characters leave the process escaped ([`crate::text::shown`]), a line break
/// as a space.
pub fn err_line(line: std::fmt::Arguments) {
    let mut line = line.to_string().replace('\n', " ");
    if let Some(places) = PLACES.get() {
        line.push_str(&crate::secret::redact(&unnamed(&line, places)));
    }
    write_line(line);
}

/// [`err_line`] for the log's records (`wxtoken: warning: ...`), which do not
/// end with the places a run's failures name.
pub fn log_line(line: std::fmt::Arguments) {
    write_line(line.to_string().replace('\n', " "));
}

/// The database and config (`database PATH`, `config PATH`) that every line
/// of [`err_line`] ends with, once [`name_places`] named them.
static PLACES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// From now on, every diagnostic line (not the log's) ends with the `places`
/// it does not name already: a command that reports a failure per item
/// (`refresh`: one line per failed app) says on each line what it used, as
/// cron mails it.
pub fn name_places(places: Vec<String>) {
    let _ = PLACES.set(places);
}

/// ` (database PATH, config PATH)`: those of `places` (`what path`) that
/// `line` does not name already; empty when it names them all.
pub fn unnamed(line: &str, places: &[String]) -> String {
    let unnamed: Vec<&str> = places
        .iter()
        .filter(|p| {
            let path = p.split_once(' ').map_or(p.as_str(), |(_, path)| path);
            !line.contains(path)
        })
        .map(String::as_str)
        .collect();
    match unnamed.as_slice() {
        [] => String::new(),
        some => format!(" ({})", some.join(", ")),
    }
}

fn write_line(line: String) {
    let text = format!("{}\n", crate::text::shown(&line));
    crate::progress::suspend(|| {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    });
}

/// `eprintln!` that never panics: a failed write is dropped.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::err_line(format_args!($($arg)*))
    };
}
pub(crate) use errln;
