//! `wxtoken push --platform NAME`: signed, encrypted pushes (built by
//! support/wxcrypt.rs, checked against the V1 vector there) through the real
//! binary, on stdin and as a CGI program. What is refused stores nothing.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::support::platform::{COMPONENT_APPID, PROVIDER_CORPID, SUITE_ID, authorizer_appid};
use crate::support::wxcrypt::{self, Push, WxCrypt};
use crate::support::{Backend, Env, Run, both, now};

pub const TOKEN: &str = "pushToken123";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const NONCE: &str = "1320562132";

pub fn crypt() -> WxCrypt {
    WxCrypt::new(TOKEN, AES_KEY)
}

/// An environment whose config has an Open Platform `acme`, a WeCom suite
/// `suite` (with the provider's corpid) and a provider `prov`.
pub fn setup(backend: Backend) -> Env {
    let mut env = backend.env();
    std::fs::write(env.path("push.token"), TOKEN).unwrap();
    std::fs::write(env.path("push.aeskey"), AES_KEY).unwrap();
    for f in ["push.token", "push.aeskey"] {
        std::fs::set_permissions(env.path(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    env.run(&["keygen", env.path("store.key").to_str().unwrap()])
        .expect(0);
    let config = format!(
        r#"
[[platform]]
name = "acme"
kind = "open_platform"
appid = "{COMPONENT_APPID}"
secret_env = "PLATFORM_SECRET"
message_token_file = "push.token"
aes_key_file = "push.aeskey"
store_key_file = "store.key"

[[platform]]
name = "suite"
kind = "wecom_suite"
appid = "{SUITE_ID}"
secret_env = "PLATFORM_SECRET"
message_token_file = "push.token"
aes_key_file = "push.aeskey"
store_key_file = "store.key"
provider_corpid = "{PROVIDER_CORPID}"

[[platform]]
name = "prov"
kind = "wecom_provider"
appid = "{PROVIDER_CORPID}"
secret_env = "PLATFORM_SECRET"
"#
    );
    let path = env.path("config.toml");
    std::fs::write(&path, config).unwrap();
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
    env.set("PLATFORM_SECRET", "platform-secret-not-real");
    env
}

pub fn feed(mut cmd: Command, body: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refused body may be left unread: the write may then fail.
    let _ = stdin.write_all(body);
    drop(stdin);
    Run(child.wait_with_output().unwrap())
}

/// `push --platform NAME --query Q` with `body` on stdin, storing a pushed code only (`--no-exchange`): the tests of what it
/// stores need no exchange racing them (see [`push_exchanging`]).
pub fn push_raw(env: &Env, platform: &str, query: &str, body: &[u8]) -> Run {
    let args = [
        "push",
        "--platform",
        platform,
        "--query",
        query,
        "--no-exchange",
    ];
    feed(env.command(&args), body)
}

pub fn push(env: &Env, platform: &str, p: &Push) -> Run {
    push_raw(env, platform, &p.query, p.body.as_bytes())
}

/// `push` as WeChat runs it: a pushed code is exchanged after the answer, by
/// a process of its own.
pub fn push_exchanging(env: &Env, platform: &str, p: &Push) -> Run {
    let args = ["push", "--platform", platform, "--query", &p.query];
    feed(env.command(&args), p.body.as_bytes())
}

/// Waits (up to 20 s) until `done` says the detached exchange has finished.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < until, "not within 20 s: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `push --platform NAME --no-exchange` as a CGI program.
pub fn cgi(env: &Env, platform: &str, method: &str, query: &str, body: &[u8]) -> Run {
    let mut cmd = env.command(&["push", "--platform", platform, "--no-exchange"]);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", method)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string());
    feed(cmd, body)
}

pub fn ts() -> String {
    now().to_string()
}

pub fn op_push(msg: &str) -> Push {
    crypt().open_platform_push(COMPONENT_APPID, msg, &ts(), NONCE)
}

pub fn authorized(appid: &str, code: &str, info_type: &str, create: i64, expired: i64) -> String {
    format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{create}</CreateTime><InfoType><![CDATA[{info_type}]]></InfoType><AuthorizerAppid><![CDATA[{appid}]]></AuthorizerAppid><AuthorizationCode><![CDATA[{code}]]></AuthorizationCode><AuthorizationCodeExpiredTime>{expired}</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[preauthcode@@@x]]></PreAuthCode></xml>"
    )
}

fn unauthorized(appid: &str) -> String {
    format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{appid}]]></AuthorizerAppid></xml>",
        now()
    )
}

