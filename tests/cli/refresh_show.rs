//! refresh and show for one app, on SQLite and (`both!`) on PostgreSQL.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::{Env, Reply, SECRET, StandIn, both, needs};

const APPID: &str = "wx85871939f7f9b647";

fn token_row(env: &Env) -> (String, i64, i64) {
    let rows = env.rows(
        "SELECT value, fetched_at, expires_at FROM wxtoken_tokens WHERE kind = 'access_token'",
    );
    assert_eq!(rows.len(), 1, "one token row");
    let col = |i: usize| rows[0][i].clone().unwrap();
    (col(0), col(1).parse().unwrap(), col(2).parse().unwrap())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

both! {
    fn first_refresh_stores_the_token_and_show_prints_it(backend) {
        let up = StandIn::script(vec![Reply::token("FIRST-TOKEN", 7200)]);
        let env = backend.with(&up);
        let before = now();
        let run = env.refresh(&[]);
        run.expect(0);
        assert_eq!(run.stdout(), "", "refresh is silent on success");
        assert_eq!(run.stderr(), "", "refresh is silent on success");
        let (value, fetched, expires) = token_row(&env);
        assert_eq!(value, "FIRST-TOKEN");
        assert!(fetched >= before && fetched <= now());
        assert_eq!(expires - fetched, 7200);
        let req = &up.requests()[0];
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/cgi-bin/token");
        assert_eq!(req.query["grant_type"], "client_credential");
        assert_eq!(req.query["appid"], APPID);
        assert_eq!(req.query["secret"], SECRET);
        let show = env.run(&["show"]);
        show.expect(0);
        assert_eq!(show.stdout(), "FIRST-TOKEN\n");
        assert_eq!(
            env.run(&["show", "--app", APPID]).expect(0).stdout(),
            "FIRST-TOKEN\n"
        );
        assert_eq!(
            env.run(&["show", "--appid", APPID]).expect(0).stdout(),
            "FIRST-TOKEN\n"
        );
    }
}

both! {
    fn a_fresh_token_makes_refresh_a_no_op_without_network(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        let stored = env.dump();
        for _ in 0..3 {
            env.refresh(&[]).expect(0);
        }
        assert_eq!(up.count("/cgi-bin/token"), 1, "a fresh token costs no call");
        assert_eq!(env.dump(), stored);
        // A token expiring within --ahead is renewed.
        env.refresh(&["--ahead", "2h1m"]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 2);
        assert_ne!(env.dump(), stored);
    }
}

both! {
    fn a_token_expiring_within_the_default_75_minutes_is_renewed(backend) {
        let up = StandIn::script(vec![
            Reply::token("SHORT", 4000),
            Reply::token("LONG", 7200),
        ]);
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        env.refresh(&[]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 2);
        assert_eq!(token_row(&env).0, "LONG");
    }
}

both! {
    fn invalidated_token_is_refetched(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        env.exec("UPDATE wxtoken_tokens SET invalidated_at = 1");
        env.run(&["show"]).expect(3).stderr_has("invalidated");
        env.refresh(&[]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 2);
        env.run(&["show"]).expect(0);
    }
}

both! {
    fn force_fetches_although_the_token_is_fresh(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        let first = token_row(&env).0;
        env.refresh(&["--force"]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 2);
        let second = token_row(&env).0;
        assert_ne!(first, second);
        assert_eq!(env.run(&["show"]).expect(0).stdout(), format!("{second}\n"));
    }
}

both! {
    /// Permanent errcodes: one call, exit 1, a line with the meaning and the fix.
    fn permanent_errcodes_stop_at_once_with_the_fix(backend) {
        let cases: &[(i64, &str, &str)] = &[
            (
                40001,
                "invalid credential, access_token is invalid or not latest",
                "wrong AppSecret",
            ),
            (40002, "invalid grant_type", "please report"),
            (40013, "invalid appid", "check the appid"),
            (40125, "invalid appsecret", "invalid AppSecret"),
            (
                40164,
                "invalid ip 203.0.113.9 ipv6 ::ffff:203.0.113.9, not in whitelist",
                "add 203.0.113.9 to the IP whitelist",
            ),
            (40243, "AppSecret sealed", "unfreeze or reset"),
            (41002, "appid missing", "appid missing"),
            (41004, "appsecret missing", "secret missing"),
            (45009, "reach max api daily quota limit", "clear_quota"),
            (45011, "api minute-quota reach limit", "wait a minute"),
            (48001, "api unauthorized", "not authorized"),
            (50004, "api forbidden", "forbidden"),
            (50007, "account freeze", "account frozen"),
            (89503, "risky ip, wait for admin confirm", "confirm the IP"),
            (89506, "admin refused ip for 24h", "24 hours"),
            (89507, "admin refused ip for 1h", "1 hour"),
            (
                60020,
                "not allow to access from your ip, from ip: 198.51.100.4",
                "add 198.51.100.4",
            ),
            (99999, "something new", "something new"),
        ];
        for (code, msg, fix) in cases {
            let up = StandIn::script(vec![Reply::errcode(*code, msg)]);
            let env = backend.with(&up);
            let run = env.refresh(&[]);
            run.expect(1)
                .stderr_has(&format!("wxtoken: {APPID}: token: errcode {code}"))
                .stderr_has(fix);
            assert_eq!(
                run.stderr().lines().count(),
                1,
                "one line: {}",
                run.stderr()
            );
            assert_eq!(
                up.count("/cgi-bin/token"),
                1,
                "errcode {code} is not retried"
            );
            let rows = env.rows("SELECT errcode, outcome FROM wxtoken_attempts");
            assert_eq!(
                rows,
                vec![vec![Some(code.to_string()), Some("error".to_string())]]
            );
            env.run(&["show"]).expect(3);
        }
    }
}

both! {
    fn system_busy_is_retried(backend) {
        let up = StandIn::script(vec![
            Reply::errcode(-1, "system error"),
            Reply::errcode(-1, "system error"),
            Reply::token("AFTER-BUSY", 7200),
        ]);
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 3);
        assert_eq!(token_row(&env).0, "AFTER-BUSY");
        let attempts = env.int("SELECT COUNT(*) FROM wxtoken_attempts");
        assert_eq!(attempts, 3, "every try is recorded");
    }
}

