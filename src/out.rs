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
    let line = line.to_string().replace('\n', " ");
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
