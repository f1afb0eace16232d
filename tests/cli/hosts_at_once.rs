//! Several hosts writing one PostgreSQL database at the same moment, the way
//! a pooler in transaction mode (PgBouncer) mixes them: `.ci/run` runs these
//! once against the server and once through PgBouncer, where a statement left
//! prepared on a server connection reaches the next client that gets it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::push::push;
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::wxcrypt::{WxCrypt, verify_ticket};
use crate::support::{Backend, Env, Run, StandIn, both, now, standin};

const APPID: &str = "wx85871939f7f9b647";

fn spawn(env: &Env, args: &[&str]) -> Child {
    env.command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A verify ticket pushed as WeChat signs it, and registered with the stand-in.
fn push_ticket(env: &Env, p: &Platforms, ticket: &str) -> Run {
    p.push_ticket(ticket);
    let msg = verify_ticket(COMPONENT_APPID, ticket, now());
    let signed = WxCrypt::new("QDG6eK", AES_KEY).open_platform_push(
        COMPONENT_APPID,
        &msg,
        &now().to_string(),
        "hosts1",
    );
    push(env, "acme", &signed)
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn syncs_pushes_and_refreshes_at_once_on_pg() {
    let p = Platforms::new();
    let up = p.start();
    let env = env(Backend::Pg, &up, Some("[]"), false);
    p.add_authorizers(40);
    push_ticket(&env, &p, TICKET).expect(0);
    env.run(&["refresh", "--app", "acme"]).expect(0);
    env.run(&["authorizers", "sync", "--platform", "acme"])
        .expect(0);
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("api_authorizer_token"), 40);
    // Then the plain refreshes find everything fresh; the forced ones call.
    for round in 0..4 {
        let mut children = Vec::new();
        for i in 0..4 {
            children.push(spawn(&env, &["authorizers", "sync", "--platform", "acme"]));
            let customer = format!("acme/{}", authorizer_appid(round * 4 + i));
            children.push(spawn(&env, &["refresh", "--force", "--app", &customer]));
            children.push(spawn(&env, &["refresh"]));
        }
        for i in 0..4 {
            let ticket = format!("{TICKET}-{round}-{i}");
            let run = push_ticket(&env, &p, &ticket);
            run.expect(0);
            assert_eq!(run.stderr(), "", "round {round}, push {i}");
        }
        for child in children {
            let run = Run(child.wait_with_output().unwrap());
            run.expect(0);
            assert_eq!(run.stderr(), "", "round {round}");
        }
    }
    let active =
        "SELECT COUNT(*) FROM wxtoken_customers WHERE platform = 'acme' AND state = 'active'";
    assert_eq!(env.int(active), 40);
    assert_eq!(
        up.count("api_authorizer_token"),
        40 + 16,
        "one call per customer, and one per forced refresh"
    );
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_leases"), 0);
}

#[test]
fn a_silent_server_ends_every_command_within_its_deadline() {
    // Accepts connections and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    let url = format!("postgres://wxtoken:pw-5ilent@127.0.0.1:{port}/wxtoken?connect_timeout=2");
    env.set("WXTOKEN_DB", &url);
    for args in [
        &["show"][..],
        &["status"],
        &["history"],
        &["refresh", "--appid", "wx85871939f7f9b647"],
        &["invalidate", "--app", "wx85871939f7f9b647"],
    ] {
        let started = Instant::now();
        let run = env.run(args);
        let took = started.elapsed();
        run.expect(1)
            .stderr_has("could not connect to database postgres://wxtoken:***@127.0.0.1:")
            .stderr_has("no answer within 2s (connect_timeout)");
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    }
    assert_eq!(up.requests().len(), 0);
}

/// libfaketime, which shifts one process's clock (Debian's libfaketime:
/// .ci/run installs it).
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_host_with_a_skewed_clock_causes_no_refetch_on_the_others_on_pg() {
    assert!(
        Path::new(FAKETIME).exists(),
        "needs libfaketime (apt-get install libfaketime; .ci/run installs it)"
    );
    let up = StandIn::wechat();
    let env = Backend::Pg.with(&up);
    for (shift, way) in [("+2h", "ahead of"), ("-2h", "behind")] {
        // A host whose clock is two hours off fetches.
        let mut skewed = env.command(&["refresh", "--appid", APPID, "--force"]);
        skewed
            .env("LD_PRELOAD", FAKETIME)
            .env("FAKETIME", shift)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        let run = Run(skewed.output().unwrap());
        run.expect(0)
            .stderr_has("this host's clock is")
            .stderr_has(&format!("{way} the database server's"));
        assert_eq!(
            run.stderr().lines().count(),
            1,
            "warned once: {}",
            run.stderr()
        );
        let calls = up.count("/cgi-bin/token");
        // A host with the right clock finds the token fresh: no call, no word.
        let run = env.refresh(&[]);
        run.expect(0);
        assert_eq!(run.stderr(), "", "after a host {shift}");
        assert_eq!(
            up.count("/cgi-bin/token"),
            calls,
            "a re-fetch after a host {shift}"
        );
        let left = env.int(
            "SELECT expires_at - floor(extract(epoch FROM now()))::bigint FROM wxtoken_tokens",
        );
        assert!(
            (7000..=7200).contains(&left),
            "after a host {shift}: expires in {left}s"
        );
    }
}

both! {
    /// A commit held up past the wait a writer allows (SQLite's busy timeout,
    /// 5 s; PostgreSQL's `lock_timeout`, 10 s) keeps what was fetched, and
    /// stores it once the database takes writes again.
    fn a_stalled_commit_keeps_the_value_and_stores_it_when_the_database_returns(backend) {
        let up = StandIn::start(standin::wechat(Duration::from_secs(1), 7200));
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        let refresh = spawn(&env, &["refresh", "--appid", APPID, "--force"]);
        let until = Instant::now() + Duration::from_secs(20);
        while up.count("/cgi-bin/token") < 2 {
            assert!(Instant::now() < until, "upstream was never called");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Another writer keeps the tokens locked past that wait while the
        // answer comes back (readers still get through on PostgreSQL).
        match &env.pg {
            Some(db) => {
                let mut client = db.client();
                let mut tx = client.transaction().unwrap();
                tx.batch_execute("LOCK TABLE wxtoken_tokens IN EXCLUSIVE MODE").unwrap();
                std::thread::sleep(Duration::from_secs(14));
                tx.rollback().unwrap();
            }
            None => {
                let conn = env.sql();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                std::thread::sleep(Duration::from_secs(8));
                conn.execute_batch("ROLLBACK").unwrap();
            }
        }
        let run = Run(refresh.wait_with_output().unwrap());
        run.expect(0)
            .stderr_has("could not store what was fetched")
            .stderr_has("stored what was fetched, at last");
        assert_eq!(
            env.run(&["show"]).expect(0).stdout(),
            format!("TOKEN-2-{APPID}\n")
        );
        assert_eq!(
            env.int("SELECT COUNT(*) FROM wxtoken_attempts"),
            2,
            "every call recorded"
        );
        assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_leases"), 0);
    }
}
