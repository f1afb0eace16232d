//! The network path: the secret goes over plain http:// only to this machine
//! unless the user opts in; API base URLs are bounded; TLS trusts the system's
//! CA store and SSL_CERT_FILE / SSL_CERT_DIR; a certificate failure or a proxy
//! that refuses is not a call to WeChat, and says what to fix.

use crate::support::net::{Behaviour, Ca, ConnectProxy, Refusing, Socks5, TlsFront};
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
    // The variable over a config: its fault, not the file's.
    env.api_base = Some(elsewhere);
    let run = env.run(&["refresh"]);
    refused(
        &run,
        "wxtoken: --api-base / WXTOKEN_API_BASE: \"http://wxtoken-test.invalid",
    );
    // The places a failing command names (its database and config) end the line.
    let blamed = run
        .stderr()
        .split(" (database ")
        .next()
        .unwrap()
        .to_string();
    assert!(!blamed.contains("config.toml"), "{}", run.stderr());
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
        // The places a failing command names (its database and config) end the line.
        let blamed = run
            .stderr()
            .split(" (database ")
            .next()
            .unwrap()
            .to_string();
        assert!(!blamed.contains("config"), "{}", run.stderr());
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

// ---- TLS: the system's CA store and SSL_CERT_FILE; certificate failures.

/// The attempts recorded, oldest first: (outcome, message).
fn attempts(env: &Env) -> Vec<(String, String)> {
    env.rows("SELECT outcome, message FROM wxtoken_attempts ORDER BY started_ms")
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// A host that is not this machine (TEST-NET-1, RFC 5737), for calls through
/// a proxy: wxtoken never sends calls to this machine through one. The test
/// proxies connect to this machine's port whatever they are asked for.
const FAR: &str = "192.0.2.1";

/// An https stand-in at 127.0.0.1 whose certificate (of a throwaway CA) also
/// names [`FAR`], which the test proxies lead to it.
fn far_https_standin(ca: &Ca) -> (StandIn, TlsFront, String) {
    let up = StandIn::wechat();
    let front = TlsFront::start(&ca.issue(&["127.0.0.1", FAR]), up.addr());
    let url = format!("https://{FAR}:{}", front.port());
    (up, front, url)
}

/// An https stand-in at 127.0.0.1 with a certificate of a throwaway CA.
fn https_standin(ca: &Ca) -> (StandIn, TlsFront) {
    let up = StandIn::wechat();
    let front = TlsFront::start(&ca.issue(&["127.0.0.1"]), up.addr());
    (up, front)
}

/// A config app (daily budget 1) whose upstream is `base`.
fn one_call_a_day(env: &mut Env, base: &str) {
    env.config_apps(
        &["shop"],
        &format!("api_base = \"{base}\"\ndaily_budget = 1"),
    );
}

#[test]
fn an_unknown_ca_fails_once_and_is_not_counted() {
    let ca = Ca::new("wxtoken test CA");
    let (up, front) = https_standin(&ca);
    let mut env = Env::new();
    one_call_a_day(&mut env, &front.url());
    // The system store does not know the test CA.
    let run = env.run(&["refresh"]);
    run.expect(1)
        .stderr_has("the TLS certificate of 127.0.0.1 is not trusted: unknown issuer")
        .stderr_has("update-ca-certificates")
        .stderr_has("SSL_CERT_FILE");
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    assert_eq!(front.connections(), 1, "a certificate failure was retried");
    assert!(up.requests().is_empty());
    let tried = attempts(&env);
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert_eq!(tried[0].0, "unreached");
    assert!(tried[0].1.contains("unknown issuer"), "{tried:?}");
    // Trusting the CA through SSL_CERT_FILE: the call goes through, and the
    // failed try did not use up the daily budget of 1.
    ca.write(&env.path("ca.pem"));
    env.set("SSL_CERT_FILE", env.path("ca.pem").to_str().unwrap());
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 1);
    assert_eq!(
        env.run(&["show", "--app", "shop"]).expect(0).stdout(),
        "TOKEN-1-wxshop\n"
    );
}

#[test]
fn ssl_cert_dir_is_trusted_too() {
    let ca = Ca::new("wxtoken test CA");
    let (up, front) = https_standin(&ca);
    let mut env = Env::new();
    env.api_base = Some(front.url());
    std::fs::create_dir(env.path("certs")).unwrap();
    ca.write(&env.path("certs/test-ca.pem"));
    env.set("SSL_CERT_DIR", env.path("certs").to_str().unwrap());
    env.refresh(&[]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 1);
}

