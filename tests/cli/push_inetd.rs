//! `wxtoken push --inetd`: one HTTP request on stdin, its whole answer on
//! stdout (`Connection: close`), then exit. Valid, forged, oversized, slow,
//! silent and truncated requests, the URL check, the authorization redirect.

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::push::{TOKEN, crypt, everything, feed, op_push, setup, ts};
use crate::support::platform::{COMPONENT_APPID, SUITE_ID};
use crate::support::wxcrypt::{self, Push};
use crate::support::{Backend, Env, Run, now};

/// What nginx's recipe sends: HTTP/1.0, the client's address in X-Real-IP.
pub fn post(path_query: &str, body: &str) -> String {
    format!(
        "POST {path_query} HTTP/1.0\r\nHost: localhost\r\nX-Real-IP: 203.0.113.9\r\nX-Forwarded-For: 203.0.113.9\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

pub fn get(path_query: &str) -> String {
    format!("GET {path_query} HTTP/1.1\r\nHost: localhost\r\nX-Real-IP: 203.0.113.9\r\n\r\n")
}

pub fn inetd(env: &Env, request: &[u8]) -> Run {
    feed(env.command(&["push", "--inetd"]), request)
}

fn push_request(platform: &str, p: &Push) -> String {
    post(&format!("/{platform}?{}", p.query), &p.body)
}

/// The status line and body of an answer, checking it is complete.
pub fn answer(run: &Run) -> (String, String) {
    let out = run.stdout();
    let (head, body) = out.split_once("\r\n\r\n").expect("a complete head");
    let status = head.lines().next().unwrap().to_string();
    assert!(head.contains("\r\nConnection: close"), "{head}");
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length");
    assert_eq!(length.parse::<usize>().unwrap(), body.len(), "{out}");
    (status, body.to_string())
}

#[test]
fn a_valid_push_is_stored_and_answered_success() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@inetd",
        now(),
    ));
    let run = inetd(&env, push_request("acme", &p).as_bytes());
    run.expect(0);
    assert_eq!(answer(&run), ("HTTP/1.1 200 OK".into(), "success".into()));
    assert_eq!(
        env.text("SELECT value FROM wxtoken_tokens WHERE kind = 'component_verify_ticket'"),
        "ticket@@@inetd"
    );
}

#[test]
fn a_forged_push_is_403_and_one_line_naming_platform_reason_and_peer() {
    let env = setup(Backend::Sqlite);
    let forged = wxcrypt::WxCrypt::new("anotherToken", crate::push::AES_KEY).open_platform_push(
        COMPONENT_APPID,
        &wxcrypt::verify_ticket(COMPONENT_APPID, "ticket@@@forged", now()),
        &ts(),
        "1",
    );
    let run = inetd(&env, push_request("acme", &forged).as_bytes());
    run.expect(1);
    assert_eq!(answer(&run).0, "HTTP/1.1 403 Forbidden");
    let err = run.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "push to platform \"acme\" from 203.0.113.9 refused: msg_signature does not match"
        ),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "{err}");
    assert_eq!(everything(&env), Vec::<String>::new());
}

#[test]
fn what_is_refused_before_the_body_gets_a_whole_answer() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@x",
        now(),
    ));
    let huge = format!("<xml>{}</xml>", "x".repeat(100_000));
    let long_query = format!("/acme?{}&x={}", p.query, "a".repeat(30_000));
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "an oversized body",
            push_request(
                "acme",
                &Push {
                    query: p.query.clone(),
                    body: huge,
                    encrypt: String::new(),
                },
            ),
            "413 Content Too Large",
            "100011 bytes, more than 65536",
        ),
        (
            "an oversized header block",
            post(&long_query, &p.body),
            "431 Request Header Fields Too Large",
            "longer than",
        ),
        (
            "an unknown platform",
            push_request("nope", &p),
            "404 Not Found",
            "no platform \"nope\" in config",
        ),
        (
            "a path of two parts",
            push_request("acme/x", &p),
            "404 Not Found",
            "names no platform",
        ),
        (
            "a PUT",
            push_request("acme", &p).replacen("POST", "PUT", 1),
            "405 Method Not Allowed",
            "method \"PUT\"",
        ),
        (
            "no Content-Length",
            format!(
                "POST /acme?{} HTTP/1.1\r\nX-Real-IP: 203.0.113.9\r\n\r\n{}",
                p.query, p.body
            ),
            "411 Length Required",
            "without Content-Length",
        ),
        (
            "a chunked body",
            format!(
                "POST /acme?{} HTTP/1.1\r\nX-Real-IP: 203.0.113.9\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                p.query
            ),
            "411 Length Required",
            "chunked",
        ),
        (
            "not HTTP",
            "\x16\x03\x01 hello\r\n\r\n".to_string(),
            "400 Bad Request",
            "not an HTTP/1.1 request",
        ),
        (
            "a GET that is no URL check",
            get(&format!("/acme?{}", p.query)),
            "400 Bad Request",
            "a GET without echostr",
        ),
    ];
    for (what, request, status, why) in cases {
        let run = inetd(&env, request.as_bytes());
        assert_ne!(run.code(), 0, "{what}");
        assert_eq!(answer(&run).0, format!("HTTP/1.1 {status}"), "{what}");
        let err = run.stderr();
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(
            err.contains(why) && err.contains("refused"),
            "{what}: {err}"
        );
    }
    assert_eq!(everything(&env), Vec::<String>::new());
}

