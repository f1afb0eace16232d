//! Many apps from a config file, WeCom, tickets, status, history, invalidate,
//! the quota guard and the clock check.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::support::net::Refusing;
use crate::support::{Env, Reply, SECRET, StandIn, golden, now, standin};

const THREE_APPS: &str = r#"
[[app]]
name = "shop"
api = "classic"
appid = "wx85871939f7f9b647"
secret_env = "SHOP_SECRET"
tickets = ["jsapi", "wx_card"]

[[app]]
name = "mini"
api = "stable"
appid = "wx1111111111111111"
secret_file = "mini.secret"

[[app]]
name = "corp"
api = "wecom"
appid = "ww2222222222222222"
secret_env = "CORP_SECRET"
tickets = ["jsapi", "agent_config"]
"#;

/// An environment with the three-app config, its secrets in place.
fn three_apps(up: &StandIn) -> Env {
    let mut env = Env::with(up);
    let config = env.path("config.toml");
    let mini = env.path("mini.secret");
    std::fs::write(
        &config,
        THREE_APPS.replace("mini.secret", mini.to_str().unwrap()),
    )
    .unwrap();
    std::fs::write(&mini, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&mini, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.set("WXTOKEN_CONFIG", config.to_str().unwrap());
    env.set("SHOP_SECRET", SECRET);
    env.set("CORP_SECRET", SECRET);
    env
}

fn value(env: &Env, app: &str, kind: &str) -> Option<(String, Option<String>)> {
    env.sql()
        .query_row(
            "SELECT value, source_token FROM wxtoken_tokens WHERE app = ?1 AND kind = ?2",
            [app, kind],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
}

#[test]
fn one_run_refreshes_every_app_token_and_ticket() {
    let up = StandIn::wechat();
    let env = three_apps(&up);
    let run = env.run(&["refresh"]);
    run.expect(0);
    assert_eq!(run.stderr(), "");
    assert_eq!(up.count("/cgi-bin/token"), 1);
    assert_eq!(up.count("/cgi-bin/stable_token"), 1);
    assert_eq!(up.count("/cgi-bin/gettoken"), 1);
    assert_eq!(up.count("/cgi-bin/ticket/getticket"), 2);
    assert_eq!(up.count("/cgi-bin/get_jsapi_ticket"), 1);
    assert_eq!(up.count("/cgi-bin/ticket/get"), 1);
    for req in up.requests() {
        match req.path.as_str() {
            "/cgi-bin/ticket/getticket" => {
                let (token, _) = value(&env, "shop", "access_token").unwrap();
                assert_eq!(req.query["access_token"], token);
                assert!(["jsapi", "wx_card"].contains(&req.query["type"].as_str()));
            }
            "/cgi-bin/get_jsapi_ticket" => {
                let (token, _) = value(&env, "corp", "access_token").unwrap();
                assert_eq!(req.query["access_token"], token);
            }
            "/cgi-bin/ticket/get" => assert_eq!(req.query["type"], "agent_config"),
            _ => {}
        }
    }
    // Each ticket is stored with the token it came from.
    for (app, kind) in [
        ("shop", "jsapi_ticket"),
        ("shop", "wx_card_ticket"),
        ("corp", "jsapi_ticket"),
        ("corp", "agent_config_ticket"),
    ] {
        let (ticket, source) = value(&env, app, kind).unwrap();
        // The stand-in names the type asked for: each ticket is of its own.
        let asked = kind.strip_suffix("_ticket").unwrap();
        assert!(ticket.starts_with("TICKET-"), "{ticket}");
        assert!(ticket.ends_with(&format!("-{asked}")), "{kind}: {ticket}");
        assert_eq!(source, value(&env, app, "access_token").map(|v| v.0));
    }
    let ticket = env
        .run(&["show", "--app", "corp", "--ticket", "agent_config"])
        .expect(0)
        .stdout();
    assert_eq!(
        ticket,
        format!(
            "{}\n",
            value(&env, "corp", "agent_config_ticket").unwrap().0
        )
    );
    assert_eq!(
        env.run(&[
            "show", "--app", "shop", "--ticket", "jsapi", "--format", "env"
        ])
        .expect(0)
        .stdout(),
        format!(
            "WX_JSAPI_TICKET='{}'\n",
            value(&env, "shop", "jsapi_ticket").unwrap().0
        )
    );
    // Everything is fresh: a second run calls nothing.
    let calls = up.requests().len();
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.requests().len(), calls);
}

#[test]
fn app_selects_some_apps_of_the_config() {
    let up = StandIn::wechat();
    let env = three_apps(&up);
    env.run(&["refresh", "--app", "mini", "--app", "corp"])
        .expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 0);
    assert_eq!(up.count("/cgi-bin/stable_token"), 1);
    assert_eq!(up.count("/cgi-bin/gettoken"), 1);
    env.run(&["refresh", "--app", "nope"])
        .expect(2)
        .stderr_has("unknown app \"nope\"")
        .stderr_has("shop, mini, corp");
}

