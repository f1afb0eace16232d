//! WeCom 代开发 (customized) templates, suite ids `dk...` (D.7): the exchange
//! answers a permanent code and no token, the company token comes from
//! gettoken with the permanent code as the secret, `is_customized_app` is
//! kept, and `reset_permanent_code` replaces the secret. Also `change_auth`
//! reading the authorization again (`get_auth_info`).

use crate::push::push;
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::wxcrypt::WxCrypt;
use crate::support::{Backend, Env, StandIn, both, now};

const CODE: &str = "permanent_code";
const CORP: &str = "wwcustomized00001";
const AUTH_CODE: &str = "authcode-dk-333333333333333333333333333333333333333333333333333333";
const RESET_CODE: &str = "authcode-dk-reset-4444444444444444444444444444444444444444444444444";

fn setup(backend: Backend) -> (Platforms, StandIn, Env) {
    let p = Platforms::new();
    let up = p.start();
    let env = env(backend, &up, None, true);
    let path = env.path("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        r#"
[[platform]]
name = "dk"
kind = "wecom_suite"
appid = "{DK_SUITE_ID}"
secret_env = "DK_SECRET"
message_token_env = "MSG_TOKEN"
aes_key_env = "AES_KEY"
store_key_file = "store.key"
tickets = ["jsapi"]
"#
    ));
    std::fs::write(&path, config).unwrap();
    let mut env = env;
    env.set("DK_SECRET", DK_SUITE_SECRET);
    p.push_suite_ticket(SUITE_TICKET);
    plant_ticket(&env, "dk", "suite_ticket", DK_SUITE_ID, SUITE_TICKET, 60);
    plant_ticket(&env, "suite", "suite_ticket", SUITE_ID, SUITE_TICKET, 60);
    (p, up, env)
}

fn dk_push(env: &Env, info_type: &str, code: &str) {
    let msg = format!(
        "<xml><SuiteId><![CDATA[{DK_SUITE_ID}]]></SuiteId><InfoType><![CDATA[{info_type}]]></InfoType><TimeStamp>{}</TimeStamp><AuthCode><![CDATA[{code}]]></AuthCode></xml>",
        now()
    );
    let p = WxCrypt::new("QDG6eK", AES_KEY).wecom_push(DK_SUITE_ID, &msg, &now().to_string(), "d1");
    assert_eq!(push(env, "dk", &p).expect(0).stdout(), "success");
}

/// A company that installed the template (create_auth pushed, its code
/// exchanged and its token fetched by a first refresh).
fn installed(backend: Backend) -> (Platforms, StandIn, Env) {
    let (p, up, env) = setup(backend);
    p.corp_auth_code(AUTH_CODE, CORP);
    dk_push(&env, "create_auth", AUTH_CODE);
    env.run(&["refresh", "--app", "dk"]).expect(0);
    (p, up, env)
}

both! {
fn a_customized_app_takes_its_token_from_gettoken_with_the_permanent_code(backend) {
    let (p, up, env) = installed(backend);
    let secret = credential(&env, "dk", CORP, CODE);
    assert_eq!(Some(secret.clone()), p.permanent_code(CORP));
    let token = value(&env, &format!("dk/{CORP}"), "access_token");
    assert!(token.starts_with("dktoken-"), "{token}");
    assert_eq!(up.count("get_corp_token"), 0, "not get_corp_token");
    let info = env.text(&format!("SELECT info FROM wxtoken_customers WHERE appid = '{CORP}'"));
    assert!(info.contains("\"is_customized_app\":true"), "{info}");
    assert!(value(&env, &format!("dk/{CORP}"), "jsapi_ticket").starts_with("ticket-"));
    // reset_permanent_code: the new secret replaces the stored one.
    p.corp_auth_code(RESET_CODE, CORP);
    dk_push(&env, "reset_permanent_code", RESET_CODE);
    env.run(&["refresh", "--app", "dk", "--force"]).expect(0);
    let new = credential(&env, "dk", CORP, CODE);
    assert_ne!(new, secret);
    assert_eq!(Some(new), p.permanent_code(CORP));
    assert_ne!(value(&env, &format!("dk/{CORP}"), "access_token"), token);
}
}

both! {
fn change_auth_reads_the_authorization_again(backend) {
    let (p, up, env) = setup(backend);
    p.add_corps(1);
    let corp = corpid(0);
    plant_customers(&env, "suite", CODE, &[(&corp, Some(&first_permanent_code(&corp)), None, "active")]);
    // Imported without its authorization: read once for its agentid (the
    // platform issues agent_config tickets).
    env.run(&["refresh", "--app", "suite"]).expect(0);
    assert_eq!(up.count("get_auth_info"), 1);
    env.run(&["refresh", "--app", "suite"]).expect(0);
    assert_eq!(up.count("get_auth_info"), 1, "an imported company is read once");
    let msg = format!(
        "<xml><SuiteId><![CDATA[{SUITE_ID}]]></SuiteId><InfoType><![CDATA[change_auth]]></InfoType><TimeStamp>{}</TimeStamp><AuthCorpId><![CDATA[{corp}]]></AuthCorpId></xml>",
        now()
    );
    let pushed = WxCrypt::new("QDG6eK", AES_KEY).wecom_push(SUITE_ID, &msg, &now().to_string(), "c1");
    push(&env, "suite", &pushed).expect(0);
    // Until it is read again, what it said is kept (`sign` needs its agentid).
    let info = env.text(&format!("SELECT info FROM wxtoken_customers WHERE appid = '{corp}'"));
    assert!(info.contains("\"reread\":true") && info.contains("agentid"), "{info}");
    env.run(&["refresh", "--app", "suite"]).expect(0);
    assert_eq!(up.count("get_auth_info"), 2);
    let info = env.text(&format!("SELECT info FROM wxtoken_customers WHERE appid = '{corp}'"));
    assert!(info.contains("corp_name") && info.contains("agentid") && !info.contains("reread"), "{info}");
    env.run(&["refresh", "--app", "suite"]).expect(0);
    assert_eq!(up.count("get_auth_info"), 2, "read once");
}
}

