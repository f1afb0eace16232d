//! Text that others control leaves the process escaped: customer appids from
//! the database in log lines and in `authorizers list --format json`; and
//! what upstream's authorizer list says is checked as pushes and imports are.

use crate::support::platform::*;
use crate::support::platform_env::*;
use crate::support::standin::{Reply, Request};
use crate::support::{Backend, Env, StandIn, both};

/// An appid with a terminal escape, a C1 control and a bidi override.
const HOSTILE: &str = "wx\u{1b}[2J\u{85}evil\u{202e}gnp.exe";

fn raw_controls(text: &str) -> bool {
    text.contains('\u{1b}') || text.contains('\u{85}') || text.contains('\u{202e}')
}

/// A platform stand-in whose authorizer list is `list` (JSON array).
fn with_list(backend: Backend, list: &'static str) -> (StandIn, Env) {
    let p = Platforms::new();
    let inner = p.handler();
    let up = StandIn::start(move |req: &Request| {
        if req.path.ends_with("api_get_authorizer_list") {
            let n = list.matches("authorizer_appid").count();
            Reply::json(format!(r#"{{"total_count":{n},"list":{list}}}"#))
        } else {
            inner(req)
        }
    });
    let env = env(backend, &up, Some("[]"), false);
    p.push_ticket(TICKET);
    plant_ticket(
        &env,
        "acme",
        "component_verify_ticket",
        COMPONENT_APPID,
        TICKET,
        60,
    );
    env.run(&["refresh", "--app", "acme"]).expect(0);
    (up, env)
}

both! {
    /// A customer appid another database writer planted reaches neither the
    /// log lines of `refresh -v` nor `authorizers list` (table or JSON) raw.
    fn hostile_appids_are_escaped_in_logs_and_json(backend) {
        let (_up, env) = with_list(backend, "[]");
        plant_customers(&env, "acme", "authorizer_refresh_token", &[(HOSTILE, Some("rt-1"), None, "active")]);
        let run = env.run(&["-vv", "refresh"]);
        assert!(run.stderr().contains("\\u{1b}[2J"), "{}", run.stderr());
        assert!(!raw_controls(&run.stderr()), "{:?}", run.stderr());
        let run = env.run(&["authorizers", "list", "--platform", "acme", "--format", "json"]);
        run.expect(0);
        assert!(!raw_controls(&run.stdout()), "{:?}", run.stdout());
        let parsed: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        assert_eq!(parsed[0]["appid"], HOSTILE, "escaped, not changed");
        let run = env.run(&["authorizers", "list", "--platform", "acme"]);
        assert!(!raw_controls(&run.stdout()), "{:?}", run.stdout());
    }
}

both! {
    /// `authorizers sync` stores only what push and import would: an appid of
    /// letters, digits, `-` and `_`, a refresh token of WeChat's alphabet. The
    /// bad entries are skipped and named (escaped), the good ones kept.
    fn sync_skips_and_reports_entries_push_would_refuse(backend) {
        let (_up, env) = with_list(
            backend,
            r#"[{"authorizer_appid":"wxgood0000000001","refresh_token":"refreshtoken@@@good"},
                {"authorizer_appid":"..","refresh_token":"refreshtoken@@@dots"},
                {"authorizer_appid":"wx\u202egnp.exe","refresh_token":"refreshtoken@@@bidi"},
                {"authorizer_appid":"wxspaces00000001","refresh_token":"has spaces; rm -rf"},
                {"authorizer_appid":"wxgood0000000002","refresh_token":"refreshtoken@@@good2"}]"#,
        );
        let run = env.run(&["authorizers", "sync", "--platform", "acme"]);
        run.expect(0)
            .stderr_has("skipped the entry \"..\"")
            .stderr_has("skipped the entry \"wx\\u{202e}gnp.exe\"")
            .stderr_has("skipped the entry \"wxspaces00000001\": its refresh_token");
        assert!(!raw_controls(&run.stderr()), "{:?}", run.stderr());
        assert!(!run.stderr().contains("rm -rf"), "the bad token is not echoed");
        let stored = env.rows("SELECT appid FROM wxtoken_customers WHERE platform = 'acme' ORDER BY appid");
        let stored: Vec<String> = stored.into_iter().map(|r| r[0].clone().unwrap()).collect();
        assert_eq!(stored, ["wxgood0000000001", "wxgood0000000002"]);
        assert_eq!(credential(&env, "acme", "wxgood0000000002", "authorizer_refresh_token"), "refreshtoken@@@good2");
    }
}