#[test]
fn one_failing_app_does_not_stop_or_roll_back_the_others() {
    let wechat = standin::wechat(Duration::ZERO, 7200);
    let up = StandIn::start(move |req| {
        if req.param("appid").as_deref() == Some("wx1111111111111111") {
            Reply::errcode(40125, "invalid appsecret")
        } else {
            wechat(req)
        }
    });
    let env = three_apps(&up);
    let run = env.run(&["refresh"]);
    run.expect(1);
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    run.stderr_has("wxtoken: mini: token: errcode 40125");
    for app in ["shop", "corp"] {
        env.run(&["show", "--app", app]).expect(0);
    }
    env.run(&["show", "--app", "mini"]).expect(3);
}

/// A ticket call answered 40001: the stored token is stale. It is invalidated, one
/// new token is fetched and the ticket is retried once.
#[test]
fn a_stale_token_is_replaced_once_for_a_ticket() {
    for second_ticket_answer in ["ok", "stale again"] {
        let ticket_calls = Arc::new(AtomicUsize::new(0));
        let calls = ticket_calls.clone();
        let wechat = standin::wechat(Duration::ZERO, 7200);
        let up = StandIn::start(move |req| {
            if req.path == "/cgi-bin/ticket/getticket" {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n == 0 || second_ticket_answer == "stale again" {
                    return Reply::errcode(
                        40001,
                        "invalid credential, access_token is invalid or not latest",
                    );
                }
            }
            wechat(req)
        });
        let mut env = Env::with(&up);
        env.config_apps(&["shop"], "");
        env.run(&["refresh"]).expect(0);
        let first = value(&env, "shop", "access_token").unwrap().0;
        // Now the app wants a ticket; its stored token is fresh but stale upstream.
        env.config_apps(&["shop"], "tickets = [\"jsapi\"]");
        let run = env.run(&["refresh"]);
        let tickets: Vec<String> = up
            .requests()
            .iter()
            .filter(|r| r.path == "/cgi-bin/ticket/getticket")
            .map(|r| r.query["access_token"].clone())
            .collect();
        assert_eq!(up.count("/cgi-bin/token"), 2, "exactly one new token");
        assert_eq!(tickets.len(), 2, "the ticket is retried exactly once");
        let second = value(&env, "shop", "access_token").unwrap().0;
        assert_ne!(first, second);
        assert_eq!(tickets, vec![first.clone(), second.clone()]);
        if second_ticket_answer == "ok" {
            run.expect(0);
            let (_, source) = value(&env, "shop", "jsapi_ticket").unwrap();
            assert_eq!(source.as_deref(), Some(second.as_str()));
        } else {
            run.expect(1).stderr_has("jsapi ticket: errcode 40001");
            assert!(value(&env, "shop", "jsapi_ticket").is_none());
        }
        env.run(&["show", "--app", "shop"]).expect(0).stdout();
    }
}

