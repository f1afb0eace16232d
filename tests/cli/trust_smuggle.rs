//! What a caller or a network observer could slip in: a global option given
//! twice (the last would win), the privilege-separation sudo rule, a captured
//! push replayed as WeCom's URL check or with its timestamp and nonce swapped,
//! a config of another user, a CA file another user can rewrite.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::push::{cgi, crypt, op_push, push, push_raw, setup, ts};
use crate::support::platform::{COMPONENT_APPID, SUITE_ID, authorizer_appid};
use crate::support::{Backend, Env, StandIn, needs, now};

/// Every command, with what it needs to get past the command line.
const COMMANDS: [&[&str]; 10] = [
    &["refresh"],
    &["show"],
    &["status"],
    &["history"],
    &["invalidate", "--app", "shop"],
    &["push", "--platform", "acme"],
    &["authorizers", "list", "--platform", "acme"],
    &["completions", "bash"],
    &["keygen", "/nonexistent/store.key"],
    &["man", "/nonexistent"],
];

/// A global option before and after the command's name, or twice after it,
/// is a usage error in every command, before anything is opened: with a
/// sudo rule ending in a wildcard, the appended one would have won.
#[test]
fn a_global_option_given_twice_is_a_usage_error_in_every_command() {
    let env = Env::new();
    let given = [
        ["--db", "/tmp/a.db", "--db", "/tmp/evil.db"],
        ["--config", "/etc/c.toml", "--config", "/tmp/evil.toml"],
        [
            "--api-base",
            "https://a.example",
            "--api-base=http://127.0.0.1:9",
            "",
        ],
        ["-q", "--db", "/tmp/a.db", "--quiet"],
    ];
    for command in COMMANDS {
        for g in &given {
            let mut args: Vec<&str> = g[..2].to_vec();
            args.extend_from_slice(command);
            args.extend(g[2..].iter().filter(|a| !a.is_empty()));
            let run = env.run(&args);
            run.expect(2).stderr_has("is given more than once");
            assert_eq!(run.stdout(), "", "{args:?}");
        }
    }
    // Once each is fine, -vv too; a value after `--` is no option.
    env.run(&[
        "-vv",
        "--db",
        env.db.to_str().unwrap(),
        "completions",
        "bash",
    ])
    .expect(0);
}

/// The sudo rule of the README: no wildcard (so sudo runs it only with exactly
/// these arguments), the PHP script passes exactly these, the rule keeps the
/// CGI variables `push` reads, and that command line takes a push.
#[test]
fn the_documented_sudo_rule_takes_no_argument_from_the_caller() {
    let docs = documentation();
    let rules: Vec<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("www-data ALL=(wxtoken) NOPASSWD: "))
        .collect();
    for rule in &rules {
        for glob in ['*', '?', '[', '\\', '"', '\''] {
            assert!(!rule.contains(glob), "a wildcard or quote in {rule}");
        }
    }
    let rule = rules
        .iter()
        .find(|r| r.contains(" push "))
        .expect("the README's sudoers rule for push");
    let words: Vec<&str> = rule.split_whitespace().collect();
    assert_eq!(words[0], "/usr/bin/wxtoken");
    let php = docs
        .lines()
        .find(|l| l.contains("proc_open(['/usr/bin/sudo'"))
        .expect("the README's PHP script");
    let argv: Vec<&str> = php
        .split('[')
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .split(", ")
        .map(|w| w.trim_matches('\''))
        .collect();
    assert_eq!(&argv[..4], ["/usr/bin/sudo", "-n", "-u", "wxtoken"]);
    assert_eq!(&argv[4..], &words[..], "the script runs exactly the rule");
    let keep = docs
        .lines()
        .find_map(|l| l.strip_prefix("Defaults!/usr/bin/wxtoken env_keep = "))
        .expect("the rule's env_keep");
    let mut kept: Vec<&str> = keep.trim_matches('"').split(' ').collect();
    kept.sort_unstable();
    assert_eq!(
        kept,
        [
            "CONTENT_LENGTH",
            "GATEWAY_INTERFACE",
            "QUERY_STRING",
            "REQUEST_METHOD"
        ]
    );

    // The rule's command line, with this test's files, takes a push.
    let env = setup(Backend::Sqlite);
    let config = env.path("config.toml");
    let args: Vec<&str> = words[1..]
        .iter()
        .map(|w| match *w {
            "/var/lib/wxtoken/tokens.db" => env.db.to_str().unwrap(),
            "/etc/wxtoken/config.toml" => config.to_str().unwrap(),
            w => w,
        })
        .collect();
    assert!(args.ends_with(&["push", "--platform", "acme"]), "{args:?}");
    let p = op_push(&crate::support::wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@one",
        now(),
    ));
    let mut cmd = env.command(&args);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", &p.query)
        .env("CONTENT_LENGTH", p.body.len().to_string());
    let run = crate::push::feed(cmd, p.body.as_bytes());
    assert!(
        run.stdout().starts_with("Status: 200 OK\r\n"),
        "{}",
        run.stderr()
    );
    // What a wildcard rule would have let the caller add is refused anyway.
    let mut more = args.clone();
    more.extend(["--config", "/tmp/evil.toml"]);
    env.run(&more)
        .expect(2)
        .stderr_has("is given more than once");
}

