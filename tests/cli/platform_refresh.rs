//! `refresh` of Open Platform components and their authorizers against the
//! platform stand-in: the component token from the pushed ticket, authorizer
//! tokens and tickets from it, rotated and exchanged credentials stored
//! sealed with the token, 61023 and the recovery from the authorizer list.

use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::{Backend, Env, StandIn, both};

const TOKEN: &str = "authorizer_refresh_token";

fn setup(backend: Backend, tickets: &str, authorizers: usize) -> (Platforms, StandIn, Env) {
    let p = Platforms::new();
    let up = p.start();
    let env = env(backend, &up, Some(tickets), false);
    p.add_authorizers(authorizers);
    (p, up, env)
}

/// Plants the first `n` authorizers as active customers with their refresh tokens.
fn plant(env: &Env, n: usize) {
    let appids: Vec<String> = (0..n).map(authorizer_appid).collect();
    let tokens: Vec<String> = appids.iter().map(|a| first_refresh_token(a)).collect();
    let rows: Vec<_> = (appids.iter().zip(&tokens))
        .map(|(a, t)| (a.as_str(), Some(t.as_str()), None, "active"))
        .collect();
    plant_customers(env, "acme", TOKEN, &rows);
}

fn with_ticket(p: &Platforms, env: &Env) {
    p.push_ticket(TICKET);
    plant_ticket(
        env,
        "acme",
        "component_verify_ticket",
        COMPONENT_APPID,
        TICKET,
        60,
    );
}

both! {
fn the_whole_chain_and_an_all_fresh_run_calls_nothing(backend) {
    let (p, up, env) = setup(backend, r#"["jsapi"]"#, 3);
    plant(&env, 3);
    plant_customers(&env, "acme", TOKEN, &[("wxrevoked0000001", None, None, "revoked")]);
    // No ticket yet: one clear line, no call.
    let run = env.run(&["refresh", "--app", "acme"]);
    run.expect(1).stderr_has("no component_verify_ticket in the last 12 hours: asked WeChat to push one now");
    assert_eq!(run.stderr().matches("component_verify_ticket").count(), 1, "{}", run.stderr());
    assert_eq!(up.count("api_component_token"), 0);
    assert_eq!(up.count("api_start_push_ticket"), 1);
    // A ticket older than 12 hours is no ticket.
    plant_ticket(&env, "acme", "component_verify_ticket", COMPONENT_APPID, TICKET, 13 * 3600);
    env.run(&["refresh", "--app", "acme"]).expect(1).stderr_has("no component_verify_ticket");
    env.exec("DELETE FROM wxtoken_tokens WHERE kind = 'component_verify_ticket'");
    with_ticket(&p, &env);
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("api_component_token"), 1);
    assert_eq!(up.count("api_authorizer_token"), 3);
    assert_eq!(up.count("/cgi-bin/ticket/getticket"), 3);
    let a0 = authorizer_appid(0);
    let token = value(&env, &format!("acme/{a0}"), "access_token");
    assert!(token.starts_with("authorizertoken-"), "{token}");
    assert!(value(&env, "acme", "component_access_token").starts_with("componenttoken-"));
    let shown = env.run(&["show", "--app", &format!("acme/{a0}")]);
    assert_eq!(shown.expect(0).stdout().trim(), token);
    let jsapi = env.run(&["show", "--app", &format!("acme/{a0}"), "--ticket", "jsapi"]);
    assert!(jsapi.expect(0).stdout().starts_with("ticket-"));
    // The revoked customer was skipped: nothing stored for it.
    let revoked = env.int("SELECT COUNT(*) FROM wxtoken_tokens WHERE app = 'acme/wxrevoked0000001'");
    assert_eq!(revoked, 0);
    // Everything is fresh: no upstream call at all.
    let before = up.requests().len();
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.requests().len(), before);
    // `--app PLATFORM/APPID` renews that customer only.
    env.run(&["refresh", "--app", &format!("acme/{a0}"), "--ahead", "3h"]).expect(0);
    assert_eq!(up.count("api_authorizer_token"), 4);
    assert_eq!(up.count("api_component_token"), 2, "the platform's own token is due too with --ahead 3h");
}
}

