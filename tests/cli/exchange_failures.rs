//! The failure table of one-use codes: an authorization code (Open Platform)
//! or an install's auth code (WeCom) driven through every way its exchange
//! can go wrong. For each, the code reaches upstream at most once, and the
//! credential is stored exactly once, or its loss is said with the fix.

use std::time::Duration;

use crate::support::net::Refusing;
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::{Backend, Env, StandIn, both};

const TOKEN: &str = "authorizer_refresh_token";
const APPID: &str = "wxnewauthorizer01";
const CODE: &str = "queryauthcode@@@standin-one-use-code";
const CORP: &str = "wwnewcorp00000002";
const AUTH_CODE: &str = "authcode-standin-1111111111111111111111111111111111111111111111111";
const PENDING: &str = "pending-00000000000000aa";

fn setup(backend: Backend) -> (Platforms, StandIn, Env) {
    let p = Platforms::new();
    let up = p.start();
    let env = env(backend, &up, Some("[]"), true);
    p.push_ticket(TICKET);
    plant_ticket(
        &env,
        "acme",
        "component_verify_ticket",
        COMPONENT_APPID,
        TICKET,
        60,
    );
    p.push_suite_ticket(SUITE_TICKET);
    plant_ticket(&env, "suite", "suite_ticket", SUITE_ID, SUITE_TICKET, 60);
    // The platforms' own tokens first: the runs below are about the codes.
    env.run(&["refresh"]).expect(0);
    (p, up, env)
}

/// An authorizer whose authorization code was pushed (and, with `old`, a
/// refresh token stored from an earlier authorization).
fn pending_authorizer(p: &Platforms, env: &Env, old: Option<&str>) {
    p.auth_code(CODE, APPID);
    plant_customers(env, "acme", TOKEN, &[(APPID, old, Some(CODE), "active")]);
}

fn pending_install(p: &Platforms, env: &Env) {
    p.corp_auth_code(AUTH_CODE, CORP);
    plant_customers(
        env,
        "suite",
        "permanent_code",
        &[(PENDING, None, Some(AUTH_CODE), "active")],
    );
}

/// The authorizer's stored refresh token is upstream's current one, its token
/// is readable, and nothing is pending.
fn authorizer_whole(p: &Platforms, env: &Env, what: &str) {
    let current = p.refresh_token(APPID).expect("authorized upstream");
    assert_eq!(credential(env, "acme", APPID, TOKEN), current, "{what}");
    assert_eq!(state(env, "acme", APPID), "active", "{what}");
    let pending = env.int(&format!(
        "SELECT COUNT(*) FROM wxtoken_customers WHERE appid = '{APPID}' AND pending_code IS NOT NULL"
    ));
    assert_eq!(pending, 0, "{what}");
    let shown = env.run(&["show", "--app", &format!("acme/{APPID}")]);
    assert!(
        shown.expect(0).stdout().starts_with("authorizertoken-"),
        "{what}"
    );
}

fn refresh(env: &Env, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["refresh"];
    args.extend_from_slice(extra);
    env.run(&args)
}

both! {
fn a_slow_answer_after_the_work_is_never_sent_again_and_recovered(backend) {
    let (p, up, env) = setup(backend);
    pending_authorizer(&p, &env, None);
    pending_install(&p, &env);
    p.twist_next("api_query_auth", Twist::Slow(Duration::from_secs(3)));
    p.twist_next("get_permanent_code", Twist::Slow(Duration::from_secs(3)));
    let run = refresh(&env, &["--exchange-timeout", "1s"]);
    run.expect(1).stderr_has("a one-use code is never sent twice");
    // Recovered in the same run from the authorizer list.
    authorizer_whole(&p, &env, "slow");
    // WeCom lists no installs: the loss is said, with the fix.
    run.stderr_has("the company must reset its permanent code or install again (`wxtoken authorizers link --platform suite`)");
    assert_eq!(env.int(&format!("SELECT COUNT(*) FROM wxtoken_customers WHERE appid = '{PENDING}'")), 0);
    refresh(&env, &[]).expect(0);
    assert_eq!(up.count("api_query_auth"), 1, "the code went once");
    assert_eq!(up.count("get_permanent_code"), 1, "the code went once");
}
}

both! {
fn a_5xx_after_the_work_is_never_sent_again_and_recovered(backend) {
    let (p, up, env) = setup(backend);
    pending_authorizer(&p, &env, None);
    p.twist_next("api_query_auth", Twist::Http(502));
    refresh(&env, &[]).expect(1).stderr_has("HTTP 502");
    authorizer_whole(&p, &env, "5xx");
    refresh(&env, &[]).expect(0);
    assert_eq!(up.count("api_query_auth"), 1, "a 5xx is not retried");
}
}