#[test]
fn jobs_bounds_the_requests_in_flight() {
    // Every token request is held until `--jobs` are held at once: a run with
    // fewer workers never gets there (and is let go after a while), one with
    // more shows one too many. What the stand-in holds is what is in flight,
    // however slowly the machine runs.
    for jobs in [3, 6] {
        let gate = Arc::new(Gate::new(jobs));
        let held = gate.clone();
        let inner = standin::wechat(Duration::ZERO, 7200);
        let up = StandIn::start(move |req| {
            held.pass();
            inner(req)
        });
        let mut env = Env::with(&up);
        let names: Vec<String> = (0..12).map(|i| format!("app{i}")).collect();
        env.config_apps(&names.iter().map(String::as_str).collect::<Vec<_>>(), "");
        env.run(&["refresh", "--jobs", &jobs.to_string()]).expect(0);
        assert_eq!(up.count("/cgi-bin/token"), 12);
        assert_eq!(
            gate.most(),
            jobs,
            "--jobs {jobs} keeps {jobs} requests in flight"
        );
    }
}

/// Holds requests until `n` are held at once (or 5 s have passed), and 200 ms
/// more, so that one more, were it sent, would be counted too.
struct Gate {
    n: usize,
    state: Mutex<GateState>,
    turn: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Held now, and the most held at once.
    held: usize,
    most: usize,
    /// Arrived in this round; a round ends when `n` have.
    round: usize,
    arrived: usize,
}

impl Gate {
    fn new(n: usize) -> Gate {
        Gate {
            n,
            state: Mutex::new(GateState::default()),
            turn: Condvar::new(),
        }
    }

    fn pass(&self) {
        let mut s = self.state.lock().unwrap();
        s.held += 1;
        s.most = s.most.max(s.held);
        s.arrived += 1;
        let round = s.round;
        if s.arrived == self.n {
            drop(s);
            std::thread::sleep(Duration::from_millis(200));
            s = self.state.lock().unwrap();
            s.round += 1;
            s.arrived = 0;
            self.turn.notify_all();
        } else {
            let (next, wait) = self
                .turn
                .wait_timeout_while(s, Duration::from_secs(5), |s| s.round == round)
                .unwrap();
            s = next;
            if wait.timed_out() {
                s.arrived -= 1;
            }
        }
        s.held -= 1;
    }

    fn most(&self) -> usize {
        self.state.lock().unwrap().most
    }
}

#[test]
fn config_errors_name_the_file_the_app_and_the_field() {
    let env = Env::new();
    let unreadable = env.path("missing.secret");
    let cases: Vec<(String, &str)> = vec![
        (
            "[[app]]\nname = \"a\"\nappid = \"x\"\nsecret_env = \"S\"\n[[app]]\nname = \"a\"\nappid = \"y\"\nsecret_env = \"S\"\n".into(),
            "app \"a\": field name: the name is used twice",
        ),
        (
            "[[app]]\nname = \"a\"\napi = \"legacy\"\nappid = \"x\"\nsecret_env = \"S\"\n".into(),
            "app \"a\": field api: unknown api \"legacy\"",
        ),
        (
            "[[app]]\nname = \"a\"\nappid = \"x\"\nsecret_env = \"S\"\nsecret_file = \"/f\"\n".into(),
            "app \"a\": fields secret_file and secret_env are both set",
        ),
        (
            "[[app]]\nname = \"a\"\nappid = \"x\"\n".into(),
            "app \"a\": no secret: set secret_file, secret_env or secret_credential",
        ),
        (
            format!("[[app]]\nname = \"a\"\nappid = \"x\"\nsecret_file = \"{}\"\n", unreadable.display()),
            "app \"a\": could not read secret_file",
        ),
        (
            "[[app]]\nname = \"a\"\nappid = \"x\"\nsecret_env = \"S\"\ntickets = [\"agent_config\"]\n".into(),
            "app \"a\": field tickets: unknown ticket \"agent_config\" for api classic: use jsapi or wx_card",
        ),
        (
            "[[app]]\nname = \"a\"\napi = \"wecom\"\nappid = \"x\"\nsecret_env = \"S\"\ntickets = [\"wx_card\"]\n".into(),
            "use jsapi or agent_config",
        ),
        (
            "[[app]]\nname = \"a\"\nappid = \"x\"\nsecret = \"abc\"\n".into(),
            "app \"a\": field secret: secrets are not accepted in the config file; put the secret in a file",
        ),
        (
            "[[app]]\nappid = \"x\"\nsecret_env = \"S\"\n".into(),
            "app #1: field name is missing",
        ),
        (
            "[[app]]\nname = \"a\"\nsecret_env = \"S\"\n".into(),
            "app \"a\": field appid is missing",
        ),
        (
            "[[app]]\nname = \"a\"\nappid = \"x\"\nsecret_env = \"UNSET_VARIABLE\"\n".into(),
            "app \"a\": secret_env UNSET_VARIABLE is not set",
        ),
        ("[[app]]\nname = \"a\nappid".into(), "(line "),
        (
            "[[app]]\nname = \"a\"\nappid = \"x\"\nsecret_env = \"S\"\ncolour = \"red\"\n".into(),
            "unknown field `colour`",
        ),
        ("".into(), "lists no apps"),
    ];
    for (text, needle) in cases {
        let config = env.path("config.toml");
        std::fs::write(&config, &text).unwrap();
        let run = env.run(&["--config", config.to_str().unwrap(), "refresh"]);
        run.expect(2).stderr_has(needle);
        // Errors in the file name it; secrets are read afterwards, per app.
        if !needle.contains("secret_env UNSET") && !needle.contains("could not read secret_file") {
            run.stderr_has(&format!("wxtoken: config {}", config.display()));
        }
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
        assert!(!env.db.exists(), "a config error touched the database");
    }
    let run = env.run(&["--config", "/nonexistent/config.toml", "refresh"]);
    run.expect(2)
        .stderr_has("could not read config /nonexistent/config.toml");
}