#[test]
fn certificate_failures_say_which() {
    let ca = Ca::new("wxtoken test CA");
    let up = StandIn::wechat();
    let mut env = Env::new();
    ca.write(&env.path("ca.pem"));
    env.set("SSL_CERT_FILE", env.path("ca.pem").to_str().unwrap());
    for (cert, needle) in [
        (ca.issue_expired(&["127.0.0.1"]), "expired"),
        (
            ca.issue(&["wechat.example"]),
            "name mismatch (not issued for 127.0.0.1)",
        ),
    ] {
        let front = TlsFront::start(&cert, up.addr());
        env.api_base = Some(front.url());
        env.refresh(&[])
            .expect(1)
            .stderr_has("the TLS certificate of 127.0.0.1 is not trusted")
            .stderr_has(needle);
        assert_eq!(front.connections(), 1, "{needle}: retried");
    }
    assert!(up.requests().is_empty());
    // An SSL_CERT_FILE without a certificate is said so.
    std::fs::write(env.path("empty.pem"), "").unwrap();
    env.set("SSL_CERT_FILE", env.path("empty.pem").to_str().unwrap());
    env.refresh(&[])
        .expect(1)
        .stderr_has("SSL_CERT_FILE holds no CA certificate");
    // Read only for TLS: a plain call to this machine does not need it.
    env.api_base = Some(up.url());
    env.refresh(&[]).expect(0);
}

// ---- Proxies: a refusal is not an upstream call; bad settings are usage errors.

/// An environment whose upstream is a host only the proxy could reach.
fn behind(proxy_url: &str) -> Env {
    let mut env = Env::new();
    env.api_base = Some("https://api.weixin.invalid".to_string());
    env.set("HTTPS_PROXY", proxy_url);
    env
}

#[test]
fn a_proxy_asking_for_credentials_is_named_without_them() {
    let proxy = ConnectProxy::start(Behaviour::Status(407));
    let port = proxy.addr().port();
    let env = behind(&format!("http://corpuser:pw-Zq81x@127.0.0.1:{port}"));
    let run = env.refresh(&[]);
    run.expect(1)
        .stderr_has(&format!(
            "proxy 127.0.0.1:{port} (from HTTPS_PROXY) answered 407"
        ))
        .stderr_has("HTTPS_PROXY (http://USER:PASSWORD@host:port");
    assert!(!run.stderr().contains("pw-Zq81x"), "{}", run.stderr());
    let asked = proxy.asked();
    assert_eq!(asked.len(), 1, "407 was retried: {asked:?}");
    assert!(
        asked[0].starts_with("CONNECT api.weixin.invalid:443 "),
        "{asked:?}"
    );
    assert!(asked[0].contains("Proxy-Authorization: Basic"), "{asked:?}");
    let tried = attempts(&env);
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0].0, "unreached");
    assert!(!tried[0].1.contains("pw-Zq81x"));
}

#[test]
fn a_proxy_that_forbids_or_hangs_up_is_not_wechat() {
    let forbids = ConnectProxy::start(Behaviour::Status(403));
    let env = behind(&format!("http://{}", forbids.addr()));
    env.refresh(&[])
        .expect(1)
        .stderr_has(&format!(
            "proxy {} (from HTTPS_PROXY) answered 403",
            forbids.addr()
        ))
        .stderr_has("NO_PROXY");
    assert_eq!(forbids.asked().len(), 1, "403 was retried");
    assert_eq!(attempts(&env)[0].0, "unreached");
    // A failed CONNECT (the proxy could not reach upstream) may be passing:
    // retried, never counted.
    let fails = ConnectProxy::start(Behaviour::Status(502));
    let env = behind(&format!("http://{}", fails.addr()));
    env.refresh(&["--timeout", "2s"])
        .expect(1)
        .stderr_has(&format!(
            "proxy {} (from HTTPS_PROXY) answered 502 to a tunnel to api.weixin.invalid",
            fails.addr()
        ));
    let tried = attempts(&env);
    assert!(tried.len() > 1, "{tried:?}");
    assert!(tried.iter().all(|(o, _)| o == "unreached"), "{tried:?}");
    // Closing without an answer likewise.
    let closes = ConnectProxy::start(Behaviour::Close);
    let env = behind(&format!("http://{}", closes.addr()));
    env.refresh(&["--timeout", "2s"])
        .expect(1)
        .stderr_has(&format!(
            "proxy {} (from HTTPS_PROXY) closed the connection",
            closes.addr()
        ));
    let tried = attempts(&env);
    assert!(tried.len() > 1, "{tried:?}");
    assert!(tried.iter().all(|(o, _)| o == "unreached"), "{tried:?}");
    // No proxy listening there.
    let closed = Refusing::new();
    let gone = closed.addr;
    let env = behind(&format!("http://{gone}"));
    env.refresh(&["--timeout", "2s"])
        .expect(1)
        .stderr_has(&format!(
            "could not connect to proxy {gone} (from HTTPS_PROXY): connection refused"
        ));
    assert!(attempts(&env).iter().all(|(o, _)| o == "unreached"));
}

