//! The platform stand-in itself (tests/cli/support/platform*.rs), spoken to
//! with plain HTTP: the tests of wxtoken's platform support rely on it
//! refusing what WeChat and WeCom refuse.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::StandIn;
use crate::support::platform::{self, *};
use crate::support::wxcrypt::{self, WxCrypt};

/// Sends one request (a JSON body when `body` is not null) and parses the answer.
fn call(addr: SocketAddr, method: &str, target: &str, body: Value) -> Value {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut stream = TcpStream::connect(addr).unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (_, json) = answer.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(json).unwrap()
}

fn post(up: &StandIn, target: &str, body: Value) -> Value {
    call(up.addr(), "POST", target, body)
}

fn get(up: &StandIn, target: &str) -> Value {
    call(up.addr(), "GET", target, Value::Null)
}

fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_string()
}

fn component_token(up: &StandIn, ticket: &str) -> Value {
    post(
        up,
        "/cgi-bin/component/api_component_token",
        json!({"component_appid": COMPONENT_APPID, "component_appsecret": COMPONENT_SECRET,
               "component_verify_ticket": ticket}),
    )
}

fn refresh(up: &StandIn, ctoken: &str, appid: &str, refresh_token: &str) -> Value {
    post(
        up,
        &format!("/cgi-bin/component/api_authorizer_token?component_access_token={ctoken}"),
        json!({"component_appid": COMPONENT_APPID, "authorizer_appid": appid,
               "authorizer_refresh_token": refresh_token}),
    )
}

#[test]
fn the_open_platform_chain_works_and_checks_every_credential() {
    let p = Platforms::new();
    let up = p.start();
    // No ticket pushed yet: WeChat's answer to a bad ticket.
    assert_eq!(errcode(&component_token(&up, "ticket@@@1")), 61006);
    p.push_ticket("ticket@@@1");
    let wrong_secret = post(
        &up,
        "/cgi-bin/component/api_component_token",
        json!({"component_appid": COMPONENT_APPID, "component_appsecret": "nope",
               "component_verify_ticket": "ticket@@@1"}),
    );
    assert_eq!(errcode(&wrong_secret), 40125);
    let ctoken = text(
        &component_token(&up, "ticket@@@1"),
        "component_access_token",
    );

    let pre = post(
        &up,
        &format!("/cgi-bin/component/api_create_preauthcode?component_access_token={ctoken}"),
        json!({"component_appid": COMPONENT_APPID}),
    );
    assert_eq!(pre["expires_in"], 600, "{pre}");

    p.auth_code("queryauthcode@@@a", "wxauthorizer000001");
    let query = |token: &str| {
        post(
            &up,
            &format!("/cgi-bin/component/api_query_auth?component_access_token={token}"),
            json!({"component_appid": COMPONENT_APPID, "authorization_code": "queryauthcode@@@a"}),
        )
    };
    assert_eq!(errcode(&query("componenttoken-forged")), 40001);
    let info = query(&ctoken)["authorization_info"].clone();
    assert_eq!(info["authorizer_appid"], "wxauthorizer000001");
    assert_eq!(info["expires_in"], 7200);
    assert_eq!(errcode(&query(&ctoken)), 61009, "a code is single use");
    let rt = text(&info, "authorizer_refresh_token");
    assert_eq!(p.refresh_token("wxauthorizer000001"), Some(rt.clone()));

    // Without rotation the refresh token comes back unchanged.
    let a = refresh(&up, &ctoken, "wxauthorizer000001", &rt);
    assert_eq!(text(&a, "authorizer_refresh_token"), rt);
    // The component token, not the refresh token's owner, is what the query carries.
    let atoken = text(&a, "authorizer_access_token");
    assert_eq!(
        errcode(&refresh(&up, &atoken, "wxauthorizer000001", &rt)),
        40001
    );

    p.rotate_refresh_tokens(true);
    let b = refresh(&up, &ctoken, "wxauthorizer000001", &rt);
    let rotated = text(&b, "authorizer_refresh_token");
    assert_ne!(rotated, rt);
    assert_eq!(
        errcode(&refresh(&up, &ctoken, "wxauthorizer000001", &rt)),
        61023
    );
    let c = refresh(&up, &ctoken, "wxauthorizer000001", &rotated);
    let atoken = text(&c, "authorizer_access_token");

    let ticket = get(
        &up,
        &format!("/cgi-bin/ticket/getticket?access_token={atoken}&type=jsapi"),
    );
    assert_eq!(errcode(&ticket), 0);
    assert!(text(&ticket, "ticket").contains("wxauthorizer000001"));
    let with_component = get(
        &up,
        &format!("/cgi-bin/ticket/getticket?access_token={ctoken}&type=jsapi"),
    );
    assert_eq!(
        errcode(&with_component),
        40001,
        "the component token is not the authorizer's"
    );
    assert_eq!(up.count("api_authorizer_token"), 5);
}

