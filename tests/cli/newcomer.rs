//! What a newcomer trips on first: the quick start, `history` of an unknown
//! app, examples in `--help`, and settings that defeat themselves.

use std::process::{Command, Stdio};

use crate::support::{Env, StandIn, standin};

/// The README's quick start (`standin sh -c 'refresh ... && show ...'`, the
/// example's command mode is `StandIn::run`) stores the demo token in a
/// throwaway database, removed afterwards: never in the user's default
/// database nor in one WXTOKEN_DB names.
#[test]
fn the_quick_start_leaves_the_real_database_alone() {
    let env = Env::new();
    let real = env.path("real.db");
    let wxtoken = env!("CARGO_BIN_EXE_wxtoken");
    let script = format!(
        "WXTOKEN_SECRET=demo-secret {wxtoken} refresh --appid wxdemo0123456789 && {wxtoken} show --app wxdemo0123456789 && echo \"$WXTOKEN_DB\""
    );
    // As the standin example: the secret an appid first comes with is its own.
    let up = StandIn::start(standin::strict(standin::Rules {
        secret: None,
        ..standin::Rules::default()
    }));
    let mut cmd = Command::new("sh");
    for (key, _) in std::env::vars() {
        if key.starts_with("WXTOKEN_") || key.starts_with("XDG_") {
            cmd.env_remove(key);
        }
    }
    crate::support::hermetic(&mut cmd, env.dir.path());
    cmd.args(["-c", &script])
        .env("HOME", env.dir.path())
        .env("WXTOKEN_DB", &real)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = up.run(cmd).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "TOKEN-1-wxdemo0123456789");
    assert!(!real.exists(), "the demo wrote into WXTOKEN_DB");
    assert!(
        !env.path(".local/share/wxtoken").exists(),
        "the demo wrote into the default database"
    );
    assert!(
        !std::path::Path::new(lines[1]).exists(),
        "the demo database {} is left behind",
        lines[1]
    );
}

/// `history --app NAME` for an app the database does not know (a typo, or
/// another database than refresh's) exits 3 and says which apps it holds; an
/// app it knows but with no attempt left is an empty history (exit 0).
#[test]
fn history_of_an_unknown_app_is_exit_3() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.run(&["history", "--app", "shop"])
        .expect(3)
        .stderr_has("no app \"shop\": there is no database yet");
    env.refresh(&["--name", "shop"]).expect(0);
    let run = env.run(&["history", "--app", "shpo"]);
    run.expect(3)
        .stderr_has("no app \"shpo\" in the database (it holds shop): check --app and --db");
    assert_eq!(run.stdout(), "");
    env.exec("DELETE FROM wxtoken_attempts");
    let out = env.run(&["history", "--app", "shop"]);
    assert_eq!(out.expect(0).stdout(), "no attempts recorded yet\n");
    assert_eq!(
        env.run(&["history"]).expect(0).stdout(),
        "no attempts recorded yet\n"
    );
}

/// Every command's `--help` ends with two or three examples of it (clap's
/// after_help; the manual pages carry them too).
#[test]
fn every_help_ends_with_examples() {
    let env = Env::new();
    for cmd in [
        "refresh",
        "show",
        "status",
        "invalidate",
        "history",
        "completions",
        "man",
    ] {
        let help = env.run(&[cmd, "--help"]).expect(0).stdout();
        let (_, examples) = help
            .split_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("wxtoken {cmd} --help has no examples:\n{help}"));
        let lines: Vec<&str> = examples.lines().collect();
        assert!(
            (2..=3).contains(&lines.len())
                && lines
                    .iter()
                    .all(|l| l.starts_with("  ") && l.contains(&format!("wxtoken {cmd}"))),
            "wxtoken {cmd} --help examples:\n{examples}"
        );
    }
}

