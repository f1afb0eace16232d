//! Values that others may control: what upstream answers, what other writers of
//! the table store, what the command line, the environment and the config say.
//! wxtoken runs as root from cron and `show`'s output goes to `eval`: none of
//! these may run anything, garble a terminal, or make wxtoken panic.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{Backend, Env, Reply, SECRET, StandIn, both, now};

/// A value for SQL text: in single quotes, `'` doubled.
fn sql(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A stand-in that answers token calls well and ticket calls with `ticket`.
fn ticket_answer(ticket: String) -> StandIn {
    StandIn::start(move |req| match req.path.as_str() {
        "/cgi-bin/token" => Reply::token("GOOD-TOKEN-2", 7200),
        _ => Reply::json(
            serde_json::json!({"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": 7200})
                .to_string(),
        ),
    })
}

/// Characters no output of wxtoken may hold raw: they move a terminal's cursor
/// or reorder what a reader sees.
fn hostile(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[track_caller]
fn assert_clean(what: &str, out: &Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.chars().any(hostile),
            "{what}: {stream} holds a raw control or bidi character: {text:?}"
        );
    }
}

both! {
    /// A ticket outside WeChat's alphabet (or too long, or empty) is a bad
    /// response: nothing is stored, the previous good ticket stays as it was.
    fn tickets_outside_the_token_alphabet_are_not_stored(backend) {
        let good = StandIn::wechat();
        let mut env = backend.with(&good);
        env.config_apps(&["shop"], "tickets = [\"jsapi\"]");
        env.run(&["refresh"]).expect(0);
        let ticket_row = "SELECT value || '|' || fetched_at || '|' || expires_at FROM wxtoken_tokens WHERE kind = 'jsapi_ticket'";
        let before = env.text(ticket_row);
        for bad in [
            "T;id".to_string(),
            "T 1".to_string(),
            "$(touch PWNED)".to_string(),
            "a'b".to_string(),
            "A".repeat(3000),
            String::new(),
        ] {
            let up = ticket_answer(bad.clone());
            env.api_base = Some(up.url());
            env.run(&["refresh", "--force"])
                .expect(1)
                .stderr_has("jsapi ticket: bad response");
            assert_eq!(env.text(ticket_row), before, "{bad:?} replaced the ticket");
            assert_eq!(up.count("/cgi-bin/ticket/getticket"), 1, "{bad:?} is not retried");
            assert!(!env.path("PWNED").exists());
            let value = before.split('|').next().unwrap();
            let shown = env.run(&["show", "--ticket", "jsapi"]).expect(0).stdout();
            assert_eq!(shown, format!("{value}\n"));
        }
        // Tokens alike; the longest value WeChat may send is accepted.
        let alphabet = "characters a token never has";
        let long = "A".repeat(2049);
        let longest = "A".repeat(2048);
        for (token, refused) in [
            ("a$(id)b", Some(alphabet)),
            ("T;id", Some(alphabet)),
            (&*long, Some("longer than 2048")),
            (&*longest, None),
            ("Az09-_.~+/=", None),
        ] {
            let answer = token.to_string();
            let up = StandIn::start(move |req| match req.path.as_str() {
                "/cgi-bin/token" => Reply::token(&answer, 7200),
                _ => Reply::ticket("GOOD-TICKET", 7200),
            });
            env.api_base = Some(up.url());
            let run = env.run(&["refresh", "--force", "--app", "shop"]);
            let stored = env.text("SELECT value FROM wxtoken_tokens WHERE kind = 'access_token'");
            match refused {
                None => {
                    run.expect(0);
                    assert_eq!(stored, token);
                }
                Some(why) => {
                    run.expect(1).stderr_has("token: bad response").stderr_has(why);
                    assert_ne!(stored, token);
                }
            }
        }
    }
}

