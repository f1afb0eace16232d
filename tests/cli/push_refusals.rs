//! `wxtoken push`: what is refused (forged, tampered, stale, misaddressed,
//! malformed, too large) stores nothing, says why on one line, and as a CGI
//! program answers 403 or 400.

use std::io::Write;

use crate::push::{
    AES_KEY, NONCE, TOKEN, cgi, crypt, everything, feed, op_push, push_raw, setup, ts,
};
use crate::support::platform::COMPONENT_APPID;
use crate::support::wxcrypt::{self, WxCrypt};
use crate::support::{Backend, Run, both, now};

/// Refused pushes: (what, query, body, CGI status, stderr part).
fn refusals() -> Vec<(&'static str, String, String, &'static str, &'static str)> {
    let good = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@bad",
        now(),
    ));
    let forged = WxCrypt::new("anotherToken", AES_KEY).open_platform_push(
        COMPONENT_APPID,
        &wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@bad", now()),
        &ts(),
        NONCE,
    );
    let other_key = WxCrypt::new(TOKEN, "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut");
    let wrong_key = other_key.open_platform_push(
        COMPONENT_APPID,
        &wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@bad", now()),
        &ts(),
        NONCE,
    );
    let stale = crypt().open_platform_push(
        COMPONENT_APPID,
        &wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@bad", now()),
        &(now() - 301).to_string(),
        NONCE,
    );
    let future = crypt().open_platform_push(
        COMPONENT_APPID,
        &wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@bad", now()),
        &(now() + 400).to_string(),
        NONCE,
    );
    let mut tampered = good.body.clone();
    let flip = good.encrypt.replacen('A', "B", 1).replacen('a', "b", 1);
    tampered = tampered.replace(&good.encrypt, &flip);
    // Signed for and encrypted to another component: a misrouted URL.
    let elsewhere = {
        let msg = wxcrypt::verify_ticket("wx0c0a0e0f00000002", "ticket@@@bad", now());
        let encrypt = crypt().encrypt(&msg, "wx0c0a0e0f00000002");
        let t = ts();
        (
            format!(
                "msg_signature={}&timestamp={t}&nonce={NONCE}",
                crypt().msg_signature(&t, NONCE, &encrypt)
            ),
            format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
        )
    };
    let inner = op_push(&wxcrypt::verify_ticket(
        "wx0c0a0e0f00000002",
        "ticket@@@bad",
        now(),
    ));
    let signed = |msg: &str| op_push(msg);
    let malformed = signed("<xml><AppId>x</AppId>");
    let doctype = signed("<!DOCTYPE xml [<!ENTITY a \"b\">]><xml><AppId>&a;</AppId></xml>");
    let bad_ticket = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket with spaces",
        now(),
    ));
    let future_ticket = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@bad",
        now() + 3600,
    ));
    let no_query = good.query.replace("msg_signature=", "msg_sig=");
    vec![
        (
            "a forged signature",
            forged.query,
            forged.body,
            "403",
            "msg_signature does not match",
        ),
        (
            "a tampered Encrypt",
            good.query.clone(),
            tampered,
            "403",
            "msg_signature does not match",
        ),
        (
            "a stale timestamp",
            stale.query,
            stale.body,
            "403",
            "s ago, more than 300s",
        ),
        (
            "a timestamp far ahead",
            future.query,
            future.body,
            "403",
            "s ahead of this host's clock, more than 300s",
        ),
        (
            "another receiver id",
            elsewhere.0,
            elsewhere.1,
            "403",
            "encrypted for \"wx0c0a0e0f00000002\"",
        ),
        (
            "another envelope AppId",
            inner.query.clone(),
            inner
                .body
                .replace(&format!("[{COMPONENT_APPID}]"), "[wx0c0a0e0f00000002]"),
            "403",
            "addressed to \"wx0c0a0e0f00000002\"",
        ),
        (
            "another inner AppId",
            inner.query.clone(),
            inner.body.clone(),
            "403",
            "the message's AppId is \"wx0c0a0e0f00000002\"",
        ),
        (
            "the wrong EncodingAESKey",
            wrong_key.query,
            wrong_key.body,
            "",
            "EncodingAESKey",
        ),
        (
            "malformed XML",
            good.query.clone(),
            "<xml><Encrypt>".to_string(),
            "400",
            "not well-formed",
        ),
        (
            "malformed inner XML",
            malformed.query,
            malformed.body,
            "400",
            "decrypted message: XML body is not well-formed",
        ),
        ("a DOCTYPE", doctype.query, doctype.body, "400", "DOCTYPE"),
        (
            "a huge body",
            good.query.clone(),
            format!("<xml>{}</xml>", "x".repeat(70_000)),
            "400",
            "65536",
        ),
        (
            "a missing msg_signature",
            no_query,
            good.body.clone(),
            "400",
            "the query has no msg_signature",
        ),
        (
            "a ticket outside the alphabet",
            bad_ticket.query,
            bad_ticket.body,
            "400",
            "ComponentVerifyTicket has characters outside",
        ),
        (
            "a CreateTime far ahead",
            future_ticket.query,
            future_ticket.body,
            "403",
            "CreateTime",
        ),
    ]
}

both! {
    fn forged_stale_misaddressed_or_malformed_pushes_store_nothing(backend) {
        let env = setup(backend);
        for (what, query, body, _, why) in refusals() {
            let run = push_raw(&env, "acme", &query, body.as_bytes());
            assert_eq!(run.code(), 1, "{what}: {}", run.stderr());
            let err = run.stderr();
            assert!(err.contains("push to platform \"acme\" refused: ") && err.contains(why), "{what}: {err}");
            assert_eq!(err.lines().count(), 1, "{what}: {err}");
            assert!(!err.contains(TOKEN) && !err.contains(AES_KEY), "{what}: {err}");
            assert_eq!(run.stdout(), "", "{what}");
            assert_eq!(everything(&env), Vec::<String>::new(), "{what}");
        }
    }
}

