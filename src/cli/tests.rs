//! The `show` parser that `main` tries first ([`ShowOnly`]) reads a command
//! line as [`Cli`] does, or leaves it to [`Cli`].

use clap::Parser;

use super::{Cli, ShowOnly};

/// What each parser makes of `line`: the fast one's [`Cli`] if it takes the
/// line, and the whole one's (or its error's kind), both as Debug text.
fn parsed(line: &str) -> (Option<String>, Result<String, clap::error::ErrorKind>) {
    let args: Vec<&str> = std::iter::once("wxtoken")
        .chain(line.split_whitespace())
        .collect();
    let fast = ShowOnly::try_parse_from(&args)
        .ok()
        .and_then(ShowOnly::into_cli)
        .map(|cli| format!("{cli:?}"));
    let full = Cli::try_parse_from(&args)
        .map(|cli| format!("{cli:?}"))
        .map_err(|e| e.kind());
    (fast, full)
}

#[test]
fn show_is_read_as_the_whole_command_line_reads_it() {
    let taken = [
        "show",
        "show --app shop",
        "--db x.db show --app shop",
        "show --app shop --db x.db",
        "--config c.toml show --db x.db",
        "show --config=c.toml --db=x.db",
        "--api-base http://127.0.0.1:9 show",
        "show --api-base http://127.0.0.1:9",
        "-v show",
        "show -v",
        "-vv show --app a",
        "show -vv",
        "-q show",
        "show --quiet",
        "show --format json --ticket jsapi --min-ttl 5m",
        "show --format env --appid wx1",
        "show --platform acme",
    ];
    for line in taken {
        let (fast, full) = parsed(line);
        assert!(full.is_ok(), "{line}: {full:?}");
        assert_eq!(
            fast.ok_or("not taken"),
            full.map_err(|_| "not taken"),
            "{line}"
        );
    }
    // Left to the whole parser: help, version, errors, both sides' -v/-q.
    let left = [
        "show --help",
        "-h show",
        "show -h",
        "--version show",
        "show help",
        "show extra",
        "show --app",
        "show --app a --appid wx1",
        "show --platform acme --app a",
        "show --ticket nope",
        "show --min-ttl 5x",
        "-v show -v",
        "--verbose show --verbose --app a",
        "-q show -v",
        "-v show -q",
        "show -q -v",
        "show --no-such-option",
        "show --secret-file s",
        "refresh --app show",
    ];
    for line in left {
        let (fast, full) = parsed(line);
        assert_eq!(fast, None, "{line}: taken, the whole parser says {full:?}");
    }
}