both! {
fn a_request_that_never_left_keeps_the_code(backend) {
    let (p, up, env) = setup(backend);
    pending_authorizer(&p, &env, None);
    let closed = Refusing::new();
    let run = refresh(&env, &["--api-base", &closed.url()]);
    run.expect(1).stderr_has("its code was not sent");
    let sent = env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE code_sent_at IS NOT NULL");
    assert_eq!(sent, 0);
    assert_eq!(up.count("api_query_auth"), 0);
    refresh(&env, &[]).expect(0);
    authorizer_whole(&p, &env, "never left");
    assert_eq!(up.count("api_query_auth"), 1);
}
}

both! {
fn an_answer_without_token_stores_the_credential_and_the_token_follows(backend) {
    let (p, up, env) = setup(backend);
    pending_authorizer(&p, &env, None);
    p.twist_next("api_query_auth", Twist::NoToken);
    refresh(&env, &[]).expect(0);
    authorizer_whole(&p, &env, "no token");
    assert_eq!(up.count("api_query_auth"), 1);
    assert_eq!(up.count("api_authorizer_token"), 1, "the token from the stored refresh token");
    // WeCom: the same for an install.
    pending_install(&p, &env);
    p.twist_next("get_permanent_code", Twist::NoToken);
    refresh(&env, &[]).expect(0);
    let code = credential(&env, "suite", CORP, "permanent_code");
    assert_eq!(Some(code), p.permanent_code(CORP));
    assert_eq!(up.count("get_corp_token"), 1);
    assert!(value(&env, &format!("suite/{CORP}"), "access_token").starts_with("corptoken-"));
}
}

both! {
fn the_same_code_twice_keeps_the_first_exchange(backend) {
    let (p, up, env) = setup(backend);
    pending_authorizer(&p, &env, None);
    refresh(&env, &[]).expect(0);
    let first = credential(&env, "acme", APPID, TOKEN);
    // The redirect brings the code the push brought (D.1), stored again after
    // the first exchange finished: dropped, never sent again.
    env.exec(&format!("DELETE FROM wxtoken_customers WHERE appid = '{APPID}'"));
    plant_customers(&env, "acme", TOKEN, &[(APPID, Some(&first), Some(CODE), "active")]);
    let run = refresh(&env, &[]);
    assert!(!run.expect(0).stderr().contains("61009"), "{}", run.stderr());
    assert_eq!(credential(&env, "acme", APPID, TOKEN), first);
    authorizer_whole(&p, &env, "twice");
    assert_eq!(up.count("api_query_auth"), 1);
}
}

both! {
fn a_code_pushed_again_after_its_exchange_is_not_sent_again(backend) {
    let (p, up, env) = setup(backend);
    p.auth_code(CODE, APPID);
    let crypt = crate::support::wxcrypt::WxCrypt::new("QDG6eK", AES_KEY);
    let now = crate::support::now();
    let stored = format!("SELECT COUNT(*) FROM wxtoken_customers WHERE appid = '{APPID}' AND credential IS NOT NULL");
    let pending = format!("SELECT COUNT(*) FROM wxtoken_customers WHERE appid = '{APPID}' AND pending_code IS NOT NULL");
    for (i, nonce) in ["n1", "n2"].into_iter().enumerate() {
        // WeChat's retry of the same authorization, after the first exchange.
        let msg = crate::push::authorized(APPID, CODE, "authorized", now + i as i64, now + 3600);
        let pushed = crypt.open_platform_push(COMPONENT_APPID, &msg, &now.to_string(), nonce);
        let run = crate::push::push_exchanging(&env, "acme", &pushed);
        assert_eq!(run.expect(0).stdout(), "success");
        crate::push::wait_until("the exchange after the answer", || {
            env.int(&stored) == 1 && env.int(&pending) == 0
        });
    }
    refresh(&env, &[]).expect(0);
    authorizer_whole(&p, &env, "pushed again");
    assert_eq!(up.count("api_query_auth"), 1, "the code was sent again");

    // A WeCom install's code brought again after it moved to the corpid.
    pending_install(&p, &env);
    refresh(&env, &[]).expect(0);
    let permanent = credential(&env, "suite", CORP, "permanent_code");
    pending_install(&p, &env);
    refresh(&env, &[]).expect(0);
    assert_eq!(up.count("get_permanent_code"), 1, "the auth code was sent again");
    assert_eq!(credential(&env, "suite", CORP, "permanent_code"), permanent);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE appid LIKE 'pending-%'"), 0);

    // `authorizers add` with the spent code says it was used: exit 1.
    let run = env.run(&["authorizers", "add", "--platform", "acme", "--code", CODE]);
    run.expect(1).stderr_has("this code was already used");
    assert_eq!(up.count("api_query_auth"), 1);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE appid LIKE 'pending-%'"), 0);
}
}

