//! A local stand-in of the WeChat token API, for trying wxtoken without a WeChat
//! account and for the benchmarks. Every appid is accepted; the secret it first
//! comes with is its secret from then on. It checks what WeChat checks (grant
//! type, secret, tokens it issued and alive at the ticket endpoints, ticket
//! types), and a new classic token ends the previous one 5 minutes later.
//!
//!     standin [--port N] [--latency-ms N] [--expires-in N] [--platform N] [COMMAND ARGS...]
//!     eval "$(standin --detach [--platform N ...])"
//!     standin [--latency-ms N] --load REQUESTS [--concurrency C]
//!     standin push-ticket --token T --aes-key K (--appid A | --suite-id S)
//!             [--ticket X] [--timestamp N] [--nonce N]
//!     standin push-auth --token T --aes-key K --appid A --authorizer B
//!             [--code C] [--timestamp N] [--nonce N]
//!     standin url-check --token T --aes-key K --suite-id S [--echostr X]
//!
//! `--platform N` also serves the third-party platform APIs (tests/cli/support/
//! platform.rs), which check every credential: one Open Platform component and
//! one WeCom suite and provider with fixed ids and secrets (printed on stderr),
//! their tickets already pushed, N authorizers `wxa000000000000000`... (refresh
//! token `refreshtoken@@@<appid>`) and N corps `wwc000000000000000`...
//! (permanent code `permanentcode@@@<corpid>`); and N authorization codes
//! `authcode@@@<appid>` (single use) for the N authorizers numbered after them,
//! which have not authorized yet.
//!
//! `push-ticket` prints the callback WeChat would POST with a component_verify_
//! ticket (`--appid`) or WeCom a suite_ticket (`--suite-id`), signed and
//! encrypted with the callback Token and EncodingAESKey: the query string on the
//! first line, the XML body after it. The ticket defaults to the one
//! `--platform` accepts. `push-auth` prints the Open Platform's `authorized`
//! push of authorizer B to component A, its code C (default
//! `authcode@@@B`, which `--platform` accepts once). `url-check` prints the query of WeCom's URL check (a
//! GET whose `echostr` the receiver decrypts and answers). The callback Token
//! and EncodingAESKey are the user's to choose, as in the platform's settings.
//!
//! With a command, it runs it with `WXTOKEN_API_BASE` pointing here and
//! `WXTOKEN_DB` naming a throwaway database (removed afterwards: the stand-in's
//! tokens must not land in a real one), and exits with its status; without, it
//! prints its URL and serves until interrupted. `--detach` (first) serves in
//! the background and prints, for `eval`, the shell lines that point
//! `WXTOKEN_API_BASE` at it and `WXTOKEN_DB` at a try-out database, and set
//! `STANDIN_PID` (the way `ssh-agent` does): what follows in that shell uses
//! the stand-in until `kill $STANDIN_PID; rm -r FOLDER; unset WXTOKEN_API_BASE
//! WXTOKEN_DB` (the try-out database's folder, named on stderr).
//!
//! The plain stand-in also answers a business API call, `GET
//! /cgi-bin/getcallbackip`, with 40001 on demand (`/standin/reject?access_token=T`),
//! and counts requests by path (`/standin/calls?path=P`): see
//! tests/cli/support/business.rs (the SDK adapters' tests in contrib/sdk use them).
//!
//! `--load` measures the stand-in's own capacity, for the benchmarks: C clients
//! send REQUESTS token requests in all, each on a new connection (as wxtoken's
//! are: the stand-in closes every connection), and it prints the requests per
//! second next to the ideal C / latency, as one `key=value` line on stdout.