#[test]
fn config_errors_name_the_config_file() {
    let env = Env::new();
    let config = env.path("apps.toml");
    std::fs::write(
        &config,
        "[[app]]\nname = \"a\"\napi = \"legacy\"\nappid = \"x\"\nsecret_env = \"S\"\n",
    )
    .unwrap();
    env.run(&["--config", config.to_str().unwrap(), "status"])
        .expect(2)
        .stderr_has(&format!("config {}: app \"a\"", config.display()));
}

#[test]
fn a_secret_file_readable_by_others_gets_a_warning() {
    let up = StandIn::wechat();
    let env = three_apps(&up);
    let mini = env.path("mini.secret");
    std::fs::set_permissions(&mini, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = env.run(&["refresh", "--app", "mini"]);
    run.expect(0)
        .stderr_has("warning: app \"mini\": secret file")
        .stderr_has("chmod 600");
}

/// The status table, pinned by a golden file (times of day normalised).
#[test]
fn status_table() {
    let wechat = standin::wechat(Duration::ZERO, 4330);
    let up = StandIn::start(move |req| {
        if req.path == "/cgi-bin/stable_token" {
            Reply::errcode(40164, "invalid ip 203.0.113.9, not in whitelist")
        } else {
            wechat(req)
        }
    });
    let mut env = three_apps(&up);
    env.set("TZ", "UTC");
    env.run(&["refresh"]).expect(1);
    // An app stored but no longer configured still shows.
    env.run(&[
        "--config",
        "/dev/null",
        "refresh",
        "--appid",
        "wxold",
        "--name",
        "old",
    ])
    .expect(0);
    env.sql()
        .execute(
            "UPDATE wxtoken_tokens SET expires_at = ?1 WHERE app = 'old'",
            [now() - 10],
        )
        .unwrap();
    env.run(&["invalidate", "--app", "corp", "--ticket", "jsapi"])
        .expect(0);
    let out = env.run(&["status"]).expect(0).stdout();
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
    }
    let normal = normalise_times(&out);
    golden("status.txt", &normal);
}