/// The README and the pages beside it.
fn documentation() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("README.md")).unwrap();
    if let Ok(pages) = std::fs::read_dir(root.join("docs")) {
        for page in pages.flatten() {
            text.push_str(&std::fs::read_to_string(page.path()).unwrap_or_default());
        }
    }
    text
}

/// A captured push (its query and `Encrypt`) replayed as WeCom's URL check
/// would print the whole decrypted message, auth code included: an echostr
/// that decrypts to XML or to more than a short random string is refused.
#[test]
fn a_push_replayed_as_a_url_check_prints_nothing() {
    let env = setup(Backend::Sqlite);
    let msg = format!(
        "<xml><SuiteId><![CDATA[{SUITE_ID}]]></SuiteId><InfoType><![CDATA[create_auth]]></InfoType><TimeStamp>{}</TimeStamp><AuthCode><![CDATA[SECRET-AUTH-CODE]]></AuthCode></xml>",
        now()
    );
    let captured = crypt().wecom_push(SUITE_ID, &msg, &ts(), "nonce1");
    let replay = format!(
        "{}&echostr={}",
        captured.query,
        crate::support::wxcrypt::url_encode(&captured.encrypt)
    );
    for run in [
        push_raw(&env, "suite", &replay, b""),
        cgi(&env, "suite", "GET", &replay, b""),
    ] {
        run.expect(1).stderr_has("a push replayed as a URL check");
        assert!(!run.stdout().contains("SECRET-AUTH-CODE"));
        assert!(!run.stderr().contains("SECRET-AUTH-CODE"));
    }
    // A long plaintext without XML is no URL check either; a short one is.
    let long = "x".repeat(200);
    let query = crypt().wecom_echostr(SUITE_ID, &long, &ts(), "nonce2");
    let run = push_raw(&env, "suite", &query, b"");
    run.expect(1).stderr_has("more than 128");
    assert_eq!(run.stdout(), "");
    let query = crypt().wecom_echostr(SUITE_ID, "5927782489442352469", &ts(), "nonce3");
    assert_eq!(
        push_raw(&env, "suite", &query, b"").expect(0).stdout(),
        "5927782489442352469"
    );
}

/// `timestamp` and `nonce` are signed as a sorted set: swapped, a numeric
/// nonce passes as a fresh timestamp. The message's own CreateTime/TimeStamp
/// (encrypted, so nobody can change it) must be within 300 s of now too.
#[test]
fn an_old_message_under_a_fresh_timestamp_is_a_replay() {
    let env = setup(Backend::Sqlite);
    let day_old = now() - 86_400;
    let revoke = format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{day_old}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{}]]></AuthorizerAppid></xml>",
        authorizer_appid(1)
    );
    // The old push's nonce, a number, now stands where its timestamp was.
    let p = crypt().open_platform_push(COMPONENT_APPID, &revoke, &ts(), &day_old.to_string());
    push(&env, "acme", &p)
        .expect(1)
        .stderr_has("CreateTime")
        .stderr_has("a replay");
    let ticket = format!(
        "<xml><SuiteId><![CDATA[{SUITE_ID}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>{day_old}</TimeStamp><SuiteTicket><![CDATA[old-ticket]]></SuiteTicket></xml>"
    );
    let p = crypt().wecom_push(SUITE_ID, &ticket, &ts(), "n");
    push(&env, "suite", &p).expect(1).stderr_has("TimeStamp");
    assert!(!env.path("tokens.db").exists() || env.int("SELECT COUNT(*) FROM wxtoken_tokens") == 0);
}

