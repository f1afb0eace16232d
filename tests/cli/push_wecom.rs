//! `wxtoken push` for a WeCom suite: the URL check (`echostr`), suite_ticket,
//! and the authorization events of the command callback URL.

use crate::push::{cgi, crypt, everything, push, push_raw, setup, ts};
use crate::support::platform::{COMPONENT_APPID, PROVIDER_CORPID, SUITE_ID, corpid};
use crate::support::wxcrypt::{self, Push};
use crate::support::{Backend, both, now};

const NONCE: &str = "wecomnonce";

fn suite_push(msg: &str) -> Push {
    crypt().wecom_push(SUITE_ID, msg, &ts(), NONCE)
}

fn event(info_type: &str, fields: &str) -> String {
    format!(
        "<xml><SuiteId><![CDATA[{SUITE_ID}]]></SuiteId><InfoType><![CDATA[{info_type}]]></InfoType><TimeStamp>{}</TimeStamp>{fields}</xml>",
        now()
    )
}

fn auth_code(code: &str) -> String {
    format!("<AuthCode><![CDATA[{code}]]></AuthCode><State><![CDATA[s]]></State>")
}

fn corp(id: &str) -> String {
    format!("<AuthCorpId><![CDATA[{id}]]></AuthCorpId>")
}

/// What WeCom's echostr decrypts to (its base64 has `+`, `/` and `=`: the
/// first test checks the query escapes them).
const PLAIN: &str = "echo-1234567890";

#[test]
fn the_url_check_answers_the_plaintext_alone_for_the_suite_or_the_provider() {
    let env = setup(Backend::Sqlite);
    for receiver in [SUITE_ID, PROVIDER_CORPID] {
        let query = crypt().wecom_echostr(receiver, PLAIN, &ts(), NONCE);
        assert!(
            query.contains("%2B") && query.contains("%2F") && query.contains("%3D"),
            "{query}"
        );
        let run = push_raw(&env, "suite", &query, b"");
        run.expect(0);
        assert_eq!(run.stdout(), PLAIN, "{receiver}");
        let run = cgi(&env, "suite", "GET", &query, b"");
        run.expect(0);
        assert_eq!(
            run.stdout(),
            format!(
                "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{PLAIN}",
                PLAIN.len()
            )
        );
    }
    // Any corpid as the receiver (the signature is what counts, nothing is
    // stored: no provider_corpid needed); a forged one, a stale one; and
    // Open Platform has none.
    let other = crypt().wecom_echostr(&corpid(1), PLAIN, &ts(), NONCE);
    let run = push_raw(&env, "suite", &other, b"");
    assert_eq!(run.expect(0).stdout(), PLAIN);
    let odd = crypt().wecom_echostr("not/an id", PLAIN, &ts(), NONCE);
    let run = cgi(&env, "suite", "GET", &odd, b"");
    run.expect(1).stderr_has("encrypted for \"not/an id\"");
    assert!(run.stdout().starts_with("Status: 403 Forbidden\r\n"));
    let forged = crate::support::wxcrypt::WxCrypt::new("forged", crate::push::AES_KEY)
        .wecom_echostr(SUITE_ID, PLAIN, &ts(), NONCE);
    push_raw(&env, "suite", &forged, b"")
        .expect(1)
        .stderr_has("msg_signature does not match");
    let stale = crypt().wecom_echostr(SUITE_ID, PLAIN, &(now() - 1000).to_string(), NONCE);
    push_raw(&env, "suite", &stale, b"")
        .expect(1)
        .stderr_has("more than 300s");
    let open = crypt().wecom_echostr(COMPONENT_APPID, PLAIN, &ts(), NONCE);
    push_raw(&env, "acme", &open, b"")
        .expect(1)
        .stderr_has("a URL check (echostr) is WeCom's");
    assert_eq!(everything(&env), Vec::<String>::new());
}

both! {
    fn a_suite_ticket_is_stored_for_30_minutes_and_the_newest_wins(backend) {
        let env = setup(backend);
        let t = now();
        let run = push(&env, "suite", &suite_push(&wxcrypt::suite_ticket(SUITE_ID, "suiteticket-B", t - 5)));
        run.expect(0);
        assert_eq!(run.stdout(), "success");
        push(&env, "suite", &suite_push(&wxcrypt::suite_ticket(SUITE_ID, "suiteticket-A", t - 250))).expect(0);
        let rows = env.rows("SELECT app, value, fetched_at, expires_at, api, appid FROM wxtoken_tokens");
        let text = |s: &str| Some(s.to_string());
        assert_eq!(rows, vec![vec![text("suite"), text("suiteticket-B"), text(&(t - 5).to_string()),
            text(&(t - 5 + 1800).to_string()), text("wecom_suite"), text(SUITE_ID)]]);
    }
}