#[path = "../tests/cli/support/business.rs"]
mod business;
#[path = "../tests/cli/support/platform.rs"]
mod platform;
#[path = "../tests/cli/support/standin.rs"]
mod standin;
#[path = "../tests/cli/support/wxcrypt.rs"]
mod wxcrypt;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "standin: usage: standin [--port N] [--latency-ms N] [--expires-in N] [--platform N] [COMMAND ARGS...]\n       eval \"$(standin --detach [--platform N ...])\"\n       standin [--latency-ms N] --load REQUESTS [--concurrency C]\n       standin push-ticket --token T --aes-key K (--appid A | --suite-id S) [--ticket X] [--timestamp N] [--nonce N]\n       standin push-auth --token T --aes-key K --appid A --authorizer B [--code C] [--timestamp N] [--nonce N]\n       standin url-check --token T --aes-key K --suite-id S [--echostr X]\nT and K are the callback Token and EncodingAESKey of your platform's config: yours to\nchoose (K: 43 letters or digits), the same in the platform's settings and in wxtoken's.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.next_if(|a| a == "-h" || a == "--help").is_some() {
        println!("{}", USAGE.trim_start_matches("standin: "));
        return ExitCode::SUCCESS;
    }
    if args.next_if_eq("--detach").is_some() {
        return detach(args.collect());
    }
    if args.next_if_eq("push-ticket").is_some() {
        return push_ticket(args.collect(), Made::Ticket);
    }
    if args.next_if_eq("push-auth").is_some() {
        return push_ticket(args.collect(), Made::Authorized);
    }
    if args.next_if_eq("url-check").is_some() {
        return push_ticket(args.collect(), Made::UrlCheck);
    }
    let (mut port, mut latency_ms, mut expires_in) = (0u16, 0u64, 7200i64);
    let (mut load, mut concurrency, mut platforms) = (None, 1usize, None);
    // A flag it does not know is a mistake, not a command named `-x`.
    while let Some(flag) = args.next_if(|a| a.starts_with('-')) {
        let value = args.next().and_then(|v| v.parse::<i64>().ok());
        match (flag.as_str(), value) {
            ("--port", Some(v)) => port = v as u16,
            ("--latency-ms", Some(v)) => latency_ms = v as u64,
            ("--expires-in", Some(v)) => expires_in = v,
            ("--load", Some(v)) if v > 0 => load = Some(v as usize),
            ("--concurrency", Some(v)) if v > 0 => concurrency = v as usize,
            ("--platform", Some(v)) if v >= 0 => platforms = Some(v as usize),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let addr = format!("127.0.0.1:{port}");
    let latency = Duration::from_millis(latency_ms);
    let server = match platforms {
        None => {
            let rules = standin::Rules {
                latency,
                expires_in,
                secret: None,
                ..standin::Rules::default()
            };
            standin::StandIn::start_on(&addr, business::wrap(standin::strict(rules)))
        }
        Some(n) => {
            let p = platform::Platforms::new();
            p.set_plain_secret(None);
            p.set_latency(latency);
            p.set_expires_in(expires_in);
            p.push_ticket(platform::TICKET);
            p.push_suite_ticket(platform::SUITE_TICKET);
            p.add_authorizers(n);
            p.add_corps(n);
            for i in n..2 * n {
                let appid = platform::authorizer_appid(i);
                p.auth_code(&format!("authcode@@@{appid}"), &appid);
            }
            describe_platforms(n);
            standin::StandIn::start_on(&addr, p.handler())
        }
    };
    if let Some(requests) = load {
        return measure(server.addr(), requests, concurrency, latency_ms);
    }
    let command: Vec<String> = args.collect();
    let Some((program, rest)) = command.split_first() else {
        println!("{}", server.url());
        eprintln!(
            "standin: serving the WeChat token API at {} (Ctrl-C stops)",
            server.url()
        );
        loop {
            std::thread::park();
        }
    };
    let mut child = Command::new(program);
    child.args(rest);
    let status = server.run(child).map(|out| out.status);
    let answered = server.requests().len();
    let plural = if answered == 1 { "" } else { "s" };
    eprintln!("standin: answered {answered} request{plural}");
    match status {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
        Err(e) => {
            eprintln!("standin: could not run {program}: {e}");
            ExitCode::from(127)
        }
    }
}

/// `--detach`: the stand-in (with `flags`, no command) in a process of its
/// own, and the shell lines that make a shell use it.
fn detach(flags: Vec<String>) -> ExitCode {
    if flags.iter().any(|f| f == "--load") {
        eprintln!("standin: --detach serves; --load measures\n{USAGE}");
        return ExitCode::from(2);
    }
    let spawned = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .args(&flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("standin: could not start the stand-in: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The stand-in prints its URL once it listens.
    let mut url = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| BufReader::new(out).read_line(&mut url));
    let url = url.trim();
    if !url.starts_with("http://") {
        let status = child.wait().ok().and_then(|s| s.code());
        eprintln!("standin: the stand-in did not start (exit {status:?}, {read:?})\n{USAGE}");
        return ExitCode::from(2);
    }
    // Its tokens must not land in the user's real database.
    let db = match tempfile::Builder::new().prefix("wxtoken-demo.").tempdir() {
        Ok(dir) => dir.keep().join("tokens.db"),
        Err(e) => {
            let _ = child.kill();
            eprintln!("standin: could not make a folder for the try-out database: {e}");
            return ExitCode::FAILURE;
        }
    };
    let quoted = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let folder = db
        .parent()
        .map_or(String::new(), |d| d.display().to_string());
    let db = db.display().to_string();
    let pid = child.id();
    println!("WXTOKEN_API_BASE={}; export WXTOKEN_API_BASE", quoted(url));
    println!("WXTOKEN_DB={}; export WXTOKEN_DB", quoted(&db));
    println!("STANDIN_PID={pid}; export STANDIN_PID");
    if let Some(n) = flags
        .windows(2)
        .find(|w| w[0] == "--platform")
        .and_then(|w| w[1].parse().ok())
    {
        describe_platforms(n);
    }
    eprintln!(
        "standin: serving the WeChat token API at {url} (pid {pid}); WXTOKEN_API_BASE points here and WXTOKEN_DB at a try-out database, {db}\n\
         standin: to stop: kill $STANDIN_PID; rm -r {dir}; unset WXTOKEN_API_BASE WXTOKEN_DB",
        dir = quoted(&folder),
    );
    ExitCode::SUCCESS
}

/// `--load`: `concurrency` clients send `requests` token requests in all; prints
/// the rate achieved and the ideal one (every client always waiting on an answer).
fn measure(addr: SocketAddr, requests: usize, concurrency: usize, latency_ms: u64) -> ExitCode {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(requests) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return;
                    }
                    if !token_request(addr, i) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let failed = failed.into_inner();
    let rate = requests as f64 / seconds;
    let ideal = if latency_ms == 0 {
        f64::INFINITY
    } else {
        concurrency.min(requests) as f64 * 1000.0 / latency_ms as f64
    };
    println!(
        "requests={requests} concurrency={concurrency} latency_ms={latency_ms} seconds={seconds:.3} per_second={rate:.0} ideal_per_second={ideal:.0} failed={failed}"
    );
    eprintln!(
        "standin: {requests} requests, {concurrency} at once, {latency_ms} ms each: {seconds:.2} s, {rate:.0} requests/s (ideal {ideal:.0}/s), {failed} failed"
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One classic token request on a new connection; true when answered 200.
fn token_request(addr: SocketAddr, i: usize) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let request = format!(
        "GET /cgi-bin/token?grant_type=client_credential&appid=wxload{i:012}&secret=load HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    );
    let mut answer = Vec::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_end(&mut answer).is_ok()
        && answer.starts_with(b"HTTP/1.1 200")
}

/// `--platform`: what a config needs to use the platforms served.
fn describe_platforms(n: usize) {
    use platform::*;
    eprintln!(
        "standin: component {COMPONENT_APPID} secret {COMPONENT_SECRET} ticket {TICKET}\n\
         standin: suite {SUITE_ID} secret {SUITE_SECRET} ticket {SUITE_TICKET}\n\
         standin: provider {PROVIDER_CORPID} secret {PROVIDER_SECRET}\n\
         standin: {n} authorizers {}.. (refresh token {}), {n} corps {}.. (permanent code {})\n\
         standin: {n} authorization codes authcode@@@<appid> for the authorizers from {} on (`standin push-auth`)\n\
         standin: the callback Token and EncodingAESKey (43 letters or digits) are yours to choose: \
         put them in the platform's config, and give the same to `standin push-ticket` or `standin url-check`",
        authorizer_appid(0),
        first_refresh_token("<appid>"),
        corpid(0),
        first_permanent_code("<corpid>"),
        authorizer_appid(n),
    );
}

/// What [`push_ticket`] prints.
#[derive(PartialEq)]
enum Made {
    /// `push-ticket`: a ticket push.
    Ticket,
    /// `push-auth`: an Open Platform `authorized` push with a code.
    Authorized,
    /// `url-check`: WeCom's URL check.
    UrlCheck,
}

/// `push-ticket`: a signed, encrypted ticket push, as the receiver gets it;
/// `push-auth` the same for an authorization. `url-check`: the query of WeCom's
/// URL check, a GET whose `echostr` the receiver decrypts and answers
/// (`--echostr`, default a number).
fn push_ticket(args: Vec<String>, made: Made) -> ExitCode {
    let check = made == Made::UrlCheck;
    let mut flags = std::collections::HashMap::new();
    let mut pairs = args.chunks(2);
    for pair in pairs.by_ref() {
        let known = [
            "--token",
            "--aes-key",
            "--appid",
            "--suite-id",
            "--ticket",
            "--timestamp",
            "--nonce",
            "--echostr",
            "--authorizer",
            "--code",
        ];
        match pair {
            [flag, value] if known.contains(&flag.as_str()) => {
                flags.insert(flag.as_str(), value.clone());
            }
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let key = flags.get("--aes-key").cloned().unwrap_or_default();
    let key_ok = key.len() == 43 && key.bytes().all(|b| b.is_ascii_alphanumeric());
    let (Some(token), true) = (flags.get("--token"), key_ok) else {
        eprintln!(
            "standin: push-ticket and url-check need --token and --aes-key (43 letters and digits)\n{USAGE}"
        );
        return ExitCode::from(2);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let timestamp = flags
        .get("--timestamp")
        .cloned()
        .unwrap_or_else(|| now.as_secs().to_string());
    let nonce = flags
        .get("--nonce")
        .cloned()
        .unwrap_or_else(|| (now.subsec_nanos() % 1_000_000_000).to_string());
    let Ok(created) = timestamp.parse::<i64>() else {
        eprintln!("standin: --timestamp takes Unix seconds\n{USAGE}");
        return ExitCode::from(2);
    };
    let crypt = wxcrypt::WxCrypt::new(token, &key);
    if check {
        let Some(suite) = flags.get("--suite-id") else {
            eprintln!("standin: url-check needs --suite-id (or the provider's corpid)\n{USAGE}");
            return ExitCode::from(2);
        };
        let echostr = flags
            .get("--echostr")
            .cloned()
            .unwrap_or_else(|| nonce.clone());
        println!(
            "{}",
            crypt.wecom_echostr(suite, &echostr, &timestamp, &nonce)
        );
        return ExitCode::SUCCESS;
    }
    if made == Made::Authorized {
        let (Some(appid), Some(authorizer)) = (flags.get("--appid"), flags.get("--authorizer"))
        else {
            eprintln!("standin: push-auth needs --appid and --authorizer\n{USAGE}");
            return ExitCode::from(2);
        };
        let code = flags
            .get("--code")
            .cloned()
            .unwrap_or_else(|| format!("authcode@@@{authorizer}"));
        let msg = format!(
            "<xml><AppId><![CDATA[{appid}]]></AppId><CreateTime>{created}</CreateTime><InfoType><![CDATA[authorized]]></InfoType><AuthorizerAppid><![CDATA[{authorizer}]]></AuthorizerAppid><AuthorizationCode><![CDATA[{code}]]></AuthorizationCode><AuthorizationCodeExpiredTime>{}</AuthorizationCodeExpiredTime></xml>",
            created + 600
        );
        let push = crypt.open_platform_push(appid, &msg, &timestamp, &nonce);
        println!("{}\n{}", push.query, push.body);
        return ExitCode::SUCCESS;
    }
    let push = match (flags.get("--appid"), flags.get("--suite-id")) {
        (Some(appid), None) => {
            let ticket = flags
                .get("--ticket")
                .map_or(platform::TICKET, String::as_str);
            let msg = wxcrypt::verify_ticket(appid, ticket, created);
            crypt.open_platform_push(appid, &msg, &timestamp, &nonce)
        }
        (None, Some(suite)) => {
            let ticket = flags
                .get("--ticket")
                .map_or(platform::SUITE_TICKET, String::as_str);
            let msg = wxcrypt::suite_ticket(suite, ticket, created);
            crypt.wecom_push(suite, &msg, &timestamp, &nonce)
        }
        _ => {
            eprintln!("standin: push-ticket needs one of --appid and --suite-id\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    println!("{}\n{}", push.query, push.body);
    ExitCode::SUCCESS
}
