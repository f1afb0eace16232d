//! A local stand-in of the WeChat / WeCom token and ticket APIs on 127.0.0.1.
//!
//! Shared by the integration tests (scripted per test), the `standin` example
//! (the README's demo and the benchmarks). One thread per connection, every
//! answer with `Connection: close`. It records each request and the peak number
//! of requests in flight.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: String,
}

impl Request {
    /// A parameter from the query string or, failing that, the JSON body.
    pub fn param(&self, key: &str) -> Option<String> {
        if let Some(v) = self.query.get(key) {
            return Some(v.clone());
        }
        let json: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        match json.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// How the stand-in answers one request.
#[derive(Clone, Debug)]
pub enum Mode {
    /// A normal HTTP response.
    Normal,
    /// Never answers (holds the connection for a minute).
    Hang,
    /// Sends the headers, then the body one byte a second.
    Trickle,
    /// Closes the connection with a TCP reset, without answering.
    Reset,
    /// Sends `body` as raw bytes (no status line or headers added), then closes.
    Raw,
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    pub mode: Mode,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(body: impl Into<String>) -> Reply {
        Reply::status(200, body)
    }
    pub fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into().into_bytes(),
            delay: Duration::ZERO,
            mode: Mode::Normal,
        }
    }
    /// A success for the classic/stable/WeCom token endpoints.
    pub fn token(token: &str, expires_in: i64) -> Reply {
        Reply::json(format!(
            r#"{{"access_token":"{token}","expires_in":{expires_in}}}"#
        ))
    }
    /// A success for the ticket endpoints.
    pub fn ticket(ticket: &str, expires_in: i64) -> Reply {
        Reply::json(format!(
            r#"{{"errcode":0,"errmsg":"ok","ticket":"{ticket}","expires_in":{expires_in}}}"#
        ))
    }
    /// An errcode answer (HTTP 200, as WeChat sends them).
    pub fn errcode(code: i64, msg: &str) -> Reply {
        Reply::json(format!(
            r#"{{"errcode":{code},"errmsg":"{msg} rid: 6566a1b2-0c1d2e3f"}}"#
        ))
    }
    pub fn hang() -> Reply {
        Reply {
            mode: Mode::Hang,
            ..Reply::json("")
        }
    }
    pub fn reset() -> Reply {
        Reply {
            mode: Mode::Reset,
            ..Reply::json("")
        }
    }
    pub fn trickle(body: impl Into<String>) -> Reply {
        Reply {
            mode: Mode::Trickle,
            ..Reply::json(body)
        }
    }
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply {
            mode: Mode::Raw,
            body: bytes.into(),
            ..Reply::json("")
        }
    }
    pub fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    log: Mutex<Vec<Request>>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    stop: AtomicBool,
}

/// A running stand-in. It stops accepting when dropped.
pub struct StandIn {
    addr: SocketAddr,
    state: Arc<State>,
}

