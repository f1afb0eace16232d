//! stdout and stderr that are closed or full: `refresh` still stores, records and
//! releases, and exits with its documented status; the reading commands end
//! quietly into a closed pipe (as for `set -o pipefail` users of `| head`).
//!
//! The tests run the debug build, where a panic exits 101 (the release build
//! aborts, 134): both are rejected, as is any signal.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::support::{Backend, Env, Reply, StandIn, both};

/// A pipe whose read end is closed before wxtoken starts: every write fails
/// with EPIPE (or, where SIGPIPE has its default action, kills the writer).
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

fn full_device() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

#[track_caller]
fn assert_exit(status: ExitStatus, code: i32, what: &str) {
    assert_eq!(
        status.signal(),
        None,
        "{what}: ended by a signal ({status})"
    );
    assert_eq!(status.code(), Some(code), "{what}: exit status ({status})");
}

/// Two apps: `bad` fails at once (its failure is written while `good`'s call is
/// still in flight), `good` is answered after a delay. Runs `refresh` with
/// `stderr`, then checks that all of its work reached the database.
fn refresh_with_stderr(backend: Backend, stderr: Stdio) {
    let up = StandIn::start(|req| match req.param("appid").as_deref() {
        Some("wxbad") => Reply::errcode(40013, "invalid appid"),
        _ => Reply::token("GOOD-TOKEN", 7200).delayed(Duration::from_millis(800)),
    });
    let mut env = backend.with(&up);
    env.config_apps(&["bad", "good"], "");
    let status = env
        .command(&["refresh"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .unwrap();
    assert_exit(status, 1, "refresh with a failing app");
    assert_eq!(
        env.rows("SELECT app, value FROM wxtoken_tokens"),
        vec![vec![
            Some("good".to_string()),
            Some("GOOD-TOKEN".to_string())
        ]],
        "the good app's token is stored"
    );
    assert_eq!(
        env.rows("SELECT app, outcome FROM wxtoken_attempts ORDER BY app"),
        vec![
            vec![Some("bad".to_string()), Some("error".to_string())],
            vec![Some("good".to_string()), Some("ok".to_string())],
        ],
        "both attempts are recorded"
    );
    assert_eq!(
        env.int("SELECT COUNT(*) FROM wxtoken_leases"),
        0,
        "every lease is released"
    );
}

both! {
    fn refresh_finishes_its_work_with_a_closed_stderr(backend) {
        refresh_with_stderr(backend, closed_pipe());
    }
}

both! {
    fn refresh_finishes_its_work_with_a_full_stderr(backend) {
        refresh_with_stderr(backend, full_device());
    }
}

#[test]
fn reading_commands_end_quietly_into_a_closed_pipe() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    for args in [
        &["show"][..],
        &["show", "--format", "json"],
        &["status"],
        &["history"],
    ] {
        let out = env.command(args).stdout(closed_pipe()).output().unwrap();
        let what = format!("wxtoken {}", args.join(" "));
        assert_exit(out.status, 0, &what);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{what}: nothing on stderr"
        );
    }
}

#[test]
fn errors_into_a_full_stderr_keep_their_exit_status() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    for (args, code) in [
        (&["show", "--app", "nosuch"][..], 3),
        (&["refresh", "--jobs", "0"], 2),
        (&["history", "--no-such-flag"], 2),
    ] {
        let status = env
            .command(args)
            .stdout(Stdio::null())
            .stderr(full_device())
            .status()
            .unwrap();
        assert_exit(status, code, &format!("wxtoken {}", args.join(" ")));
    }
}
