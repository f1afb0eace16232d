//! `[[platform]]` entries in the config file: accepted beside apps, each field
//! checked when the config is read, every error naming the file, the platform
//! and the field. (Their secrets are read by the commands that use them.)

use std::time::{Duration, Instant};

use crate::support::{Env, SECRET, StandIn};

const OPEN: &str = r#"
[[platform]]
name = "acme"
kind = "open_platform"
appid = "wx0123456789abcdef"
secret_env = "ACME_SECRET"
message_token_file = "acme.token"
aes_key_file = "acme.aeskey"
store_key_file = "store.key"
tickets = ["jsapi"]
"#;

const SUITE: &str = r#"
[[platform]]
name = "suite"
kind = "wecom_suite"
appid = "ww0123456789abcdef"
secret_file = "suite.secret"
message_token_env = "SUITE_TOKEN"
aes_key_env = "SUITE_AESKEY"
store_key_file = "/etc/wxtoken/store.key"
tickets = ["jsapi", "agent_config"]
provider_corpid = "wwprovider0000001"
"#;

const PROVIDER: &str = r#"
[[platform]]
name = "provider"
kind = "wecom_provider"
appid = "wwprovider0000001"
secret_credential = "provider"
"#;

const APP: &str = r#"
[[app]]
name = "shop"
appid = "wx85871939f7f9b647"
secret_env = "S"
"#;

/// Writes `text` as the config file and points `WXTOKEN_CONFIG` at it.
fn with_config(env: &mut Env, text: &str) -> String {
    let path = env.path("config.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_string();
    env.set("WXTOKEN_CONFIG", &path);
    env.set("S", SECRET);
    path
}

#[test]
fn a_config_of_platforms_only_is_accepted() {
    let mut env = Env::new();
    with_config(&mut env, &format!("{OPEN}{SUITE}{PROVIDER}"));
    let run = env.run(&["status"]);
    run.expect(0);
    assert!(!run.stderr().contains("unknown field"), "{}", run.stderr());
}

#[test]
fn apps_beside_platforms_still_refresh() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    with_config(&mut env, &format!("{OPEN}{APP}{PROVIDER}"));
    // The platforms' secrets are not set: a configuration error each (exit
    // 2), which stops neither the other platform nor the app.
    let run = env.run(&["refresh"]);
    run.expect(2)
        .stderr_has("platform \"acme\": secret_env ACME_SECRET is not set")
        .stderr_has("platform \"provider\"");
    env.run(&["show", "--app", "shop"]).expect(0);
}

#[test]
fn a_config_with_neither_apps_nor_platforms_is_refused() {
    let mut env = Env::new();
    let path = with_config(&mut env, "# nothing yet\n");
    env.run(&["status"])
        .expect(2)
        .stderr_has(&format!("config {path} lists no apps or platforms"));
}

#[test]
fn each_bad_field_names_the_file_the_platform_and_the_field() {
    let long = "x".repeat(70_000);
    let cases: Vec<(String, &str)> = vec![
        (
            OPEN.replace("open_platform", "component"),
            "platform \"acme\": field kind: unknown kind \"component\": use open_platform, wecom_suite or wecom_provider",
        ),
        (
            OPEN.replace("[\"jsapi\"]", "[\"agent_config\"]"),
            "platform \"acme\": field tickets: unknown ticket \"agent_config\" for kind open_platform: use jsapi or wx_card",
        ),
        (
            SUITE.replace("\"agent_config\"", "\"wx_card\""),
            "platform \"suite\": field tickets: unknown ticket \"wx_card\" for kind wecom_suite: use jsapi or agent_config",
        ),
        (
            format!("{PROVIDER}tickets = [\"jsapi\"]\n"),
            "platform \"provider\": field tickets: unknown ticket \"jsapi\" for kind wecom_provider: it has no tickets",
        ),
        (
            format!("{PROVIDER}aes_key_file = \"k\"\n"),
            "platform \"provider\": field aes_key: a wecom_provider receives no pushes",
        ),
        (
            format!("{OPEN}provider_corpid = \"ww1\"\n"),
            "platform \"acme\": field provider_corpid: only a wecom_suite has one",
        ),
        (
            OPEN.replace("store_key_file = \"store.key\"\n", ""),
            "platform \"acme\": field store_key_file is missing",
        ),
        (
            OPEN.replace("aes_key_file = \"acme.aeskey\"\n", ""),
            "platform \"acme\": no EncodingAESKey: set aes_key_file or aes_key_env",
        ),
        (
            format!("{OPEN}aes_key = \"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"\n"),
            "platform \"acme\": field aes_key: secrets are not accepted in the config file",
        ),
        (
            OPEN.replace("name = \"acme\"", "name = \"shop\"") + APP,
            "platform \"shop\": field name: the name is used twice; names must be unique among apps and platforms",
        ),
        (
            format!("{OPEN}{}", APP.replace("\"shop\"", "\"acme/wx1\"")),
            "app \"acme/wx1\": field name: names starting with \"acme/\" are where platform \"acme\" stores its customers",
        ),
        (
            OPEN.replace("\"acme\"", "\"ac/me\""),
            "platform \"ac/me\": field name: the name contains '/'",
        ),
        (
            format!("{OPEN}daily_budget = 100\n"),
            "unknown field `daily_budget`",
        ),
        (
            OPEN.replace("wx0123456789abcdef", &long),
            "platform \"acme\": field appid: the appid is longer than 128 bytes",
        ),
        (
            OPEN.replace("\"acme\"", &format!("\"{long}\"")),
            "field name: the name is longer than 128 characters",
        ),
        (
            format!("{OPEN}api_base = \"https://{long}\"\n"),
            "platform \"acme\": field api_base: the URL is 70008 bytes long",
        ),
        (
            OPEN.replace("ACME_SECRET", &long),
            "platform \"acme\": field secret_env: a variable name longer than 256 bytes",
        ),
        (
            format!("{OPEN}api_base = \"http://example.com\"\n"),
            "platform \"acme\": field api_base: \"http://example.com\" would send the secret in clear text",
        ),
    ];
    for (text, needle) in cases {
        let mut env = Env::new();
        let path = with_config(&mut env, &text);
        let run = env.run(&["refresh"]);
        run.expect(2)
            .stderr_has(&format!("wxtoken: config {path}"))
            .stderr_has(needle);
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
        assert!(run.stderr().len() < 2000, "{} bytes", run.stderr().len());
        assert!(!env.db.exists(), "a config error touched the database");
    }
}

#[test]
fn an_insecure_override_needs_every_platform_to_opt_in() {
    let mut env = Env::new();
    let app = format!("{APP}allow_insecure_http = true\n");
    with_config(&mut env, &format!("{app}{OPEN}"));
    env.set("WXTOKEN_API_BASE", "http://example.com");
    env.run(&["status"]).expect(2).stderr_has(
        "--api-base / WXTOKEN_API_BASE: \"http://example.com\" would send the secret in clear text",
    );
    with_config(
        &mut env,
        &format!("{app}{OPEN}allow_insecure_http = true\n"),
    );
    env.run(&["status"]).expect(0);
}

/// The config names files that are read only when a platform is used: a FIFO
/// there must not make reading the config wait.
#[test]
fn a_fifo_as_aes_key_file_does_not_block_reading_the_config() {
    let mut env = Env::new();
    let fifo = env.path("acme.aeskey");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo");
    with_config(&mut env, OPEN);
    let start = Instant::now();
    env.run(&["status"]).expect(0);
    assert!(start.elapsed() < Duration::from_secs(10));
}
