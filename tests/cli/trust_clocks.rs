//! Clocks that disagree: leases and values written by a clock that ran fast, and
//! a run waiting for another's lease, on SQLite and (`both!`) on PostgreSQL.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Env, Run, StandIn, both, now};

const APPID: &str = "wx85871939f7f9b647";

/// The owner id of a lease another wxtoken run (on another host) holds.
const OTHER: &str = "other-host:4242:00c0ffee00c0ffee";

/// `2026-11-26T03:40:00Z` for a Unix time.
fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).unwrap().to_string()
}

/// A database with the schema and no token, the app's lease held by `OTHER`
/// until `expires_at`.
fn plant_lease(env: &Env, expires_at: i64) {
    env.refresh(&[]).expect(0);
    env.exec(&format!(
        "DELETE FROM wxtoken_tokens; DELETE FROM wxtoken_attempts;
         INSERT INTO wxtoken_leases (app, owner, expires_at) VALUES ('{APPID}', '{OTHER}', {expires_at})"
    ));
}

/// Runs `wxtoken ARGS`; kills it and fails the test if it runs longer than `limit`.
#[track_caller]
fn run_within(env: &Env, args: &[&str], limit: Duration) -> (Run, Duration) {
    let started = Instant::now();
    let mut child = env
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    (Run(child.wait_with_output().unwrap()), elapsed)
}

/// The stored token: value, fetched_at, expires_at.
fn token_row(env: &Env) -> (String, i64, i64) {
    let rows = env.rows(
        "SELECT value, fetched_at, expires_at FROM wxtoken_tokens WHERE kind = 'access_token'",
    );
    assert_eq!(rows.len(), 1, "one token row");
    let col = |i: usize| rows[0][i].clone().unwrap();
    (col(0), col(1).parse().unwrap(), col(2).parse().unwrap())
}

both! {
    /// A token "fetched" 3 h from now (a fast clock fetched it) looks valid for
    /// 5 h more, but its expiry is just as wrong: it is renewed, with a warning,
    /// and the new token is stored although its fetched_at is the older one.
    fn a_value_fetched_ahead_of_the_clock_is_renewed(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        let planted = now();
        env.exec(&format!(
            "UPDATE wxtoken_tokens SET fetched_at = {}, expires_at = {}",
            planted + 3 * 3600,
            planted + 5 * 3600
        ));
        let run = env.refresh(&[]);
        run.expect(0)
            .stderr_has(&format!("wxtoken: warning: {APPID}: its access_token was fetched "))
            .stderr_has("ahead of this host's clock");
        assert!(
            run.stderr().contains(" 3h 0m ahead") || run.stderr().contains(" 2h 59m ahead"),
            "how far ahead: {}",
            run.stderr()
        );
        assert_eq!(up.count("/cgi-bin/token"), 2, "renewed");
        let (value, fetched, expires) = token_row(&env);
        assert_eq!(value, format!("TOKEN-2-{APPID}"));
        assert!((planted..=now()).contains(&fetched), "fetched_at {fetched} is now");
        assert_eq!(expires - fetched, 7200);
        // Now the clocks agree: the next run finds it fresh and says nothing.
        let again = env.refresh(&[]);
        again.expect(0);
        assert_eq!(again.stderr(), "");
        assert_eq!(up.count("/cgi-bin/token"), 2);
    }
}

both! {
    /// No wxtoken takes a lease for more than 3 x 5m + 5 s: one that ends hours
    /// from now was written by a clock that ran fast. Before, it blocked every
    /// refresh of the app until then; now it is taken over, with a warning.
    fn a_lease_from_a_fast_clock_is_taken_over(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        let expires_at = now() + 3 * 3600;
        plant_lease(&env, expires_at);
        let args = ["refresh", "--appid", APPID, "--timeout", "1s"];
        let (run, _) = run_within(&env, &args, Duration::from_secs(30));
        run.expect(0).stderr_has(&format!(
            "wxtoken: warning: {APPID}: took over the lease of {OTHER} that ends {}",
            rfc3339(expires_at)
        ));
        assert_eq!(up.count("/cgi-bin/token"), 2, "fetched");
        assert_eq!(token_row(&env).0, format!("TOKEN-2-{APPID}"), "stored");
        assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_leases"), 0, "released");
    }
}