#[test]
fn as_a_cgi_program_refusals_are_403_or_400() {
    let env = setup(Backend::Sqlite);
    for (what, query, body, status, _) in refusals() {
        let run = cgi(&env, "acme", "POST", &query, body.as_bytes());
        assert_eq!(run.code(), 1, "{what}: {}", run.stderr());
        if !status.is_empty() {
            assert!(
                run.stdout().starts_with(&format!("Status: {status} ")),
                "{what}: {}",
                run.stdout()
            );
        }
    }
    // A huge CONTENT_LENGTH is refused without reading the body.
    let good = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@bad",
        now(),
    ));
    let mut cmd = env.command(&["push", "--platform", "acme"]);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", &good.query)
        .env("CONTENT_LENGTH", "100000000000");
    let run = Run(cmd.output().unwrap());
    run.expect(1).stderr_has("100000000000 bytes");
    assert!(run.stdout().starts_with("Status: 400 Bad Request\r\n"));
    // A body shorter than CONTENT_LENGTH, and a GET that is no URL check.
    let mut cmd = env.command(&["push", "--platform", "acme"]);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", &good.query)
        .env("CONTENT_LENGTH", (good.body.len() + 10).to_string());
    feed(cmd, good.body.as_bytes())
        .expect(1)
        .stderr_has("CONTENT_LENGTH");
    cgi(&env, "acme", "GET", &good.query, b"")
        .expect(1)
        .stderr_has("a GET without echostr");
    assert_eq!(everything(&env), Vec::<String>::new());
}

/// Under any front, the one stderr line names the platform, the reason and
/// the client's address (CGI: `REMOTE_ADDR`), so that a forged push can be
/// told from a rotated Token in the web server's error log.
#[test]
fn a_cgi_refusal_names_the_platform_the_reason_and_the_peer() {
    let env = setup(Backend::Sqlite);
    let forged = WxCrypt::new("anotherToken", AES_KEY).open_platform_push(
        COMPONENT_APPID,
        &wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@bad", now()),
        &ts(),
        NONCE,
    );
    let mut cmd = env.command(&["push", "--platform", "acme"]);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "POST")
        .env("REMOTE_ADDR", "198.51.100.23")
        .env("QUERY_STRING", &forged.query)
        .env("CONTENT_LENGTH", forged.body.len().to_string());
    let run = feed(cmd, forged.body.as_bytes());
    run.expect(1);
    let err = run.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "push to platform \"acme\" from 198.51.100.23 refused: msg_signature does not match"
        ),
        "{err}"
    );
}

/// With the Token and the EncodingAESKey anyone forges pushes: a file of
/// them that group or others can read is refused (exit 2) before anything
/// is read from the request.
#[test]
fn token_and_aes_key_files_others_can_read_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@x",
        now(),
    ));
    for (file, field) in [
        ("push.token", "message token file"),
        ("push.aeskey", "aes key file"),
    ] {
        for mode in [0o644, 0o640, 0o604] {
            let path = env.path(file);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let run = push_raw(&env, "acme", &p.query, p.body.as_bytes());
            run.expect(2).stderr_has(&format!(
                "{field} {} (mode {mode:04o}) is readable by group or others",
                path.display()
            ));
            assert!(run.stderr().contains("chmod 600"), "{}", run.stderr());
            assert!(!run.stderr().contains(TOKEN) && !run.stderr().contains(AES_KEY));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    assert_eq!(everything(&env), Vec::<String>::new());
    push_raw(&env, "acme", &p.query, p.body.as_bytes()).expect(0);
}

/// A CGI body that does not come within --read-timeout ends the process
/// (408), however slowly it trickles.
#[test]
fn a_cgi_body_that_does_not_come_ends_at_the_read_timeout() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@x",
        now(),
    ));
    let mut cmd = env.command(&["push", "--platform", "acme", "--read-timeout", "1s"]);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", &p.query)
        .env("CONTENT_LENGTH", p.body.len().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&p.body.as_bytes()[..20]).unwrap();
    let run = Run(child.wait_with_output().unwrap());
    drop(stdin);
    run.expect(1)
        .stderr_has("did not arrive within the read timeout (20 bytes came)");
    assert!(
        run.stdout().starts_with("Status: 408 Request Timeout\r\n"),
        "{}",
        run.stdout()
    );
    assert_eq!(everything(&env), Vec::<String>::new());
}

/// Refused before its body is read, a CGI program still takes what the web
/// server writes (up to 64 KiB, for a moment): a server that cannot finish
/// writing the body cuts the answer short.
#[test]
fn a_cgi_refusal_before_the_body_lets_the_server_finish_writing_it() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@x",
        now(),
    ));
    // More than a pipe holds (64 KiB), refused for its CONTENT_LENGTH unread.
    let body = vec![b'x'; 100_000];
    let mut cmd = env.command(&["push", "--platform", "acme"]);
    cmd.env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", &p.query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let wrote = stdin.write_all(&body);
    drop(stdin);
    let run = Run(child.wait_with_output().unwrap());
    run.expect(1).stderr_has("100000 bytes, more than 65536");
    assert!(wrote.is_ok(), "the web server's write failed: {wrote:?}");
    assert!(run.stdout().starts_with("Status: 400 Bad Request\r\n"));
}