#[test]
fn busy_for_ever_gives_up_after_a_few_tries() {
    let up = StandIn::script(vec![Reply::errcode(-1, "system error")]);
    let env = Env::with(&up);
    env.refresh(&[])
        .expect(1)
        .stderr_has("errcode -1 (system busy)");
    assert_eq!(up.count("/cgi-bin/token"), 4);
}

both! {
    fn http_500_then_success_is_retried(backend) {
        let up = StandIn::script(vec![
            Reply::status(500, "<html>Internal Server Error</html>"),
            Reply::status(503, ""),
            Reply::token("AFTER-500", 7200),
        ]);
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 3);
        assert_eq!(token_row(&env).0, "AFTER-500");
    }
}

#[test]
fn http_4xx_is_not_retried() {
    let up = StandIn::script(vec![Reply::status(404, "not here")]);
    let env = Env::with(&up);
    env.refresh(&[]).expect(1).stderr_has("HTTP 404");
    assert_eq!(up.count("/cgi-bin/token"), 1);
}

both! {
    fn bad_responses_are_refused_and_store_nothing(backend) {
        let cases: &[(&str, &str)] = &[
            ("<html><body>502 Bad Gateway</body></html>", "not JSON"),
            (r#"{"access_token":"T","expires_"#, "truncated JSON"),
            ("", "empty body"),
            ("{}", "no access_token"),
            (r#"{"expires_in":7200}"#, "no access_token"),
            (
                r#"{"access_token":"","expires_in":7200}"#,
                "empty access_token",
            ),
            (r#"{"access_token":"T"}"#, "no expires_in"),
            (
                r#"{"access_token":"T","expires_in":-7200}"#,
                "expires_in is -7200",
            ),
            (r#"{"access_token":"T","expires_in":0}"#, "expires_in is 0"),
            (
                r#"{"access_token":"T","expires_in":99999999999}"#,
                "expires_in is 99999999999",
            ),
            (
                r#"{"access_token":"T","expires_in":"7200"}"#,
                "expires_in is \"7200\"",
            ),
            (
                r#"{"access_token":"T; rm -rf /","expires_in":7200}"#,
                "characters a token never has",
            ),
            (r#"{"errcode":"x"}"#, "errcode is not an integer"),
            ("[1,2]", "not an object"),
        ];
        for (body, why) in cases {
            let up = StandIn::script(vec![Reply::json(*body)]);
            let env = backend.with(&up);
            env.refresh(&[])
                .expect(1)
                .stderr_has("bad response")
                .stderr_has(why);
            assert_eq!(up.count("/cgi-bin/token"), 1, "{body:?} is not retried");
            assert!(env.dump().is_empty(), "{body:?} stored something");
        }
    }
}

#[test]
fn a_huge_body_is_cut_off() {
    let huge = format!(
        r#"{{"access_token":"{}","expires_in":7200}}"#,
        "A".repeat(1 << 20)
    );
    let up = StandIn::script(vec![Reply::json(huge)]);
    let env = Env::with(&up);
    env.refresh(&[]).expect(1).stderr_has("body larger than");
}

#[test]
fn a_server_that_never_answers_times_out_within_the_bound() {
    let up = StandIn::script(vec![Reply::hang()]);
    let env = Env::with(&up);
    let started = Instant::now();
    env.refresh(&["--timeout", "1s"])
        .expect(1)
        .stderr_has("no answer within --timeout");
    let took = started.elapsed();
    // Retries included, an app's refresh ends within 3 x --timeout.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(up.count("/cgi-bin/token") >= 2, "a timeout is retried");
}

both! {
    fn a_failure_leaves_the_previous_token_byte_for_byte(backend) {
        let good = StandIn::wechat();
        let mut env = backend.with(&good);
        env.refresh(&[]).expect(0);
        let before = env.dump();
        let token = env.run(&["show"]).expect(0).stdout();
        for reply in [
            Reply::errcode(40164, "invalid ip 1.2.3.4, not in whitelist"),
            Reply::status(500, "oops"),
            Reply::json("<html>"),
            Reply::json(r#"{"access_token":"NEW","expires_in":-1}"#),
            Reply::reset(),
        ] {
            let bad = StandIn::script(vec![reply]);
            env.api_base = Some(bad.url());
            env.refresh(&["--force", "--timeout", "1s"]).expect(1);
            assert_eq!(env.dump(), before);
            assert_eq!(env.run(&["show"]).expect(0).stdout(), token);
        }
    }
}

#[test]
fn show_without_a_database_exits_3_and_creates_nothing() {
    let env = Env::new();
    env.run(&["show"])
        .expect(3)
        .stderr_has("no database")
        .stderr_has("check --db / WXTOKEN_DB");
    assert!(!env.db.exists());
    assert!(
        !env.db.parent().unwrap().exists(),
        "show created the folder"
    );
}

/// `--db` before or after `show` wins over WXTOKEN_DB; `-q` and `-v` conflict.
#[test]
fn show_takes_the_db_option_on_either_side_over_the_variable() {
    let up = StandIn::script(vec![Reply::token("THE-TOKEN", 7200)]);
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    let db = env.db_arg();
    let other = Env::new();
    other.run(&["show"]).expect(3);
    for args in [["--db", &db, "show"], ["show", "--db", &db]] {
        assert_eq!(other.run(&args).expect(0).stdout(), "THE-TOKEN\n");
    }
    other
        .run(&["show", "-q", "-v", "--db", &db])
        .expect(2)
        .stderr_has("cannot be used with");
}

both! {
    fn show_reasons_for_no_usable_token(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        env.run(&["show", "--app", "nope"])
            .expect(3)
            .stderr_has("no app \"nope\" in the database (it holds wx85871939f7f9b647)");
        env.run(&["show", "--appid", "wxnope"]).expect(3);
        env.run(&["show", "--min-ttl", "2h1m"])
            .expect(3)
            .stderr_has("--min-ttl 7260s is longer than the token")
            .stderr_has("lives (7200s)");
        env.run(&["show", "--min-ttl", "1h59m"]).expect(0);
        env.exec(
            "UPDATE wxtoken_tokens SET expires_at = expires_at - 7000, fetched_at = fetched_at - 7000",
        );
        env.run(&["show", "--min-ttl", "5m"])
            .expect(3)
            .stderr_has("less than --min-ttl 300s");
        env.run(&["show", "--min-ttl", "1m"]).expect(0);
        env.exec(
            "UPDATE wxtoken_tokens SET expires_at = expires_at - 300, fetched_at = fetched_at - 300",
        );
        let run = env.run(&["show"]);
        run.expect(3).stderr_has("expired at");
        assert_eq!(run.stdout(), "", "an expired token is never printed");
        assert_eq!(run.stderr().lines().count(), 1);
        env.run(&["show", "--ticket", "jsapi"])
            .expect(3)
            .stderr_has("no jsapi ticket stored");
    }
}

both! {
    fn show_with_several_apps_needs_a_name(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.run(&["refresh", "--appid", "wxaaa", "--name", "shop"])
            .expect(0);
        env.run(&["refresh", "--appid", "wxbbb", "--name", "blog"])
            .expect(0);
        env.run(&["show"])
            .expect(2)
            .stderr_has("\"blog\", \"shop\"")
            .stderr_has("--app");
        let shop = env.run(&["show", "--app", "shop"]).expect(0).stdout();
        assert!(shop.contains("wxaaa"), "{shop}");
        assert_eq!(
            env.run(&["show", "--appid", "wxbbb"]).expect(0).stdout(),
            env.run(&["show", "--app", "blog"]).stdout()
        );
    }
}

both! {
    fn show_formats(backend) {
        let up = StandIn::script(vec![Reply::token("JSON-TOKEN", 7200)]);
        let env = backend.with(&up);
        env.refresh(&["--name", "main"]).expect(0);
        let out = env.run(&["show", "--format", "json"]).expect(0).stdout();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["app"], "main");
        assert_eq!(json["appid"], APPID);
        assert_eq!(json["kind"], "access_token");
        assert_eq!(json["token"], "JSON-TOKEN");
        let left = json["expires_in"].as_i64().unwrap();
        assert!((7190..=7200).contains(&left), "{left}");
        let at = json["expires_at"].as_str().unwrap();
        assert!(at.ends_with('Z') && at.len() == 20, "{at}");
        assert_eq!(out.lines().count(), 1);
        let env_out = env.run(&["show", "--format", "env"]).expect(0).stdout();
        assert_eq!(env_out, "WX_ACCESS_TOKEN='JSON-TOKEN'\n");
        // The env form is safe to eval.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "eval \"$(cat <<'E'\n{env_out}E\n)\"; printf %s \"$WX_ACCESS_TOKEN\""
            ))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "JSON-TOKEN");
    }
}

both! {
    fn stable_sends_force_refresh_only_with_force(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&["--api", "stable"]).expect(0);
        env.refresh(&["--api", "stable", "--force"]).expect(0);
        let reqs = up.requests();
        assert_eq!(reqs.len(), 2);
        for (req, force) in reqs.iter().zip([false, true]) {
            assert_eq!(req.method, "POST");
            assert_eq!(req.path, "/cgi-bin/stable_token");
            assert!(req.query.is_empty(), "the secret stays out of the URL");
            let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
            assert_eq!(body["grant_type"], "client_credential");
            assert_eq!(body["appid"], APPID);
            assert_eq!(body["secret"], SECRET);
            assert_eq!(body["force_refresh"], force);
        }
    }
}

both! {
    fn wecom_calls_gettoken_with_corpid_and_corpsecret(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.run(&[
            "refresh", "--api", "wecom", "--appid", "ww1234", "--name", "corp",
        ])
        .expect(0);
        let req = &up.requests()[0];
        assert_eq!(req.path, "/cgi-bin/gettoken");
        assert_eq!(req.query["corpid"], "ww1234");
        assert_eq!(req.query["corpsecret"], SECRET);
        assert_eq!(
            env.run(&["show", "--app", "corp"]).expect(0).stdout(),
            "TOKEN-1-ww1234\n"
        );
    }
}

#[test]
fn database_file_is_private() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.db), 0o600);
    assert_eq!(mode(env.db.parent().unwrap()), 0o700);
}

