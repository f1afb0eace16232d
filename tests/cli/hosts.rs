//! Many hosts, one PostgreSQL database: single flight across processes, a
//! server that restarts or goes away, connection errors, URL forms and TLS.
//! Every test here runs on PostgreSQL only (`..._on_pg`), and is ignored
//! unless `--include-ignored` (see `support::pg`).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::net::Refusing;
use crate::support::pg::{self, Database, Spare};
use crate::support::{Backend, Env, Reply, Run, StandIn, both, standin};

const APPID: &str = "wx85871939f7f9b647";

fn spawn(env: &Env, args: &[&str]) -> Child {
    env.command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> Run {
    Run(child.wait_with_output().unwrap())
}

/// Waits until the stand-in has seen `n` token requests.
#[track_caller]
fn wait_for_requests(up: &StandIn, n: usize) {
    let until = Instant::now() + Duration::from_secs(20);
    while up.count("/cgi-bin/token") < n {
        assert!(Instant::now() < until, "upstream was never called");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that no line of `run` shows the password of `url`.
#[track_caller]
fn password_hidden(run: &Run, url: &str) {
    let password = pg::password(url);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(!out.contains(&password), "the password leaked:\n{out}");
}

/// An environment whose `--db` is `url` (a database that may not exist).
fn env_at(up: &StandIn, url: &str) -> Env {
    let mut env = Env::with(up);
    env.set("WXTOKEN_DB", url);
    env
}

/// An environment on a database of the spare server.
fn env_on(up: &StandIn, spare: &Spare) -> Env {
    let mut env = Env::with(up);
    env.pg = Some(Database::create_on(&spare.url));
    env
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn several_hosts_refreshing_at_once_call_upstream_once_on_pg() {
    let up = StandIn::start(standin::wechat(Duration::from_millis(500), 7200));
    // A fresh database: the processes also race to create the schema.
    let env = Backend::Pg.with(&up);
    let children: Vec<Child> = (0..5)
        .map(|_| spawn(&env, &["refresh", "--appid", APPID]))
        .collect();
    for child in children {
        let run = finish(child);
        run.expect(0);
        assert_eq!(run.stderr(), "", "a refresh that waited is silent too");
    }
    assert_eq!(up.count("/cgi-bin/token"), 1, "one upstream call in all");
    let token = format!("TOKEN-1-{APPID}\n");
    assert_eq!(env.run(&["show"]).expect(0).stdout(), token);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_leases"), 0);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_attempts"), 1);
    // A second round finds the token fresh: no call, nothing written.
    let stored = env.dump();
    let children: Vec<Child> = (0..3)
        .map(|_| spawn(&env, &["refresh", "--appid", APPID]))
        .collect();
    for child in children {
        finish(child).expect(0);
    }
    assert_eq!(up.count("/cgi-bin/token"), 1);
    assert_eq!(env.dump(), stored);
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_lease_left_by_a_killed_refresh_expires_and_the_next_one_takes_over_on_pg() {
    let up = StandIn::script(vec![Reply::hang(), Reply::token("AFTER-KILL", 7200)]);
    let env = Backend::Pg.with(&up);
    let mut holder = spawn(&env, &["refresh", "--appid", APPID, "--timeout", "1s"]);
    wait_for_requests(&up, 1);
    holder.kill().unwrap(); // SIGKILL: no chance to release the lease
    holder.wait().unwrap();
    let left =
        env.int("SELECT expires_at - floor(extract(epoch FROM now()))::bigint FROM wxtoken_leases");
    // 3 x --timeout + 5 s from when it was taken.
    assert!((4..=8).contains(&left), "the lease runs {left}s more");
    let started = Instant::now();
    env.refresh(&["--timeout", "1s"]).expect(0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(left as u64 - 2) && waited < Duration::from_secs(20),
        "took over after {waited:?}, the lease had {left}s left"
    );
    assert_eq!(up.count("/cgi-bin/token"), 2);
    assert_eq!(env.run(&["show"]).expect(0).stdout(), "AFTER-KILL\n");
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_leases"), 0);
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_server_restart_between_two_refreshes_on_pg() {
    let spare = Spare::lock();
    let up = StandIn::wechat();
    let env = env_on(&up, &spare);
    env.refresh(&[]).expect(0);
    let first = env.run(&["show"]).expect(0).stdout();
    spare.ctl(&["restart", "-m", "fast"]);
    assert_eq!(env.run(&["show"]).expect(0).stdout(), first);
    env.refresh(&[]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 1, "the token is still fresh");
    env.refresh(&["--force"]).expect(0);
    assert_eq!(
        env.run(&["show"]).expect(0).stdout(),
        format!("TOKEN-2-{APPID}\n")
    );
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_server_restart_during_a_refresh_is_ridden_out_on_pg() {
    let spare = Spare::lock();
    let up = StandIn::start(standin::wechat(Duration::from_secs(3), 7200));
    let env = env_on(&up, &spare);
    let url = env.db_arg();
    let refresh = spawn(&env, &["refresh", "--appid", APPID]);
    wait_for_requests(&up, 1);
    spare.ctl(&["restart", "-m", "fast"]);
    let run = finish(refresh);
    run.expect(0);
    if !pg::pooled() {
        // Through PgBouncer the client's connection stays: nothing to say.
        run.stderr_has("lost the connection");
    }
    password_hidden(&run, &url);
    assert_eq!(
        env.run(&["show"]).expect(0).stdout(),
        format!("TOKEN-1-{APPID}\n"),
        "the token fetched before the restart is stored"
    );
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_leases"), 0);
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_server_down_for_seconds_when_a_refresh_commits_is_ridden_out_on_pg() {
    let spare = Spare::lock();
    let up = StandIn::start(standin::wechat(Duration::from_secs(1), 7200));
    let env = env_on(&up, &spare);
    let refresh = spawn(&env, &["refresh", "--appid", APPID]);
    wait_for_requests(&up, 1);
    // The answer arrives while the server is down: the commit finds no server
    // (through PgBouncer: its login fails, then it waits server_login_retry).
    spare.ctl(&["stop", "-m", "fast"]);
    std::thread::sleep(Duration::from_secs(4));
    spare.ctl(&["start"]);
    let run = finish(refresh);
    run.expect(0);
    assert_eq!(
        env.run(&["show"]).expect(0).stdout(),
        format!("TOKEN-1-{APPID}\n"),
        "the token fetched before the outage is stored"
    );
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_attempts"), 1);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_leases"), 0);
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_server_that_stops_during_a_refresh_fails_cleanly_on_pg() {
    let spare = Spare::lock();
    let up = StandIn::start(standin::wechat(Duration::from_secs(3), 7200));
    let env = env_on(&up, &spare);
    let url = env.db_arg();
    let refresh = spawn(&env, &["refresh", "--appid", APPID, "--timeout", "5s"]);
    wait_for_requests(&up, 1);
    spare.ctl(&["stop", "-m", "fast"]);
    let started = Instant::now();
    let run = finish(refresh);
    // It connects again for 20 s, then keeps what it fetched and tries to
    // write it until 30 s after its first try. Through PgBouncer the statement
    // waits in the pooler's queue for a server until wxtoken's deadline (35 s)
    // ends the command. (`show` below: 10 s.)
    assert!(started.elapsed() < Duration::from_secs(45));
    run.expect(1)
        .stderr_has("could not write to database postgres://wxtoken:***@127.0.0.1:")
        .stderr_has("is the server running")
        .stderr_has(if pg::pooled() {
            "no answer within 35s"
        } else {
            "fetched, but could not store it within 30s"
        });
    password_hidden(&run, &url);
    let down = env.run(&["show"]);
    down.expect(1).stderr_has("is the server running");
    password_hidden(&down, &url);
    spare.ctl(&["start"]);
    assert!(env.dump().is_empty(), "nothing half-written");
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_attempts"), 0);
    // The lease it held ends by itself: 3 x --timeout + 30 s from when it was taken.
    let left =
        env.int("SELECT expires_at - floor(extract(epoch FROM now()))::bigint FROM wxtoken_leases");
    assert!(left <= 45, "the lease runs {left}s more");
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_wrong_password_is_a_clear_error_on_pg() {
    let admin = pg::server();
    let up = StandIn::wechat();
    let db = Database::create();
    let wrong = db.url.replacen(&pg::password(&admin), "wrong-pass-7q", 1);
    let env = env_at(&up, &wrong);
    for args in [&["refresh", "--appid", APPID][..], &["show"], &["status"]] {
        let run = env.run(args);
        run.expect(1)
            .stderr_has("wxtoken: could not connect to database postgres://wxtoken:***@127.0.0.1:")
            // PgBouncer's words: "SASL authentication failed".
            .stderr_has("authentication failed")
            .stderr_has("check the user name and password");
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
        password_hidden(&run, &wrong);
        password_hidden(&run, &admin);
    }
    assert_eq!(up.count("/cgi-bin/token"), 0, "no call without a database");
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_missing_database_is_a_clear_error_on_pg() {
    let admin = pg::server();
    let up = StandIn::wechat();
    // A name of this run's own: a pooler remembers the databases it was asked
    // for, and the failed logins to them (see below).
    let name = format!("wxtoken_no_such_db_{}", std::process::id());
    let url = pg::with_dbname(&admin, &name);
    let url = format!(
        "{url}{}connect_timeout=3",
        if url.contains('?') { '&' } else { '?' }
    );
    let env = env_at(&up, &url);
    let run = env.refresh(&[]);
    run.expect(1)
        .stderr_has(&format!("database \"{name}\" does not exist"))
        .stderr_has(&format!("CREATE DATABASE {name} OWNER wxtoken"));
    assert_eq!(run.stderr().lines().count(), 1);
    password_hidden(&run, &url);
    if pg::pooled() {
        // Once a login to its server failed, PgBouncer holds every new client
        // of that database without a word for its server_login_retry (15 s),
        // then says why. Within that time, the message names the database
        // and the pooler's silence, and the command ends at connect_timeout.
        let started = Instant::now();
        let silent = env.run(&["show"]);
        silent
            .expect(1)
            .stderr_has("no answer within 3s (connect_timeout)")
            .stderr_has(&format!("check that database \"{name}\" exists"))
            .stderr_has("server_login_retry")
            .stderr_has(&format!("CREATE DATABASE {name} OWNER wxtoken"));
        assert_eq!(silent.stderr().lines().count(), 1);
        password_hidden(&silent, &url);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    } else {
        // For show, no database yet means no token yet. (Through the pooler
        // the silence goes on past its 15 s: at their end PgBouncer tries
        // its server again for the client it still holds, fails, and waits
        // 15 s more.)
        let show = env.run(&["show"]);
        show.expect(3).stderr_has("does not exist");
        password_hidden(&show, &url);
        env.run(&["status"]).expect(0);
    }
    assert_eq!(up.count("/cgi-bin/token"), 0);
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_server_that_is_down_is_a_clear_error_on_pg() {
    let admin = pg::server();
    let up = StandIn::wechat();
    // Held bound, never listening, for the whole test: refused, and no
    // server a test alongside starts can take the port.
    let closed = Refusing::new();
    let port = closed.addr.port();
    let password = pg::password(&admin);
    let url = format!("postgres://wxtoken:{password}@127.0.0.1:{port}/tokens");
    let env = env_at(&up, &url);
    for (args, code) in [(&["refresh", "--appid", APPID][..], 1), (&["show"], 1)] {
        let run = env.run(args);
        run.expect(code)
            .stderr_has(&format!("postgres://wxtoken:***@127.0.0.1:{port}/tokens"))
            .stderr_has("Connection refused")
            .stderr_has("is the server running");
        assert_eq!(run.stderr().lines().count(), 1);
        password_hidden(&run, &url);
    }
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn show_status_and_history_create_nothing_on_pg() {
    let env = Backend::Pg.env();
    let db = env.pg.as_ref().unwrap();
    env.run(&["show"])
        .expect(3)
        .stderr_has("holds no tokens yet")
        .stderr_has("wxtoken refresh");
    assert_eq!(
        env.run(&["status"]).expect(0).stdout(),
        "no apps: none is configured and none is stored\n"
    );
    assert_eq!(
        env.run(&["history"]).expect(0).stdout(),
        "no attempts recorded yet\n"
    );
    assert!(db.tables().is_empty(), "{:?}", db.tables());
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn the_url_forms_on_pg() {
    let admin = pg::server();
    let up = StandIn::wechat();
    let db = Database::create();
    // postgresql:// through --db rather than WXTOKEN_DB.
    let alias = db.url.replacen("postgres://", "postgresql://", 1);
    let env = env_at(&up, "/nonexistent/unused.db");
    env.run(&["--db", &alias, "refresh", "--appid", APPID])
        .expect(0);
    let token = format!("TOKEN-1-{APPID}\n");
    assert_eq!(env.run(&["--db", &alias, "show"]).expect(0).stdout(), token);
    // The Unix socket: ?host=/socket/dir (with the server's port).
    {
        let socket = pg::var("WXTOKEN_TEST_PG_SOCKET");
        let port = admin.rsplit(':').next().unwrap().split('/').next().unwrap();
        let url = format!(
            "postgres://wxtoken@/{}?host={socket}&port={port}&sslmode=disable",
            db.name
        );
        assert_eq!(env.run(&["--db", &url, "show"]).expect(0).stdout(), token);
    }
    // A password given as a parameter is hidden too.
    let password = pg::password(&admin);
    let param = format!(
        "{}?password={password}",
        db.url.replacen(&format!(":{password}@"), "@", 1)
    );
    assert_eq!(env.run(&["--db", &param, "show"]).expect(0).stdout(), token);
    let bad = env.run(&["--db", &format!("{param}&bogus=1"), "show"]);
    bad.expect(2).stderr_has("password=***");
    password_hidden(&bad, &admin);
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn tls_require_checks_the_certificate_on_pg() {
    let ca = pg::var("WXTOKEN_TEST_PG_CA");
    let up = StandIn::wechat();
    let db = Database::create();
    let env = env_at(&up, &db.url);
    env.refresh(&[]).expect(0); // sslmode=prefer: encrypted, not checked
    let token = format!("TOKEN-1-{APPID}\n");
    let require = format!("{}?sslmode=require", db.url);
    let run = env.run(&["--db", &require, "show"]);
    run.expect(1)
        .stderr_has("TLS handshake")
        .stderr_has("sslrootcert=");
    password_hidden(&run, &db.url);
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = format!("{}?sslmode={mode}&sslrootcert={ca}", db.url);
        assert_eq!(env.run(&["--db", &url, "show"]).expect(0).stdout(), token);
    }
    let url = format!("{}?sslmode=verify-full&sslrootcert={ca}", db.url);
    env.run(&["--db", &url, "refresh", "--appid", APPID, "--force"])
        .expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 2);
    let missing = format!("{}?sslrootcert=/nonexistent/ca.pem", db.url);
    env.run(&["--db", &missing, "show"])
        .expect(2)
        .stderr_has("/nonexistent/ca.pem");
}

both! {
    /// invalidate, status and history say the same on either database.
    fn invalidate_status_and_history(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&["--name", "shop"]).expect(0);
        let status = env.run(&["status", "--format", "json"]).expect(0).stdout();
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(status[0]["app"], "shop");
        assert_eq!(status[0]["state"], "valid");
        assert_eq!(status[0]["calls_24h"], 1);
        let token = env.run(&["show"]).expect(0).stdout();
        env.run(&["invalidate", "--app", "shop", "--if-token", "OTHER"])
            .expect(0)
            .stderr_has("nothing invalidated");
        env.run(&["show"]).expect(0);
        env.run(&["invalidate", "--app", "shop", "--if-token", token.trim()])
            .expect(0);
        env.run(&["show"]).expect(3).stderr_has("invalidated");
        env.run(&["invalidate", "--app", "shop"])
            .expect(0)
            .stderr_has("already invalidated");
        env.run(&["invalidate", "--app", "nope"]).expect(2);
        let history = env.run(&["history"]).expect(0).stdout();
        assert_eq!(history.lines().count(), 2, "{history}");
        assert!(history.lines().nth(1).unwrap().contains("shop  classic  ok"));
        env.refresh(&["--name", "shop"]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 2);
        let prom = env.run(&["status", "--format", "prometheus"]).expect(0).stdout();
        assert!(prom.contains("shop"), "{prom}");
    }
}