both! {
fn a_rotated_refresh_token_is_stored_sealed_with_the_token(backend) {
    let (p, up, env) = setup(backend, "[]", 1);
    plant(&env, 1);
    with_ticket(&p, &env);
    p.rotate_refresh_tokens(true);
    env.run(&["refresh"]).expect(0);
    let a0 = authorizer_appid(0);
    let current = p.refresh_token(&a0).unwrap();
    assert_ne!(current, first_refresh_token(&a0));
    assert_eq!(credential(&env, "acme", &a0, TOKEN), current);
    // The next refresh sends the rotated one (the old one is dead now).
    env.run(&["refresh", "--ahead", "3h"]).expect(0);
    assert_eq!(up.count("api_authorizer_token"), 2);
    assert_eq!(credential(&env, "acme", &a0, TOKEN), p.refresh_token(&a0).unwrap());
    let all: Vec<String> = env.rows("SELECT credential FROM wxtoken_customers").concat().into_iter().flatten().collect();
    assert!(all.iter().all(|c| c.starts_with("v1:")), "stored sealed: {all:?}");
}
}

both! {
fn a_pending_authorization_code_is_exchanged_and_cleared(backend) {
    let (p, up, env) = setup(backend, r#"["jsapi"]"#, 0);
    with_ticket(&p, &env);
    let code = "queryauthcode@@@standin-code-1";
    p.auth_code(code, "wxnewauthorizer01");
    plant_customers(&env, "acme", TOKEN, &[("wxnewauthorizer01", None, Some(code), "active")]);
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("api_query_auth"), 1);
    assert_eq!(up.count("api_authorizer_token"), 0);
    let stored = credential(&env, "acme", "wxnewauthorizer01", TOKEN);
    assert_eq!(Some(stored), p.refresh_token("wxnewauthorizer01"));
    let pending = env.rows("SELECT pending_code, pending_until FROM wxtoken_customers");
    assert_eq!(pending, vec![vec![None, None]]);
    assert!(value(&env, "acme/wxnewauthorizer01", "jsapi_ticket").starts_with("ticket-"));
    // The refresh token works for the next renewal.
    env.run(&["refresh", "--ahead", "3h"]).expect(0);
    assert_eq!(up.count("api_authorizer_token"), 1);
    assert_eq!(up.count("api_query_auth"), 1);
    // The merchant authorizes again while its token is fresh: the new code is
    // exchanged at once, its refresh token replaces the old one.
    let again = "queryauthcode@@@standin-code-2";
    p.auth_code(again, "wxnewauthorizer01");
    let sealed = crate::support::sealed::seal(again, &["acme", "wxnewauthorizer01", "authorization_code"]);
    env.exec(&format!(
        "UPDATE wxtoken_customers SET pending_code = '{sealed}', pending_until = {}",
        crate::support::now() + 600
    ));
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("api_query_auth"), 2);
    let stored = credential(&env, "acme", "wxnewauthorizer01", TOKEN);
    assert_eq!(Some(stored), p.refresh_token("wxnewauthorizer01"));
    assert_eq!(env.rows("SELECT pending_code FROM wxtoken_customers"), vec![vec![None]]);
}
}