/// `--ahead` at or above the tokens' lifetime makes every run fetch again:
/// refresh warns. The default, and stable apps (whose tokens come with what
/// they have left), do not.
#[test]
fn an_ahead_that_outlasts_the_token_is_warned_about() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let run = env.refresh(&["--name", "shop", "--ahead", "2h"]);
    run.expect(0).stderr_has(
        "--ahead 7200s is at or above the lifetime of the tokens it renews (7200 s for app \"shop\")",
    );
    env.refresh(&["--name", "shop", "--ahead", "3h"])
        .expect(0)
        .stderr_has("every run fetches them again");
    assert_eq!(up.count("/cgi-bin/token"), 2);
    let quiet = env.refresh(&["--name", "shop"]);
    assert_eq!(quiet.expect(0).stderr(), "");
    let stable = env.refresh(&["--name", "mini", "--api", "stable", "--ahead", "3h"]);
    assert_eq!(stable.expect(0).stderr(), "");
}

/// A daily_budget above WeChat's 2000 would let the quota run out before the
/// guard refuses: the config is accepted with a warning.
#[test]
fn a_daily_budget_above_wechats_quota_is_warned_about() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "daily_budget = 5000");
    env.run(&["refresh"]).expect(0).stderr_has(
        "app \"shop\": field daily_budget: 5000 is above WeChat's 2000 classic token calls a day",
    );
    env.config_apps(&["shop"], "daily_budget = 2000");
    let run = env.run(&["refresh", "--force"]);
    assert_eq!(run.expect(0).stderr(), "");
}

/// `standin -h` prints its usage (a command named `-h` is not run), which
/// says that the callback Token and EncodingAESKey are the user's to choose;
/// an unknown flag is exit 2; `url-check` prints WeCom's URL check.
#[test]
fn the_standin_explains_itself() {
    let standin = crate::platform_standin::example();
    let out = Command::new(&standin).arg("-h").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with("usage: standin"), "{stdout}");
    assert!(
        stdout.contains("yours to\nchoose (K: 43 letters or digits)"),
        "{stdout}"
    );
    for bad in ["-x", "--bogus"] {
        let out = Command::new(&standin).arg(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    let key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    let out = Command::new(&standin)
        .args(["url-check", "--token", "tok", "--aes-key", key])
        .args(["--suite-id", "wwsuite", "--echostr", "hello"])
        .args(["--timestamp", "1700000000", "--nonce", "42"])
        .output()
        .unwrap();
    let crypt = crate::support::wxcrypt::WxCrypt::new("tok", key);
    let query = String::from_utf8(out.stdout).unwrap();
    assert_eq!(query.len(), query.trim_end().len() + 1, "{query}");
    // The random bytes differ each time: what the receiver decrypts is checked.
    let echostr = query.trim_end().rsplit("echostr=").next().unwrap();
    let echostr = percent_decode(echostr);
    assert!(
        query.contains(&format!(
            "msg_signature={}",
            crypt.msg_signature("1700000000", "42", &echostr)
        )),
        "{query}"
    );
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// Every markdown page of the documentation: the README and `docs/`.
pub(crate) fn all_docs() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("README.md")).unwrap();
    if let Ok(dir) = std::fs::read_dir(root.join("docs")) {
        for entry in dir {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                text.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    text
}

/// `show --format env` names each kind once (`WX_CARD_TICKET`, not
/// `WX_WX_CARD_TICKET`), and the documentation lists every name.
#[test]
fn env_names_are_the_documented_ones() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "tickets = [\"jsapi\", \"wx_card\"]");
    env.run(&["refresh"]).expect(0);
    let docs = all_docs();
    for (ticket, name) in [
        (None, "WX_ACCESS_TOKEN"),
        (Some("jsapi"), "WX_JSAPI_TICKET"),
        (Some("wx_card"), "WX_CARD_TICKET"),
    ] {
        let mut args = vec!["show", "--app", "shop", "--format", "env"];
        args.extend(ticket.iter().flat_map(|t| ["--ticket", *t]));
        let out = env.run(&args).expect(0).stdout();
        assert!(out.starts_with(&format!("{name}='")), "{out}");
        assert!(docs.contains(name), "the docs do not name {name}");
    }
    for name in [
        "WX_AGENT_CONFIG_TICKET",
        "WX_COMPONENT_ACCESS_TOKEN",
        "WX_SUITE_ACCESS_TOKEN",
        "WX_PROVIDER_ACCESS_TOKEN",
    ] {
        assert!(docs.contains(name), "the docs do not name {name}");
    }
}

