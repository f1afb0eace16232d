//! Concurrency and faults: overlapping runs, crashes, a hostile upstream, broken
//! storage and hostile input. Real processes, real signals, a real SQLite file
//! (and, for the crash tests, a real PostgreSQL server too).

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Backend, Env, Reply, SECRET, StandIn, both, needs, standin};

const APPID: &str = "wx85871939f7f9b647";

/// Waits for `cond`, at most `limit`.
#[track_caller]
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(env: &Env, args: &[&str]) -> Child {
    let mut all = vec!["refresh", "--appid", APPID];
    all.extend_from_slice(args);
    env.command(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

fn leases(env: &Env) -> i64 {
    env.int("SELECT COUNT(*) FROM wxtoken_leases")
}

/// N processes started together on an empty folder make one upstream call.
#[test]
fn concurrent_refreshes_make_one_upstream_call() {
    let up = StandIn::start(standin::wechat(Duration::from_millis(500), 7200));
    let env = Env::with(&up);
    for round in 1..=2 {
        let children: Vec<Child> = (0..6).map(|_| spawn(&env, &["--force"])).collect();
        for child in children {
            let out = finish(child);
            assert!(
                out.status.success(),
                "{:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(up.count("/cgi-bin/token"), round, "one call per round");
        let stored = env.run(&["show"]).expect(0).stdout();
        assert_eq!(stored, format!("TOKEN-{round}-{APPID}\n"));
        assert_eq!(leases(&env), 0, "every lease released");
    }
}

/// `show` answers from the stored token while a refresh waits on upstream.
#[test]
fn readers_never_wait_for_a_refresh() {
    let up = StandIn::script(vec![
        Reply::token("OLD-TOKEN", 7200),
        Reply::token("NEW-TOKEN", 7200).delayed(Duration::from_secs(3)),
    ]);
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    let child = spawn(&env, &["--force"]);
    wait_for(Duration::from_secs(5), "the second call", || {
        up.count("/cgi-bin/token") == 2
    });
    let mut child = child;
    for _ in 0..5 {
        assert_eq!(env.run(&["show"]).expect(0).stdout(), "OLD-TOKEN\n");
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the refresh should still be waiting on upstream"
    );
    assert!(finish(child).status.success());
    assert_eq!(env.run(&["show"]).expect(0).stdout(), "NEW-TOKEN\n");
}

/// Kills a forced refresh at `stage` with SIGKILL; the old token stays readable and
/// the next refresh recovers by itself once the dead process's lease expires.
fn killed_at(backend: Backend, stage: &str) {
    if stage != "during-call" {
        crate::support::need_pause_seam();
    }
    let up = StandIn::start(standin::wechat(Duration::ZERO, 7200));
    let mut env = backend.with(&up);
    env.refresh(&[]).expect(0);
    let before = env.dump();
    let token = env.run(&["show"]).expect(0).stdout();
    let hang = StandIn::script(vec![Reply::hang()]);
    let marker = env.path("paused");
    let mut cmd = env.command(&["refresh", "--appid", APPID, "--force", "--timeout", "1s"]);
    match stage {
        "during-call" => {
            cmd.env("WXTOKEN_API_BASE", hang.url());
        }
        _ => {
            cmd.env(
                "WXTOKEN_TEST_PAUSE",
                format!("{stage}:{}", marker.display()),
            );
        }
    }
    let mut child = cmd.spawn().unwrap();
    wait_for(Duration::from_secs(10), stage, || {
        marker.exists() || hang.count("/cgi-bin/token") > 0
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        env.dump(),
        before,
        "killed {stage}: the stored token changed"
    );
    assert_eq!(env.run(&["show"]).expect(0).stdout(), token);
    assert_eq!(leases(&env), 1, "the dead process's lease is still there");
    // The next run waits for the abandoned lease to expire, then fetches.
    env.api_base = Some(up.url());
    let started = Instant::now();
    env.refresh(&["--force", "--timeout", "1s"]).expect(0);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_ne!(env.run(&["show"]).expect(0).stdout(), token);
    assert_eq!(leases(&env), 0);
}

both! {
    fn killed_before_the_call(backend) {
        killed_at(backend, "before-call");
    }
}

both! {
    fn killed_during_the_call(backend) {
        killed_at(backend, "during-call");
    }
}

both! {
    fn killed_during_the_write(backend) {
        killed_at(backend, "in-commit");
    }
}

/// Each hostile upstream ends within --timeout x 3 (the app's budget), with a clear
/// error and the old token intact.
#[test]
fn hostile_upstreams_end_within_the_bound() {
    let good = StandIn::wechat();
    let mut env = Env::with(&good);
    env.refresh(&[]).expect(0);
    let before = env.dump();
    let huge = format!(
        r#"{{"access_token":"{}","expires_in":7200}}"#,
        "A".repeat(4 << 20)
    );
    let cases = [
        (Reply::hang(), "no answer within --timeout"),
        (
            Reply::trickle(r#"{"access_token":"SLOW","expires_in":7200}"#),
            "no answer within --timeout",
        ),
        (Reply::json(huge), "body larger than"),
        (Reply::reset(), "network error"),
        (
            Reply::raw("HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"access"),
            "network error",
        ),
        (Reply::raw("garbage\r\n\r\n"), "bad response"),
    ];
    for (reply, message) in cases {
        let bad = StandIn::script(vec![reply]);
        env.api_base = Some(bad.url());
        let started = Instant::now();
        let run = env.refresh(&["--force", "--timeout", "2s"]);
        let took = started.elapsed();
        run.expect(1).stderr_has(message);
        assert!(took < Duration::from_secs(8), "{message}: took {took:?}");
        assert_eq!(env.dump(), before, "{message}");
    }
}

/// Runs `script` in a private mount namespace (to mount a small or read-only file
/// system there), with wxtoken's test environment plus `BIN` (the binary), `SRC`
/// (the folder of the test's database) and `D` (a mount point; `WXTOKEN_DB` is
/// `$D/tokens.db`). Only in `needs! { unshare: }` tests.
fn in_mount_namespace(env: &Env, script: &str) -> Output {
    let base = env.command(&[]);
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", script]);
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.env("BIN", base.get_program())
        .env("SRC", env.db.parent().unwrap())
        .env("D", env.path("mnt"))
        .env("WXTOKEN_DB", env.path("mnt/tokens.db"));
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

needs! {
    unshare:
    fn a_full_disk_fails_clearly_and_keeps_the_token() {
        let up = StandIn::wechat();
        let env = Env::with(&up);
        env.refresh(&[]).expect(0);
        let token = env.run(&["show"]).expect(0).stdout();
        let script = r#"
            mkdir -p "$D" && mount -t tmpfs -o size=256k tmpfs "$D"
            cp "$SRC/tokens.db" "$D/"
            dd if=/dev/zero of="$D/fill" bs=4k 2>/dev/null || true
            "$BIN" refresh --appid wx85871939f7f9b647 --force; echo "refresh=$?"
            rm -f "$D/fill"
            "$BIN" show; echo "show=$?"
            cp "$D/tokens.db" "$SRC/after.db"
        "#;
        let out = in_mount_namespace(&env, script);
        let all = text(&out);
        assert!(all.contains("refresh=1"), "{all}");
        assert!(
            all.contains("disk is full") || all.contains("disk is not full"),
            "{all}"
        );
        assert!(all.contains(&format!("{}show=0", token)), "{all}");
        assert_eq!(
            crate::support::dump(&env.db.parent().unwrap().join("after.db")),
            env.dump()
        );
    }
}

needs! {
    unshare:
    fn a_read_only_database_fails_clearly_and_keeps_the_token() {
        let up = StandIn::wechat();
        let env = Env::with(&up);
        env.refresh(&[]).expect(0);
        let script = r#"
            mkdir -p "$D" && mount -t tmpfs tmpfs "$D"
            cp "$SRC/tokens.db" "$D/" && mount -o remount,ro "$D"
            "$BIN" refresh --appid wx85871939f7f9b647 --force; echo "refresh=$?"
        "#;
        let out = in_mount_namespace(&env, script);
        let all = text(&out);
        assert!(all.contains("refresh=1"), "{all}");
        assert!(all.contains("mnt/tokens.db"), "{all}");
        assert!(all.contains("read-only file system"), "{all}");
        assert_eq!(
            up.count("/cgi-bin/token"),
            1,
            "no call without a writable database"
        );
    }
}

/// A writer that holds the database longer than the busy timeout: refresh fails
/// clearly without calling upstream; show still reads.
#[test]
fn a_database_locked_by_another_writer() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    let before = env.dump();
    let conn = env.sql();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let run = env.refresh(&["--force"]);
    run.expect(1)
        .stderr_has("locked")
        .stderr_has("busy timeout");
    env.run(&["show"]).expect(0);
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    assert_eq!(up.count("/cgi-bin/token"), 1);
    assert_eq!(env.dump(), before);
    env.refresh(&["--force"]).expect(0);
}

#[test]
fn a_damaged_database_is_reported() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    let mut bytes = std::fs::read(&env.db).unwrap();
    let half = bytes.len() / 2;
    for b in &mut bytes[4096..half.max(4097)] {
        *b = 0xA5;
    }
    std::fs::write(&env.db, &bytes).unwrap();
    let run = env.run(&["show"]);
    assert!(matches!(run.code(), 1 | 3), "{}", run.stderr());
    assert!(run.stderr().starts_with("wxtoken: "), "{}", run.stderr());
    let run = env.refresh(&["--force"]);
    run.expect(1);
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    assert!(
        run.stderr().contains(&env.db.display().to_string()),
        "{}",
        run.stderr()
    );
}

#[test]
fn hostile_app_names_are_handled() {
    let names = [
        "it's \"quoted\"",
        "a b c",
        "x'); DROP TABLE wxtoken_tokens; --",
        "名字",
        "emoji 🚀",
        "back\\slash",
    ];
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    let mut config = String::new();
    for (i, name) in names.iter().enumerate() {
        config.push_str(&format!(
            "[[app]]\nname = {}\nappid = \"wx{i}\"\nsecret_env = \"S\"\n\n",
            toml_string(name)
        ));
    }
    let path = env.path("config.toml");
    std::fs::write(&path, config).unwrap();
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
    env.set("S", SECRET);
    env.run(&["refresh"]).expect(0);
    for (i, name) in names.iter().enumerate() {
        let token = env.run(&["show", "--app", name]).expect(0).stdout();
        assert!(token.ends_with(&format!("-wx{i}\n")), "{name}: {token}");
        env.run(&["history", "--app", name]).expect(0);
    }
    let status = env.run(&["status"]).expect(0).stdout();
    for name in names {
        assert!(status.contains(name), "{name} missing from\n{status}");
    }
    let prom = env
        .run(&["status", "--format", "prometheus"])
        .expect(0)
        .stdout();
    assert!(prom.contains(r#"app="it's \"quoted\"""#), "{prom}");
    assert!(prom.contains(r#"app="back\\slash""#), "{prom}");
    env.run(&["invalidate", "--app", names[2]]).expect(0);
    env.run(&["show", "--app", names[2]]).expect(3);
    env.run(&["show", "--app", names[0]]).expect(0);
    // Control characters are refused.
    std::fs::write(
        &path,
        "[[app]]\nname = \"a\\u0007b\"\nappid = \"x\"\nsecret_env = \"S\"\n",
    )
    .unwrap();
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("control characters");
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn absurd_numbers_are_refused_clearly() {
    let env = Env::new();
    for (args, needle) in [
        (
            &["refresh", "--appid", APPID, "--ahead", "10000d"][..],
            "too long",
        ),
        (
            &[
                "refresh",
                "--appid",
                APPID,
                "--ahead",
                "99999999999999999999",
            ],
            "invalid duration",
        ),
        (
            &["refresh", "--appid", APPID, "--timeout", "1d"],
            "at most 5m",
        ),
        (&["refresh", "--appid", APPID, "--jobs", "100000"], "--jobs"),
        (&["refresh", "--appid", APPID, "--jobs", "0"], "--jobs"),
        (&["refresh", "--appid", APPID, "--jobs=-3"], "--jobs"),
        (&["show", "--min-ttl", "1e9"], "invalid duration"),
        (&["history", "--limit", "0"], "--limit"),
    ] {
        env.run(args).expect(2).stderr_has(needle);
    }
    // The largest accepted values work.
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&["--jobs", "1024", "--ahead", "7d", "--timeout", "5m"])
        .expect(0);
}

/// A run whose first apps turn out fresh (another run stored them) goes on
/// with the rest at once.
#[test]
fn a_run_goes_on_after_apps_another_run_refreshed() {
    let up = StandIn::start(standin::wechat(Duration::from_millis(1000), 7200));
    let mut env = Env::with(&up);
    env.config_apps(&["a1", "a2", "a3"], "");
    let first = env
        .command(&["refresh", "--app", "a2", "--app", "a3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(5), "the first run's calls", || {
        up.count("/cgi-bin/token") == 2
    });
    let started = Instant::now();
    env.run(&["refresh", "--jobs", "1"]).expect(0);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(finish(first).status.success());
    assert_eq!(up.count("/cgi-bin/token"), 3, "each app fetched once");
}

/// A run that waited for another one which then failed reports that failure
/// instead of calling upstream again at once.
#[test]
fn a_waiting_run_does_not_repeat_a_failed_call() {
    let up = StandIn::start(|_| {
        Reply::errcode(45009, "reach max api daily quota limit")
            .delayed(Duration::from_millis(1000))
    });
    let env = Env::with(&up);
    let first = spawn(&env, &[]);
    wait_for(Duration::from_secs(5), "the first call", || {
        up.count("/cgi-bin/token") == 1
    });
    let second = env.refresh(&[]);
    second
        .expect(1)
        .stderr_has("another wxtoken run just tried and failed, not calling again")
        .stderr_has("errcode 45009");
    assert_eq!(finish(first).status.code(), Some(1));
    assert_eq!(up.count("/cgi-bin/token"), 1, "one call for both runs");
    assert_eq!(leases(&env), 0, "the lease the second run took is released");
}

/// The holder of the lease writes its token even when the stored one claims a
/// later fetch (another host's clock ahead, or this one's stepped back).
#[test]
fn the_lease_holder_writes_whatever_the_clocks_say() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    env.sql()
        .execute(
            "UPDATE wxtoken_tokens SET fetched_at = fetched_at + 600, expires_at = expires_at + 600",
            [],
        )
        .unwrap();
    env.run(&["invalidate", "--app", APPID]).expect(0);
    env.refresh(&[]).expect(0);
    assert_eq!(
        env.run(&["show"]).expect(0).stdout(),
        format!("TOKEN-2-{APPID}\n")
    );
}

/// The quota guard also covers the new token fetched for a stale-token ticket.
#[test]
fn the_quota_guard_covers_the_stale_ticket_retry() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let wechat = standin::wechat(Duration::ZERO, 7200);
    let up = StandIn::start(move |req| {
        if req.path == "/cgi-bin/ticket/getticket"
            && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
        {
            return Reply::errcode(40001, "invalid credential");
        }
        wechat(req)
    });
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "daily_budget = 1");
    env.run(&["refresh"]).expect(0);
    env.config_apps(&["shop"], "daily_budget = 1\ntickets = [\"jsapi\"]");
    env.run(&["refresh"]).expect(1).stderr_has("quota guard");
    assert_eq!(up.count("/cgi-bin/token"), 1, "the budget of 1 was kept");
}

/// A forced stable call (20 a day, 30 s apart) is never retried.
#[test]
fn a_forced_stable_call_is_not_retried() {
    let up = StandIn::script(vec![Reply::errcode(-1, "system busy")]);
    let env = Env::with(&up);
    env.refresh(&["--api", "stable", "--force"]).expect(1);
    assert_eq!(up.count("/cgi-bin/stable_token"), 1);
    // Unforced, busy is retried as usual.
    env.refresh(&["--api", "stable"]).expect(1);
    assert_eq!(up.count("/cgi-bin/stable_token"), 5);
}