#[test]
fn a_truncated_request_is_400_and_stores_nothing() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@x",
        now(),
    ));
    let whole = push_request("acme", &p);
    let run = inetd(&env, &whole.as_bytes()[..whole.len() - 10]);
    run.expect(1).stderr_has(&format!(
        "the body ended after {} of Content-Length {} bytes",
        p.body.len() - 10,
        p.body.len()
    ));
    assert_eq!(answer(&run).0, "HTTP/1.1 400 Bad Request");
    let run = inetd(&env, &whole.as_bytes()[..40]);
    run.expect(1)
        .stderr_has("the request ended inside its headers after 40 bytes");
    let run = inetd(&env, b"");
    run.expect(1)
        .stderr_has("the connection closed before a request came");
    assert_eq!(everything(&env), Vec::<String>::new());
}

/// Starts `push --inetd --read-timeout 1s`, writes `part` and keeps stdin open.
fn start_slow(env: &Env, part: &[u8]) -> (Child, std::process::ChildStdin) {
    let mut cmd = env.command(&["push", "--inetd", "--read-timeout", "1s"]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(part).unwrap();
    (child, stdin)
}

#[test]
fn a_slow_or_silent_client_ends_at_the_read_timeout() {
    let env = setup(Backend::Sqlite);
    let p = op_push(&wxcrypt::verify_ticket(
        COMPONENT_APPID,
        "ticket@@@x",
        now(),
    ));
    let whole = push_request("acme", &p);
    // Silent; half the head; the whole head and half the body, then a byte
    // every 200 ms (a trickle that a per-read timeout would never end).
    for (what, cut, trickle) in [
        ("silent", 0, false),
        ("half the head", 30, false),
        ("half the body", whole.len() - p.body.len() / 2, false),
        ("a trickle", whole.len() - p.body.len() / 2, true),
    ] {
        let start = Instant::now();
        let (child, mut stdin) = start_slow(&env, &whole.as_bytes()[..cut]);
        if trickle {
            for b in whole.as_bytes()[cut..].iter().take(20) {
                std::thread::sleep(Duration::from_millis(200));
                if stdin.write_all(&[*b]).is_err() {
                    break;
                }
            }
        }
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        let run = Run(out);
        run.expect(1)
            .stderr_has("did not arrive within the read timeout");
        assert_eq!(answer(&run).0, "HTTP/1.1 408 Request Timeout", "{what}");
        // It ended by itself, with stdin still open: no other bound here.
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
    }
    assert_eq!(everything(&env), Vec::<String>::new());
}

#[test]
fn the_url_check_answers_the_plaintext() {
    let env = setup(Backend::Sqlite);
    let query = crypt().wecom_echostr(SUITE_ID, "echo-inetd-42", &ts(), "n1");
    let run = inetd(&env, get(&format!("/suite?{query}")).as_bytes());
    run.expect(0);
    assert_eq!(
        answer(&run),
        ("HTTP/1.1 200 OK".into(), "echo-inetd-42".into())
    );
    let forged = wxcrypt::WxCrypt::new("anotherToken", crate::push::AES_KEY).wecom_echostr(
        SUITE_ID,
        "echo",
        &ts(),
        "n1",
    );
    let run = inetd(&env, get(&format!("/suite?{forged}")).as_bytes());
    run.expect(1);
    assert_eq!(answer(&run).0, "HTTP/1.1 403 Forbidden");
}

#[test]
fn an_authorization_redirect_that_cannot_be_exchanged_is_502() {
    // No verify ticket here: no component token, so nothing is sent or
    // stored (the exchange itself: onboarding.rs).
    let env = setup(Backend::Sqlite);
    let run = inetd(
        &env,
        get("/acme?auth_code=queryauthcode%40%40%40abc&expires_in=3600").as_bytes(),
    );
    run.expect(1).stderr_has(
        "push to platform \"acme\" from 203.0.113.9 refused: the redirect's auth_code was not exchanged",
    );
    assert_eq!(answer(&run).0, "HTTP/1.1 502 Bad Gateway");
    assert!(!run.stderr().contains("queryauthcode"), "{}", run.stderr());
    assert_eq!(everything(&env), Vec::<String>::new());
}
