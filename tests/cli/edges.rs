//! Edges that deliberate small bugs (mutations) slipped through before: the
//! quota guard's 24-hour window at its edge, a run whose lease was taken over
//! writing late, a customer credential that does not open, and a secret that
//! upstream or the user puts into a line wxtoken prints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::refresh_show::{ODD_SECRET, assert_no_secret};
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::{Backend, Env, Reply, SECRET, StandIn, both, now, sealed, standin};

const APPID: &str = "wx85871939f7f9b647";

/// Records `n` successful, unforced token calls of `app`, made `ago`.
fn past_calls(env: &Env, app: &str, n: usize, ago: Duration) {
    let at = now() * 1000 - ago.as_millis() as i64;
    let rows = vec![format!("('{app}', 'access_token', {at}, 5, 'ok', 0)"); n];
    env.exec(&format!(
        "INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced) VALUES {}",
        rows.join(", ")
    ));
}

both! {
    /// The guard counts the calls of the last 24 hours: one made 23 h 58 min
    /// ago counts, one made 24 h 2 min ago does not.
    fn the_quota_window_is_24_hours_to_the_minute(backend) {
        const DAY: u64 = 24 * 3600;
        let up = StandIn::wechat();
        let mut env = backend.with(&up);
        env.config_apps(&["shop"], "daily_budget = 5");
        env.run(&["refresh"]).expect(0);
        past_calls(&env, "shop", 3, Duration::from_secs(DAY - 120));
        past_calls(&env, "shop", 50, Duration::from_secs(DAY + 120));
        // 1 + 3 in the window: a fifth call is allowed.
        env.run(&["refresh", "--force"]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 2);
        // 5 in the window: refused.
        env.run(&["refresh", "--force"])
            .expect(1)
            .stderr_has("quota guard: 5 token calls in the last 24 hours, daily_budget is 5");
        assert_eq!(up.count("/cgi-bin/token"), 2);
    }
}

