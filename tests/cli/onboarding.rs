//! Customers who arrive by the authorization redirect: `wxtoken authorizers
//! add --code` (and `-`), its CGI form as the redirect's target (a page, or
//! 303 to `--then`), and `push --inetd`'s GET with `auth_code`. The code is
//! exchanged once, whichever of the push and the redirect brings it first.

use crate::push_inetd::{answer, get, inetd};
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::{Backend, Env, StandIn, both};

const TOKEN: &str = "authorizer_refresh_token";
const APPID: &str = "wxredirected00001";
const CODE: &str = "queryauthcode@@@redirected-code";
const ENCODED: &str = "queryauthcode%40%40%40redirected-code";
const CORP: &str = "wwredirected00001";
const AUTH_CODE: &str = "authcode-redirect-2222222222222222222222222222222222222222222222222";

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
    (p, up, env)
}

fn stored(p: &Platforms, env: &Env) {
    let current = p.refresh_token(APPID).expect("authorized upstream");
    assert_eq!(credential(env, "acme", APPID, TOKEN), current);
    let shown = env.run(&["show", "--app", &format!("acme/{APPID}")]);
    assert!(shown.expect(0).stdout().starts_with("authorizertoken-"));
    let pending = env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE appid LIKE 'pending-%'");
    assert_eq!(pending, 0);
}

both! {
fn add_exchanges_the_redirect_code_once(backend) {
    let (p, up, env) = setup(backend);
    p.auth_code(CODE, APPID);
    // As copied from the redirect URL: URL-encoded.
    let run = env.run(&["authorizers", "add", "--platform", "acme", "--code", ENCODED]);
    assert_eq!(run.expect(0).stdout().trim(), format!("acme/{APPID}"));
    stored(&p, &env);
    // The same code again: said used, not sent again; the customer stays.
    let run = env.run(&["authorizers", "add", "--platform", "acme", "--code", CODE]);
    run.expect(1).stderr_has("this code was already used");
    stored(&p, &env);
    assert_eq!(up.count("api_query_auth"), 1);
    // Not a code: nothing sent.
    let run = env.run(&["authorizers", "add", "--platform", "acme", "--code", "a b;c"]);
    run.expect(2).stderr_has("pass the value of the redirect's auth_code");
    assert_eq!(up.count("api_query_auth"), 1);
}
}

both! {
fn a_code_the_push_brought_first_is_exchanged_once(backend) {
    let (p, up, env) = setup(backend);
    p.auth_code(CODE, APPID);
    // The push stored it (its exchange left to a refresh)...
    plant_customers(&env, "acme", TOKEN, &[(APPID, None, Some(CODE), "active")]);
    // ...and the redirect brings the same string: that entry is exchanged.
    let run = env.run(&["authorizers", "add", "--platform", "acme", "--code", CODE]);
    run.expect(0);
    stored(&p, &env);
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("api_query_auth"), 1);
}
}

both! {
fn a_wecom_install_from_the_providers_site_arrives_by_add(backend) {
    let (p, up, env) = setup(backend);
    p.corp_auth_code(AUTH_CODE, CORP);
    let cmd = env.command(&["authorizers", "add", "--platform", "suite", "--code", "-"]);
    let run = crate::push::feed(cmd, format!("{AUTH_CODE}\n").as_bytes());
    assert_eq!(run.expect(0).stdout().trim(), format!("suite/{CORP}"));
    assert_eq!(Some(credential(&env, "suite", CORP, "permanent_code")), p.permanent_code(CORP));
    assert!(value(&env, &format!("suite/{CORP}"), "access_token").starts_with("corptoken-"));
    assert_eq!(up.count("get_permanent_code"), 1);
}
}

/// `authorizers add` as the redirect's CGI target.
fn cgi(env: &Env, query: &str, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["authorizers", "add", "--platform", "acme"];
    args.extend_from_slice(extra);
    let mut cmd = env.command(&args);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "GET")
        .env("QUERY_STRING", query);
    crate::push::feed(cmd, b"")
}

