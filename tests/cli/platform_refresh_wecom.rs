//! `refresh` of WeCom suites and their companies, and of a service provider's
//! own token, against the platform stand-in: the same graph and code paths
//! as Open Platform components (platform_refresh.rs), another kind.

use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::{Backend, Env, StandIn, both};

const CODE: &str = "permanent_code";

fn setup(backend: Backend, corps: usize) -> (Platforms, StandIn, Env) {
    let p = Platforms::new();
    let up = p.start();
    let env = env(backend, &up, None, true);
    p.add_corps(corps);
    let rows: Vec<(String, String)> = (0..corps)
        .map(|i| (corpid(i), first_permanent_code(&corpid(i))))
        .collect();
    let rows: Vec<_> = rows
        .iter()
        .map(|(c, code)| (c.as_str(), Some(code.as_str()), None, "active"))
        .collect();
    plant_customers(&env, "suite", CODE, &rows);
    (p, up, env)
}

fn with_ticket(p: &Platforms, env: &Env) {
    p.push_suite_ticket(SUITE_TICKET);
    plant_ticket(env, "suite", "suite_ticket", SUITE_ID, SUITE_TICKET, 60);
}

both! {
fn a_suite_and_its_companies(backend) {
    let (p, up, env) = setup(backend, 2);
    // No suite_ticket in the last 30 minutes: one clear line, no call.
    plant_ticket(&env, "suite", "suite_ticket", SUITE_ID, SUITE_TICKET, 31 * 60);
    let run = env.run(&["refresh", "--app", "suite"]);
    run.expect(1).stderr_has("no suite_ticket in the last 30 minutes: check the command callback URL and `wxtoken push`");
    assert_eq!(up.count("get_suite_token"), 0);
    env.exec("DELETE FROM wxtoken_tokens WHERE kind = 'suite_ticket'");
    with_ticket(&p, &env);
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("get_suite_token"), 1);
    assert_eq!(up.count("get_corp_token"), 2);
    assert_eq!(up.count("get_jsapi_ticket"), 2);
    assert_eq!(up.count("/cgi-bin/ticket/get"), 2);
    let c0 = corpid(0);
    let app = format!("suite/{c0}");
    assert!(value(&env, &app, "access_token").starts_with("corptoken-"));
    assert!(value(&env, &app, "jsapi_ticket").contains("-jsapi-"));
    assert!(value(&env, &app, "agent_config_ticket").contains("-agent_config-"));
    assert!(value(&env, "suite", "suite_access_token").starts_with("suitetoken-"));
    let api = env.text(&format!("SELECT api FROM wxtoken_tokens WHERE app = '{app}' AND kind = 'access_token'"));
    assert_eq!(api, "wecom_suite");
    env.run(&["show", "--appid", &c0]).expect(0);
    // All fresh (the tickets are limited per company and hour): no call.
    let before = up.requests().len();
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.requests().len(), before);
}
}

both! {
fn an_install_code_is_exchanged_for_the_permanent_code(backend) {
    let (p, up, env) = setup(backend, 0);
    with_ticket(&p, &env);
    let corp = "wwnewcorp00000001";
    let code = "authcode-standin-0000000000000000000000000000000000000000000000001";
    p.corp_auth_code(code, corp);
    plant_customers(&env, "suite", CODE, &[(corp, None, Some(code), "active")]);
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("get_permanent_code"), 1);
    assert_eq!(up.count("get_corp_token"), 0, "the exchange gave the first token");
    assert_eq!(Some(credential(&env, "suite", corp, CODE)), p.permanent_code(corp));
    let info = env.text("SELECT info FROM wxtoken_customers");
    assert!(info.contains("corp_name"), "{info}");
    assert_eq!(env.rows("SELECT pending_code FROM wxtoken_customers"), vec![vec![None]]);
    // The permanent code makes the next token.
    env.run(&["refresh", "--ahead", "3h"]).expect(0);
    assert_eq!(up.count("get_corp_token"), 1);
}
}

both! {
fn a_refused_permanent_code_and_a_stale_suite_token(backend) {
    let (p, up, env) = setup(backend, 3);
    with_ticket(&p, &env);
    env.run(&["refresh"]).expect(0);
    // The suite token goes stale (WeCom says 42009) while stored as valid:
    // renewed once, for every company whose token is due.
    p.expire_token(&value(&env, "suite", "suite_access_token"));
    p.kill_permanent_code(&first_permanent_code(&corpid(2)));
    env.exec("UPDATE wxtoken_tokens SET invalidated_at = 1 WHERE app LIKE 'suite/%' AND kind = 'access_token'");
    let run = env.run(&["refresh", "--app", "suite"]);
    run.expect(1).stderr_has(&format!("suite/{}: upstream refused its permanent_code (40084)", corpid(2)));
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    assert_eq!(state(&env, "suite", &corpid(2)), "reauthorize");
    assert_eq!(state(&env, "suite", &corpid(0)), "active");
    assert!(value(&env, &format!("suite/{}", corpid(0)), "access_token").starts_with("corptoken-"));
    assert_eq!(up.count("get_suite_token"), 2);
}
}

both! {
fn a_provider_token(backend) {
    let p = Platforms::new();
    let up = p.start();
    let env = env(backend, &up, None, false);
    // `env` refreshed it once already.
    assert_eq!(up.count("get_provider_token"), 1);
    assert!(value(&env, "prov", "provider_access_token").starts_with("providertoken-"));
    let api = env.text("SELECT api FROM wxtoken_tokens WHERE app = 'prov'");
    assert_eq!(api, "wecom_provider");
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("get_provider_token"), 1, "fresh");
    env.run(&["refresh", "--app", "prov", "--ahead", "3h"]).expect(0);
    assert_eq!(up.count("get_provider_token"), 2);
}
}