#[test]
fn the_default_database_lives_under_xdg_data_home() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let data = env.path("xdg-data");
    let mut cmd = env.command(&["refresh", "--appid", APPID]);
    cmd.env_remove("WXTOKEN_DB").env("XDG_DATA_HOME", &data);
    assert!(cmd.status().unwrap().success());
    assert!(data.join("wxtoken/tokens.db").is_file());
    let mut cmd = env.command(&["show"]);
    cmd.env_remove("WXTOKEN_DB");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "HOME's default is another file");
}

#[test]
fn the_secret_never_comes_from_argv() {
    let env = Env::new();
    env.run(&["refresh", "--appid", APPID, "--secret", "x"])
        .expect(2)
        .stderr_has("wxtoken: ");
    let mut cmd = env.command(&["refresh", "--appid", APPID]);
    cmd.env_remove("WXTOKEN_SECRET");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WXTOKEN_SECRET") && err.contains("--secret-file"),
        "{err}"
    );
}

#[test]
fn secret_file_is_read_and_trimmed() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let file = env.path("app.secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = env.command(&[
        "refresh",
        "--appid",
        APPID,
        "--secret-file",
        file.to_str().unwrap(),
    ]);
    cmd.env_remove("WXTOKEN_SECRET");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(up.requests()[0].query["secret"], SECRET);
    env.run(&[
        "refresh",
        "--appid",
        APPID,
        "--secret-file",
        "/nonexistent/secret",
    ])
    .expect(2)
    .stderr_has("/nonexistent/secret");
}

