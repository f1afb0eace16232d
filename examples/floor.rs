//! The floor for `wxtoken show`, for the benchmarks (bench/run): the least a
//! program can do to print a stored token with the same SQLite and the same
//! build. It opens the database read-only with rusqlite, runs `show --app`'s
//! SELECT (src/store/sqlite.rs, LOOKUP_APP) and prints the value; nothing else:
//! no path checks, no schema version, no expiry check, no command line parser.
//!
//!     floor DB APP

use std::io::Write;

use rusqlite::{Connection, OpenFlags};

const LOOKUP_APP: &str =
    "SELECT app, kind, api, appid, value, fetched_at, expires_at, invalidated_at, source_token
           FROM wxtoken_tokens WHERE kind = ?1 AND app = ?2 ORDER BY app";

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(db), Some(app), None) = (args.next(), args.next(), args.next()) else {
        return fail("usage: floor DB APP");
    };
    let Some(app) = app.to_str().map(str::to_owned) else {
        return fail("floor: APP is not UTF-8");
    };
    let conn = match Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(conn) => conn,
        Err(e) => return fail(&format!("floor: {e}")),
    };
    let value = conn.query_row(LOOKUP_APP, ("access_token", app), |r| r.get::<_, String>(4));
    match value {
        Ok(value) => match writeln!(std::io::stdout().lock(), "{value}") {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => fail(&format!("floor: {e}")),
        },
        Err(e) => fail(&format!("floor: {e}")),
    }
}

fn fail(message: &str) -> std::process::ExitCode {
    // An example, not wxtoken: its one diagnostic goes straight to stderr.
    let _ = writeln!(std::io::stderr(), "{message}");
    std::process::ExitCode::FAILURE
}
