//! The `show` readers that `main` tries first ([`show_plain`], then
//! [`ShowOnly`]) read a command line as [`Cli`] does, or leave it to [`Cli`].

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use clap::Parser;

use super::{Cli, ShowOnly, show_plain};

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

/// `show` lines in the plain forms the README and scripts write: both fast
/// readers take each, as the whole parser reads it.
const PLAIN: [&str; 23] = [
    "show",
    "show --app shop",
    "--db x.db show --app shop",
    "show --app shop --db x.db",
    "--config c.toml show --db x.db",
    "--api-base http://127.0.0.1:9 show",
    "show --api-base http://127.0.0.1:9",
    "-v show",
    "show -v",
    "-vv show --app a",
    "show -vv",
    "-vvv show --format json",
    "--verbose show",
    "-q show",
    "show --quiet",
    "show -q --app a",
    "show --format json --ticket jsapi --min-ttl 5m",
    "show --format env --appid wx1",
    "show --format plain --ticket wx_card --app a --min-ttl 90",
    "show --ticket agent_config --min-ttl 1h30m",
    "show --platform acme",
    "show --platform acme --format json",
    "show --app show",
];

#[test]
fn show_is_read_as_the_whole_command_line_reads_it() {
    let taken = PLAIN.iter().chain(&["show --config=c.toml --db=x.db"]);
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

/// What each reader makes of `args`: [`show_plain`]'s [`Cli`] if it takes
/// the line, and clap's (or its error's kind), both as Debug text; the first
/// must be the second. Both read the variables of the test's environment.
fn plain_and_clap(args: &[OsString]) -> (Option<String>, Result<String, clap::error::ErrorKind>) {
    let fast = show_plain(args.iter().cloned(), std::env::var_os).map(|cli| format!("{cli:?}"));
    let full = Cli::try_parse_from(std::iter::once("wxtoken".into()).chain(args.iter().cloned()))
        .map(|cli| format!("{cli:?}"))
        .map_err(|e| e.kind());
    if let Some(fast) = &fast {
        assert_eq!(
            Ok(fast),
            full.as_ref(),
            "{args:?}: read otherwise than clap"
        );
    }
    (fast, full)
}

fn plain_and_clap_line(line: &str) -> (Option<String>, Result<String, clap::error::ErrorKind>) {
    let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
    plain_and_clap(&args)
}

#[test]
fn plain_show_lines_are_read_without_clap_as_clap_reads_them() {
    for line in PLAIN {
        let (fast, full) = plain_and_clap_line(line);
        assert!(full.is_ok(), "{line}: {full:?}");
        assert!(fast.is_some(), "{line}: not taken");
    }
    // Left to clap: help, version, errors, unusual forms, both sides' -v/-q.
    let left = [
        "",
        "--db x.db",
        "show --help",
        "-h show",
        "show -h",
        "--version show",
        "show -V",
        "show help",
        "show extra",
        "show show",
        "show --app",
        "show --app a --appid wx1",
        "show --platform acme --app a",
        "show --platform acme --ticket jsapi",
        "show --ticket nope",
        "show --ticket JSAPI",
        "show --format Json",
        "show --min-ttl 5x",
        "-v show -v",
        "-v -v show",
        "-vvv show --verbose",
        "show -v -vv",
        "--verbose show --verbose --app a",
        "-q show -v",
        "-v show -q",
        "show -q -v",
        "show -vq",
        "show -qv",
        "-qq show",
        "show --no-such-option",
        "show -x",
        "show --secret-file s",
        "--app a show",
        "--format json show",
        "refresh --app show",
        "status show",
        // --NAME=VALUE
        "show --app=x",
        "show --config=c.toml --db=x.db",
        "--db=x.db show",
        "show --format=json",
        "show --app=",
        // --
        "show --",
        "-- show",
        "show -- --app a",
        "show --app a --",
        "show --app -- a",
        // values that start with -
        "show --app -x",
        "show --app -",
        "show --db -",
        "show --min-ttl -5m",
        "show -",
        // an option given twice
        "show --app a --app b",
        "show --format json --format env",
        "--db a show --db b",
        "--config a show --config b",
        "--api-base a show --api-base b",
        "-q show --quiet",
    ];
    for line in left {
        let (fast, full) = plain_and_clap_line(line);
        assert_eq!(fast, None, "{line}: taken, clap says {full:?}");
    }
}

#[test]
fn empty_and_non_utf8_words_are_left_to_clap() {
    let word = |w: &[u8]| OsString::from_vec(w.to_vec());
    let lines = [
        vec![word(b"show"), word(b"--app"), word(b"")],
        vec![word(b"--db"), word(b""), word(b"show")],
        vec![word(b"show"), word(b"--app"), word(b"sh\xffop")],
        vec![word(b"show"), word(b"--db"), word(b"/tmp/\xff.db")],
        vec![word(b"--config"), word(b"\xff"), word(b"show")],
        vec![word(b"sh\xffow"), word(b"--app"), word(b"a")],
        vec![word(b"show"), word(b"--app\xff"), word(b"a")],
        vec![word(b"show"), word(b""), word(b"--app"), word(b"a")],
    ];
    for args in lines {
        let (fast, full) = plain_and_clap(&args);
        assert_eq!(fast, None, "{args:?}: taken, clap says {full:?}");
    }
}

/// The variables, for an option not given: as clap reads them (`env`), and
/// left to clap when empty or not UTF-8.
#[test]
fn the_variables_fill_in_what_is_not_given() {
    let set = |name: &str| match name {
        "WXTOKEN_DB" => Some("env.db".into()),
        "WXTOKEN_CONFIG" => Some("env.toml".into()),
        "WXTOKEN_API_BASE" => Some("http://env".into()),
        _ => None,
    };
    let args = |line: &str| {
        line.split_whitespace()
            .map(OsString::from)
            .collect::<Vec<_>>()
    };
    let cli = show_plain(args("show --app a"), set).expect("taken");
    assert_eq!(cli.global.db.as_deref(), Some("env.db".as_ref()));
    assert_eq!(cli.global.config.as_deref(), Some("env.toml".as_ref()));
    assert_eq!(cli.global.api_base.as_deref(), Some("http://env"));
    let super::Command::Show(show) = &cli.command else {
        panic!("not show: {cli:?}")
    };
    assert_eq!(show.no_upstream._api_base.as_deref(), Some("http://env"));

    let line = "--db x.db show --config c.toml --api-base http://x --app a";
    let cli = show_plain(args(line), set).expect("taken");
    assert_eq!(cli.global.db.as_deref(), Some("x.db".as_ref()));
    assert_eq!(cli.global.config.as_deref(), Some("c.toml".as_ref()));
    assert_eq!(cli.global.api_base.as_deref(), Some("http://x"));

    // An empty or non-UTF-8 variable is clap's to read or refuse, also when
    // its option is given (clap reads it then too: `WXTOKEN_DB= wxtoken show
    // --db x` is exit 2).
    for name in ["WXTOKEN_DB", "WXTOKEN_CONFIG", "WXTOKEN_API_BASE"] {
        for bad in [OsString::new(), OsString::from_vec(b"\xff".to_vec())] {
            let env = |n: &str| (n == name).then(|| bad.clone());
            assert!(
                show_plain(args("show --app a"), env).is_none(),
                "{name}={bad:?}"
            );
            let given = "show --db x --config y --api-base z";
            assert!(show_plain(args(given), env).is_none(), "{name}={bad:?}");
        }
    }
}