both! {
fn a_refused_refresh_token_is_recovered_from_the_authorizer_list(backend) {
    // 600 authorizers: the one to recover is on the list's second page.
    let (p, up, env) = setup(backend, "[]", 600);
    let lost = authorizer_appid(550);
    let dead = authorizer_appid(551);
    let stale = first_refresh_token(&lost);
    plant_customers(&env, "acme", TOKEN, &[(&lost, Some(&stale), None, "active"), (&dead, Some(&first_refresh_token(&dead)), None, "active")]);
    with_ticket(&p, &env);
    let new = p.reauthorize(&lost);
    p.kill_refresh_token(&first_refresh_token(&dead));
    let run = env.run(&["refresh"]);
    // The lost one is recovered and refreshed; the dead one (the list shows
    // the same token) must authorize again: one line.
    run.expect(1).stderr_has(&format!("acme/{dead}: upstream refused its authorizer_refresh_token (61023)"));
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    assert_eq!(up.count("api_get_authorizer_list"), 2);
    assert_eq!(credential(&env, "acme", &lost, TOKEN), new);
    assert_eq!(state(&env, "acme", &lost), "active");
    assert!(value(&env, &format!("acme/{lost}"), "access_token").starts_with("authorizertoken-"));
    assert_eq!(state(&env, "acme", &dead), "reauthorize");
    // A customer in reauthorize is not sent upstream again; its line is a warning.
    let calls = up.count("api_authorizer_token");
    let lists = up.count("api_get_authorizer_list");
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("api_authorizer_token"), calls);
    assert_eq!(up.count("api_get_authorizer_list"), lists + 2, "tried once a run");
}
}

both! {
fn a_stale_component_token_is_renewed_once_for_all_customers(backend) {
    let (p, up, env) = setup(backend, "[]", 20);
    plant(&env, 20);
    with_ticket(&p, &env);
    let later = crate::support::now() + 7000;
    env.exec(&format!(
        "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at)
         VALUES ('acme', 'component_access_token', 'open_platform', '{COMPONENT_APPID}', 'componenttoken-unknown', {}, {later})",
        later - 7200
    ));
    env.run(&["refresh", "--jobs", "8"]).expect(0);
    assert_eq!(up.count("api_component_token"), 1);
    // Calls that went out with the stale token before the renewal are retried once.
    let calls = up.count("api_authorizer_token");
    assert!((21..=28).contains(&calls), "{calls}");
    assert_ne!(value(&env, "acme", "component_access_token"), "componenttoken-unknown");
    let stored = env.int("SELECT COUNT(*) FROM wxtoken_tokens WHERE app LIKE 'acme/%' AND kind = 'access_token'");
    assert_eq!(stored, 20);
}
}

