use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::app::SecretSource;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const NOW: i64 = 1_795_657_000;

fn platform(kind: Api) -> Platform {
    Platform {
        name: "acme".to_string(),
        kind,
        appid: "wxcomponent".to_string(),
        secret: SecretSource::Env("UNUSED".to_string()),
        message_token: None,
        aes_key: None,
        store_key_file: None,
        tickets: Vec::new(),
        provider_corpid: Some("wwprovider".to_string()),
        api_base: "https://api.weixin.qq.com".to_string(),
        exchange_timeout: std::time::Duration::from_secs(30),
    }
}

/// A push of `msg` correctly signed and encrypted for the platform, sent at `timestamp`.
fn signed(msg: &str, timestamp: &str) -> (BTreeMap<String, String>, String) {
    let crypt = MsgCrypt::new("token", KEY).unwrap();
    let encrypt = crypt.encrypt(msg, "wxcomponent", [7; 16]).unwrap();
    let query = BTreeMap::from([
        (
            "msg_signature".to_string(),
            crypt.signature(timestamp, "n", &encrypt),
        ),
        ("timestamp".to_string(), timestamp.to_string()),
        ("nonce".to_string(), "n".to_string()),
    ]);
    (query, format!("<xml><Encrypt>{encrypt}</Encrypt></xml>"))
}

#[test]
fn an_extreme_signed_timestamp_is_refused_not_overflowed() {
    let crypt = MsgCrypt::new("token", KEY).unwrap();
    for t in [i64::MIN, i64::MAX, -1, 0] {
        let (query, body) = signed("<xml/>", &t.to_string());
        let p = platform(Api::OpenPlatform);
        let err = read(&p, &crypt, &query, body.as_bytes(), NOW).unwrap_err();
        assert_eq!(err.status, 403, "{t}: {err}");
    }
}

/// A component_verify_ticket push whose own CreateTime is `created`.
fn ticket_push(created: i64) -> String {
    format!(
        "<xml><AppId>wxcomponent</AppId><CreateTime>{created}</CreateTime>\
         <InfoType>component_verify_ticket</InfoType>\
         <ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket></xml>"
    )
}

#[test]
fn a_push_signed_or_made_max_age_away_is_taken_a_second_more_is_not() {
    let crypt = MsgCrypt::new("token", KEY).unwrap();
    let p = platform(Api::OpenPlatform);
    for (off, taken) in [
        (MAX_AGE, true),
        (-MAX_AGE, true),
        (MAX_AGE + 1, false),
        (-MAX_AGE - 1, false),
    ] {
        // The query's timestamp, then the message's CreateTime.
        for (sent, created) in [(NOW + off, NOW), (NOW, NOW + off)] {
            let (query, body) = signed(&ticket_push(created), &sent.to_string());
            let got = read(&p, &crypt, &query, body.as_bytes(), NOW);
            match got {
                Ok(Event::Ticket { .. }) => assert!(taken, "{sent} {created}"),
                Err(e) => {
                    assert!(!taken, "{sent} {created}: {e}");
                    assert_eq!(e.status, 403);
                    assert!(e.why.contains("more than 300s"), "{e}");
                }
                Ok(other) => panic!("{other:?}"),
            }
        }
    }
}

/// WeCom's URL check of a suite: `echostr` decrypts to `plain`.
fn url_check(plain: &str) -> BTreeMap<String, String> {
    let crypt = MsgCrypt::new("token", KEY).unwrap();
    let echostr = crypt.encrypt(plain, "wxcomponent", [7; 16]).unwrap();
    let ts = NOW.to_string();
    BTreeMap::from([
        (
            "msg_signature".to_string(),
            crypt.signature(&ts, "n", &echostr),
        ),
        ("timestamp".to_string(), ts),
        ("nonce".to_string(), "n".to_string()),
        ("echostr".to_string(), echostr),
    ])
}

#[test]
fn a_url_check_answers_a_short_random_string_only() {
    let crypt = MsgCrypt::new("token", KEY).unwrap();
    let p = platform(Api::WecomSuite);
    let longest = "a".repeat(MAX_ECHO);
    for plain in ["5927782489442352469", "A+/=b~!", longest.as_str()] {
        match read(&p, &crypt, &url_check(plain), b"", NOW) {
            Ok(Event::Echo(answer)) => assert_eq!(answer, plain),
            other => panic!("{plain}: {other:?}"),
        }
    }
    let longer = "a".repeat(MAX_ECHO + 1);
    for plain in [longer.as_str(), "<xml>", "a b", "a\tb", "é"] {
        let err = read(&p, &crypt, &url_check(plain), b"", NOW).unwrap_err();
        assert_eq!(err.status, 403, "{plain}: {err}");
        assert!(err.why.contains("a push replayed as a URL check?"), "{err}");
    }
}

#[test]
fn a_percent_escaped_plus_is_a_plus_and_a_bare_plus_stays() {
    let q = parse_query("echostr=a%2Bb%2F%3D&x=a+b&flag").unwrap();
    assert_eq!(q["echostr"], "a+b/=");
    assert_eq!(q["x"], "a+b");
    assert_eq!(q["flag"], "");
    assert!(parse_query("a=1&a=2").is_err());
    assert!(parse_query("a=%FF").is_err());
}

#[test]
fn pushed_values_admit_at_signs_and_nothing_a_shell_reads() {
    assert!(pushed_alphabet("ticket@@@AbC-_.~+/="));
    for bad in ["a b", "a;b", "a$b", "a'b", "a\nb", "a`b", "a(b", "é"] {
        assert!(!pushed_alphabet(bad), "{bad}");
    }
}

proptest! {
    #[test]
    fn arbitrary_query_strings_never_panic(q in ".{0,300}") {
        let _ = parse_query(&q);
    }

    /// Signed pushes of arbitrary messages (what only a key holder could send)
    /// never panic either, whatever their fields say.
    #[test]
    fn arbitrary_signed_messages_never_panic(
        info in prop::sample::select(vec!["component_verify_ticket", "authorized", "unauthorized",
            "suite_ticket", "create_auth", "change_auth", "cancel_auth", "reset_permanent_code", "x"]),
        id in prop::sample::select(vec!["wxcomponent", "other", ""]),
        time in prop::sample::select(vec!["1795657000".to_string(), i64::MAX.to_string(),
            i64::MIN.to_string(), "-1".to_string(), "x".to_string()]),
        value in "[ -~]{0,40}",
        suite in any::<bool>(),
    ) {
        let msg = format!(
            "<xml><AppId>{id}</AppId><SuiteId>{id}</SuiteId><InfoType>{info}</InfoType>\
             <CreateTime>{time}</CreateTime><TimeStamp>{time}</TimeStamp>\
             <ComponentVerifyTicket><![CDATA[{value}]]></ComponentVerifyTicket>\
             <SuiteTicket><![CDATA[{value}]]></SuiteTicket><AuthCode><![CDATA[{value}]]></AuthCode>\
             <AuthorizerAppid><![CDATA[{value}]]></AuthorizerAppid><AuthCorpId><![CDATA[{value}]]></AuthCorpId>\
             <AuthorizationCode><![CDATA[{value}]]></AuthorizationCode>\
             <AuthorizationCodeExpiredTime>{time}</AuthorizationCodeExpiredTime></xml>"
        );
        let kind = if suite { Api::WecomSuite } else { Api::OpenPlatform };
        let crypt = MsgCrypt::new("token", KEY).unwrap();
        let (query, body) = signed(&msg, &NOW.to_string());
        let _ = read(&platform(kind), &crypt, &query, body.as_bytes(), NOW);
    }
}