#[test]
fn knobs_kill_refresh_tokens_force_errcodes_and_expire_tokens() {
    let p = Platforms::new();
    p.push_ticket(TICKET);
    p.add_authorizers(2);
    let up = p.start();
    let ctoken = text(&component_token(&up, TICKET), "component_access_token");
    let appid = platform::authorizer_appid(1);
    let rt = first_refresh_token(&appid);
    assert_eq!(errcode(&refresh(&up, &ctoken, &appid, &rt)), 0);
    p.kill_refresh_token(&rt);
    assert_eq!(errcode(&refresh(&up, &ctoken, &appid, &rt)), 61023);
    assert_eq!(errcode(&refresh(&up, &ctoken, &appid, "")), 61023);
    let new = p.reauthorize(&appid);
    assert_eq!(errcode(&refresh(&up, &ctoken, &appid, &new)), 0);
    p.unauthorize(&appid);
    assert_eq!(errcode(&refresh(&up, &ctoken, &appid, &new)), 61003);

    let other = platform::authorizer_appid(0);
    let rt0 = first_refresh_token(&other);
    p.fail_next("api_authorizer_token", 45009);
    assert_eq!(errcode(&refresh(&up, &ctoken, &other, &rt0)), 45009);
    assert_eq!(
        errcode(&refresh(&up, &ctoken, &other, &rt0)),
        0,
        "only once"
    );
    p.expire_token(&ctoken);
    assert_eq!(errcode(&refresh(&up, &ctoken, &other, &rt0)), 42001);

    p.expire_ticket(TICKET);
    assert_eq!(errcode(&component_token(&up, TICKET)), 61005);

    let restart = post(
        &up,
        "/cgi-bin/component/api_start_push_ticket",
        json!({"component_appid": COMPONENT_APPID, "component_secret": COMPONENT_SECRET}),
    );
    assert_eq!(restart, json!({"errcode": 0, "errmsg": "ok"}));
}

#[test]
fn the_authorizer_list_pages_1200_authorizers() {
    let p = Platforms::new();
    p.push_ticket(TICKET);
    p.add_authorizers(1200);
    let up = p.start();
    let ctoken = text(&component_token(&up, TICKET), "component_access_token");
    let page = |offset: usize, count: usize| {
        post(
            &up,
            &format!("/cgi-bin/component/api_get_authorizer_list?component_access_token={ctoken}"),
            json!({"component_appid": COMPONENT_APPID, "offset": offset, "count": count}),
        )
    };
    assert_eq!(errcode(&page(0, 501)), 40097, "at most 500 a page");
    let mut seen = Vec::new();
    while seen.len() < 1200 {
        let answer = page(seen.len(), 500);
        assert_eq!(answer["total_count"], 1200);
        let list = answer["list"].as_array().unwrap();
        assert!(!list.is_empty() && list.len() <= 500);
        for a in list {
            let appid = text(a, "authorizer_appid");
            assert_eq!(text(a, "refresh_token"), first_refresh_token(&appid));
            assert!(a["auth_time"].as_i64().unwrap() > 1_700_000_000);
            seen.push(appid);
        }
    }
    assert_eq!(up.count("api_get_authorizer_list"), 4);
    assert_eq!(seen[1199], platform::authorizer_appid(1199));
    assert_eq!(page(1200, 500)["list"], json!([]));
}