both! {
fn a_refused_code_without_credential_names_the_fix(backend) {
    let (_p, up, env) = setup(backend);
    plant_customers(&env, "acme", TOKEN, &[(APPID, None, Some(CODE), "active")]);
    let run = refresh(&env, &[]);
    run.expect(1).stderr_has("no authorizer_refresh_token is stored: it must authorize again: send it a new link (`wxtoken authorizers link --platform acme`)");
    assert_eq!(state(&env, "acme", APPID), "reauthorize");
    refresh(&env, &[]).expect(0);
    assert_eq!(up.count("api_query_auth"), 1, "a refused code is dropped");
}
}

both! {
fn a_refused_code_with_a_credential_keeps_the_credential(backend) {
    // A customer authorized before gets a code again (it authorized anew);
    // upstream refuses that code as used or expired: the code is dropped,
    // the stored refresh token goes on, and the run is no failure.
    let (p, up, env) = setup(backend);
    pending_authorizer(&p, &env, None);
    refresh(&env, &[]).expect(0);
    let stored = credential(&env, "acme", APPID, TOKEN);
    let refused = "queryauthcode@@@standin-never-issued";
    let sealed = crate::support::sealed::seal(refused, &["acme", APPID, "authorization_code"]);
    env.exec(&format!(
        "UPDATE wxtoken_customers SET pending_code = '{sealed}', pending_until = {} WHERE appid = '{APPID}'",
        crate::support::now() + 600
    ));
    let run = refresh(&env, &[]);
    run.expect(0);
    assert!(!run.stderr().contains("must authorize again"), "{}", run.stderr());
    assert_eq!(up.count("api_query_auth"), 2, "the new code was sent once");
    assert_eq!(credential(&env, "acme", APPID, TOKEN), stored);
    authorizer_whole(&p, &env, "a refused code over a stored credential");
}
}

