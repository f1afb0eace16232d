//! The whole Open Platform chain through the real binary, as it runs in
//! production: WeChat pushes the verify ticket (`push`), `refresh` makes the
//! component token, a merchant authorizes (`push` exchanges the code at once),
//! the customer's token is read like an app's, its refresh token goes bad and
//! is recovered from the authorizer list, and the merchant withdraws.

use crate::push::{authorized, push, push_exchanging, wait_until};
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::wxcrypt::{WxCrypt, verify_ticket};
use crate::support::{Env, both, now};

const AUTH_CODE: &str = "queryauthcode@@@chain-0000000000000000000000000000000000000001";

fn crypt() -> WxCrypt {
    WxCrypt::new("QDG6eK", AES_KEY)
}

/// Sends `msg` to `push --platform acme` as WeChat would, and expects `success`.
fn wechat_pushes(env: &Env, msg: &str) {
    let p = crypt().open_platform_push(COMPONENT_APPID, msg, &now().to_string(), "chain1");
    let run = push(env, "acme", &p);
    run.expect(0);
    assert_eq!(run.stdout(), "success");
}

both! {
fn push_refresh_authorize_recover_and_revoke(backend) {
    let p = Platforms::new();
    let up = p.start();
    let env = env(backend, &up, Some(r#"["jsapi"]"#), false);
    let appid = authorizer_appid(42);

    // 1. The verify ticket arrives by push; refresh makes the component token.
    p.push_ticket(TICKET);
    wechat_pushes(&env, &verify_ticket(COMPONENT_APPID, TICKET, now()));
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("api_component_token"), 1);
    env.run(&["show", "--platform", "acme"]).expect(0);

    // 2. A merchant authorizes: push exchanges the code at once.
    p.auth_code(AUTH_CODE, &appid);
    let msg = authorized(&appid, AUTH_CODE, "authorized", now(), now() + 3600);
    let pushed = crypt().open_platform_push(COMPONENT_APPID, &msg, &now().to_string(), "chain2");
    assert_eq!(push_exchanging(&env, "acme", &pushed).expect(0).stdout(), "success");
    let stored = format!("SELECT COUNT(*) FROM wxtoken_tokens WHERE app = 'acme/{appid}'");
    wait_until("the exchange after the answer", || env.int(&stored) > 0);
    assert_eq!(up.count("api_query_auth"), 1);
    let token = env.run(&["show", "--appid", &appid]);
    let token = token.expect(0).stdout();
    assert!(token.starts_with("authorizertoken-"), "{token}");
    let sealed = env.text(&format!(
        "SELECT credential FROM wxtoken_customers WHERE appid = '{appid}'"
    ));
    assert!(sealed.starts_with("v1:"), "stored sealed: {sealed}");
    assert!(!env.dump().concat().contains(AUTH_CODE), "the code is stored nowhere in the clear");
    // Its ticket comes with the next refresh; a second one finds all fresh.
    env.run(&["refresh"]).expect(0);
    env.run(&["show", "--appid", &appid, "--ticket", "jsapi"]).expect(0);
    let calls = up.requests().len();
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.requests().len(), calls, "all fresh: no call");

    // 3. Its refresh token goes bad (61023): recovered from the authorizer list.
    let new = p.reauthorize(&appid);
    env.run(&["refresh", "--ahead", "3h"]).expect(0);
    assert_eq!(up.count("api_get_authorizer_list"), 1);
    assert_eq!(credential(&env, "acme", &appid, "authorizer_refresh_token"), new);
    assert_eq!(state(&env, "acme", &appid), "active");

    // 4. The merchant withdraws: revoked, and `show` says so.
    let msg = format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{appid}]]></AuthorizerAppid></xml>",
        now()
    );
    wechat_pushes(&env, &msg);
    assert_eq!(state(&env, "acme", &appid), "revoked");
    env.run(&["show", "--appid", &appid])
        .expect(3)
        .stderr_has("authorization revoked");
    let calls = up.count("api_authorizer_token");
    env.run(&["refresh", "--ahead", "3h"]).expect(0);
    assert_eq!(up.count("api_authorizer_token"), calls, "a revoked customer is not refreshed");
}
}