both! {
    fn a_suite_push_for_another_suite_stores_nothing(backend) {
        let env = setup(backend);
        let other = "wwsuite00000000002";
        // Signed and encrypted for this suite, but the message names another.
        let p = suite_push(&wxcrypt::suite_ticket(other, "suiteticket-X", now()));
        push(&env, "suite", &p).expect(1).stderr_has("the message's SuiteId is \"wwsuite00000000002\"");
        let p = crypt().wecom_push(other, &wxcrypt::suite_ticket(other, "suiteticket-X", now()), &ts(), NONCE);
        push(&env, "suite", &p).expect(1).stderr_has("addressed to \"wwsuite00000000002\" (ToUserName)");
        let p = suite_push(&wxcrypt::suite_ticket(SUITE_ID, "suite ticket;rm", now()));
        push(&env, "suite", &p).expect(1).stderr_has("SuiteTicket has characters outside");
        assert_eq!(everything(&env), Vec::<String>::new());
    }
}

both! {
    fn create_auth_keeps_the_auth_code_sealed_and_cancel_auth_revokes(backend) {
        let env = setup(backend);
        let code = "authcode-RAW-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let t = now();
        push(&env, "suite", &suite_push(&event("create_auth", &auth_code(code)))).expect(0);
        let rows = env.rows("SELECT appid, state, credential, pending_code, pending_until FROM wxtoken_customers");
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert!(r[0].as_deref().unwrap().starts_with("pending-"), "{r:?}");
        assert_eq!(r[1].as_deref(), Some("active"));
        assert_eq!(r[2], None);
        assert!(r[3].as_deref().unwrap().starts_with("v1:"));
        let until: i64 = r[4].as_deref().unwrap().parse().unwrap();
        assert!((t + 600..=t + 602).contains(&until), "{until}");
        // reset_permanent_code: another code, another pending entry.
        push(&env, "suite", &suite_push(&event("reset_permanent_code", &auth_code("authcode-second")))).expect(0);
        assert_eq!(env.int("SELECT COUNT(*) FROM wxtoken_customers WHERE pending_code IS NOT NULL"), 2);
        assert!(!format!("{:?}", everything(&env)).contains("RAW"));
        assert!(!format!("{:?}", everything(&env)).contains("authcode-second"));

        // A corp with a stored permanent code and a token.
        let corp_id = corpid(1);
        let file = env.path("corps.csv");
        std::fs::write(&file, format!("{corp_id},permanentcode@@@{corp_id}\n")).unwrap();
        env.run(&["authorizers", "import", "--platform", "suite", file.to_str().unwrap()]).expect(0);
        env.exec(&format!(
            "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at)
             VALUES ('suite/{corp_id}', 'access_token', 'wecom_suite', '{corp_id}', 'TOKEN-corp', {t}, {})", t + 7200));
        env.exec(&format!("UPDATE wxtoken_customers SET info = '{{\"corp_name\":\"x\"}}' WHERE appid = '{corp_id}'"));
        env.run(&["show", "--app", &format!("suite/{corp_id}")]).expect(0);

        // change_auth: kept active, its info to be read again (what it said
        // is kept until then).
        push(&env, "suite", &suite_push(&event("change_auth", &corp(&corp_id)))).expect(0);
        let r = &env.rows(&format!("SELECT state, info, credential FROM wxtoken_customers WHERE appid = '{corp_id}'"))[0];
        assert_eq!((r[0].as_deref(), r[1].as_deref()), (Some("active"), Some(r#"{"corp_name":"x","reread":true}"#)));
        assert!(r[2].is_some());

        push(&env, "suite", &suite_push(&event("cancel_auth", &corp(&corp_id)))).expect(0);
        let r = &env.rows(&format!("SELECT state, credential FROM wxtoken_customers WHERE appid = '{corp_id}'"))[0];
        assert_eq!((r[0].as_deref(), r[1].as_deref()), (Some("revoked"), None));
        env.run(&["show", "--app", &format!("suite/{corp_id}")]).expect(3);
    }
}
