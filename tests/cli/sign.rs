//! `wxtoken sign`: JS-SDK signatures from the stored ticket, on both backends.

use sha1::{Digest, Sha1};

use crate::support::platform::{Platforms, SUITE_ID, SUITE_TICKET, corpid, first_permanent_code};
use crate::support::{Env, StandIn, both, now, platform_env};

/// The JS-SDK page's worked example (the ticket, nonce and timestamp).
const TICKET: &str =
    "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
const NONCE: &str = "Wm3WZYTPz0wzccnW";
const TIMESTAMP: &str = "1414587457";

/// A classic app `shop` and a WeCom app `corp` (agentid 1000002), each with its
/// tickets fetched from the stand-in.
fn env_with_tickets(backend: crate::support::Backend, up: &StandIn) -> Env {
    let mut env = backend.with(up);
    let config = "[[app]]\nname = \"shop\"\nappid = \"wxshop\"\nsecret_env = \"S\"\ntickets = [\"jsapi\"]\n\n\
                  [[app]]\nname = \"corp\"\napi = \"wecom\"\nappid = \"wwcorp\"\nsecret_env = \"S\"\n\
                  tickets = [\"jsapi\", \"agent_config\"]\nagentid = 1000002\n";
    let path = env.path("config.toml");
    std::fs::write(&path, config).unwrap();
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
    env.set("S", crate::support::SECRET);
    env.run(&["refresh"]).expect(0);
    env
}