/// `12:34` -> `HH:MM`, so that the golden file does not depend on the hour.
fn normalise_times(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let is = |j: usize, f: fn(&char) -> bool| chars.get(j).is_some_and(f);
        if is(i, char::is_ascii_digit)
            && is(i + 1, char::is_ascii_digit)
            && chars.get(i + 2) == Some(&':')
            && is(i + 3, char::is_ascii_digit)
            && is(i + 4, char::is_ascii_digit)
        {
            out.push_str("HH:MM");
            i += 5;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn status_json_and_prometheus() {
    let up = StandIn::wechat();
    let env = three_apps(&up);
    env.run(&["refresh"]).expect(0);
    let out = env.run(&["status", "--format", "json"]).expect(0).stdout();
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lines = json.as_array().unwrap();
    assert_eq!(lines.len(), 7, "3 tokens and 4 tickets");
    let shop = lines
        .iter()
        .find(|l| l["app"] == "shop" && l["kind"] == "access_token")
        .unwrap();
    for field in [
        "app",
        "kind",
        "api",
        "appid",
        "state",
        "configured",
        "fetched_at",
        "expires_at",
        "expires_in",
        "invalidated_at",
        "last_attempt_at",
        "last_outcome",
        "last_errcode",
        "last_message",
        "failures_in_a_row",
        "calls_24h",
        "forced_calls_24h",
        "daily_budget",
    ] {
        assert!(shop.get(field).is_some(), "no {field} in {shop}");
    }
    assert_eq!(shop["state"], "valid");
    assert_eq!(shop["api"], "classic");
    assert_eq!(shop["calls_24h"], 1);
    assert_eq!(shop["daily_budget"], 1800);
    assert_eq!(shop["last_outcome"], "ok");

    let prom_file = env.path("textfile/wxtoken.prom");
    std::fs::create_dir_all(prom_file.parent().unwrap()).unwrap();
    let run = env.run(&[
        "status",
        "--format",
        "prometheus",
        "--output",
        prom_file.to_str().unwrap(),
    ]);
    run.expect(0);
    assert_eq!(run.stdout(), "");
    let prom = std::fs::read_to_string(&prom_file).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(prom_file.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    for metric in [
        "wxtoken_token_expiry_timestamp_seconds",
        "wxtoken_refresh_failures_consecutive",
        "wxtoken_upstream_calls_24h",
    ] {
        assert!(prom.contains(&format!("# HELP {metric} ")), "{prom}");
        assert!(prom.contains(&format!("# TYPE {metric} gauge\n")), "{prom}");
    }
    let expiry = value_of(
        &prom,
        "wxtoken_token_expiry_timestamp_seconds{app=\"corp\",kind=\"agent_config_ticket\"}",
    );
    assert!((expiry - (now() + 7200) as f64).abs() < 10.0, "{expiry}");
    assert_eq!(
        value_of(
            &prom,
            "wxtoken_upstream_calls_24h{app=\"shop\",kind=\"access_token\"}"
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &prom,
            "wxtoken_refresh_failures_consecutive{app=\"mini\",kind=\"access_token\"}"
        ),
        0.0
    );
    // Every sample line is `name{labels} value`.
    for line in prom.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(
            series.starts_with("wxtoken_") && series.ends_with('}'),
            "{line}"
        );
        value.parse::<f64>().unwrap();
    }
}

fn value_of(prom: &str, series: &str) -> f64 {
    prom.lines()
        .find_map(|l| l.strip_prefix(series).map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no {series} in\n{prom}"))
}

#[test]
fn status_without_a_database_lists_the_config_and_creates_nothing() {
    let up = StandIn::wechat();
    let env = three_apps(&up);
    let out = env.run(&["status"]).expect(0).stdout();
    assert_eq!(
        out.lines().filter(|l| l.contains("missing")).count(),
        7,
        "{out}"
    );
    assert!(!env.db.exists());
    env.run(&["history"]).expect(0);
    assert!(!env.db.exists());
}

#[test]
fn history_is_newest_first() {
    let up = StandIn::script(vec![
        Reply::status(500, ""),
        Reply::token("T1", 7200),
        Reply::errcode(40164, "invalid ip 1.2.3.4"),
    ]);
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    std::thread::sleep(Duration::from_millis(20));
    env.refresh(&["--force"]).expect(1);
    let out = env.run(&["history"]).expect(0).stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("WHEN"), "{out}");
    assert!(
        lines[1].contains("error (forced)") || lines[1].contains("error"),
        "{out}"
    );
    assert!(lines[1].contains("40164"), "{out}");
    assert!(lines[2].contains(" ok "), "{out}");
    assert!(lines[3].contains("HTTP 500"), "{out}");
    let limited = env.run(&["history", "--limit", "1"]).expect(0).stdout();
    assert_eq!(limited.lines().count(), 2);
    env.run(&["history", "--app", "other"]).expect(3);
}

#[test]
fn invalidate_compares_and_sets() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&["--name", "shop"]).expect(0);
    let token = env.run(&["show"]).expect(0).stdout().trim().to_string();
    // A caller that saw 40001 with an older token cannot throw the stored one away.
    let run = env.run(&["invalidate", "--app", "shop", "--if-token", "OLDER-TOKEN"]);
    run.expect(0).stderr_has("a newer one is already stored");
    env.run(&["show"]).expect(0);
    let run = env.run(&["invalidate", "--app", "shop", "--if-token", &token]);
    run.expect(0);
    assert_eq!(run.stderr(), "");
    env.run(&["show"]).expect(3).stderr_has("invalidated");
    env.run(&["invalidate", "--app", "shop"])
        .expect(0)
        .stderr_has("already invalidated");
    env.run(&["invalidate", "--app", "nope"])
        .expect(2)
        .stderr_has("no app \"nope\" in the database (it holds shop)");
    env.refresh(&["--name", "shop"]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 2, "the next refresh fetched");
    env.run(&["show"]).expect(0);
    let fresh = Env::new();
    fresh.run(&["invalidate", "--app", "shop"]).expect(2);
    assert!(!fresh.db.exists());
}

