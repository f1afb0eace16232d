//! A WeCom install pushed with its AuthCode alone (no corpid): kept under a
//! pending key until its exchange names the company, then stored under its
//! corpid (permanent code sealed for it, tokens as `suite/CORPID`), whether
//! `refresh` or `push` itself exchanges it.

use crate::push::{push, push_exchanging, wait_until};
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::wxcrypt::WxCrypt;
use crate::support::{Backend, Env, StandIn, both, now};

const CODE: &str = "permanent_code";
const CORP: &str = "wwnewcorp00000001";
const AUTH_CODE: &str = "authcode-standin-0000000000000000000000000000000000000000000000007";

fn setup(backend: Backend) -> (Platforms, StandIn, Env) {
    let p = Platforms::new();
    let up = p.start();
    let env = env(backend, &up, None, true);
    (p, up, env)
}

fn with_ticket(p: &Platforms, env: &Env) {
    p.push_suite_ticket(SUITE_TICKET);
    plant_ticket(env, "suite", "suite_ticket", SUITE_ID, SUITE_TICKET, 60);
}

/// WeCom's `create_auth` (or `reset_permanent_code`) push: an AuthCode, no corpid.
fn push_code(env: &Env, info_type: &str, code: &str) {
    let run = push(env, "suite", &code_push(info_type, code));
    run.expect(0);
    assert_eq!(run.stdout(), "success");
}

/// The same push, its code exchanged after the answer (waited for).
fn push_code_exchanged(env: &Env, info_type: &str, code: &str) {
    let run = push_exchanging(env, "suite", &code_push(info_type, code));
    assert_eq!(run.expect(0).stdout(), "success");
    let pending = "SELECT COUNT(*) FROM wxtoken_customers WHERE pending_code IS NOT NULL";
    wait_until("the exchange after the answer", || env.int(pending) == 0);
}

fn code_push(info_type: &str, code: &str) -> crate::support::wxcrypt::Push {
    let msg = format!(
        "<xml><SuiteId><![CDATA[{SUITE_ID}]]></SuiteId><InfoType><![CDATA[{info_type}]]></InfoType><TimeStamp>{}</TimeStamp><AuthCode><![CDATA[{code}]]></AuthCode><State><![CDATA[s]]></State></xml>",
        now()
    );
    WxCrypt::new("QDG6eK", AES_KEY).wecom_push(SUITE_ID, &msg, &now().to_string(), "n1")
}

fn pending(env: &Env) -> i64 {
    env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE appid LIKE 'pending-%'")
        + env.int("SELECT COUNT(*) FROM wxtoken_tokens WHERE app LIKE 'suite/pending-%' OR appid LIKE 'pending-%'")
}

/// The company is stored under its corpid, its token shown, its permanent
/// code sealed for the corpid and accepted by get_corp_token.
fn stored_under_corpid(p: &Platforms, up: &StandIn, env: &Env, corp: &str) {
    assert_eq!(pending(env), 0);
    let rows = env.rows(&format!(
        "SELECT state, pending_code, authorized_at IS NOT NULL FROM wxtoken_customers WHERE appid = '{corp}'"
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some("active"));
    assert_eq!(rows[0][1], None);
    assert!(
        env.text(&format!(
            "SELECT info FROM wxtoken_customers WHERE appid = '{corp}'"
        ))
        .contains("corp_name")
    );
    assert_eq!(
        Some(credential(env, "suite", corp, CODE)),
        p.permanent_code(corp)
    );
    let token = value(env, &format!("suite/{corp}"), "access_token");
    assert!(token.starts_with("corptoken-"), "{token}");
    let appid = env.text(&format!(
        "SELECT appid FROM wxtoken_tokens WHERE app = 'suite/{corp}' AND kind = 'access_token'"
    ));
    assert_eq!(appid, corp);
    let run = env.run(&["show", "--appid", corp]);
    run.expect(0);
    assert_eq!(run.stdout().trim(), token);
    let before = up.count("get_corp_token");
    env.run(&["refresh", "--ahead", "3h"]).expect(0);
    assert_eq!(up.count("get_corp_token"), before + 1);
    assert_ne!(value(env, &format!("suite/{corp}"), "access_token"), token);
}

both! {
fn refresh_stores_an_exchanged_install_under_its_corpid(backend) {
    let (p, up, env) = setup(backend);
    p.corp_auth_code(AUTH_CODE, CORP);
    // No suite ticket yet: push cannot exchange the code, refresh does.
    push_code(&env, "create_auth", AUTH_CODE);
    assert_eq!(up.count("get_permanent_code"), 0);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE appid LIKE 'pending-%'"), 1);
    with_ticket(&p, &env);
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("get_permanent_code"), 1);
    assert_eq!(up.count("get_corp_token"), 0, "the exchange gave the first token");
    assert!(value(&env, &format!("suite/{CORP}"), "jsapi_ticket").contains("-jsapi-"));
    stored_under_corpid(&p, &up, &env, CORP);
}
}