both! {
    /// Run A's lease is taken over while its call is still on the way (its
    /// lease ended by the database's account: a stalled host, a clock); run B
    /// takes the lease, fetches and stores. A's answer, fetched before B's,
    /// arrives last: A must not overwrite what B stored.
    fn a_run_whose_lease_was_taken_over_does_not_overwrite_the_new_holder(backend) {
        let first = Arc::new(AtomicBool::new(true));
        let held = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (f, h, r) = (first.clone(), held.clone(), release.clone());
        let wechat = standin::wechat(Duration::ZERO, 7200);
        let up = StandIn::start(move |req| {
            if req.path == "/cgi-bin/token" && f.swap(false, Ordering::SeqCst) {
                h.store(true, Ordering::SeqCst);
                let until = Instant::now() + Duration::from_secs(60);
                while !r.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            wechat(req)
        });
        let env = backend.with(&up);
        let a = env
            .command(&["refresh", "-v", "--appid", APPID, "--timeout", "20s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while !held.load(Ordering::SeqCst) {
            assert!(Instant::now() < until, "run A never called upstream");
            std::thread::sleep(Duration::from_millis(20));
        }
        // B's call is sent in a later second than A's.
        std::thread::sleep(Duration::from_millis(1100));
        env.exec(&format!("UPDATE wxtoken_leases SET expires_at = {}", now() - 1));
        let b = env.refresh(&["-v", "--force"]);
        let b = b.expect(0);
        let kept = "fetched later is already stored; kept it";
        assert!(!b.stderr().contains(kept), "{}", b.stderr());
        let stored_by_b = env.dump();
        let b_token = env.run(&["show"]).expect(0).stdout();
        release.store(true, Ordering::SeqCst);
        let a = a.wait_with_output().unwrap();
        let a_err = String::from_utf8_lossy(&a.stderr);
        assert_eq!(
            env.run(&["show"]).expect(0).stdout(),
            b_token,
            "run A overwrote the token run B stored (A's stderr: {a_err})"
        );
        assert_eq!(env.dump(), stored_by_b);
        assert_eq!(up.count("/cgi-bin/token"), 2);
        assert!(a_err.contains(&format!("{APPID}: a access_token {kept}")), "{a_err}");
    }
}

both! {
    /// A customer whose sealed credential does not open (sealed for another
    /// customer: a row copied, a key mixed up) is named, fails the run, and
    /// does not stop the other customers.
    fn a_credential_that_does_not_open_fails_the_run(backend) {
        const KIND: &str = "authorizer_refresh_token";
        let p = Platforms::new();
        let up = p.start();
        let env = env(backend, &up, Some(r#"["jsapi"]"#), false);
        p.add_authorizers(2);
        let (good, bad) = (authorizer_appid(0), authorizer_appid(1));
        plant_customers(&env, "acme", KIND, &[(&good, Some(&first_refresh_token(&good)), None, "active")]);
        let wrong = sealed::seal(&first_refresh_token(&bad), &["acme", &good, KIND]);
        env.exec(&format!(
            "INSERT INTO wxtoken_customers (platform, appid, credential, pending_code, pending_until, state, info, authorized_at, updated_at)
             VALUES ('acme', '{bad}', '{wrong}', NULL, NULL, 'active', NULL, {0}, {0})",
            now()
        ));
        p.push_ticket(TICKET);
        plant_ticket(&env, "acme", "component_verify_ticket", COMPONENT_APPID, TICKET, 60);
        let run = env.run(&["refresh"]);
        run.expect(1)
            .stderr_has(&format!("wxtoken: acme/{bad}: "))
            .stderr_has("(platform acme, store_key_file)");
        assert!(value(&env, &format!("acme/{good}"), "access_token").starts_with("authorizertoken-"));
        let stored = env.int(&format!("SELECT COUNT(*) FROM wxtoken_tokens WHERE app = 'acme/{bad}'"));
        assert_eq!(stored, 0);
        assert_eq!(up.count("api_authorizer_token"), 1);
    }
}

/// Upstream answers that quote the secret (as written and percent-encoded, as
/// a broken proxy or an unknown errcode's errmsg may): the error line quotes
/// them with the secret redacted, and no part of it (an excerpt cut short must
/// not cut the secret first and show its start).
#[test]
fn a_secret_upstream_quotes_is_redacted_in_the_error_line() {
    for secret in [SECRET, ODD_SECRET] {
        let encoded = percent_encode(secret);
        let pad = "x".repeat(110);
        let scenarios = [
            (
                Reply::errcode(99999, &format!("strange: {secret} / {encoded}")),
                "strange: *** / ***",
            ),
            (Reply::errcode(99999, &format!("{pad}{secret}")), "xxx***"),
            (
                Reply::json(format!("<html>secret={secret}</html>")),
                "not JSON, starting \"<html>secret=***",
            ),
        ];
        for (reply, shown) in scenarios {
            let up = StandIn::script(vec![reply]);
            let mut env = Backend::Sqlite.with(&up);
            env.set("WXTOKEN_SECRET", secret);
            let run = env.refresh(&[]);
            let err = run.expect(1).stderr();
            assert_no_secret(secret, "refresh's stderr", err.as_bytes());
            assert!(
                !err.contains(&secret[..6]),
                "the secret's start leaked:\n{err}"
            );
            assert!(err.contains(shown), "{shown:?} in:\n{err}");
        }
    }
}

/// A secret in a path the user gave (here the database's) is redacted in the
/// error line too: it is the same text wherever it appears.
#[test]
fn a_secret_in_an_error_line_is_redacted() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    let blocker = env.path(SECRET);
    std::fs::write(&blocker, "a file, not a folder").unwrap();
    let db = blocker.join("tokens.db");
    env.set("WXTOKEN_DB", db.to_str().unwrap());
    let run = env.refresh(&[]);
    assert_ne!(run.code(), 0, "{}", run.stderr());
    let err = run.stderr();
    assert_no_secret(SECRET, "refresh's error line", err.as_bytes());
    assert!(err.contains("/***/tokens.db"), "the path, redacted:\n{err}");
    assert_eq!(up.requests().len(), 0);
}

/// `s` with every byte outside A-Z a-z 0-9 `-._~` percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Two fetchers of one appid (two hosts, each with a database of its own)
/// break each other: WeChat ends a classic token a while after a newer one is
/// issued (5 minutes; 1 s here). Each host's ticket call with its stored token
/// is then refused (40001), and its recovery (a new token, the call again)
/// ends the other host's token in turn.
#[test]
fn two_fetchers_of_one_appid_break_each_other() {
    let up = StandIn::start(standin::strict(standin::Rules {
        grace: Duration::from_secs(1),
        ..standin::Rules::default()
    }));
    let mut hosts = [Env::with(&up), Env::with(&up)];
    for env in &mut hosts {
        env.config_apps(&["shop"], "");
        env.run(&["refresh"]).expect(0);
    }
    let first = hosts[0].run(&["show"]).expect(0).stdout();
    assert_ne!(first, hosts[1].run(&["show"]).expect(0).stdout());
    assert_eq!(up.count("/cgi-bin/token"), 2);
    for (i, env) in hosts.iter_mut().enumerate() {
        std::thread::sleep(Duration::from_millis(1200));
        let before = env.run(&["show"]).expect(0).stdout();
        env.config_apps(&["shop"], r#"tickets = ["jsapi"]"#);
        let run = env.run(&["refresh", "-v"]);
        run.expect(0).stderr_has("is stale; fetching a new one");
        assert_ne!(env.run(&["show"]).expect(0).stdout(), before, "host {i}");
        // One refused ticket call and its retry; one more token.
        assert_eq!(up.count("/cgi-bin/ticket/getticket"), 2 * (i + 1));
        assert_eq!(up.count("/cgi-bin/token"), 3 + i);
    }
}

/// A path the system cannot even look at (a name longer than a file name may
/// be) is an error that names it, never taken for a folder not made yet.
#[test]
fn a_path_that_cannot_be_checked_is_no_missing_folder() {
    let env = Env::new();
    let long = "a".repeat(300);
    let db = format!("{}/{long}/tokens.db", env.dir.path().display());
    for args in [vec!["show", "--db", &db], vec!["status", "--db", &db]] {
        let run = env.run(&args);
        run.expect(2).stderr_has(&format!(
            "could not check {}/{long}:",
            env.dir.path().display()
        ));
        assert!(!run.stderr().contains("does not exist"), "{}", run.stderr());
    }
}

/// clap reads `WXTOKEN_DB` even when `--db` is given and refuses it empty;
/// `show`'s plain lines, read without clap, end the same way as a form only
/// clap reads (`--app=a`): exit 2 naming `--db`, not "no database".
#[test]
fn an_empty_variable_is_refused_with_its_option_given() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.set("WXTOKEN_DB", "");
    let db = env.path("tokens.db");
    let db = db.to_str().unwrap();
    for app in [&["--app", "a"][..], &["--app=a"]] {
        let run = env.run(&[&["show", "--db", db][..], app].concat());
        run.expect(2).stderr_has("'--db <PATH|URL>'");
    }
}