#[test]
fn the_wecom_provider_chain_works_and_checks_every_credential() {
    let p = Platforms::new();
    let up = p.start();
    let suite = |ticket: &str| {
        post(
            &up,
            "/cgi-bin/service/get_suite_token",
            json!({"suite_id": SUITE_ID, "suite_secret": SUITE_SECRET, "suite_ticket": ticket}),
        )
    };
    assert_eq!(errcode(&suite("t1")), 40085);
    p.push_suite_ticket("t1");
    let stoken = text(&suite("t1"), "suite_access_token");

    p.corp_auth_code("authcode-1", "wwcorp1");
    p.corp_auth_code("authcode-2", "wwcorp2");
    let exchange = |path: &str, code: &str| {
        post(
            &up,
            &format!("/cgi-bin/service/{path}?suite_access_token={stoken}"),
            json!({"auth_code": code}),
        )
    };
    let classic = exchange("get_permanent_code", "authcode-1");
    assert_eq!(classic["auth_corp_info"]["corpid"], "wwcorp1");
    assert!(classic["access_token"].is_string());
    assert_eq!(
        errcode(&exchange("get_permanent_code", "authcode-1")),
        40078
    );
    let v2 = exchange("v2/get_permanent_code", "authcode-2");
    assert!(v2.get("access_token").is_none(), "{v2}");
    let code = text(&v2, "permanent_code");

    let corp_call = |path: &str, token: &str, code: &str| {
        post(
            &up,
            &format!("/cgi-bin/service/{path}?suite_access_token={token}"),
            json!({"auth_corpid": "wwcorp2", "permanent_code": code}),
        )
    };
    assert_eq!(
        corp_call("get_auth_info", &stoken, &code)["auth_corp_info"]["corpid"],
        "wwcorp2"
    );
    assert_eq!(
        errcode(&corp_call("get_corp_token", "suitetoken-forged", &code)),
        40082
    );
    let ctoken = text(&corp_call("get_corp_token", &stoken, &code), "access_token");
    let jsapi = get(
        &up,
        &format!("/cgi-bin/get_jsapi_ticket?access_token={ctoken}"),
    );
    assert!(text(&jsapi, "ticket").contains("jsapi-wwcorp2"));
    let agent = get(
        &up,
        &format!("/cgi-bin/ticket/get?access_token={ctoken}&type=agent_config"),
    );
    assert!(text(&agent, "ticket").contains("agent_config-wwcorp2"));
    let with_suite = get(
        &up,
        &format!("/cgi-bin/get_jsapi_ticket?access_token={stoken}"),
    );
    assert_eq!(
        errcode(&with_suite),
        40014,
        "the suite token is not the corp's"
    );

    p.kill_permanent_code(&code);
    assert_eq!(errcode(&corp_call("get_corp_token", &stoken, &code)), 40084);
    p.uninstall("wwcorp2");
    assert_eq!(errcode(&corp_call("get_corp_token", &stoken, &code)), 48004);

    p.add_corps(3);
    let corp = platform::corpid(2);
    let pre = post(
        &up,
        &format!("/cgi-bin/service/get_corp_token?suite_access_token={stoken}"),
        json!({"auth_corpid": corp, "permanent_code": first_permanent_code(&corp)}),
    );
    assert_eq!(errcode(&pre), 0, "{pre}");

    let provider = |secret: &str| {
        post(
            &up,
            "/cgi-bin/service/get_provider_token",
            json!({"corpid": PROVIDER_CORPID, "provider_secret": secret}),
        )
    };
    assert_eq!(errcode(&provider("nope")), 40001);
    p.expire_suite_ticket("t1");
    assert_eq!(errcode(&suite("t1")), 40085);
    assert!(provider(PROVIDER_SECRET)["provider_access_token"].is_string());
}

#[test]
fn plain_endpoints_still_answer_and_latency_applies() {
    let p = Platforms::new();
    p.set_latency(std::time::Duration::from_millis(200));
    let up = p.start();
    let start = std::time::Instant::now();
    let secret = crate::support::SECRET;
    let token = get(
        &up,
        &format!("/cgi-bin/token?grant_type=client_credential&appid=wxplain&secret={secret}"),
    );
    assert!(start.elapsed() >= std::time::Duration::from_millis(200));
    let token = text(&token, "access_token");
    let ticket = get(
        &up,
        &format!("/cgi-bin/ticket/getticket?access_token={token}&type=jsapi"),
    );
    assert_eq!(errcode(&ticket), 0, "{ticket}");
    // The plain handler is as strict: a token shaped like its own but never
    // issued, a wrong secret, a missing grant type.
    for target in [
        "/cgi-bin/ticket/getticket?access_token=TOKEN-9-wxplain&type=jsapi".to_string(),
        "/cgi-bin/ticket/getticket?access_token=TOKEN-forged&type=jsapi".to_string(),
    ] {
        assert_eq!(errcode(&get(&up, &target)), 40001, "{target}");
    }
    let wrong = get(
        &up,
        "/cgi-bin/token?grant_type=client_credential&appid=wxplain&secret=s",
    );
    assert_eq!(errcode(&wrong), 40125, "{wrong}");
    let no_grant = get(
        &up,
        &format!("/cgi-bin/token?appid=wxplain&secret={secret}"),
    );
    assert_eq!(errcode(&no_grant), 40002, "{no_grant}");
}

