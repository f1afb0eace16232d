//! Environments for platform tests: a config of platforms (their secrets in
//! variables, a store key file), and rows planted as `push` and
//! `authorizers import` would store them.
#![allow(dead_code)]

use super::platform::*;
use super::sealed;
use super::{Backend, Env, StandIn, now};

pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

/// A config of an Open Platform component `acme` (its customers' tickets as
/// given; `None`: no component), a suite `suite` (when `suite`) and a
/// provider `prov`, all against the platform stand-in `up`.
pub fn env(backend: Backend, up: &StandIn, tickets: Option<&str>, suite: bool) -> Env {
    let mut env = backend.with(up);
    let key = env.path("store.key");
    std::fs::write(&key, format!("{}\n", sealed::KEY_LINE)).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let acme = format!(
        r#"
[[platform]]
name = "acme"
kind = "open_platform"
appid = "{COMPONENT_APPID}"
secret_env = "ACME_SECRET"
message_token_env = "MSG_TOKEN"
aes_key_env = "AES_KEY"
store_key_file = "store.key"
tickets = {}
"#,
        tickets.unwrap_or_default()
    );
    let suite_block = format!(
        r#"
[[platform]]
name = "suite"
kind = "wecom_suite"
appid = "{SUITE_ID}"
secret_env = "SUITE_SECRET"
message_token_env = "MSG_TOKEN"
aes_key_env = "AES_KEY"
store_key_file = "store.key"
tickets = ["jsapi", "agent_config"]
"#
    );
    let config = format!(
        r#"{}{}
[[platform]]
name = "prov"
kind = "wecom_provider"
appid = "{PROVIDER_CORPID}"
secret_env = "PROVIDER_SECRET"
"#,
        if tickets.is_some() { acme.as_str() } else { "" },
        if suite { suite_block.as_str() } else { "" },
    );
    let path = env.path("config.toml");
    std::fs::write(&path, config).unwrap();
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
    env.set("ACME_SECRET", COMPONENT_SECRET);
    env.set("SUITE_SECRET", SUITE_SECRET);
    env.set("PROVIDER_SECRET", PROVIDER_SECRET);
    env.set("MSG_TOKEN", "QDG6eK");
    env.set("AES_KEY", AES_KEY);
    // Creates the tables (nothing else is due without tickets and customers).
    env.run(&["refresh", "--app", "prov"]).expect(0);
    env
}

/// Stores a pushed ticket of `kind` for `platform`, received `age` seconds ago.
pub fn plant_ticket(env: &Env, platform: &str, kind: &str, appid: &str, ticket: &str, age: i64) {
    let (api, life) = match kind {
        "component_verify_ticket" => ("open_platform", 12 * 3600),
        _ => ("wecom_suite", 1800),
    };
    let at = now() - age;
    env.exec(&format!(
        "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at)
         VALUES ('{platform}', '{kind}', '{api}', '{appid}', '{ticket}', {at}, {})",
        at + life
    ));
}

/// Stores customers of `platform` (appid, sealed credential of `kind`,
/// sealed pending code, state), in one statement.
pub fn plant_customers(
    env: &Env,
    platform: &str,
    kind: &str,
    customers: &[(&str, Option<&str>, Option<&str>, &str)],
) {
    let values: Vec<String> = customers
        .iter()
        .map(|(appid, credential, code, state)| {
            let sealed = |v: &Option<&str>, k: &str| match v {
                Some(v) => format!("'{}'", sealed::seal(v, &[platform, appid, k])),
                None => "NULL".to_string(),
            };
            let until = if code.is_some() {
                (now() + 600).to_string()
            } else {
                "NULL".to_string()
            };
            format!(
                "('{platform}', '{appid}', {}, {}, {until}, '{state}', NULL, {}, {})",
                sealed(credential, kind),
                sealed(code, "authorization_code"),
                now(),
                now()
            )
        })
        .collect();
    for chunk in values.chunks(200) {
        env.exec(&format!(
            "INSERT INTO wxtoken_customers (platform, appid, credential, pending_code, pending_until, state, info, authorized_at, updated_at) VALUES {}",
            chunk.join(", ")
        ));
    }
}

/// The customer's stored credential, opened.
pub fn credential(env: &Env, platform: &str, appid: &str, kind: &str) -> String {
    let sealed = env.text(&format!(
        "SELECT credential FROM wxtoken_customers WHERE platform = '{platform}' AND appid = '{appid}'"
    ));
    sealed::open(&sealed, &[platform, appid, kind])
}

pub fn state(env: &Env, platform: &str, appid: &str) -> String {
    env.text(&format!(
        "SELECT state FROM wxtoken_customers WHERE platform = '{platform}' AND appid = '{appid}'"
    ))
}

/// The stored value of `kind` for app `app`.
pub fn value(env: &Env, app: &str, kind: &str) -> String {
    env.text(&format!(
        "SELECT value FROM wxtoken_tokens WHERE app = '{app}' AND kind = '{kind}'"
    ))
}