/// `--help` gives both defaults of the database and of the config: the
/// user's own, else the package's.
#[test]
fn help_names_the_packages_defaults() {
    let help = Env::new().run(&["--help"]).expect(0).stdout();
    for default in [
        "$XDG_DATA_HOME/wxtoken/tokens.db",
        "/var/lib/wxtoken/tokens.db",
        "$XDG_CONFIG_HOME/wxtoken/config.toml",
        "/etc/wxtoken/config.toml",
    ] {
        assert!(help.contains(default), "no {default} in --help:\n{help}");
    }
}

/// The troubleshooting page quotes an upstream refusal as the program
/// prints it (a reader searches the page for the words on their screen).
#[test]
fn troubleshooting_quotes_the_wrong_secret_as_printed() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.set("WXTOKEN_SECRET", "not-the-secret");
    let run = env.refresh(&[]);
    let stderr = run.expect(1).stderr();
    let start = stderr.find("errcode 40125 (").expect(&stderr);
    let end = start + stderr[start..].find(')').unwrap() + 1;
    let quoted = &stderr[start..end];
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md"),
    )
    .unwrap();
    assert!(
        page.contains(&format!("`{quoted}`")),
        "{quoted} is not quoted in docs/troubleshooting.md"
    );
}

/// The stand-in counts its answers in English: "1 request", "2 requests".
#[test]
fn the_standin_counts_one_request_in_the_singular() {
    let wxtoken = env!("CARGO_BIN_EXE_wxtoken");
    let home = Env::new();
    for (refreshes, said) in [(1, "answered 1 request\n"), (2, "answered 2 requests\n")] {
        let script = format!(
            "for i in $(seq {refreshes}); do WXTOKEN_SECRET=demo {wxtoken} refresh --appid wxdemo$i; done"
        );
        let mut cmd = Command::new(crate::platform_standin::example());
        crate::support::hermetic(&mut cmd, home.dir.path());
        let out = cmd
            .args(["sh", "-c", &script])
            .env_remove("WXTOKEN_API_BASE")
            .env_remove("WXTOKEN_DB")
            .env("HOME", home.dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.ends_with(said), "{stderr}");
    }
}

/// A refresh that fails app by app names, on each app's line, the database
/// and config it used (cron mails the lines, and cron's defaults are not the
/// shell's); the log's warnings do not repeat them.
#[test]
fn each_failed_apps_line_names_the_database_and_config() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop", "mini"], "daily_budget = 2500");
    env.set("S", "not-the-secret");
    let run = env.run(&["refresh"]);
    let places = format!(
        "(database {}, config {})",
        env.db.display(),
        env.path("config.toml").display()
    );
    let stderr = run.expect(1).stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    let failed: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("errcode 40125"))
        .collect();
    assert_eq!(failed.len(), 2, "{lines:?}");
    for line in failed {
        assert!(line.ends_with(&places), "{line}");
    }
    let warnings: Vec<&&str> = lines.iter().filter(|l| l.contains("warning:")).collect();
    assert!(!warnings.is_empty(), "{lines:?}");
    for line in warnings {
        assert!(!line.contains("(database "), "{line}");
    }
}

/// `standin --detach` says how to remove its try-out database with the
/// stand-in: its "to stop" line names the folder WXTOKEN_DB is in.
#[test]
fn the_detached_standin_names_its_folder_to_remove() {
    let env = Env::new();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut cmd = Command::new(crate::platform_standin::example());
    crate::support::hermetic(&mut cmd, env.dir.path());
    let out = cmd.arg("--detach").env("TMPDIR", &tmp).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let value = |key: &str| {
        let line = stdout.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..]
            .split(';')
            .next()
            .unwrap()
            .trim_matches('\'')
            .to_string()
    };
    let pid = value("STANDIN_PID=");
    let db = std::path::PathBuf::from(value("WXTOKEN_DB="));
    let _ = Command::new("kill").arg(&pid).status();
    assert!(out.status.success(), "{stderr}");
    let folder = db.parent().unwrap();
    assert!(folder.starts_with(&tmp) && folder.is_dir(), "{folder:?}");
    assert!(
        stderr.contains(&format!("kill $STANDIN_PID; rm -r '{}';", folder.display())),
        "{stderr}"
    );
}