/// A token call as the history records it: forced (`force_refresh`, stable
/// apps) or not.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    Plain,
    Forced,
}

/// Records `n` successful `call`s of `app`'s token, made `ago`.
fn past_calls(env: &Env, app: &str, n: usize, call: Call, ago: Duration) {
    let at = now() * 1000 - ago.as_millis() as i64;
    let forced = call == Call::Forced;
    let conn = env.sql();
    for _ in 0..n {
        conn.execute(
            "INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced)
             VALUES (?1, 'access_token', ?2, 5, 'ok', ?3)",
            rusqlite::params![app, at, forced],
        )
        .unwrap();
    }
}

#[test]
fn the_quota_guard_stops_classic_calls_at_the_daily_budget() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "daily_budget = 5");
    env.run(&["refresh"]).expect(0);
    // 1 real call + 3 older ones = 4 < 5: allowed.
    past_calls(&env, "shop", 3, Call::Plain, Duration::from_secs(3600));
    // Calls older than 24 hours do not count.
    past_calls(
        &env,
        "shop",
        50,
        Call::Plain,
        Duration::from_secs(25 * 3600),
    );
    env.run(&["refresh", "--force"]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 2);
    // Now 5 calls in 24 hours: refused, the stored token untouched.
    let before = env.dump();
    let run = env.run(&["refresh", "--force"]);
    run.expect(1)
        .stderr_has("quota guard: 5 token calls in the last 24 hours, daily_budget is 5");
    assert_eq!(up.count("/cgi-bin/token"), 2);
    assert_eq!(env.dump(), before);
    let status = env.run(&["status", "--format", "json"]).expect(0).stdout();
    let json: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(json[0]["calls_24h"], 5);
    assert_eq!(json[0]["last_outcome"], "refused");
    assert_eq!(json[0]["failures_in_a_row"], 1);
}

#[test]
fn the_quota_guard_limits_forced_stable_calls() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&["--api", "stable", "--name", "mini"])
        .expect(0);
    env.refresh(&["--api", "stable", "--name", "mini", "--force"])
        .expect(0);
    // A second forced call within 30 s is refused.
    env.refresh(&["--api", "stable", "--name", "mini", "--force"])
        .expect(1)
        .stderr_has("less than 30s ago");
    assert_eq!(up.count("/cgi-bin/stable_token"), 2);
    // 20 forced calls in 24 hours (older than 30 s): refused.
    past_calls(&env, "mini", 19, Call::Forced, Duration::from_secs(60));
    env.refresh(&["--api", "stable", "--name", "mini", "--force"])
        .expect(1)
        .stderr_has("20 forced stable calls in the last 24 hours");
    // A normal (unforced) refresh is not limited by it.
    env.refresh(&["--api", "stable", "--name", "mini", "--ahead", "3h"])
        .expect(0);
    assert_eq!(up.count("/cgi-bin/stable_token"), 3);
}

