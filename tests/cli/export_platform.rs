//! `export_dir` for a third-party platform: its own token as `PLATFORM/KIND`,
//! its customers' values as `PLATFORM/APPID/KIND`, written by the exchange that
//! `push` starts and by `refresh`, removed when the customer withdraws.

use std::path::Path;

use crate::push::{authorized, push, push_exchanging, wait_until};
use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::wxcrypt::{WxCrypt, verify_ticket};
use crate::support::{Env, both, now};

const AUTH_CODE: &str = "queryauthcode@@@export-000000000000000000000000000000000000001";

fn wechat_pushes(env: &Env, msg: &str, nonce: &str) {
    let crypt = WxCrypt::new("QDG6eK", AES_KEY);
    let p = crypt.open_platform_push(COMPONENT_APPID, msg, &now().to_string(), nonce);
    assert_eq!(push(env, "acme", &p).expect(0).stdout(), "success");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

both! {
fn platform_and_customer_files_follow_push_refresh_and_revocation(backend) {
    let p = Platforms::new();
    let up = p.start();
    let env = env(backend, &up, Some(r#"["jsapi"]"#), false);
    let run = env.path("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    // export_dir is a top-level key: above the first [[platform]].
    let config = env.path("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("export_dir = \"{}\"\n{text}", run.display())).unwrap();
    let appid = authorizer_appid(7);

    p.push_ticket(TICKET);
    wechat_pushes(&env, &verify_ticket(COMPONENT_APPID, TICKET, now()), "exp1");
    assert!(!run.join("acme/component_verify_ticket").exists(), "a pushed ticket is not exported");
    env.run(&["refresh"]).expect(0);
    assert_eq!(read(&run.join("acme/component_access_token")), value(&env, "acme", "component_access_token"));

    // The exchange that push starts writes the customer's token file.
    p.auth_code(AUTH_CODE, &appid);
    let msg = authorized(&appid, AUTH_CODE, "authorized", now(), now() + 3600);
    let crypt = WxCrypt::new("QDG6eK", AES_KEY);
    let pushed = crypt.open_platform_push(COMPONENT_APPID, &msg, &now().to_string(), "exp2");
    push_exchanging(&env, "acme", &pushed).expect(0);
    let customer = run.join("acme").join(&appid);
    let app = format!("acme/{appid}");
    wait_until("the customer's token file", || customer.join("access_token").exists());
    assert_eq!(read(&customer.join("access_token")), value(&env, &app, "access_token"));
    env.run(&["refresh"]).expect(0);
    assert_eq!(read(&customer.join("jsapi_ticket")), value(&env, &app, "jsapi_ticket"));

    // The merchant withdraws: its files go, the platform's stays.
    let msg = format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{appid}]]></AuthorizerAppid></xml>",
        now()
    );
    wechat_pushes(&env, &msg, "exp3");
    assert!(!customer.join("access_token").exists(), "a revoked customer's token has no file");
    assert!(!customer.join("jsapi_ticket").exists());
    assert!(run.join("acme/component_access_token").exists());
}
}