fn sha1_hex(text: &str) -> String {
    Sha1::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

both! {
    fn the_official_examples_byte_for_byte(backend) {
        let up = StandIn::wechat();
        let env = env_with_tickets(backend, &up);
        env.exec(&format!(
            "UPDATE wxtoken_tokens SET value = '{TICKET}' WHERE app = 'shop' AND kind = 'jsapi_ticket'"
        ));
        let sign = |url: &str, format: &str| {
            env.run(&["sign", "--app", "shop", "--url", url, "--nonce", NONCE, "--timestamp", TIMESTAMP, "--format", format])
                .expect(0)
                .stdout()
        };
        // The current revision of the page, and the older one.
        assert_eq!(sign("http://mp.weixin.qq.com?params=value", "plain"), "0f9de62fce790f9a083d5c99e95740ceb90c27ed\n");
        assert_eq!(sign("http://mp.weixin.qq.com", "plain"), "f4d90daf4b3bca3078ab155816175ba34c443a7b\n");
        // The fragment is not signed.
        assert_eq!(sign("http://mp.weixin.qq.com?params=value#/pay?x=1", "plain"), "0f9de62fce790f9a083d5c99e95740ceb90c27ed\n");
        assert_eq!(
            sign("http://mp.weixin.qq.com?params=value", "json"),
            "{\"appId\":\"wxshop\",\"nonceStr\":\"Wm3WZYTPz0wzccnW\",\"signature\":\"0f9de62fce790f9a083d5c99e95740ceb90c27ed\",\"timestamp\":1414587457}\n"
        );
        assert_eq!(
            sign("http://mp.weixin.qq.com", "env"),
            "WX_APPID='wxshop'\nWX_TIMESTAMP='1414587457'\nWX_NONCESTR='Wm3WZYTPz0wzccnW'\nWX_SIGNATURE='f4d90daf4b3bca3078ab155816175ba34c443a7b'\n"
        );
    }
}

both! {
    fn fresh_input_signs_with_the_stored_ticket_a_random_nonce_and_now(backend) {
        let up = StandIn::wechat();
        let env = env_with_tickets(backend, &up);
        let ticket = env.text("SELECT value FROM wxtoken_tokens WHERE app = 'shop' AND kind = 'jsapi_ticket'");
        assert!(ticket.starts_with("TICKET-"), "{ticket}");
        let url = "https://shop.example.com/pay?id=7&from=menu";
        let before = now();
        let a = json(&env.run(&["sign", "--app", "shop", "--url", &format!("{url}#top")]).expect(0).stdout());
        let b = json(&env.run(&["sign", "--app", "shop", "--url", url]).expect(0).stdout());
        for out in [&a, &b] {
            let nonce = out["nonceStr"].as_str().unwrap();
            assert!(nonce.len() >= 16 && nonce.bytes().all(|c| c.is_ascii_alphanumeric()), "{nonce}");
            let ts = out["timestamp"].as_i64().unwrap();
            assert!(ts >= before && ts <= now(), "{ts}");
            assert_eq!(out["appId"], "wxshop");
            let expected = sha1_hex(&format!("jsapi_ticket={ticket}&noncestr={nonce}&timestamp={ts}&url={url}"));
            assert_eq!(out["signature"], expected.as_str());
        }
        assert_ne!(a["nonceStr"], b["nonceStr"], "a new nonce each time");
    }
}

both! {
    fn agent_config_signs_with_the_agent_ticket_and_names_the_agentid(backend) {
        let up = StandIn::wechat();
        let env = env_with_tickets(backend, &up);
        let ticket = env.text("SELECT value FROM wxtoken_tokens WHERE app = 'corp' AND kind = 'agent_config_ticket'");
        let url = "https://hr.example.com/leave";
        let out = json(&env.run(&["sign", "--app", "corp", "--ticket", "agent_config", "--url", url, "--nonce", NONCE, "--timestamp", TIMESTAMP]).expect(0).stdout());
        assert_eq!(out["corpid"], "wwcorp");
        assert_eq!(out["agentid"], "1000002");
        let expected = sha1_hex(&format!("jsapi_ticket={ticket}&noncestr={NONCE}&timestamp={TIMESTAMP}&url={url}"));
        assert_eq!(out["signature"], expected.as_str());
        // wx.config of the same WeCom app signs with the company's jsapi ticket.
        let company = env.text("SELECT value FROM wxtoken_tokens WHERE app = 'corp' AND kind = 'jsapi_ticket'");
        assert_ne!(company, ticket);
        let config = json(&env.run(&["sign", "--app", "corp", "--url", url, "--nonce", NONCE, "--timestamp", TIMESTAMP]).expect(0).stdout());
        assert_eq!(config["appId"], "wwcorp");
        let expected = sha1_hex(&format!("jsapi_ticket={company}&noncestr={NONCE}&timestamp={TIMESTAMP}&url={url}"));
        assert_eq!(config["signature"], expected.as_str());
    }
}

both! {
    fn no_valid_ticket_exits_3(backend) {
        let up = StandIn::wechat();
        let env = env_with_tickets(backend, &up);
        let url = "https://shop.example.com/";
        env.run(&["sign", "--app", "nosuch", "--url", url]).expect(3).stderr_has("no app \"nosuch\" in the database (it holds corp, shop)");
        // A classic app has no agent_config ticket.
        env.run(&["sign", "--app", "shop", "--ticket", "agent_config", "--url", url]).expect(3);
        env.run(&["invalidate", "--app", "shop", "--ticket", "jsapi"]).expect(0);
        env.run(&["sign", "--app", "shop", "--url", url]).expect(3).stderr_has("invalidated");
        env.exec(&format!(
            "UPDATE wxtoken_tokens SET invalidated_at = NULL, expires_at = {} WHERE app = 'shop' AND kind = 'jsapi_ticket'",
            now() - 1
        ));
        let run = env.run(&["sign", "--app", "shop", "--url", url]);
        run.expect(3).stderr_has("expired");
        assert_eq!(run.stdout(), "");
    }
}

#[test]
fn bad_input_is_refused_with_the_fix() {
    let up = StandIn::wechat();
    let env = env_with_tickets(crate::support::Backend::Sqlite, &up);
    let sign = |args: &[&str]| {
        let mut all = vec!["sign", "--app", "shop"];
        all.extend_from_slice(args);
        env.run(&all)
    };
    sign(&["--url", "shop.example.com/pay"])
        .expect(2)
        .stderr_has("not a page's full URL");
    sign(&["--url", "https://shop.example.com/a b"])
        .expect(2)
        .stderr_has("spaces or control characters");
    sign(&[
        "--url",
        "https://shop.example.com/",
        "--nonce",
        "x&url=evil",
    ])
    .expect(2)
    .stderr_has("--nonce must be");
    sign(&["--url", "https://shop.example.com/", "--format", "plain"])
        .expect(2)
        .stderr_has("give --nonce and --timestamp");
    sign(&["--url", "https://shop.example.com/", "--timestamp", "-5"]).expect(2);
    // A WeCom app without an agentid in the config.
    let text = std::fs::read_to_string(env.path("config.toml")).unwrap();
    std::fs::write(
        env.path("config.toml"),
        text.replace("agentid = 1000002\n", ""),
    )
    .unwrap();
    env.run(&[
        "sign",
        "--app",
        "corp",
        "--ticket",
        "agent_config",
        "--url",
        "https://hr.example.com/",
    ])
    .expect(2)
    .stderr_has("add `agentid = 1000002`");
    // agentid on an app that is not WeCom's.
    std::fs::write(
        env.path("config.toml"),
        text.replace(
            "tickets = [\"jsapi\"]\n",
            "tickets = [\"jsapi\"]\nagentid = 5\n",
        ),
    )
    .unwrap();
    env.run(&[
        "sign",
        "--app",
        "corp",
        "--ticket",
        "agent_config",
        "--url",
        "https://hr.example.com/",
    ])
    .expect(2)
    .stderr_has("only WeCom apps have an agentid");
}

/// A WeCom suite `suite` with its suite ticket, against the platform stand-in.
fn suite_env(backend: crate::support::Backend) -> (Platforms, StandIn, Env) {
    let p = Platforms::new();
    let up = p.start();
    let env = platform_env::env(backend, &up, None, true);
    p.push_suite_ticket(SUITE_TICKET);
    platform_env::plant_ticket(&env, "suite", "suite_ticket", SUITE_ID, SUITE_TICKET, 60);
    (p, up, env)
}

both! {
    /// A WeCom provider's customer: the agentid comes from the authorization
    /// the install's code was exchanged for (get_permanent_code's auth_info).
    fn a_suite_customer_signs_agent_config_with_its_agentid(backend) {
        let (p, _up, env) = suite_env(backend);
        let corp = "wwnewcorp00000001";
        let code = "authcode-standin-0000000000000000000000000000000000000000000000001";
        p.corp_auth_code(code, corp);
        platform_env::plant_customers(&env, "suite", "permanent_code", &[(corp, None, Some(code), "active")]);
        env.run(&["refresh"]).expect(0);
        let app = format!("suite/{corp}");
        let ticket = platform_env::value(&env, &app, "agent_config_ticket");
        let url = "https://hr.example.com/leave";
        let run = env.run(&["sign", "--app", &app, "--ticket", "agent_config", "--url", url, "--nonce", NONCE, "--timestamp", TIMESTAMP]);
        let out = json(&run.expect(0).stdout());
        assert_eq!(out["corpid"], corp);
        assert_eq!(out["agentid"], "1000001");
        let expected = sha1_hex(&format!("jsapi_ticket={ticket}&noncestr={NONCE}&timestamp={TIMESTAMP}&url={url}"));
        assert_eq!(out["signature"], expected.as_str());
    }
}

both! {
    /// An imported company (no authorization stored): refresh reads its
    /// authorization once (get_auth_info) for the agentid, not on every run.
    fn an_imported_company_gets_its_agentid_read_once(backend) {
        let (p, up, env) = suite_env(backend);
        p.add_corps(1);
        let corp = corpid(0);
        let code = first_permanent_code(&corp);
        platform_env::plant_customers(&env, "suite", "permanent_code", &[(corp.as_str(), Some(code.as_str()), None, "active")]);
        let app = format!("suite/{corp}");
        let url = "https://hr.example.com/leave";
        let sign = || env.run(&["sign", "--app", &app, "--ticket", "agent_config", "--url", url]);
        env.run(&["refresh"]).expect(0);
        assert_eq!(up.count("get_auth_info"), 1);
        let out = json(&sign().expect(0).stdout());
        assert_eq!(out["corpid"], corp.as_str());
        assert_eq!(out["agentid"], "1000001");
        env.run(&["refresh", "--force"]).expect(0);
        assert_eq!(up.count("get_auth_info"), 1, "read once");
        // Without a stored agent: the fix is named.
        env.exec("UPDATE wxtoken_customers SET info = NULL");
        sign().expect(2).stderr_has("reads it (get_auth_info)");
    }
}