both! {
    /// The longest lease a wxtoken takes (3 x 5m + 5 s) is a live one: ending
    /// exactly that far from now, it is waited for and left alone; ending a
    /// minute later (the runs' own time included), no wxtoken wrote it from
    /// this clock, and it is taken over.
    fn a_lease_as_long_as_the_longest_is_waited_for(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        let longest = now() + 3 * 300 + 5;
        plant_lease(&env, longest);
        let args = ["refresh", "--appid", APPID, "--timeout", "1s"];
        let (run, _) = run_within(&env, &args, Duration::from_secs(30));
        run.expect(1).stderr_has(&format!(
            "another wxtoken run holds its lease ({OTHER}, until {})",
            rfc3339(longest)
        ));
        assert!(!run.stderr().contains("took over"), "{}", run.stderr());
        assert_eq!(env.text("SELECT owner FROM wxtoken_leases"), OTHER);
        let longer = now() + 3 * 300 + 5 + 60;
        env.exec(&format!("UPDATE wxtoken_leases SET expires_at = {longer}"));
        let (run, _) = run_within(&env, &args, Duration::from_secs(30));
        run.expect(0).stderr_has(&format!(
            "wxtoken: warning: {APPID}: took over the lease of {OTHER} that ends {}",
            rfc3339(longer)
        ));
        assert_eq!(up.count("/cgi-bin/token"), 2, "fetched");
    }
}

both! {
    /// A live lease of another run, ending in 200 s: a `--timeout 1s` run waits
    /// for it no longer than its own lease would last (3 x 1s + 5 s), then fails
    /// that app with one line naming the holder and when its lease ends.
    fn waiting_for_another_runs_lease_ends_within_the_bound(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        let expires_at = now() + 200;
        plant_lease(&env, expires_at);
        let args = ["refresh", "--appid", APPID, "--timeout", "1s"];
        let (run, took) = run_within(&env, &args, Duration::from_secs(30));
        run.expect(1);
        assert!(
            (Duration::from_secs(8)..Duration::from_secs(12)).contains(&took),
            "gave up after {took:?}"
        );
        let line = format!(
            "wxtoken: {APPID}: another wxtoken run holds its lease ({OTHER}, until {}): gave up waiting for it after 8s",
            rfc3339(expires_at)
        );
        assert!(
            run.stderr().lines().any(|l| l.starts_with(&line)),
            "no line {line:?} in:\n{}",
            run.stderr()
        );
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
        assert_eq!(up.count("/cgi-bin/token"), 1, "nothing fetched");
        assert!(env.dump().is_empty(), "nothing stored");
        assert_eq!(
            env.text("SELECT owner FROM wxtoken_leases"),
            OTHER,
            "the live lease is left alone"
        );
    }
}

both! {
    /// A run that waited for another's lease does not call when that run just
    /// failed; a failure recorded before this run started is no such news:
    /// once the lease ends, this run calls and stores.
    fn after_a_wait_an_old_failure_does_not_stop_the_call(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        plant_lease(&env, now() + 3);
        let old_ms = (now() - 3600) * 1000;
        env.exec(&format!(
            "INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced, errcode, message)
             VALUES ('{APPID}', 'access_token', {old_ms}, 500, 'error', 0, 45009, 'errcode 45009: an hour ago')"
        ));
        let args = ["refresh", "--appid", APPID, "--timeout", "1s"];
        let (run, _) = run_within(&env, &args, Duration::from_secs(30));
        run.expect(0);
        assert!(!run.stderr().contains("45009"), "{}", run.stderr());
        assert_eq!(up.count("/cgi-bin/token"), 2, "called once the lease ended");
        assert_eq!(token_row(&env).0, format!("TOKEN-2-{APPID}"), "stored");
    }
}