fn chown_nobody(path: &Path) {
    let ok = Command::new("chown")
        .args(["-h", "nobody"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown nobody {}", path.display());
}

needs! {
    root:
    /// A config of another user chooses which secret root reads and where root
    /// sends it: it must belong to root or the running user, even in a folder of
    /// its owner's (which the owner rule allows for a database).
    fn a_config_of_another_user_is_refused() {
        let up = StandIn::wechat();
        let mut env = Env::with(&up);
        env.config_apps(&["shop"], "");
        let config = env.path("config.toml");
        chown_nobody(&config);
        env.run(&["refresh"])
            .expect(2)
            .stderr_has("belongs to neither root nor the running user");
        assert_eq!(up.count("/cgi-bin/token"), 0, "nothing was sent");
        // In a folder of that user's own, as /tmp/mal/config.toml.
        let mal = env.path("mal");
        std::fs::create_dir(&mal).unwrap();
        std::fs::copy(&config, mal.join("config.toml")).unwrap();
        chown_nobody(&mal.join("config.toml"));
        chown_nobody(&mal);
        env.set("WXTOKEN_CONFIG", mal.join("config.toml").to_str().unwrap());
        env.run(&["refresh"])
            .expect(2)
            .stderr_has("belongs to neither root nor the running user");
        assert_eq!(up.count("/cgi-bin/token"), 0, "nothing was sent");
        // Root's own config works; a database its user keeps in its folder too.
        Command::new("chown")
            .args(["root"])
            .arg(&config)
            .status()
            .unwrap();
        env.set("WXTOKEN_CONFIG", config.to_str().unwrap());
        env.run(&["refresh"]).expect(0);
        chown_nobody(&env.db);
        env.run(&["show", "--app", "shop"]).expect(0);
        }
}

/// `SSL_CERT_FILE` / `SSL_CERT_DIR` choose whom wxtoken trusts: a CA file or
/// folder another user can rewrite is refused before anything is sent.
#[test]
fn a_ca_file_another_user_can_rewrite_is_refused() {
    let env = Env::new();
    let ca = env.path("ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o666)).unwrap();
    let args = [
        "refresh",
        "--appid",
        "wx85871939f7f9b647",
        "--api-base",
        "https://127.0.0.1:9",
    ];
    let mut run = env.command(&args);
    run.env("SSL_CERT_FILE", &ca);
    let out = crate::support::Run(run.output().unwrap());
    out.stderr_has("SSL_CERT_FILE")
        .stderr_has("writable by group and others");
    assert_ne!(out.code(), 0);
    let dir = env.path("certs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::rename(&ca, dir.join("ca.pem")).unwrap();
    let mut run = env.command(&args);
    run.env("SSL_CERT_DIR", &dir);
    let out = crate::support::Run(run.output().unwrap());
    out.stderr_has("SSL_CERT_DIR")
        .stderr_has("writable by group and others");
}

needs! {
    root:
    /// A CA file of another user's, even one only its owner can write.
    fn a_ca_file_of_another_user_is_refused() {
        let env = Env::new();
        let owned = env.path("owned.pem");
        std::fs::write(&owned, "not a certificate\n").unwrap();
        chown_nobody(&owned);
        let mut run = env.command(&[
            "refresh",
            "--appid",
            "wx85871939f7f9b647",
            "--api-base",
            "https://127.0.0.1:9",
        ]);
        run.env("SSL_CERT_FILE", &owned);
        let out = crate::support::Run(run.output().unwrap());
        out.stderr_has("belongs to neither root nor the running user");
        assert_ne!(out.code(), 0);
    }
}

/// A proxy of the environment (`/etc/environment` reaches cron) never carries
/// a call to this machine: over plain `http://` it would read the secret and
/// choose the token stored.
#[test]
fn a_loopback_base_never_goes_through_a_proxy() {
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "HTTPS_PROXY"] {
        let up = StandIn::wechat();
        let proxy = StandIn::wechat();
        let mut env = Env::with(&up);
        env.set(var, &proxy.url());
        env.refresh(&[]).expect(0);
        assert_eq!(proxy.requests().len(), 0, "{var}: the proxy saw the secret");
        assert_eq!(up.count("/cgi-bin/token"), 1, "{var}");
    }
}