/// A secret with the characters that percent-encoders disagree about.
pub(crate) const ODD_SECRET: &str = "Ab1!()*'~;-x_9";

/// `secret` in every encoding a log line, an error or a stored row could carry:
/// raw; percent-encoded with any safe set (each subset of its non-alphanumeric
/// characters left raw), upper- or lower-case hex, `+` for a space; and
/// JSON-escaped the same way (`\uXXXX`, `\/`, `\"`).
fn encodings(secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    let odd: Vec<usize> = (0..chars.len())
        .filter(|&i| !chars[i].is_ascii_alphanumeric())
        .collect();
    assert!(odd.len() <= 12, "too many variants to try");
    let mut out = Vec::new();
    for escaped in 0..1u32 << odd.len() {
        for lower in [false, true] {
            let (mut pct, mut json) = (String::new(), String::new());
            for (i, &c) in chars.iter().enumerate() {
                let at = odd.iter().position(|&o| o == i);
                if at.is_none_or(|bit| escaped & 1 << bit == 0) {
                    pct.push(c);
                    json.push(c);
                    continue;
                }
                for b in c.to_string().bytes() {
                    match b {
                        b' ' if lower => pct.push('+'),
                        _ if lower => pct.push_str(&format!("%{b:02x}")),
                        _ => pct.push_str(&format!("%{b:02X}")),
                    }
                }
                match c {
                    '/' | '"' | '\\' => {
                        json.push('\\');
                        json.push(c);
                    }
                    _ => {
                        for unit in c.encode_utf16(&mut [0; 2]) {
                            json.push_str(&if lower {
                                format!("\\u{unit:04x}")
                            } else {
                                format!("\\u{unit:04X}")
                            });
                        }
                    }
                }
            }
            out.push(pct);
            out.push(json);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[track_caller]
pub(crate) fn assert_no_secret(secret: &str, what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for form in encodings(secret) {
        assert!(
            !text.contains(&form),
            "the secret leaked as {form:?} into {what}:\n{text}"
        );
    }
}

both! {
    fn the_secret_never_leaks_at_trace_level(backend) {
        let scenarios: Vec<(Vec<Reply>, &[&str])> = vec![
            (vec![Reply::token("OK-TOKEN-0123456789abcdef", 7200)], &[]),
            (
                vec![Reply::token("OK-TOKEN-0123456789abcdef", 7200)],
                &["--api", "stable"],
            ),
            (
                vec![Reply::token("OK-TOKEN-0123456789abcdef", 7200)],
                &["--api", "wecom"],
            ),
            (vec![Reply::errcode(40001, "invalid credential")], &[]),
            (
                vec![Reply::errcode(40125, "invalid appsecret")],
                &["--api", "stable"],
            ),
            (
                vec![Reply::status(500, "down"), Reply::token("T", 7200)],
                &[],
            ),
            (
                vec![Reply::status(500, "down")],
                &["--api", "stable"],
            ),
            (vec![Reply::json("<html>")], &[]),
            (vec![Reply::hang()], &["--timeout", "1s"]),
            (vec![Reply::reset()], &[]),
        ];
        for secret in [SECRET, ODD_SECRET] {
            for (replies, args) in &scenarios {
                let up = StandIn::script(replies.clone());
                let mut env = backend.with(&up);
                env.set("RUST_LOG", "trace");
                env.set("WXTOKEN_SECRET", secret);
                let mut all = vec!["--force"];
                all.extend_from_slice(args);
                let run = env.refresh(&all);
                assert!(
                    up.requests().iter().any(|r| r.param("secret").as_deref() == Some(secret)
                        || r.param("corpsecret").as_deref() == Some(secret)),
                    "the stand-in did not get the secret ({args:?})"
                );
                let out = format!("{}{}", run.stdout(), run.stderr());
                assert!(out.contains("wxtoken: "), "trace output expected: {out}");
                assert_no_secret(secret, &format!("the output ({args:?})"), out.as_bytes());
                assert!(
                    !out.contains("OK-TOKEN-0123456789abcdef"),
                    "a whole token was logged:\n{out}"
                );
                let show = env.run(&["show", "--format", "json"]);
                assert_no_secret(secret, "show's output", show.stderr().as_bytes());
                assert_no_secret(secret, "show's output", show.stdout().as_bytes());
                if let Some(pg) = &env.pg {
                    let password = crate::support::pg::password(&pg.url);
                    assert!(
                        !out.contains(&password) && !show.stderr().contains(&password),
                        "the database password leaked:\n{out}"
                    );
                    let stored = format!(
                        "{:?}{:?}",
                        env.dump(),
                        env.rows("SELECT * FROM wxtoken_attempts")
                    );
                    assert_no_secret(secret, "the database", stored.as_bytes());
                }
                if env.db.exists() {
                    let db = std::fs::read(&env.db).unwrap();
                    let wal = std::fs::read(env.db.with_extension("db-wal")).unwrap_or_default();
                    assert_no_secret(secret, "the database file", &db);
                    assert_no_secret(secret, "the database's WAL", &wal);
                }
            }
        }
    }
}

both! {
    fn a_database_from_a_newer_wxtoken_is_refused(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        env.pretend_newer_schema();
        env.refresh(&["--force"])
            .expect(1)
            .stderr_has("newer wxtoken");
        env.run(&["show"]).expect(1).stderr_has("newer wxtoken");
        assert_eq!(up.count("/cgi-bin/token"), 1);
    }
}

#[test]
fn a_file_that_is_not_a_database_is_refused_clearly() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    std::fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    std::fs::write(&env.db, "this is not a database, just text ".repeat(200)).unwrap();
    let before = std::fs::read(&env.db).unwrap();
    env.refresh(&[])
        .expect(1)
        .stderr_has(&env.db.display().to_string());
    env.run(&["show"]).expect(1).stderr_has("not a database");
    assert_eq!(
        std::fs::read(&env.db).unwrap(),
        before,
        "the file was changed"
    );
    assert_eq!(
        up.count("/cgi-bin/token"),
        0,
        "no call without a usable database"
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let env = Env::new();
    for args in [
        &["refresh", "--appid", APPID, "--ahead", "soon"][..],
        &["refresh", "--appid", APPID, "--timeout", "0"],
        &["refresh", "--appid", APPID, "--api", "nope"],
        &["show", "--format", "xml"],
        &["show", "--app", "a", "--appid", "b"],
        &["frobnicate"],
        &["refresh"],
    ] {
        let run = env.run(args);
        run.expect(2);
        assert!(
            run.stderr().starts_with("wxtoken: "),
            "{args:?}: {}",
            run.stderr()
        );
        assert_eq!(
            run.stderr().lines().count(),
            1,
            "{args:?}: {}",
            run.stderr()
        );
    }
}

both! {
    fn every_attempt_is_recorded(backend) {
        let up = StandIn::script(vec![Reply::status(502, ""), Reply::token("T2", 7200)]);
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        let rows: Vec<(String, Option<String>, i64)> = env
            .rows("SELECT outcome, message, duration_ms FROM wxtoken_attempts ORDER BY started_ms")
            .into_iter()
            .map(|r| {
                (
                    r[0].clone().unwrap(),
                    r[1].clone(),
                    r[2].as_deref().unwrap().parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, "error");
        assert!(rows[0].1.as_deref().unwrap().contains("HTTP 502"));
        assert_eq!(rows[1].0, "ok");
        assert!(rows.iter().all(|r| r.2 >= 0));
    }
}

/// `--help` is part of the interface: a change shows up here.
#[test]
fn help_texts_are_pinned() {
    let env = Env::new();
    let mut all = env.run(&["--help"]).expect(0).stdout();
    for cmd in [
        "refresh",
        "show",
        "status",
        "invalidate",
        "history",
        "completions",
        "man",
        "keygen",
        "push",
        "authorizers",
        "sign",
    ] {
        all.push_str(&format!("\n=== wxtoken {cmd} --help\n"));
        all.push_str(&env.run(&[cmd, "--help"]).expect(0).stdout());
    }
    crate::support::golden("help.txt", &all);
}

/// HTTPS_PROXY / ALL_PROXY are honoured: the stand-in plays the proxy for an
/// upstream host that does not exist.
#[test]
fn a_proxy_from_the_environment_is_used() {
    for var in ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY"] {
        let proxy = StandIn::wechat();
        let mut env = Env::new();
        env.api_base = Some("http://api.weixin.invalid".to_string());
        env.set("WXTOKEN_ALLOW_INSECURE_HTTP", "1");
        env.set(var, &proxy.url());
        env.refresh(&[]).expect(0);
        assert_eq!(proxy.count("/cgi-bin/token"), 1, "{var}");
        assert_eq!(proxy.requests()[0].query["appid"], APPID);
    }
}

/// A usage error keeps what clap knows on its one line: the argument, the valid
/// values, the tip, and which --help to read.
#[test]
fn usage_errors_say_what_to_fix() {
    let env = Env::new();
    for (args, needles) in [
        (
            &["invalidate"][..],
            &["--app <NAME>", "see `wxtoken invalidate --help`"][..],
        ),
        (
            &["refresh", "--apid", "x"],
            &["'--apid'", "a similar argument exists: '--appid'"],
        ),
        (
            &["refresh", "--appid", "x", "--api", "foo"],
            &["possible values: classic, stable, wecom"],
        ),
        (
            &["show", "--format", "xml"],
            &["possible values: plain, json, env"],
        ),
        (
            &["refresh", "--app", "shop"],
            &["--app shop names an app of a config file"],
        ),
        (&["--db", "/", "show"], &["--db / is a folder"]),
        (
            &["refresh", "--appid", "x", "--api-base", "localhost:8080"],
            &["--api-base / WXTOKEN_API_BASE: \"localhost:8080\" is not an http"],
        ),
    ] {
        let run = env.run(args);
        run.expect(2);
        assert_eq!(
            run.stderr().lines().count(),
            1,
            "{args:?}: {}",
            run.stderr()
        );
        for needle in needles {
            run.stderr_has(needle);
        }
    }
    // Without a command: the commands to choose from.
    env.run(&[]).expect(2).stderr_has("refresh, show, status");
}

/// A secret too short to be real is not redacted: messages stay readable.
#[test]
fn a_short_test_secret_does_not_garble_messages() {
    let env = Env::new();
    let out = env
        .command(&["refresh", "--appid", APPID, "--db", "/"])
        .env("WXTOKEN_SECRET", "s")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a folder"), "{err}");
    assert!(!err.contains("***"), "{err}");
}

needs! {
    runuser:
    /// A program running as another user, given read access to the database and
    /// its -wal and -shm files (which writers keep), reads the token with show and
    /// with a plain read-only SQLite connection.
    fn another_user_with_read_access_can_read_the_token() {
        let up = StandIn::script(vec![Reply::token("SHARED-TOKEN", 7200)]);
        let env = Env::with(&up);
        env.refresh(&["--name", "shop"]).expect(0);
        let dir = env.db.parent().unwrap();
        let group = |p: &std::path::Path| {
            std::process::Command::new("chgrp")
                .arg("nogroup")
                .arg(p)
                .status()
                .unwrap();
        };
        for (path, mode) in [(env.dir.path(), 0o755), (dir, 0o750)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        group(dir);
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", env.db.display()));
            assert!(file.exists(), "{} is kept", file.display());
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
            group(&file);
        }
        let cmd = env.command(&["show", "--app", "shop"]);
        // The build's binary may sit where nobody cannot go (a clone in a 0700
        // folder): nobody runs a copy in the test's own folder.
        let program = env.path("wxtoken");
        std::fs::copy(cmd.get_program(), &program).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let envs: Vec<_> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v?.to_str()?)))
            .collect();
        let out = std::process::Command::new("runuser")
            .args(["-u", "nobody", "-g", "nogroup", "--", "env"])
            .args(&envs)
            .arg(&program)
            .args(["show", "--app", "shop"])
            .current_dir("/")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "SHARED-TOKEN\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The README's Python reader, as the same user.
        let script = format!(
            "import sqlite3, time\n\
             db = sqlite3.connect('file:{}?mode=ro', uri=True)\n\
             row = db.execute(\"SELECT value FROM wxtoken_tokens WHERE app = ? AND kind = 'access_token' AND invalidated_at IS NULL AND expires_at > ?\", ('shop', int(time.time()) + 60)).fetchone()\n\
             print(row[0])\n",
            env.db.display()
        );
        let out = std::process::Command::new("runuser")
            .args([
                "-u", "nobody", "-g", "nogroup", "--", "python3", "-c", &script,
            ])
            .current_dir("/")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "SHARED-TOKEN\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `expires_at` counts from when the request was sent, not from when the
/// (slow) answer arrived: the token's life started upstream before that.
#[test]
fn expiry_counts_from_when_the_request_was_sent() {
    let up = StandIn::script(vec![
        Reply::token("SLOW-TOKEN", 7200).delayed(Duration::from_millis(2500)),
    ]);
    let env = Env::with(&up);
    let sent = now();
    env.refresh(&[]).expect(0);
    let answered = now();
    assert!(answered - sent >= 2, "the answer took 2.5 s");
    let (_, fetched, expires) = token_row(&env);
    assert!(
        fetched <= sent + 1,
        "fetched_at {fetched} is when it was sent ({sent})"
    );
    assert_eq!(expires, fetched + 7200);
}