/// Runs `sh -c SCRIPT wxtoken` with the test's database: `$0` is wxtoken.
fn sh(env: &Env, script: &str) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script, env!("CARGO_BIN_EXE_wxtoken")])
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    crate::support::hermetic(&mut cmd, env.dir.path());
    cmd.env("WXTOKEN_DB", env.db_arg())
        .current_dir(env.dir.path())
        .output()
        .unwrap()
}

/// An environment with one valid token stored for app `shop`.
fn stored(backend: Backend) -> Env {
    let up = StandIn::wechat();
    let env = backend.with(&up);
    env.refresh(&["--name", "shop"]).expect(0);
    env
}

both! {
    /// `show --format env` quotes any stored value for `eval`: the round trip is
    /// exact and runs nothing, whatever another writer put in the table.
    fn show_env_output_is_safe_to_eval(backend) {
        let env = stored(backend);
        for value in [
            "a'$(touch PWNED)'b",
            "'",
            "''",
            "$(touch PWNED)",
            "`touch PWNED`",
            "a\"b\\c",
            "a  b;touch PWNED",
            "\\'",
            "'\\''",
            "!*?~[x]{a,b}",
            "名字🚀",
            "",
        ] {
            env.exec(&format!("UPDATE wxtoken_tokens SET value = {} WHERE app = 'shop'", sql(value)));
            let out = sh(
                &env,
                r#"eval "$("$0" show --app shop --format env)" && printf %s "$WX_ACCESS_TOKEN""#,
            );
            assert!(out.status.success(), "{value:?}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), value, "round trip of {value:?}");
            assert!(!env.path("PWNED").exists(), "{value:?} ran a command");
        }
    }
}

both! {
    /// A stored value holding control characters is not printed, in any format:
    /// exit 1 and a clear line, nothing on stdout.
    fn show_refuses_values_with_control_characters(backend) {
        let env = stored(backend);
        for value in ["a\u{1b}[2Jb", "a\nb", "a\rb", "a\tb", "a\u{7f}b", "a\u{85}b", "a\u{9b}31mb"] {
            env.exec(&format!("UPDATE wxtoken_tokens SET value = {} WHERE app = 'shop'", sql(value)));
            for format in ["plain", "json", "env"] {
                let run = env.run(&["show", "--format", format]);
                run.expect(1)
                    .stderr_has("holds control characters")
                    .stderr_has("wxtoken refresh --force");
                assert_eq!(run.stdout(), "", "{value:?} {format}");
                assert_clean(&format!("{value:?} {format}"), &run.0);
            }
        }
    }
}

const EVIL: &str = "evil\u{1b}[2J";
const BIDI: &str = "shop\u{202e}gnp.exe";
const EVIL_APPID: &str = "wx\u{1b}]0;pwned\u{7}\u{9b}";

/// Rows that another writer stored: hostile app names, appids, kinds and
/// history messages.
fn hostile_rows(env: &Env) {
    let t = now();
    let mut sqls = String::new();
    for (app, appid, invalidated) in [
        (EVIL, EVIL_APPID, "NULL"),
        (BIDI, "wx\u{2067}1", "NULL"),
        ("gone\u{85}", "wx2", "1"),
    ] {
        sqls.push_str(&format!(
            "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at, invalidated_at)
             VALUES ({}, 'access_token', {}, {}, 'TOKEN', {t}, {}, {invalidated});
             INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced, errcode, message)
             VALUES ({}, {}, {}, 5, {}, 0, 40001, {});",
            sql(app),
            sql("classic\u{1b}[1m"),
            sql(appid),
            t + 7200,
            sql(app),
            sql("access_token\u{202e}"),
            t * 1000,
            sql("error\u{1b}[31m"),
            sql("msg \u{1b}]8;;http://x\u{7} \u{202e} end"),
        ));
    }
    env.exec(&sqls);
}