#[test]
fn a_clock_far_from_upstream_gets_one_warning() {
    let skewed = standin::http_date(now() + 3600);
    let wechat = standin::wechat(Duration::ZERO, 7200);
    let up = StandIn::start(move |req| wechat(req).header("date", &skewed));
    let env = three_apps(&up);
    let run = env.run(&["refresh"]);
    run.expect(0);
    assert_eq!(
        run.stderr().matches("the local clock is").count(),
        1,
        "{}",
        run.stderr()
    );
    // The Date header was fixed when the stand-in started, and the run reads
    // the clock a moment later (a second or two on a busy machine): 3600 s
    // behind, give or take 2.
    let err = run.stderr();
    let behind: i64 = err
        .split("s behind")
        .next()
        .and_then(|head| head.rsplit(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no \"NNNNs behind\" in:\n{err}"));
    assert!((3598..=3602).contains(&behind), "{behind}s behind:\n{err}");
    let good = standin::http_date(now());
    let wechat = standin::wechat(Duration::ZERO, 7200);
    let up = StandIn::start(move |req| wechat(req).header("date", &good));
    let env = Env::with(&up);
    assert_eq!(env.refresh(&[]).expect(0).stderr(), "");
}

/// More apps than one SQL statement takes parameters for; a second run finds all
/// of them fresh and calls nothing.
#[test]
fn many_apps_in_one_run() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    let names: Vec<String> = (0..1200).map(|i| format!("app{i}")).collect();
    env.config_apps(&names.iter().map(String::as_str).collect::<Vec<_>>(), "");
    env.run(&["refresh", "--jobs", "64"]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 1200);
    assert_eq!(env.dump().len(), 1200);
    env.run(&["refresh", "--jobs", "64"]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 1200, "all fresh: no call");
}

/// An app whose secret cannot be read is a configuration error (exit 2) that
/// names the config file, but the other apps are still refreshed.
#[test]
fn an_unreadable_secret_stops_only_its_app() {
    let up = StandIn::wechat();
    let mut env = three_apps(&up);
    env.extra.retain(|(k, _)| k != "CORP_SECRET");
    let run = env.run(&["refresh"]);
    run.expect(2)
        .stderr_has("config ")
        .stderr_has("app \"corp\": secret_env CORP_SECRET is not set (cron");
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    env.run(&["show", "--app", "shop"]).expect(0);
    env.run(&["show", "--app", "mini"]).expect(0);
    env.run(&["show", "--app", "corp"]).expect(3);
}

/// A relative secret_file is found beside the config file, wherever cron starts.
#[test]
fn a_relative_secret_file_is_relative_to_the_config() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    let etc = env.path("etc");
    std::fs::create_dir(&etc).unwrap();
    std::fs::write(
        etc.join("config.toml"),
        "[[app]]\nname = \"shop\"\nappid = \"wxshop\"\nsecret_file = \"shop.secret\"\n",
    )
    .unwrap();
    std::fs::write(etc.join("shop.secret"), SECRET).unwrap();
    std::fs::set_permissions(
        etc.join("shop.secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    env.set("WXTOKEN_CONFIG", etc.join("config.toml").to_str().unwrap());
    env.run(&["refresh"]).expect(0);
    assert_eq!(up.requests()[0].query["secret"], SECRET);
}

#[test]
fn config_mistakes_get_hints() {
    let env = Env::new();
    let config = env.path("config.toml");
    for (text, needle) in [
        (
            "[app]\nname = \"a\"\n",
            "write each app as [[app]] (two brackets)",
        ),
        (
            "[[app]]\nname = \"m\"\napi = \"stable\"\nappid = \"x\"\nsecret_env = \"S\"\ndaily_budget = 10\n",
            "field daily_budget: the daily budget guards classic token calls only",
        ),
        (
            "[[app]]\nname = \"m\"\nappid = \"x\"\nsecret_env = \"S\"\napi_base = \"api.weixin.qq.com\"\n",
            "field api_base: \"api.weixin.qq.com\" is not an http:// or https:// URL",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        env.run(&["--config", config.to_str().unwrap(), "refresh"])
            .expect(2)
            .stderr_has(needle);
    }
}

#[test]
fn a_stable_force_warns_about_its_daily_limit() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.run(&["refresh", "--api", "stable", "--appid", "wxs"])
        .expect(0);
    let run = env.run(&["refresh", "--api", "stable", "--appid", "wxs", "--force"]);
    run.expect(0)
        .stderr_has("warning: wxs: --force on a stable app calls force_refresh, which WeChat allows 20 times a day (0 used");
}

/// A call that never reached upstream (connection refused) is in the history but
/// not counted against the quota.
#[test]
fn unreached_calls_do_not_count_as_calls() {
    let closed = Refusing::new();
    let mut env = Env::new();
    env.api_base = Some(closed.url());
    let run = env.refresh(&["--timeout", "1s"]);
    run.expect(1)
        .stderr_has("could not reach 127.0.0.1: connection refused");
    assert!(
        !run.stderr().contains("DNS"),
        "not a DNS failure: {}",
        run.stderr()
    );
    let out = env.run(&["status", "--format", "json"]).expect(0).stdout();
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json[0]["last_outcome"], "unreached");
    assert_eq!(json[0]["calls_24h"], 0);
    assert!(json[0]["failures_in_a_row"].as_i64().unwrap() >= 1);
}