both! {
fn a_thousand_customers_get_one_call_each(backend) {
    let (p, up, env) = setup(backend, "[]", 1000);
    plant(&env, 1000);
    with_ticket(&p, &env);
    p.set_latency(std::time::Duration::from_millis(10));
    env.run(&["refresh", "--jobs", "16"]).expect(0);
    assert_eq!(up.count("api_component_token"), 1);
    let calls = up.requests();
    let mut appids: Vec<String> = calls
        .iter()
        .filter(|r| r.path.ends_with("api_authorizer_token"))
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["authorizer_appid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(appids.len(), 1000);
    appids.sort();
    appids.dedup();
    assert_eq!(appids.len(), 1000, "one call each");
    let stored = env.int("SELECT COUNT(*) FROM wxtoken_tokens WHERE app LIKE 'acme/%'");
    assert_eq!(stored, 1000);
    assert!(up.peak() > 1, "calls ran concurrently");
}
}

#[test]
fn a_platform_without_its_store_key_is_a_configuration_error() {
    let p = Platforms::new();
    let up = p.start();
    let env = env(Backend::Sqlite, &up, Some("[]"), false);
    std::fs::remove_file(env.path("store.key")).unwrap();
    let run = env.run(&["refresh", "--app", "acme"]);
    run.expect(2)
        .stderr_has("store_key_file")
        .stderr_has("wxtoken keygen");
    // The other platforms still refresh.
    let run = env.run(&["refresh"]);
    run.expect(2);
    assert!(value(&env, "prov", "provider_access_token").starts_with("providertoken"));
}

#[test]
fn an_unknown_customer_name_is_refused() {
    let p = Platforms::new();
    let up = p.start();
    let env = env(Backend::Sqlite, &up, Some("[]"), false);
    env.run(&["refresh", "--app", "nope/wx1"])
        .expect(2)
        .stderr_has("PLATFORM/APPID");
    // A known platform, an unknown customer (with or without a platform token).
    env.run(&["refresh", "--app", "acme/wxnobody"])
        .expect(2)
        .stderr_has("acme/wxnobody: no such customer of platform acme");
    p.push_ticket(TICKET);
    plant_ticket(
        &env,
        "acme",
        "component_verify_ticket",
        COMPONENT_APPID,
        TICKET,
        60,
    );
    env.run(&["refresh", "--app", "acme/wxnobody"])
        .expect(2)
        .stderr_has("acme/wxnobody: no such customer of platform acme");
}

both! {
fn component_errors_are_clear_lines_with_the_fix(backend) {
    let (p, up, env) = setup(backend, "[]", 1);
    plant(&env, 1);
    with_ticket(&p, &env);
    p.fail_next("api_component_token", 61004);
    env.run(&["refresh"])
        .expect(1)
        .stderr_has("errcode 61004 (caller IP this machine's IP is not on the third-party platform's IP whitelist)")
        .stderr_has("Open Platform console");
    p.expire_ticket(TICKET);
    env.run(&["refresh"]).expect(1).stderr_has("errcode 61005 (component_verify_ticket expired)");
    assert_eq!(up.count("api_authorizer_token"), 0, "no customer call without a component token");
}
}

both! {
fn authorizers_sync_fetches_every_authorizer_from_the_list(backend) {
    let (p, up, env) = setup(backend, "[]", 1_200);
    // Without a component token there is nothing to list with: say so.
    env.run(&["authorizers", "sync", "--platform", "acme"])
        .expect(1)
        .stderr_has("acme");
    with_ticket(&p, &env);
    env.run(&["refresh", "--app", "acme"]).expect(0);
    let run = env.run(&["authorizers", "sync", "--platform", "acme"]);
    run.expect(0);
    assert_eq!(up.count("api_get_authorizer_list"), 3, "1,200 authorizers in pages of 500");
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE platform = 'acme' AND state = 'active'"), 1_200);
    // Stored sealed: no refresh token in the clear.
    let a7 = authorizer_appid(7);
    let sealed = env.text(&format!("SELECT credential FROM wxtoken_customers WHERE appid = '{a7}'"));
    assert!(sealed.starts_with("v1:"), "{sealed}");
    assert!(!sealed.contains(&first_refresh_token(&a7)));
    // The synced customers refresh like imported ones.
    env.run(&["refresh", "--app", &format!("acme/{a7}")]).expect(0);
    assert!(value(&env, &format!("acme/{a7}"), "access_token").starts_with("authorizertoken-"));
}
}

both! {
fn without_a_ticket_refresh_asks_for_a_push_at_most_every_10_minutes(backend) {
    let (p, up, env) = setup(backend, "[]", 0);
    let asked = "no component_verify_ticket in the last 12 hours: asked WeChat to push one now (api_start_push_ticket): check that the callback URL (authorization event URL) set in the Open Platform console reaches `wxtoken push`";
    let run = env.run(&["refresh", "--app", "acme"]);
    run.expect(1).stderr_has(asked);
    assert!(!run.stderr().contains(COMPONENT_SECRET), "{}", run.stderr());
    let calls: Vec<_> = (up.requests().into_iter())
        .filter(|r| r.path.ends_with("api_start_push_ticket"))
        .collect();
    assert_eq!(calls.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&calls[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"component_appid": COMPONENT_APPID, "component_secret": COMPONENT_SECRET})
    );
    assert_eq!(up.count("api_component_token"), 0);
    let recorded = "SELECT COUNT(*) FROM wxtoken_attempts WHERE app = 'acme' AND kind = 'component_verify_ticket' AND outcome = 'ok'";
    assert_eq!(env.int(recorded), 1);
    let history = env.run(&["history", "--app", "acme"]);
    assert!(history.expect(0).stdout().contains("component_verify_ticket"), "{}", history.stdout());
    // Within 10 minutes: no second call, and it says when it asked.
    let again = env.run(&["refresh", "--app", "acme"]);
    again.expect(1).stderr_has("asked WeChat to push one at ");
    again.stderr_has("at most once per 10 minutes");
    assert_eq!(up.count("api_start_push_ticket"), 1);
    // Asked 11 minutes ago: asked again.
    env.exec("UPDATE wxtoken_attempts SET started_ms = started_ms - 660000 WHERE kind = 'component_verify_ticket'");
    env.run(&["refresh", "--app", "acme"]).expect(1).stderr_has(asked);
    assert_eq!(up.count("api_start_push_ticket"), 2);
    assert_eq!(env.int(recorded), 2);
    // With a fresh ticket: never asked.
    env.exec("DELETE FROM wxtoken_attempts");
    with_ticket(&p, &env);
    env.run(&["refresh", "--app", "acme"]).expect(0);
    assert_eq!(up.count("api_start_push_ticket"), 2);
    assert_eq!(up.count("api_component_token"), 1);
}
}