both! {
    /// App names and appids from the database are printed with control, C1 and
    /// bidi characters escaped, in every format; JSON keeps them exact.
    fn hostile_names_from_the_database_are_escaped_everywhere(backend) {
        let env = stored(backend);
        hostile_rows(&env);
        // status, every format
        let table = env.run(&["status"]);
        table.expect(0);
        assert_clean("status", &table.0);
        let out = table.stdout();
        assert!(out.contains("evil\\u{1b}[2J"), "{out}");
        assert!(out.contains("shop\\u{202e}gnp.exe"), "{out}");
        assert!(out.contains("error\\u{1b}[31m"), "{out}");

        let json = env.run(&["status", "--format", "json"]);
        json.expect(0);
        assert_clean("status json", &json.0);
        let lines: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
        let apps: Vec<&str> = lines.as_array().unwrap().iter().map(|l| l["app"].as_str().unwrap()).collect();
        assert!(apps.contains(&EVIL) && apps.contains(&BIDI), "{apps:?}");
        assert!(lines.as_array().unwrap().iter().any(|l| l["appid"] == EVIL_APPID));

        let prom = env.run(&["status", "--format", "prometheus"]);
        prom.expect(0);
        assert_clean("status prometheus", &prom.0);
        assert!(prom.stdout().contains(r#"app="evil\\u{1b}[2J""#), "{}", prom.stdout());
        assert!(prom.stdout().contains(r#"app="shop\\u{202e}gnp.exe""#), "{}", prom.stdout());

        // history
        let history = env.run(&["history"]);
        history.expect(0);
        assert_clean("history", &history.0);
        assert!(history.stdout().contains("msg \\u{1b}]8;;http://x\\u{7} \\u{202e} end"), "{}", history.stdout());
        let history = env.run(&["history", "--app", EVIL]);
        history.expect(0);
        assert_clean("history --app", &history.0);

        // show: several apps named; an invalidated one; a good one in JSON.
        let several = env.run(&["show"]);
        several.expect(2).stderr_has("evil\\u{1b}[2J");
        assert_clean("show", &several.0);
        let gone = env.run(&["show", "--app", "gone\u{85}"]);
        gone.expect(3).stderr_has("gone\\u{85}");
        assert_clean("show gone", &gone.0);
        let missing = env.run(&["show", "--app", "nope\u{202e}"]);
        missing.expect(3).stderr_has("nope\\u{202e}");
        assert_clean("show missing", &missing.0);
        let by_appid = env.run(&["show", "--appid", EVIL_APPID, "--format", "json"]);
        by_appid.expect(0);
        assert_clean("show --appid json", &by_appid.0);
        let shown: serde_json::Value = serde_json::from_str(&by_appid.stdout()).unwrap();
        assert_eq!(shown["app"], EVIL);
        assert_eq!(shown["appid"], EVIL_APPID);
        let nope = env.run(&["show", "--appid", "wx\u{1b}x"]);
        nope.expect(3);
        assert_clean("show --appid missing", &nope.0);

        // invalidate's messages
        for args in [
            &["invalidate", "--app", BIDI, "-v"][..],
            &["invalidate", "--app", BIDI],
            &["invalidate", "--app", EVIL, "--if-token", "OTHER"],
            &["invalidate", "--app", "nope\u{1b}[2J"],
        ] {
            let run = env.run(args);
            assert_clean(&format!("{args:?}"), &run.0);
            assert!(
                run.stderr().contains("\\u{202e}") || run.stderr().contains("\\u{1b}"),
                "{args:?}: {}",
                run.stderr()
            );
        }
    }
}

both! {
    /// Upstream's messages reach the failure line, the history and the status
    /// escaped.
    fn upstream_messages_are_escaped(backend) {
        let up = StandIn::script(vec![Reply::json(
            r#"{"errcode":99999,"errmsg":"odd\u202e gnp.exe \u001b[2J \u009b31m"}"#,
        )]);
        let env = backend.with(&up);
        let run = env.refresh(&[]);
        run.expect(1).stderr_has("odd\\u{202e} gnp.exe \\u{1b}[2J \\u{9b}31m");
        assert_clean("refresh", &run.0);
        for args in [&["history"][..], &["status", "--format", "json"]] {
            let run = env.run(args);
            run.expect(0);
            assert_clean(&format!("{args:?}"), &run.0);
        }
    }
}

/// Config names and appids with control or bidi characters are refused; the
/// database may still hold such names from other writers (above).
#[test]
fn config_and_command_line_names_refuse_bidi_and_control_characters() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop\u{202e}gnp.exe"], "");
    let run = env.run(&["refresh"]);
    run.expect(2)
        .stderr_has("bidirectional")
        .stderr_has("shop\\u{202e}gnp.exe");
    assert_clean("config name", &run.0);
    let path = env.path("config.toml");
    std::fs::write(
        &path,
        "[[app]]\nname = \"a\"\nappid = \"wx\\u001b[2J\"\nsecret_env = \"S\"\n",
    )
    .unwrap();
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("field appid")
        .stderr_has("control characters");
    for args in [
        &["refresh", "--appid", "wx1", "--name", "a\u{2066}b"][..],
        &["refresh", "--appid", "wx\u{200f}1"],
    ] {
        let run = env.run(args);
        run.expect(2).stderr_has("bidirectional");
        assert_clean(&format!("{args:?}"), &run.0);
    }
    assert_eq!(up.requests().len(), 0);
}

/// `wxtoken invalidate ARGS` with `input` on standard input.
fn with_stdin(env: &Env, args: &[&str], input: &[u8]) -> crate::support::Run {
    let mut child = env
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // wxtoken may refuse before reading it all: a broken pipe is no failure here.
    let _ = child.stdin.take().unwrap().write_all(input);
    crate::support::Run(child.wait_with_output().unwrap())
}

both! {
    /// `--if-token -` reads the token from standard input: one line, its newline
    /// stripped, at most 4 KiB.
    fn if_token_dash_reads_standard_input(backend) {
        let env = stored(backend);
        let token = env.run(&["show"]).expect(0).stdout();
        let args = ["invalidate", "--app", "shop", "--if-token", "-"];
        with_stdin(&env, &args, b"NOT-THE-TOKEN\n").expect(0).stderr_has("nothing invalidated");
        env.run(&["show"]).expect(0);
        with_stdin(&env, &args, &vec![b'A'; 5000]).expect(2).stderr_has("longer than 4096 bytes");
        with_stdin(&env, &args, b"").expect(2).stderr_has("standard input is empty");
        with_stdin(&env, &args, format!("{token}{token}").as_bytes()).expect(2).stderr_has("more than one line");
        env.run(&["show"]).expect(0);
        with_stdin(&env, &args, token.as_bytes()).expect(0);
        env.run(&["show"]).expect(3).stderr_has("invalidated");
    }
}

/// The arguments and the environment variables of a run.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// Every input has a length bound: at 70 kB each is refused with exit 2 and a
/// short message that does not echo it, and nothing panics.
#[test]
fn every_input_is_bounded() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&["--name", "shop"]).expect(0);
    let long = "x".repeat(70_000);
    let wide = "名".repeat(24_000);
    let digits = "9".repeat(70_000);
    let url = format!("postgres://u:hunter2-db-pass@h/{long}");
    let scheme = format!("{long}://x");
    // One app whose field `key` is `value`.
    let good_app = |key: &str, value: &str| {
        let mut lines: Vec<String> = ["name = \"a\"", "appid = \"wx1\"", "secret_env = \"S\""]
            .iter()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(|l| l.to_string())
            .collect();
        lines.push(format!("{key} = {value}"));
        format!("[[app]]\n{}\n", lines.join("\n"))
    };
    let quoted = format!("\"{long}\"");
    let configs: Vec<(&str, String)> = vec![
        ("config name", good_app("name", &quoted)),
        ("config wide name", good_app("name", &format!("\"{wide}\""))),
        ("config appid", good_app("appid", &quoted)),
        ("config api", good_app("api", &quoted)),
        (
            "config tickets",
            good_app("tickets", &format!("[{quoted}]")),
        ),
        ("config secret_env", good_app("secret_env", &quoted)),
        ("config unknown field", good_app(&long, "1")),
        (
            "config 17 MiB",
            format!(
                "{}\n{}",
                "# padding\n".repeat(1_800_000),
                good_app("name", "\"a\"")
            ),
        ),
    ];
    let config_paths: Vec<(&str, String)> = configs
        .iter()
        .map(|(what, text)| {
            let path = env.path(&format!("{}.toml", what.replace(' ', "-")));
            std::fs::write(&path, text).unwrap();
            (*what, path.to_str().unwrap().to_string())
        })
        .collect();
    let mut cases: Vec<Case> = [
        vec!["refresh", "--appid", &long],
        vec!["refresh", "--appid", "wx1", "--name", &long],
        vec!["refresh", "--appid", "wx1", "--name", &wide],
        vec!["refresh", "--app", &long],
        vec!["refresh", "--appid", "wx1", "--ahead", &digits],
        vec!["refresh", "--appid", "wx1", "--timeout", &long],
        vec!["show", "--app", &long],
        vec!["show", "--app", &wide],
        vec!["show", "--appid", &long],
        vec!["show", "--min-ttl", &digits],
        vec!["show", "--format", &long],
        vec!["show", "--ticket", &long],
        vec!["invalidate", "--app", &long],
        vec!["invalidate", "--app", "shop", "--if-token", &long],
        vec!["history", "--app", &long],
        vec!["history", "--limit", &digits],
        vec!["--db", &long, "show"],
        vec!["--db", &url, "show"],
        vec!["--db", &scheme, "show"],
        vec!["--config", &long, "status"],
        vec![&long],
        vec!["show", &scheme],
    ]
    .into_iter()
    .map(|args| (args, vec![]))
    .collect();
    cases.push((vec!["status"], vec![("WXTOKEN_DB", &long)]));
    cases.push((
        vec!["refresh", "--appid", "wx1"],
        vec![("WXTOKEN_DB", &url)],
    ));
    cases.push((vec!["refresh"], vec![("WXTOKEN_CONFIG", &long)]));
    cases.push((vec!["show"], vec![("XDG_DATA_HOME", &long)]));
    cases.push((vec!["status"], vec![("HOME", &long)]));
    for (_, path) in &config_paths {
        cases.push((vec!["--config", path, "refresh"], vec![]));
        cases.push((vec!["--config", path, "status"], vec![]));
    }
    for (args, vars) in cases {
        let short = |s: &str| match s.len() {
            ..100 => s.to_string(),
            _ => format!("{}…", s.chars().take(30).collect::<String>()),
        };
        let what = format!(
            "{:?} {:?}",
            args.iter().map(|a| short(a)).collect::<Vec<_>>(),
            vars.iter().map(|(k, v)| (*k, short(v))).collect::<Vec<_>>()
        );
        let mut cmd = env.command(&args);
        cmd.env("S", SECRET);
        for (k, v) in vars {
            if k == "XDG_DATA_HOME" || k == "HOME" {
                cmd.env_remove("WXTOKEN_DB");
            }
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(
            err.len() < 1024,
            "{what}: {} bytes of stderr: {}",
            err.len(),
            &err[..err.len().min(2000)]
        );
        assert!(!err.contains(&"x".repeat(400)), "{what} echoed the input");
        assert!(
            !err.contains("hunter2"),
            "{what} showed the password: {err}"
        );
    }
    assert_eq!(up.count("/cgi-bin/token"), 1, "no input reached upstream");
}