#[test]
fn https_goes_through_a_tunnel_and_trusts_ssl_cert_file() {
    let ca = Ca::new("corp CA");
    let (up, front, far) = far_https_standin(&ca);
    let proxy = ConnectProxy::start(Behaviour::Tunnel);
    let mut env = Env::new();
    env.api_base = Some(far);
    env.set("HTTPS_PROXY", &format!("http://{}", proxy.addr()));
    ca.write(&env.path("ca.pem"));
    env.set("SSL_CERT_FILE", env.path("ca.pem").to_str().unwrap());
    env.refresh(&[]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 1);
    let asked = proxy.asked();
    assert_eq!(asked.len(), 1);
    assert!(
        asked[0].starts_with(&format!("CONNECT {FAR}:{} ", front.port())),
        "{asked:?}"
    );
}

/// ALL_PROXY=socks5://... carries the call (ureq used to call direct, with a
/// warning nobody saw).
#[test]
fn a_socks5_proxy_is_used() {
    let ca = Ca::new("corp CA");
    let (up, _front, far) = far_https_standin(&ca);
    let socks = Socks5::start();
    let mut env = Env::new();
    env.api_base = Some(far);
    env.set("ALL_PROXY", &format!("socks5://{}", socks.addr()));
    ca.write(&env.path("ca.pem"));
    env.set("SSL_CERT_FILE", env.path("ca.pem").to_str().unwrap());
    env.refresh(&[]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 1);
    assert_eq!(socks.tunnels(), 1);
}

#[test]
fn a_proxy_url_with_a_bad_port_is_a_usage_error() {
    let up = StandIn::wechat();
    for (url, needle) in [
        (
            "http://proxy:99999",
            "HTTPS_PROXY: the port \"99999\" of proxy proxy",
        ),
        (
            "http://u:pw-Zq81x@proxy:abc",
            "HTTPS_PROXY: the port \"abc\" of proxy proxy",
        ),
        ("gopher://proxy:70", "unknown proxy scheme"),
    ] {
        let mut env = Env::with(&up);
        env.set("HTTPS_PROXY", url);
        let run = env.refresh(&[]);
        run.expect(2).stderr_has(needle);
        assert!(!run.stderr().contains("pw-Zq81x"));
    }
    assert!(up.requests().is_empty());
}

#[test]
fn no_proxy_follows_curls_rules() {
    let up = StandIn::wechat();
    let port = up.addr().port();
    // The proxy refuses everything: a call that reaches the stand-in went direct.
    let proxy = ConnectProxy::start(Behaviour::Status(403));
    for (base, no_proxy) in [
        (format!("http://localhost:{port}"), ".localhost"),
        (format!("http://localhost:{port}"), "LOCALHOST"),
        (format!("http://127.0.0.1:{port}"), "127.0.0.0/8"),
        (format!("http://127.0.0.1:{port}"), "example.com, 127.0.0.1"),
        (format!("http://127.0.0.1:{port}"), "*"),
    ] {
        let mut env = Env::new();
        env.api_base = Some(base.clone());
        env.set("HTTPS_PROXY", &format!("http://{}", proxy.addr()));
        env.set("NO_PROXY", no_proxy);
        env.refresh(&[]).expect(0);
    }
    assert_eq!(up.count("/cgi-bin/token"), 5);
    assert!(proxy.asked().is_empty());
    // Not on the list: through the proxy (this machine never is).
    let mut env = Env::new();
    env.api_base = Some(format!("http://{FAR}:{port}"));
    env.set("WXTOKEN_ALLOW_INSECURE_HTTP", "1");
    env.set("HTTPS_PROXY", &format!("http://{}", proxy.addr()));
    env.set("NO_PROXY", "127.0.0.2,10.0.0.0/8,.example.com");
    env.refresh(&[]).expect(1).stderr_has("answered 403");
    assert_eq!(proxy.asked().len(), 1);
}

/// PostgreSQL's `sslmode=require` trusts the system store and SSL_CERT_FILE,
/// and `sslrootcert=system` names them (as in libpq 16).
#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn postgres_tls_trusts_ssl_cert_file_on_pg() {
    use crate::support::pg;
    let ca = pg::var("WXTOKEN_TEST_PG_CA");
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.pg = Some(pg::Database::create());
    env.refresh(&[]).expect(0);
    let url = env.db_arg();
    let require = format!("{url}?sslmode=verify-full");
    let system = format!("{url}?sslrootcert=system");
    // The server's CA is not in the system store.
    for db in [&require, &system] {
        env.run(&["--db", db, "show"])
            .expect(1)
            .stderr_has("update-ca-certificates");
    }
    // A copy of the server's CA in a folder of this user's: the server's own
    // folder belongs to the server's user, and a CA file must be root's or
    // the running user's.
    let copy = env.path("pg-ca.pem");
    std::fs::copy(&ca, &copy).unwrap();
    env.set("SSL_CERT_FILE", copy.to_str().unwrap());
    for db in [&require, &system] {
        let token = env.run(&["--db", db, "show"]).expect(0).stdout();
        assert!(token.starts_with("TOKEN-1-"), "{token}");
    }
}