/// Every stored row of both tables, as text.
pub fn everything(env: &Env) -> Vec<String> {
    let mut all = env.dump();
    let has_table = match &env.pg {
        Some(pg) => pg.has_table("wxtoken_customers"),
        None => env.db.exists(),
    };
    if has_table {
        for r in env.rows("SELECT * FROM wxtoken_customers ORDER BY platform, appid") {
            all.push(format!("{r:?}"));
        }
    }
    all
}

fn ticket_row(env: &Env, kind: &str) -> Vec<Option<String>> {
    let rows = env.rows(&format!(
        "SELECT value, fetched_at, expires_at, api, appid FROM wxtoken_tokens WHERE kind = '{kind}'"
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].clone()
}

both! {
    fn a_verify_ticket_is_stored_for_12_hours_from_its_create_time(backend) {
        let env = setup(backend);
        let created = now() - 30;
        let p = op_push(&wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@T1-abc", created));
        let run = push(&env, "acme", &p);
        run.expect(0);
        assert_eq!(run.stdout(), "success");
        let row = ticket_row(&env, "component_verify_ticket");
        let text = |s: &str| Some(s.to_string());
        assert_eq!(row, vec![text("ticket@@@T1-abc"), text(&created.to_string()),
            text(&(created + 43_200).to_string()), text("open_platform"), text(COMPONENT_APPID)]);
        assert_eq!(ticket_row(&env, "component_verify_ticket")[0], text("ticket@@@T1-abc"));
    }
}

both! {
    fn the_newest_ticket_wins_whatever_the_order_of_arrival(backend) {
        let env = setup(backend);
        let t = now();
        push(&env, "acme", &op_push(&wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@new", t - 10))).expect(0);
        // A delayed retry of an older push (within the 300 s its own time may be
        // off): acknowledged, not stored over the newer.
        push(&env, "acme", &op_push(&wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@old", t - 250))).expect(0);
        assert_eq!(ticket_row(&env, "component_verify_ticket")[0].as_deref(), Some("ticket@@@new"));
        push(&env, "acme", &op_push(&wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@newer", t))).expect(0);
        assert_eq!(ticket_row(&env, "component_verify_ticket")[0].as_deref(), Some("ticket@@@newer"));
    }
}

#[test]
fn as_a_cgi_program_it_answers_with_headers_and_reads_content_length_bytes() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@cgi",
        now(),
    ));
    // The web server may leave more on stdin than CONTENT_LENGTH says.
    let mut cmd = env.command(&["push", "--platform", "acme"]);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", &p.query)
        .env("CONTENT_LENGTH", p.body.len().to_string());
    let run = feed(cmd, format!("{}trailing junk", p.body).as_bytes());
    run.expect(0);
    assert_eq!(
        run.stdout(),
        "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nsuccess"
    );
    assert_eq!(
        ticket_row(&env, "component_verify_ticket")[0].as_deref(),
        Some("ticket@@@cgi")
    );
}

both! {
    fn an_authorization_keeps_the_code_sealed_until_it_is_exchanged(backend) {
        let env = setup(backend);
        let appid = authorizer_appid(1);
        let code = "queryauthcode@@@RAW-CODE-must-not-be-stored";
        let created = now();
        let run = push(&env, "acme", &op_push(&authorized(&appid, code, "authorized", created, created + 3600)));
        run.expect(0);
        assert_eq!(run.stdout(), "success");
        let rows = env.rows("SELECT appid, state, credential, pending_code, pending_until, authorized_at FROM wxtoken_customers");
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r[0].as_deref(), Some(appid.as_str()));
        assert_eq!(r[1].as_deref(), Some("active"));
        assert_eq!(r[2], None);
        assert!(r[3].as_deref().unwrap().starts_with("v1:"), "{r:?}");
        assert_eq!(r[4], Some((created + 3600).to_string()));
        assert_eq!(r[5], Some(created.to_string()));
        assert!(!format!("{:?}", everything(&env)).contains("RAW-CODE"));
        // updateauthorized: a new code; an expiry that is no time after the push is unknown.
        push(&env, "acme", &op_push(&authorized(&appid, "queryauthcode@@@SECOND", "updateauthorized", created, 3600))).expect(0);
        let r = &env.rows("SELECT pending_code, pending_until, authorized_at FROM wxtoken_customers")[0];
        assert_ne!(r[0], rows[0][3]);
        assert_eq!(r[1], None);
        assert_eq!(r[2], Some(created.to_string()));
        assert!(!format!("{:?}", everything(&env)).contains("SECOND"));
    }
}

both! {
    fn an_unauthorized_push_revokes_the_customer_and_its_tokens(backend) {
        let env = setup(backend);
        let appid = authorizer_appid(2);
        push(&env, "acme", &op_push(&authorized(&appid, "queryauthcode@@@c", "authorized", now(), now() + 3600))).expect(0);
        env.exec(&format!(
            "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at)
             VALUES ('acme/{appid}', 'access_token', 'open_platform', '{appid}', 'TOKEN-cust', {}, {})",
            now(), now() + 7200
        ));
        env.run(&["show", "--app", &format!("acme/{appid}")]).expect(0);
        push(&env, "acme", &op_push(&unauthorized(&appid))).expect(0);
        assert_eq!(env.text("SELECT state FROM wxtoken_customers"), "revoked");
        assert_eq!(env.rows("SELECT pending_code FROM wxtoken_customers")[0][0], None);
        env.run(&["show", "--app", &format!("acme/{appid}")]).expect(3);
        // An unknown authorizer: acknowledged, nothing stored.
        push(&env, "acme", &op_push(&unauthorized(&authorizer_appid(3)))).expect(0);
        assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers"), 1);
    }
}

#[test]
fn an_unknown_info_type_is_acknowledged_and_nothing_stored() {
    let env = setup(Backend::Sqlite);
    let msg = format!(
        "<xml><AppId><![CDATA[{COMPONENT_APPID}]]></AppId><CreateTime>{}</CreateTime><InfoType><![CDATA[notify_third_fastverifybetaapp]]></InfoType><appid>wx1</appid><status>0</status></xml>",
        now()
    );
    let mut env2 = env;
    env2.set("RUST_LOG", "info");
    let run = push(&env2, "acme", &op_push(&msg));
    run.expect(0)
        .stderr_has("InfoType \"notify_third_fastverifybetaapp\" acknowledged, nothing stored");
    assert_eq!(run.stdout(), "success");
    assert_eq!(everything(&env2), Vec::<String>::new());
}

#[test]
fn a_provider_or_unknown_platform_takes_no_pushes() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@x",
        now(),
    ));
    push(&env, "prov", &p)
        .expect(2)
        .stderr_has("push to platform \"prov\": a wecom_provider receives no pushes");
    // As a CGI program: the server's configuration is wrong, not the push.
    let run = cgi(&env, "prov", "POST", &p.query, p.body.as_bytes());
    run.expect(2);
    assert!(
        run.stdout()
            .starts_with("Status: 500 Internal Server Error\r\n"),
        "{}",
        run.stdout()
    );
    push(&env, "nope", &p)
        .expect(2)
        .stderr_has("no platform \"nope\" in config");
    push_raw(&env, "acme", "", p.body.as_bytes())
        .expect(1)
        .stderr_has("the query has no msg_signature");
    assert_eq!(everything(&env), Vec::<String>::new());
}

/// The web server that runs `push` needs the Token, the EncodingAESKey and the
/// store key, never the platform's secret (only `refresh` uses it).
#[test]
fn a_push_and_an_import_need_no_platform_secret() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@nosecret",
        now(),
    ));
    let mut cmd = env.command(&["push", "--platform", "acme", "--query", &p.query]);
    cmd.env_remove("PLATFORM_SECRET");
    let run = feed(cmd, p.body.as_bytes());
    run.expect(0);
    assert_eq!(run.stdout(), "success");
    let appid = authorizer_appid(1);
    let file = env.path("auth.csv");
    std::fs::write(&file, format!("{appid},refreshtoken@@@x\n")).unwrap();
    let mut cmd = env.command(&[
        "authorizers",
        "import",
        "--platform",
        "acme",
        file.to_str().unwrap(),
    ]);
    cmd.env_remove("PLATFORM_SECRET");
    Run(cmd.output().unwrap()).expect(0);
}