/// The `standin` example, which `cargo test` builds next to this test binary.
/// Missing, or older than its sources, it fails the test: a stale example
/// would test yesterday's stand-in (`cargo test --test cli` alone does not
/// build it: `cargo build --example standin` does).
#[track_caller]
pub(crate) fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/standin");
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| {
            panic!(
                "the standin example {} is not built ({e}): `cargo test` or `cargo build --example standin` builds it",
                path.display()
            )
        });
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for source in [
        "examples/standin.rs",
        "tests/cli/support/platform.rs",
        "tests/cli/support/platform_open.rs",
        "tests/cli/support/platform_work.rs",
        "tests/cli/support/standin.rs",
        "tests/cli/support/wxcrypt.rs",
    ] {
        let changed = std::fs::metadata(root.join(source))
            .and_then(|m| m.modified())
            .unwrap();
        assert!(
            changed <= built,
            "the standin example {} is older than {source}: `cargo build --example standin` (or `cargo test`) rebuilds it",
            path.display()
        );
    }
    path
}

#[test]
fn the_example_prints_signed_encrypted_ticket_pushes() {
    let standin = example();
    let key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    let crypt = WxCrypt::new("tok", key);
    let run = |target: &[&str], ticket: &[&str]| {
        let base = ["push-ticket", "--token", "tok", "--aes-key", key];
        let when = ["--timestamp", "1700000000", "--nonce", "42"];
        let args = [&base[..], target, ticket, &when].concat();
        Command::new(&standin).args(args).output().unwrap()
    };
    let out = run(&["--appid", "wxcomp"], &["--ticket", "ticket@@@x"]);
    let msg = wxcrypt::verify_ticket("wxcomp", "ticket@@@x", 1_700_000_000);
    let push = crypt.open_platform_push("wxcomp", &msg, "1700000000", "42");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, format!("{}\n{}\n", push.query, push.body));

    // The default ticket is the one `--platform` accepts.
    let out = run(&["--suite-id", "wwsuite"], &[]);
    let msg = wxcrypt::suite_ticket("wwsuite", SUITE_TICKET, 1_700_000_000);
    let push = crypt.wecom_push("wwsuite", &msg, "1700000000", "42");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, format!("{}\n{}\n", push.query, push.body));

    let bad = run(&["--appid", "wxcomp"], &["--aes-key", "short"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--aes-key (43 letters and digits)"),
        "{stderr}"
    );
}

/// A child process killed when the test ends, even by a failed assertion.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_example_serves_pre_registered_platforms() {
    let standin = example();
    let mut child = Killed(
        Command::new(standin)
            .args(["--platform", "3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut url = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let addr: SocketAddr = url.trim().trim_start_matches("http://").parse().unwrap();
    let at = |target: &str, body: Value| call(addr, "POST", target, body);
    let component = at(
        "/cgi-bin/component/api_component_token",
        json!({"component_appid": COMPONENT_APPID, "component_appsecret": COMPONENT_SECRET,
               "component_verify_ticket": TICKET}),
    );
    let ctoken = text(&component, "component_access_token");
    let appid = platform::authorizer_appid(2);
    let authorizer = at(
        &format!("/cgi-bin/component/api_authorizer_token?component_access_token={ctoken}"),
        json!({"component_appid": COMPONENT_APPID, "authorizer_appid": appid,
               "authorizer_refresh_token": first_refresh_token(&appid)}),
    );
    let suite = at(
        "/cgi-bin/service/get_suite_token",
        json!({"suite_id": SUITE_ID, "suite_secret": SUITE_SECRET, "suite_ticket": SUITE_TICKET}),
    );
    let corp = platform::corpid(2);
    let corp_token = at(
        &format!(
            "/cgi-bin/service/get_corp_token?suite_access_token={}",
            text(&suite, "suite_access_token")
        ),
        json!({"auth_corpid": corp, "permanent_code": first_permanent_code(&corp)}),
    );
    assert!(
        authorizer["authorizer_access_token"].is_string(),
        "{authorizer}"
    );
    assert!(corp_token["access_token"].is_string(), "{corp_token}");
}