both! {
fn push_exchanges_the_code_and_stores_the_company_under_its_corpid(backend) {
    let (p, up, env) = setup(backend);
    with_ticket(&p, &env);
    env.run(&["refresh", "--app", "suite"]).expect(0);
    p.corp_auth_code(AUTH_CODE, CORP);
    push_code_exchanged(&env, "create_auth", AUTH_CODE);
    assert_eq!(up.count("get_permanent_code"), 1);
    assert_eq!(up.count("get_suite_token"), 1, "the stored suite token was used");
    stored_under_corpid(&p, &up, &env, CORP);
}
}

both! {
fn a_reset_permanent_code_replaces_the_stored_one(backend) {
    let (p, up, env) = setup(backend);
    with_ticket(&p, &env);
    p.add_corps(1);
    let corp = corpid(0);
    plant_customers(&env, "suite", CODE, &[(&corp, Some(&first_permanent_code(&corp)), None, "active")]);
    env.run(&["refresh"]).expect(0);
    let old = value(&env, &format!("suite/{corp}"), "access_token");
    p.corp_auth_code(AUTH_CODE, &corp);
    push_code_exchanged(&env, "reset_permanent_code", AUTH_CODE);
    assert_eq!(up.count("get_permanent_code"), 1);
    assert_ne!(credential(&env, "suite", &corp, CODE), first_permanent_code(&corp));
    assert_ne!(value(&env, &format!("suite/{corp}"), "access_token"), old);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers"), 1);
    stored_under_corpid(&p, &up, &env, &corp);
}
}

both! {
fn a_refused_exchange_keeps_the_pending_code_for_the_next_refresh(backend) {
    let (p, up, env) = setup(backend);
    p.corp_auth_code(AUTH_CODE, CORP);
    push_code(&env, "create_auth", AUTH_CODE);
    with_ticket(&p, &env);
    // Refused before the code was looked at (the IP whitelist): still good.
    p.fail_next("get_permanent_code", 60020);
    env.run(&["refresh"]).expect(1).stderr_has("suite/pending-");
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE appid LIKE 'pending-%' AND pending_code IS NOT NULL"), 1);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_tokens WHERE app LIKE 'suite/%'"), 0);
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("get_permanent_code"), 2);
    stored_under_corpid(&p, &up, &env, CORP);
}
}

both! {
fn a_pending_install_is_listed_as_pending_and_dropped_once_its_code_ended(backend) {
    let (p, up, env) = setup(backend);
    push_code(&env, "create_auth", AUTH_CODE);
    let json = env.run(&["authorizers", "list", "--platform", "suite", "--format", "json"]).expect(0).stdout();
    assert!(json.contains("\"state\": \"pending\""), "{json}");
    let table = env.run(&["authorizers", "list", "--platform", "suite"]).expect(0).stdout();
    let line = table.lines().find(|l| l.starts_with("pending-")).unwrap_or_default();
    assert!(line.split_whitespace().nth(1) == Some("pending"), "{table}");
    let json = env.run(&["status", "--format", "json"]).expect(0).stdout();
    assert!(json.contains("\"total\": 0"), "not a company yet: {json}");
    let json = env.run(&["status", "--platform", "suite", "--format", "json"]).expect(0).stdout();
    assert!(json.contains("\"authorization\": \"pending\""), "{json}");
    // The code ends (10 minutes) before any refresh could exchange it.
    env.exec("UPDATE wxtoken_customers SET pending_until = 1000");
    with_ticket(&p, &env);
    let run = env.run(&["refresh"]);
    run.expect(0).stderr_has("its install code ended before it could be exchanged; dropped");
    assert_eq!(up.count("get_permanent_code"), 0);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers"), 0);
    let run = env.run(&["refresh"]);
    run.expect(0);
    assert!(!run.stderr().contains("dropped"), "{}", run.stderr());
}
}

both! {
fn an_answer_naming_no_valid_corpid_stores_nothing(backend) {
    let (p, up, env) = setup(backend);
    for (i, bad) in ["ww/../corp", "pending-0123456789abcdef"].into_iter().enumerate() {
        let code = format!("{AUTH_CODE}{i}");
        p.corp_auth_code(&code, bad);
        push_code(&env, "create_auth", &code);
    }
    with_ticket(&p, &env);
    let run = env.run(&["refresh"]);
    run.expect(1).stderr_has("the answer names no valid corpid (auth_corp_info.corpid): nothing stored");
    assert_eq!(up.count("get_permanent_code"), 2);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_tokens WHERE app LIKE 'suite/%'"), 0);
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE credential IS NOT NULL"), 0);
}
}