both! {
fn the_cgi_form_answers_a_page_or_303(backend) {
    let (p, up, env) = setup(backend);
    p.auth_code(CODE, APPID);
    let run = cgi(&env, &format!("auth_code={ENCODED}&expires_in=600"), &[]);
    let out = run.expect(0).stdout();
    assert!(out.starts_with("Status: 200 OK\r\nContent-Type: text/html"), "{out}");
    assert!(out.contains(&format!("Authorization received: acme/{APPID} is stored")), "{out}");
    stored(&p, &env);
    // --then: 303 to the operator's page once stored.
    env.exec("DELETE FROM wxtoken_customers");
    p.auth_code("queryauthcode@@@second", APPID);
    let run = cgi(&env, "auth_code=queryauthcode%40%40%40second&expires_in=600", &["--then", "https://shop.example/welcome"]);
    let out = run.expect(0).stdout();
    assert!(out.starts_with("Status: 303 See Other\r\nLocation: https://shop.example/welcome\r\n"), "{out}");
    // No code, or a refused one: a page, the details on stderr only.
    let out = cgi(&env, "state=x", &[]).expect(2).stdout();
    assert!(out.starts_with("Status: 400 Bad Request"), "{out}");
    let run = cgi(&env, "auth_code=queryauthcode%40%40%40unknown", &[]);
    assert!(run.expect(1).stdout().starts_with("Status: 502 Bad Gateway"), "{}", run.stdout());
    assert!(!run.stdout().contains("61009"), "{}", run.stdout());
    run.stderr_has("61009");
    // A --then that could end the header is refused before anything is sent.
    let before = up.count("api_query_auth");
    cgi(&env, &format!("auth_code={ENCODED}"), &["--then", "https://x/\r\nSet-Cookie: a"]).expect(2);
    assert_eq!(up.count("api_query_auth"), before);
}
}

both! {
fn push_inetd_takes_the_redirect(backend) {
    let (p, up, env) = setup(backend);
    p.auth_code(CODE, APPID);
    let run = inetd(&env, get(&format!("/acme?auth_code={ENCODED}&expires_in=600")).as_bytes());
    run.expect(0);
    let (status, body) = answer(&run);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, format!("authorized: acme/{APPID}\n"));
    stored(&p, &env);
    assert_eq!(up.count("api_query_auth"), 1);
}
}

/// The query value `name` of a printed link.
fn param(link: &str, name: &str) -> String {
    let query = link.split_once('?').unwrap().1.split('#').next().unwrap();
    let value = query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {link}"));
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

both! {
fn link_makes_a_new_single_use_link_each_time(backend) {
    let (p, up, env) = setup(backend);
    let redirect = "https://shop.example/cgi-bin/wx-add?x=1&y=2";
    let pc = env.run(&["authorizers", "link", "--platform", "acme", "--redirect", redirect]);
    let pc = pc.expect(0).stdout().trim().to_string();
    assert!(pc.starts_with("https://mp.weixin.qq.com/cgi-bin/componentloginpage?"), "{pc}");
    assert_eq!(param(&pc, "component_appid"), COMPONENT_APPID);
    assert_eq!(param(&pc, "redirect_uri"), redirect);
    assert_eq!(param(&pc, "auth_type"), "3");
    assert!(param(&pc, "pre_auth_code").starts_with("preauthcode@@@"), "{pc}");
    let args = ["authorizers", "link", "--platform", "acme", "--redirect", redirect, "--mobile", "--auth-type", "2", "--biz-appid", APPID];
    let mobile = env.run(&args).expect(0).stdout().trim().to_string();
    assert!(mobile.starts_with("https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&"), "{mobile}");
    assert!(mobile.ends_with("#wechat_redirect"), "{mobile}");
    assert_eq!(param(&mobile, "auth_type"), "2");
    assert_eq!(param(&mobile, "biz_appid"), APPID);
    assert_ne!(param(&pc, "pre_auth_code"), param(&mobile, "pre_auth_code"), "a pre-auth code is single use");
    assert_eq!(up.count("api_create_preauthcode"), 2);
    // WeCom: the install link, a test authorization, the state brought back.
    let args = ["authorizers", "link", "--platform", "suite", "--redirect", redirect, "--state", "s42", "--test"];
    let install = env.run(&args).expect(0).stdout().trim().to_string();
    assert!(install.starts_with("https://open.work.weixin.qq.com/3rdapp/install?"), "{install}");
    assert_eq!(param(&install, "suite_id"), SUITE_ID);
    assert_eq!(param(&install, "state"), "s42");
    assert_eq!(param(&install, "redirect_uri"), redirect);
    assert!(p.test_session(&param(&install, "pre_auth_code")));
    // What does not belong: refused before any call.
    let before = up.requests().len();
    env.run(&["authorizers", "link", "--platform", "suite", "--redirect", redirect, "--state", "a b"]).expect(2);
    env.run(&["authorizers", "link", "--platform", "acme", "--redirect", redirect, "--test"]).expect(2);
    env.run(&["authorizers", "link", "--platform", "acme", "--redirect", "ftp://x"]).expect(2);
    assert_eq!(up.requests().len(), before);
}
}