impl StandIn {
    /// Serves every request with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> StandIn {
        StandIn::start_on("127.0.0.1:0", handler)
    }

    pub fn start_on(
        addr: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> StandIn {
        let listener = TcpListener::bind(addr).expect("bind the stand-in");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accept_state = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_state.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    let state = accept_state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            }
        });
        StandIn { addr, state }
    }

    /// Answers requests with `replies` in order; the last one repeats.
    pub fn script(replies: Vec<Reply>) -> StandIn {
        let replies = Mutex::new(
            replies
                .into_iter()
                .collect::<std::collections::VecDeque<_>>(),
        );
        StandIn::start(move |_| {
            let mut r = replies.lock().unwrap();
            if r.len() > 1 {
                r.pop_front().unwrap()
            } else {
                r.front()
                    .cloned()
                    .expect("a scripted stand-in needs a reply")
            }
        })
    }

    /// Behaves like WeChat and WeCom when every credential is right.
    pub fn wechat() -> StandIn {
        StandIn::start(wechat(Duration::ZERO, 7200))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests whose path ends with `suffix`.
    pub fn count(&self, suffix: &str) -> usize {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .count()
    }

    /// The most requests that were being answered at once.
    pub fn peak(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }

    /// Runs `cmd` (the README's demo) with `WXTOKEN_API_BASE` pointing here and
    /// `WXTOKEN_DB` naming a throwaway database, removed afterwards: the
    /// stand-in's tokens must never land in a real database.
    pub fn run(&self, mut cmd: std::process::Command) -> std::io::Result<std::process::Output> {
        let demo = tempfile::Builder::new().prefix("wxtoken-demo.").tempdir()?;
        cmd.env("WXTOKEN_API_BASE", self.url())
            .env("WXTOKEN_DB", demo.path().join("tokens.db"));
        cmd.spawn()?.wait_with_output()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The secret of every appid and corpid the tests' stand-in knows.
pub const SECRET: &str = "s3cr3t-5ecret-d0-not-leak-7f3a9c";

/// What the plain stand-in checks, and how its tokens live and die.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Every answer waits this long first.
    pub latency: Duration,
    /// The `expires_in` of tokens and tickets.
    pub expires_in: i64,
    /// The secret of every appid and corpid; `None`: the secret an id is first
    /// asked for with is its secret from then on (the demo and the benchmarks).
    pub secret: Option<String>,
    /// How long a classic token keeps working after a newer one was issued
    /// for its appid (WeChat: about 5 minutes).
    pub grace: Duration,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            latency: Duration::ZERO,
            expires_in: 7200,
            secret: Some(SECRET.to_string()),
            grace: Duration::from_secs(300),
        }
    }
}

/// Which API issued a token: a WeChat token (classic or stable) is no WeCom
/// token, and the other way round.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    WeChat,
    WeCom,
}

struct Issued {
    api: Api,
    id: String,
    until: Instant,
    /// A newer classic token was issued for its appid.
    superseded: bool,
}

#[derive(Default)]
struct Book {
    secrets: HashMap<String, String>,
    tokens: HashMap<String, Issued>,
    /// Each appid's newest classic token.
    classic: HashMap<String, String>,
}

/// A handler that answers like WeChat and WeCom (see [`strict`]) with the
/// default [`Rules`], after `latency`.
pub fn wechat(latency: Duration, expires_in: i64) -> impl Fn(&Request) -> Reply + Send + Sync {
    strict(Rules {
        latency,
        expires_in,
        ..Rules::default()
    })
}

/// A handler that checks what WeChat and WeCom check: `grant_type`, the id and
/// its secret at the token endpoints (40002, 41002, 41004, 40125; WeCom 40001);
/// at the ticket endpoints a token it issued, of the right API, alive (40001
/// for one never issued, of the other API, or superseded; 42001 expired), and
/// the ticket `type` (40097; WeCom 40058). A new token on every token call
/// (`TOKEN-<n>-<id>`); a new classic token ends the previous one `grace` later.
/// Tickets are `TICKET-<n>-<id>-<type>`.
pub fn strict(rules: Rules) -> impl Fn(&Request) -> Reply + Send + Sync {
    let counter = AtomicUsize::new(0);
    let book = Mutex::new(Book::default());
    move |req: &Request| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut book = book.lock().unwrap_or_else(|e| e.into_inner());
        let reply = match req.path.as_str() {
            "/cgi-bin/token" | "/cgi-bin/stable_token" => {
                token(&mut book, &rules, req, n, Api::WeChat)
            }
            "/cgi-bin/gettoken" => token(&mut book, &rules, req, n, Api::WeCom),
            "/cgi-bin/ticket/getticket" => match req.param("type").as_deref() {
                Some(kind @ ("jsapi" | "wx_card")) => {
                    ticket(&book, &rules, req, n, Api::WeChat, kind)
                }
                _ => Reply::errcode(40097, "invalid args"),
            },
            "/cgi-bin/get_jsapi_ticket" => ticket(&book, &rules, req, n, Api::WeCom, "jsapi"),
            "/cgi-bin/ticket/get" => match req.param("type").as_deref() {
                Some("agent_config") => ticket(&book, &rules, req, n, Api::WeCom, "agent_config"),
                _ => Reply::errcode(40058, "invalid type"),
            },
            _ => Reply::status(404, r#"{"errcode":404,"errmsg":"not found"}"#),
        };
        reply.delayed(rules.latency)
    }
}

