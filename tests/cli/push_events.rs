//! Pushes beyond tickets and plain authorizations: fast-registered mini
//! programs (`notify_third_fasteregister`), WeCom's URL check without
//! `provider_corpid`, and the order events apply in.

use crate::push::push;
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::wxcrypt::WxCrypt;
use crate::support::{Backend, Env, StandIn, both, now};

const TOKEN: &str = "authorizer_refresh_token";
const FAST: &str = "wxfastregister001";
const CODE: &str = "queryauthcode@@@fast-registered";

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
    (p, up, env)
}

fn crypt() -> WxCrypt {
    WxCrypt::new("QDG6eK", AES_KEY)
}

fn op_push(env: &Env, msg: &str) {
    let p = crypt().open_platform_push(COMPONENT_APPID, msg, &now().to_string(), "e1");
    assert_eq!(push(env, "acme", &p).expect(0).stdout(), "success");
}

fn fast_register(status: i64, appid: &str, code: &str) -> String {
    format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[notify_third_fasteregister]]></InfoType><appid><![CDATA[{appid}]]></appid><status>{status}</status><auth_code><![CDATA[{code}]]></auth_code><msg><![CDATA[OK]]></msg><info><name><![CDATA[shop]]></name><code><![CDATA[123]]></code><code_type>1</code_type><legal_persona_wechat><![CDATA[w]]></legal_persona_wechat><legal_persona_name><![CDATA[n]]></legal_persona_name><component_phone><![CDATA[1]]></component_phone></info></xml>",
        now()
    )
}

both! {
fn a_fast_registered_mini_program_is_an_authorization(backend) {
    let (p, up, env) = setup(backend);
    // A failed registration (status -1, no appid): acknowledged, nothing stored.
    op_push(&env, &format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[notify_third_fasteregister]]></InfoType><status>-1</status><msg><![CDATA[failed]]></msg></xml>",
        now()
    ));
    assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers"), 0);
    // Status 0: its auth_code is exchanged like an authorization code.
    p.auth_code(CODE, FAST);
    op_push(&env, &fast_register(0, FAST, CODE));
    env.run(&["refresh", "--app", "acme"]).expect(0);
    assert_eq!(Some(credential(&env, "acme", FAST, TOKEN)), p.refresh_token(FAST));
    assert!(value(&env, &format!("acme/{FAST}"), "access_token").starts_with("authorizertoken-"));
    assert_eq!(up.count("api_query_auth"), 1);
}
}

#[test]
fn the_url_check_needs_no_provider_corpid() {
    let (_p, _up, env) = setup(Backend::Sqlite);
    let config = std::fs::read_to_string(env.path("config.toml")).unwrap();
    assert!(!config.contains("provider_corpid"), "{config}");
    for receiver in [PROVIDER_CORPID, SUITE_ID, "wwanothercorp0001"] {
        let query = crypt().wecom_echostr(receiver, "echo-42", &now().to_string(), "n2");
        let run = crate::push::push_raw(&env, "suite", &query, b"");
        assert_eq!(run.expect(0).stdout(), "echo-42", "{receiver}");
    }
}

both! {
fn a_withdrawn_authorization_is_revoked_and_left_alone(backend) {
    let (p, up, env) = setup(backend);
    p.push_suite_ticket(SUITE_TICKET);
    plant_ticket(&env, "suite", "suite_ticket", SUITE_ID, SUITE_TICKET, 60);
    p.add_authorizers(1);
    p.add_corps(1);
    let (appid, corp) = (authorizer_appid(0), corpid(0));
    plant_customers(&env, "acme", TOKEN, &[(&appid, Some(&first_refresh_token(&appid)), None, "active")]);
    plant_customers(&env, "suite", "permanent_code", &[(&corp, Some(&first_permanent_code(&corp)), None, "active")]);
    env.run(&["refresh"]).expect(0);
    // The merchant de-authorizes, the company uninstalls; no push came.
    p.unauthorize(&appid);
    p.uninstall(&corp);
    let run = env.run(&["refresh", "--ahead", "3h"]);
    run.expect(1).stderr_has("61003").stderr_has("48004");
    for (platform, id) in [("acme", &appid), ("suite", &corp)] {
        assert_eq!(state(&env, platform, id), "revoked");
        let credential = env.int(&format!("SELECT COUNT(*) FROM wxtoken_customers WHERE appid = '{id}' AND credential IS NOT NULL"));
        assert_eq!(credential, 0, "nothing secret kept");
        env.run(&["show", "--app", &format!("{platform}/{id}")]).expect(3).stderr_has("authorization revoked");
    }
    // No call until it authorizes again.
    let (a, c) = (up.count("api_authorizer_token"), up.count("get_corp_token"));
    env.run(&["refresh", "--ahead", "3h"]).expect(0);
    assert_eq!((up.count("api_authorizer_token"), up.count("get_corp_token")), (a, c));
}
}