both! {
fn a_concurrent_refresh_sends_the_code_once(backend) {
    let (p, up, env) = setup(backend);
    pending_authorizer(&p, &env, None);
    p.twist_next("api_query_auth", Twist::Slow(Duration::from_secs(2)));
    let first = env.command(&["refresh"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let second = refresh(&env, &[]);
    second.expect(0);
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(up.count("api_query_auth"), 1);
    refresh(&env, &[]).expect(0);
    authorizer_whole(&p, &env, "concurrent");
}
}

both! {
fn a_kill_before_the_answer_is_stored_is_recovered(backend) {
    let (p, up, env) = setup(backend);
    pending_authorizer(&p, &env, None);
    p.twist_next("api_query_auth", Twist::Slow(Duration::from_secs(3)));
    let mut child = env.command(&["refresh"]).spawn().unwrap();
    // The code sent and its work done upstream...
    while up.count("api_query_auth") < 1 {
        std::thread::sleep(Duration::from_millis(50));
        assert!(child.try_wait().unwrap().is_none(), "refresh ended before the code was sent");
    }
    // ...and the process killed before the answer is stored.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(p.refresh_token(APPID).is_some(), "upstream did the work");
    // Another run leaves a fresh claim alone: its owner may still store it.
    let run = refresh(&env, &[]);
    assert!(!run.stderr().contains("never sent twice"), "{}", run.stderr());
    // Once the claim is older than any exchange, its answer is lost.
    env.exec("UPDATE wxtoken_customers SET code_sent_at = code_sent_at - 700 WHERE code_sent_at IS NOT NULL");
    let run = refresh(&env, &[]);
    run.expect(1).stderr_has("its run ended before the answer was stored");
    authorizer_whole(&p, &env, "killed");
    refresh(&env, &[]).expect(0);
    assert_eq!(up.count("api_query_auth"), 1);
}
}

both! {
fn push_answers_first_and_exchanges_in_a_process_of_its_own(backend) {
    let (p, up, env) = setup(backend);
    p.auth_code(CODE, APPID);
    p.twist_next("api_query_auth", Twist::Slow(Duration::from_secs(5)));
    let msg = crate::push::authorized(APPID, CODE, "authorized", crate::support::now(), crate::support::now() + 3600);
    // `output()` waits for the end of stdout and stderr: the exchange's
    // process holds neither, so the answer is complete before upstream's.
    let crypt = crate::support::wxcrypt::WxCrypt::new("QDG6eK", AES_KEY);
    let pushed = crypt.open_platform_push(COMPONENT_APPID, &msg, &crate::support::now().to_string(), "n1");
    let run = crate::push::push_exchanging(&env, "acme", &pushed);
    assert_eq!(run.expect(0).stdout(), "success");
    let stored = format!("SELECT COUNT(*) FROM wxtoken_customers WHERE appid = '{APPID}' AND credential IS NOT NULL");
    assert_eq!(env.int(&stored), 0, "push answered before the exchange ended");
    crate::push::wait_until("the exchange after the answer", || env.int(&stored) == 1);
    authorizer_whole(&p, &env, "after push");
    assert_eq!(up.count("api_query_auth"), 1);
}
}

/// The attempts `history --app APP` lists, newest first.
fn attempts(env: &Env, app: &str) -> Vec<serde_json::Value> {
    let out = env.run(&["history", "--app", app, "--format", "json"]);
    serde_json::from_str(&out.expect(0).stdout()).unwrap()
}

/// `status --platform`'s count of calls in the last 24 hours for customer APP.
fn calls_24h(env: &Env, app: &str) -> i64 {
    let platform = app.split('/').next().unwrap();
    let out = env
        .run(&["status", "--platform", platform, "--format", "json"])
        .stdout();
    let lines: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let line = lines
        .iter()
        .find(|l| l["app"] == app)
        .unwrap_or_else(|| panic!("no line of {app} in {out}"));
    line["calls_24h"].as_i64().unwrap()
}

both! {
fn every_exchange_is_an_attempt_in_the_history(backend) {
    let (p, _up, env) = setup(backend);
    // An Open Platform code: one call, which also brought the first token.
    pending_authorizer(&p, &env, None);
    refresh(&env, &[]).expect(0);
    let app = format!("acme/{APPID}");
    let seen = attempts(&env, &app);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["outcome"], "ok");
    assert_eq!(seen[0]["kind"], "access_token");
    assert!(seen[0]["message"].as_str().unwrap().contains("api_query_auth"), "{seen:?}");
    assert_eq!(calls_24h(&env, &app), 1);
    let table = env.run(&["history", "--app", &app]).expect(0).stdout();
    assert!(table.contains("api_query_auth"), "{table}");

    // A WeCom install: recorded under the company the answer names.
    pending_install(&p, &env);
    refresh(&env, &[]).expect(0);
    let corp = format!("suite/{CORP}");
    // Its tickets follow; the token came with the exchange.
    let seen: Vec<_> = attempts(&env, &corp).into_iter().filter(|a| a["kind"] == "access_token").collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["outcome"], "ok");
    assert!(seen[0]["message"].as_str().unwrap().contains("get_permanent_code"), "{seen:?}");
    assert_eq!(calls_24h(&env, &corp), 1);

    // A code refused as used: an error with its errcode.
    let other = "wxnewauthorizer02";
    plant_customers(&env, "acme", TOKEN, &[(other, None, Some("queryauthcode@@@never-issued"), "active")]);
    refresh(&env, &[]).expect(1);
    let seen = attempts(&env, &format!("acme/{other}"));
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["outcome"], "error");
    assert_eq!(seen[0]["errcode"], 61009);
}
}

both! {
/// The install's pending row removed while its code is exchanged (the same
/// code brought again meanwhile, and dropped as spent): the permanent code in
/// the answer is stored all the same, under the corpid.
fn a_pending_install_removed_during_its_exchange_keeps_the_permanent_code(backend) {
    let (p, up, env) = setup(backend);
    pending_install(&p, &env);
    p.twist_next("get_permanent_code", Twist::Slow(Duration::from_secs(2)));
    let child = env.command(&["refresh"]).spawn().unwrap();
    while up.count("get_permanent_code") < 1 {
        std::thread::sleep(Duration::from_millis(50));
    }
    env.exec(&format!("DELETE FROM wxtoken_customers WHERE appid = '{PENDING}'"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let permanent = credential(&env, "suite", CORP, "permanent_code");
    assert!(!permanent.is_empty());
    assert_eq!(state(&env, "suite", CORP), "active");
    assert_eq!(up.count("get_permanent_code"), 1);
}
}