both! {
/// A run that waited for a customer while another run found its refresh
/// token refused reports the customer's final state, as that run does: here
/// both recover it from the authorizer list, and both exit 0 (the one that
/// came second used to fail it: "another wxtoken run just tried and failed").
fn a_run_that_waited_for_a_refused_customer_reports_its_recovery(backend) {
    let (p, up, env) = setup(backend, "[]", 3);
    let lost = authorizer_appid(1);
    plant_customers(&env, "acme", TOKEN, &[(&lost, Some(&first_refresh_token(&lost)), None, "active")]);
    with_ticket(&p, &env);
    let new = p.reauthorize(&lost);
    p.set_latency(std::time::Duration::from_millis(1500));
    let first = env
        .command(&["refresh"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while up.count("api_authorizer_token") < 1 {
        assert!(std::time::Instant::now() < until, "the first run never called");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = env.run(&["refresh"]);
    let first = crate::support::Run(first.wait_with_output().unwrap());
    first.expect(0);
    second.expect(0);
    assert!(!second.stderr().contains("just tried and failed"), "{}", second.stderr());
    assert_eq!(credential(&env, "acme", &lost, TOKEN), new);
    assert_eq!(state(&env, "acme", &lost), "active");
    assert!(value(&env, &format!("acme/{lost}"), "access_token").starts_with("authorizertoken-"));
}
}

both! {
/// A run that waited for a customer while another run's call failed in
/// another way (not a refused credential: nothing to recover) says so and
/// fails, as for an app, without calling again.
fn a_run_that_waited_for_a_customer_whose_call_failed_reports_it(backend) {
    let (p, up, env) = setup(backend, "[]", 3);
    let one = authorizer_appid(1);
    plant_customers(&env, "acme", TOKEN, &[(&one, Some(&first_refresh_token(&one)), None, "active")]);
    with_ticket(&p, &env);
    p.fail_next("api_authorizer_token", 45009);
    p.set_latency(std::time::Duration::from_millis(1500));
    let first = env
        .command(&["refresh"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while up.count("api_authorizer_token") < 1 {
        assert!(std::time::Instant::now() < until, "the first run never called");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = env.run(&["refresh"]);
    let first = crate::support::Run(first.wait_with_output().unwrap());
    first.expect(1).stderr_has("45009");
    second
        .expect(1)
        .stderr_has(&format!("acme/{one}: another wxtoken run just tried and failed, not calling again"))
        .stderr_has("45009");
    assert_eq!(up.count("api_authorizer_token"), 1, "one call for both runs");
}
}