#[test]
fn show_explains_a_ticket_that_is_not_configured() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&["--name", "shop"]).expect(0);
    env.run(&["show", "--app", "shop", "--ticket", "jsapi"])
        .expect(3)
        .stderr_has("list it in the app's tickets in the config file");
}

/// Without --config, the config is `$XDG_CONFIG_HOME/wxtoken/config.toml`
/// (`~/.config/...`) when it exists.
#[test]
fn the_default_config_file_is_found() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    let dir = env.path("xdg/wxtoken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[[app]]\nname = \"found\"\nappid = \"wxfound\"\nsecret_env = \"S\"\n",
    )
    .unwrap();
    env.set("S", SECRET);
    env.set("XDG_CONFIG_HOME", env.path("xdg").to_str().unwrap());
    env.run(&["refresh"]).expect(0);
    env.run(&["show", "--app", "found"]).expect(0);
    // HOME's ~/.config when XDG_CONFIG_HOME is not set.
    let home_config = env.dir.path().join(".config/wxtoken");
    std::fs::create_dir_all(&home_config).unwrap();
    std::fs::rename(dir.join("config.toml"), home_config.join("config.toml")).unwrap();
    env.extra.retain(|(k, _)| k != "XDG_CONFIG_HOME");
    let out = env.run(&["status", "--format", "json"]).expect(0).stdout();
    assert!(out.contains("\"configured\": true"), "{out}");
}

/// -q keeps only errors on stderr; -v adds what refresh did.
#[test]
fn quiet_and_verbose() {
    let up = StandIn::wechat();
    let env = three_apps(&up);
    let mini = env.path("mini.secret");
    std::fs::set_permissions(&mini, std::fs::Permissions::from_mode(0o644)).unwrap();
    let quiet = env.run(&["-q", "refresh", "--app", "mini"]);
    quiet.expect(0);
    assert_eq!(quiet.stderr(), "", "-q hides the warning");
    let verbose = env.run(&["-v", "refresh", "--app", "mini", "--force"]);
    verbose
        .expect(0)
        .stderr_has("warning: app \"mini\": secret file")
        .stderr_has("info: mini: new token");
}

/// The one-app command line cannot overwrite an app of the config with another
/// appid under the same name.
#[test]
fn the_command_line_does_not_overwrite_a_configured_app() {
    let up = StandIn::wechat();
    let env = three_apps(&up);
    env.run(&["refresh", "--appid", "wxother", "--name", "shop"])
        .expect(2)
        .stderr_has("app \"shop\" is in the config")
        .stderr_has("wx85871939f7f9b647");
    assert_eq!(up.requests().len(), 0);
    // The same appid and API is the same app: allowed.
    env.run(&["refresh", "--appid", "wx85871939f7f9b647", "--name", "shop"])
        .expect(0);
}