/// A token endpoint: the checks, then a new token.
fn token(book: &mut Book, rules: &Rules, req: &Request, n: usize, api: Api) -> Reply {
    let given = |key: &str| req.param(key).filter(|v| !v.is_empty());
    let (id, secret) = match api {
        Api::WeChat => {
            if given("grant_type").as_deref() != Some("client_credential") {
                return Reply::errcode(40002, "invalid grant_type");
            }
            (given("appid"), given("secret"))
        }
        Api::WeCom => (given("corpid"), given("corpsecret")),
    };
    let Some(id) = id else {
        return Reply::errcode(41002, "appid missing");
    };
    let Some(secret) = secret else {
        return Reply::errcode(41004, "appsecret missing");
    };
    let expected = match &rules.secret {
        Some(s) => s.clone(),
        None => book
            .secrets
            .entry(id.clone())
            .or_insert(secret.clone())
            .clone(),
    };
    if secret != expected {
        return match api {
            Api::WeChat => Reply::errcode(40125, "invalid appsecret"),
            Api::WeCom => Reply::errcode(40001, "invalid credential"),
        };
    }
    let now = Instant::now();
    let value = format!("TOKEN-{n}-{id}");
    if api == Api::WeChat && req.path == "/cgi-bin/token" {
        let previous = book.classic.insert(id.clone(), value.clone());
        if let Some(old) = previous.and_then(|t| book.tokens.get_mut(&t)) {
            old.until = old.until.min(now + rules.grace);
            old.superseded = true;
        }
    }
    let until = now + Duration::from_secs(rules.expires_in.max(0) as u64);
    book.tokens.insert(
        value.clone(),
        Issued {
            api,
            id,
            until,
            superseded: false,
        },
    );
    Reply::token(&value, rules.expires_in)
}

/// A ticket endpoint: a live token of `api` it issued, then a new ticket.
fn ticket(book: &Book, rules: &Rules, req: &Request, n: usize, api: Api, kind: &str) -> Reply {
    let Some(token) = req.param("access_token").filter(|t| !t.is_empty()) else {
        return Reply::errcode(41001, "access_token missing");
    };
    match book.tokens.get(&token) {
        Some(t) if t.api == api && t.until > Instant::now() => {
            Reply::ticket(&format!("TICKET-{n}-{}-{kind}", t.id), rules.expires_in)
        }
        Some(t) if t.api == api && !t.superseded => Reply::errcode(42001, "access_token expired"),
        _ => Reply::errcode(
            40001,
            "invalid credential, access_token is invalid or not latest",
        ),
    }
}

fn serve(mut stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(mut req) = read_request(&stream) else {
        return;
    };
    // As a proxy: accept the tunnel, then answer the request sent through it.
    if req.method == "CONNECT" {
        if stream
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
        {
            return;
        }
        match read_request(&stream) {
            Some(inner) => req = inner,
            None => return,
        }
    }
    let reply = (state.handler)(&req);
    state.log.lock().unwrap().push(req);
    if let Mode::Reset = reply.mode {
        // Linger 0: closing sends a TCP reset instead of a normal close.
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        return;
    }
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.peak.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(reply.delay);
    respond(&mut stream, &reply, state);
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
}

/// Reads the request line, the headers and a Content-Length body.
fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn respond(stream: &mut TcpStream, reply: &Reply, state: &State) {
    match reply.mode {
        Mode::Hang => {
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until && !state.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Mode::Raw => {
            let _ = stream.write_all(&reply.body);
        }
        Mode::Normal | Mode::Trickle => {
            let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
            for (k, v) in &reply.headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str(&format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                reply.body.len()
            ));
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            if let Mode::Trickle = reply.mode {
                for b in &reply.body {
                    if stream.write_all(&[*b]).is_err() || state.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            } else {
                let _ = stream.write_all(&reply.body);
            }
        }
        Mode::Reset => {}
    }
    let _ = stream.flush();
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            (b'+', _, _) => out.push(b' '),
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for a Unix time.
pub fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