both! {
fn a_customized_app_whose_ticket_says_its_token_is_stale_renews_it_with_gettoken(backend) {
    let (p, up, env) = installed(backend);
    let app = format!("dk/{CORP}");
    let token = value(&env, &app, "access_token");
    // The ticket is due and the token is not; WeCom answers the ticket
    // request that the token is stale (42001): the token is renewed the
    // way this company's token is made (D.7), then the ticket.
    env.exec(&format!(
        "UPDATE wxtoken_tokens SET expires_at = 0 WHERE app = '{app}' AND kind = 'jsapi_ticket'"
    ));
    p.fail_next("get_jsapi_ticket", 42001);
    let gettoken = up.count("/cgi-bin/gettoken");
    env.run(&["refresh", "--app", "dk"]).expect(0);
    assert_eq!(up.count("get_corp_token"), 0, "not get_corp_token");
    assert_eq!(up.count("/cgi-bin/gettoken"), gettoken + 1);
    let sent = up.requests().into_iter().rfind(|r| r.path == "/cgi-bin/gettoken").unwrap();
    assert_eq!(sent.query.get("corpid").map(String::as_str), Some(CORP));
    assert_eq!(sent.query.get("corpsecret"), p.permanent_code(CORP).as_ref(), "the permanent code");
    let renewed = value(&env, &app, "access_token");
    assert!(renewed.starts_with("dktoken-") && renewed != token, "{renewed}");
    let source = env.text(&format!(
        "SELECT source_token FROM wxtoken_tokens WHERE app = '{app}' AND kind = 'jsapi_ticket'"
    ));
    assert_eq!(source, renewed, "the ticket is made from the renewed token");
}
}

both! {
/// A company whose permanent code is dead (reset, or the app uninstalled):
/// gettoken refuses it with 40001, which for this request is not an
/// AppSecret the operator could store but the company's permanent code. The
/// line says what fixes it, every run, and the company's state is kept.
fn a_customized_app_whose_permanent_code_is_refused_says_how_to_get_a_new_one(backend) {
    let (p, _up, env) = installed(backend);
    let state = || env.text(&format!("SELECT state FROM wxtoken_customers WHERE appid = '{CORP}'"));
    let before = state();
    for _ in 0..2 {
        p.fail_next("/cgi-bin/gettoken", 40001);
        let run = env.run(&["refresh", "--app", "dk", "--force"]);
        run.expect(1).stderr_has(&format!(
            "dk/{CORP}: token: errcode 40001 (the company's permanent code (its secret for this app) was refused): \
             the new one is stored when WeCom pushes reset_permanent_code to `wxtoken push`; \
             otherwise the company must install the app again (`wxtoken authorizers link --platform NAME`)"
        ));
        let err = run.stderr();
        assert!(!err.contains("AppSecret") && !err.contains("store the new one"), "{err}");
        assert_eq!(state(), before, "only the message: the company is not marked");
    }
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md"),
    )
    .unwrap();
    assert!(page.contains(
        "`errcode 40001 (the company's permanent code (its secret for this app) was refused)`"
    ));
}
}

both! {
/// gettoken takes the company's corpid and permanent code, not the suite's
/// token: a suite whose own token cannot be had (its pushed suite_ticket
/// gone, WeCom's pushes not reaching `wxtoken push`) still renews its
/// companies' tokens, and says what its own line is missing.
fn a_customized_company_keeps_its_token_while_its_suite_has_none(backend) {
    let (_p, up, env) = installed(backend);
    let token = value(&env, &format!("dk/{CORP}"), "access_token");
    env.exec("DELETE FROM wxtoken_tokens WHERE app = 'dk'");
    env.exec(&format!(
        "UPDATE wxtoken_tokens SET expires_at = {} WHERE app = 'dk/{CORP}'",
        now() - 1
    ));
    let calls = up.count("/cgi-bin/gettoken");
    let run = env.run(&["refresh", "--app", "dk"]);
    run.expect(1).stderr_has("suite_ticket");
    assert!(!run.stderr().contains(&format!("dk/{CORP}")), "{}", run.stderr());
    assert_eq!(up.count("/cgi-bin/gettoken"), calls + 1, "{}", run.stderr());
    let renewed = value(&env, &format!("dk/{CORP}"), "access_token");
    assert!(renewed.starts_with("dktoken-") && renewed != token, "{renewed}");
}
}