both! {
    /// A worker that brings no result (stuck here at a test pause of 60 s) is
    /// given up at the end of its app's lease (3 x 1s + 5 s): the run does not
    /// wait for it, and releases the lease.
    fn a_stuck_worker_is_given_up_when_its_lease_ends(backend) {
        crate::support::need_pause_seam();
        let up = StandIn::wechat();
        let mut env = backend.with(&up);
        let marker = env.path("paused");
        env.set("WXTOKEN_TEST_PAUSE", &format!("before-call:{}", marker.display()));
        let args = ["refresh", "--appid", APPID, "--timeout", "1s"];
        let (run, took) = run_within(&env, &args, Duration::from_secs(30));
        assert!(marker.exists(), "the worker reached the pause");
        run.expect(1).stderr_has(&format!(
            "wxtoken: {APPID}: no result within its lease (8s: 3 x --timeout + 5s); nothing stored"
        ));
        assert!(
            (Duration::from_secs(8)..Duration::from_secs(12)).contains(&took),
            "gave up after {took:?}"
        );
        assert_eq!(up.count("/cgi-bin/token"), 0);
        assert!(env.dump().is_empty(), "nothing stored");
        assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_leases"), 0, "released");
    }
}

both! {
    /// Apps whose leases another run held wait, after the lease, for this
    /// run's one worker (stuck here at a test pause). When the wait ends, an
    /// app the other run stored a fresh value for is done, without a word;
    /// one still due fails with a line saying it waited for the lease and then
    /// for a worker (not that a lease, long gone, is still held).
    fn a_wait_that_ends_reports_what_the_database_says_then(backend) {
        crate::support::need_pause_seam();
        let up = StandIn::wechat();
        let mut env = backend.with(&up);
        env.config_apps(&["a1", "a3", "a2"], "");
        env.run(&["refresh"]).expect(0);
        let t = now();
        let lease_end = t + 200;
        env.exec(&format!(
            "UPDATE wxtoken_tokens SET fetched_at = {} - 7200, expires_at = {};
             INSERT INTO wxtoken_leases (app, owner, expires_at) VALUES ('a1', '{OTHER}', {lease_end});
             INSERT INTO wxtoken_leases (app, owner, expires_at) VALUES ('a3', '{OTHER}', {lease_end})",
            t - 1,
            t - 1
        ));
        let marker = env.path("paused");
        env.set("WXTOKEN_TEST_PAUSE", &format!("before-call:{}", marker.display()));
        let args = ["refresh", "--jobs", "1", "--timeout", "1s"];
        let started = Instant::now();
        let child = env
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        while !marker.exists() {
            assert!(started.elapsed() < Duration::from_secs(5), "a2 never reached a worker");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The other run ends: a1 stored fresh, a3 not.
        std::thread::sleep(Duration::from_millis(500));
        env.exec(&format!(
            "UPDATE wxtoken_tokens SET fetched_at = {}, expires_at = {} WHERE app = 'a1';
             DELETE FROM wxtoken_leases",
            now(),
            now() + 7200
        ));
        let run = Run(child.wait_with_output().unwrap());
        run.expect(1);
        let stderr = run.stderr();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "nothing said of a1: {lines:#?}");
        let line = |app: &str| *lines.iter().find(|l| l.starts_with(&format!("wxtoken: {app}: "))).unwrap();
        assert!(line("a2").starts_with("wxtoken: a2: no result within its lease"), "{lines:#?}");
        // a3's wait ends a moment before a2's lease: it fails waiting for the
        // worker. (On a loaded machine a2 may be given up first, a3 then
        // handed to the stuck worker, and given up as a2 was.)
        let waited = format!(
            "wxtoken: a3: waited for another wxtoken run's lease ({OTHER}, until {}, when last seen) and then for a free worker of this run, 8s in all",
            rfc3339(lease_end)
        );
        let a3 = line("a3");
        assert!(
            a3.starts_with(&waited) || a3.starts_with("wxtoken: a3: no result within its lease"),
            "{lines:#?}"
        );
        assert_eq!(up.count("/cgi-bin/token"), 3, "nothing fetched again");
    }
}