both! {
fn a_stale_component_token_is_renewed_once_unless_another_run_did(backend) {
    let (p, up, env) = setup(backend);
    p.add_authorizers(1);
    let appid = authorizer_appid(0);
    plant_customers(&env, "acme", TOKEN, &[(&appid, Some(&first_refresh_token(&appid)), None, "active")]);
    env.run(&["refresh", "--app", "acme"]).expect(0);
    assert_eq!(up.count("api_component_token"), 1);
    // 40014 on a component API: the component token is stale (as 40001, 42001).
    p.fail_next("api_authorizer_token", 40014);
    env.run(&["refresh", "--app", &format!("acme/{appid}"), "--force"]).expect(0);
    assert_eq!(up.count("api_component_token"), 3, "--force: once, and once renewed");
    // Another host renewed it while this run held the old one: the stored
    // one is used, no third token is fetched.
    let old = value(&env, "acme", "component_access_token");
    p.expire_token(&old);
    p.twist_next("api_authorizer_token", Twist::Slow(std::time::Duration::from_secs(2)));
    let calls = up.count("api_authorizer_token");
    env.exec(&format!("UPDATE wxtoken_tokens SET expires_at = fetched_at + 60 WHERE app = 'acme/{appid}'"));
    let child = env.command(&["refresh", "--app", &format!("acme/{appid}")]).spawn().unwrap();
    crate::push::wait_until("the customer's call", || up.count("api_authorizer_token") > calls);
    let other = p.issue_component_token();
    env.exec(&format!("UPDATE wxtoken_tokens SET value = '{other}' WHERE app = 'acme' AND kind = 'component_access_token'"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(up.count("api_component_token"), 3, "not renewed again");
    assert_eq!(value(&env, "acme", "component_access_token"), other);
    assert!(value(&env, &format!("acme/{appid}"), "access_token").starts_with("authorizertoken-"));
}
}

fn authorized_at(appid: &str, code: &str, created: i64) -> String {
    crate::push::authorized(appid, code, "authorized", created, created + 3600)
}

fn unauthorized_at(appid: &str, created: i64) -> String {
    format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{created}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{appid}]]></AuthorizerAppid></xml>"
    )
}

both! {
fn events_apply_in_the_order_they_were_created(backend) {
    let (p, up, env) = setup(backend);
    let t = now();
    p.auth_code(CODE, FAST);
    op_push(&env, &authorized_at(FAST, CODE, t - 60));
    // A late unauthorized, created before the authorization: acknowledged,
    // nothing changed.
    op_push(&env, &unauthorized_at(FAST, t - 120));
    assert_eq!(state(&env, "acme", FAST), "active");
    env.run(&["refresh", "--app", "acme"]).expect(0);
    assert_eq!(Some(credential(&env, "acme", FAST, TOKEN)), p.refresh_token(FAST));
    // The same authorization pushed again after its exchange: its code is
    // dropped unsent, and the stored refresh token goes on.
    op_push(&env, &authorized_at(FAST, CODE, t - 60));
    env.run(&["refresh", "--app", "acme"]).expect(0);
    assert_eq!(up.count("api_query_auth"), 1);
    assert_eq!(Some(credential(&env, "acme", FAST, TOKEN)), p.refresh_token(FAST));
    assert_eq!(state(&env, "acme", FAST), "active");
    // An unauthorized created after it: revoked.
    op_push(&env, &unauthorized_at(FAST, t - 30));
    assert_eq!(state(&env, "acme", FAST), "revoked");
    // And a replay of the older authorization does not bring it back.
    op_push(&env, &authorized_at(FAST, CODE, t - 60));
    assert_eq!(state(&env, "acme", FAST), "revoked");
}
}
