//! The network path: the secret goes over plain http:// only to this machine
//! unless the user opts in; bounded API base URLs.

use crate::support::{Env, SECRET, StandIn};

/// A 70 kB API base URL.
fn huge_base() -> String {
    format!("https://{}.example", "a".repeat(70_000))
}

/// Exit 2, one line, blaming `needle`, never echoing the URL.
#[track_caller]
fn refused(run: &crate::support::Run, needle: &str) {
    run.expect(2).stderr_has(needle);
    let err = run.stderr();
    assert!(
        err.len() < 1000,
        "the error echoes the URL: {} bytes",
        err.len()
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn plain_http_is_refused_for_another_host() {
    let up = StandIn::wechat();
    // Resolves to this machine, but the name says nothing about that: refused.
    let elsewhere = format!("http://wxtoken-test.invalid:{}", up.addr().port());
    let mut env = Env::new();
    env.api_base = Some(elsewhere.clone());
    refused(&env.refresh(&[]), "--api-base / WXTOKEN_API_BASE");
    env.refresh(&[])
        .stderr_has("clear text")
        .stderr_has("WXTOKEN_ALLOW_INSECURE_HTTP=1");
    // The flag, and a config app's api_base, likewise.
    let env = Env::new();
    refused(
        &env.refresh(&["--api-base", "http://10.1.2.3:8080"]),
        "would send the secret in clear text to 10.1.2.3",
    );
    let mut env = Env::new();
    env.config_apps(&["shop"], "api_base = \"http://proxy.corp.example\"");
    let run = env.run(&["refresh"]);
    refused(&run, "field api_base");
    assert!(run.stderr().contains("allow_insecure_http = true"));
    assert!(up.requests().is_empty());
    assert!(!env.db.exists(), "a refused config created the database");
}

#[test]
fn plain_http_to_loopback_is_accepted() {
    let up = StandIn::wechat();
    let port = up.addr().port();
    for base in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}/"),
        format!("http://LOCALHOST:{port}"),
    ] {
        let mut env = Env::new();
        env.api_base = Some(base.clone());
        env.refresh(&[]).expect(0);
    }
    assert_eq!(up.count("/cgi-bin/token"), 3);
}

#[test]
fn plain_http_elsewhere_needs_an_explicit_opt_in() {
    // A proxy plays the far host: the request really goes out over plain http.
    let proxy = StandIn::wechat();
    let far = "http://api.weixin.invalid";
    // The variable opts every app in.
    let mut env = Env::new();
    env.api_base = Some(far.to_string());
    env.set("HTTPS_PROXY", &proxy.url());
    env.set("WXTOKEN_ALLOW_INSECURE_HTTP", "1");
    env.refresh(&[]).expect(0);
    assert_eq!(proxy.count("/cgi-bin/token"), 1);
    // "0" is no opt-in, nonsense is a usage error.
    env.extra
        .retain(|(k, _)| k != "WXTOKEN_ALLOW_INSECURE_HTTP");
    env.set("WXTOKEN_ALLOW_INSECURE_HTTP", "0");
    refused(&env.refresh(&["--force"]), "clear text");
    env.extra
        .retain(|(k, _)| k != "WXTOKEN_ALLOW_INSECURE_HTTP");
    env.set("WXTOKEN_ALLOW_INSECURE_HTTP", "maybe");
    refused(
        &env.refresh(&["--force"]),
        "WXTOKEN_ALLOW_INSECURE_HTTP is neither 1 nor 0",
    );
    // The config key opts in that app only.
    let mut env = Env::new();
    env.set("HTTPS_PROXY", &proxy.url());
    let a = format!(
        "[[app]]\nname = \"a\"\nappid = \"wxa\"\nsecret_env = \"S\"\napi_base = \"{far}\"\nallow_insecure_http = true\n"
    );
    let b = format!(
        "[[app]]\nname = \"b\"\nappid = \"wxb\"\nsecret_env = \"S\"\napi_base = \"{far}\"\n"
    );
    let config = env.path("config.toml");
    env.set("WXTOKEN_CONFIG", config.to_str().unwrap());
    env.set("S", SECRET);
    std::fs::write(&config, &a).unwrap();
    env.run(&["refresh"]).expect(0);
    assert_eq!(proxy.count("/cgi-bin/token"), 2);
    std::fs::write(&config, format!("{a}{b}")).unwrap();
    refused(
        &env.run(&["refresh"]),
        "app \"b\": field api_base: \"http://api.weixin.invalid\" would send",
    );
    assert_eq!(proxy.count("/cgi-bin/token"), 2);
}

#[test]
fn a_huge_api_base_is_refused_without_echoing_it() {
    let huge = huge_base();
    // The flag.
    let env = Env::new();
    refused(
        &env.refresh(&["--api-base", &huge]),
        "--api-base / WXTOKEN_API_BASE: the URL is 70016 bytes long; an API base URL is at most 2048",
    );
    // The variable, with a config: blamed on the variable, not on the file.
    let mut env = Env::new();
    env.config_apps(&["shop"], "");
    env.api_base = Some(huge.clone());
    for cmd in [&["refresh"][..], &["status"]] {
        let run = env.run(cmd);
        refused(
            &run,
            "--api-base / WXTOKEN_API_BASE: the URL is 70016 bytes long",
        );
        assert!(!run.stderr().contains("config"), "{}", run.stderr());
    }
    // The config file.
    let mut env = Env::new();
    env.config_apps(&["shop"], &format!("api_base = \"{huge}\""));
    refused(
        &env.run(&["refresh"]),
        "app \"shop\": field api_base: the URL is 70016 bytes long",
    );
}

#[test]
fn an_api_base_with_a_bad_port_is_refused() {
    let env = Env::new();
    for base in [
        "https://api.weixin.qq.com:99999",
        "https://api.weixin.qq.com:abc",
    ] {
        refused(
            &env.refresh(&["--api-base", base]),
            "is not a number from 1 to 65535",
        );
    }
}
