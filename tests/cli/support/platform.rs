//! A stateful stand-in of the third-party platform APIs (facts in
//! `wechat-third-party-api.md`): WeChat Open Platform components
//! (`platform_open.rs`) and WeCom service providers (`platform_work.rs`).
//!
//! Unlike the plain stand-in it remembers what it issued and checks every
//! credential where WeChat checks it, so a test proves that wxtoken sends the
//! right ticket, token, refresh token or permanent code. Paths it does not
//! serve (and tickets asked with a token it did not issue) go to the plain
//! [`standin::wechat`] handler, so one stand-in serves a mixed config. Tests
//! count requests with [`StandIn::count`], as for the plain stand-in.
#![allow(dead_code)]

#[path = "platform_open.rs"]
mod open;
#[path = "platform_work.rs"]
mod work;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::standin::{self, Reply, Request, StandIn};

pub const COMPONENT_APPID: &str = "wx0c0a0e0f00000001";
pub const COMPONENT_SECRET: &str = "component-secret-not-real";
/// The component_verify_ticket `--platform` registers as pushed.
pub const TICKET: &str = "ticket@@@standin-verify-ticket";
pub const SUITE_ID: &str = "wwsuite00000000001";
pub const SUITE_SECRET: &str = "suite-secret-not-real";
/// The suite_ticket `--platform` registers as pushed.
pub const SUITE_TICKET: &str = "suiteticket-standin";
/// A WeCom 代开发 template (id `dk...`): its companies' token comes from
/// gettoken with the permanent code as the secret.
pub const DK_SUITE_ID: &str = "dkcustomized000001";
pub const DK_SUITE_SECRET: &str = "dk-secret-not-real";
pub const PROVIDER_CORPID: &str = "wwprovider00000001";
pub const PROVIDER_SECRET: &str = "provider-secret-not-real";

/// The appid of the `i`-th pre-registered authorizer.
pub fn authorizer_appid(i: usize) -> String {
    format!("wxa{i:015}")
}

/// The refresh token a pre-registered or newly authorized authorizer starts with.
pub fn first_refresh_token(appid: &str) -> String {
    format!("refreshtoken@@@{appid}")
}

/// The corpid of the `i`-th pre-registered corp.
pub fn corpid(i: usize) -> String {
    format!("wwc{i:015}")
}

/// The permanent code a pre-registered or newly installed corp starts with.
pub fn first_permanent_code(corpid: &str) -> String {
    format!("permanentcode@@@{corpid}")
}

/// Who a token was issued to; a token of one kind is refused where another is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Component,
    Authorizer,
    Suite,
    Corp,
    Provider,
}

/// What happens to the next answer of an endpoint, once its work is done
/// (a code is spent, a credential issued): what WeChat does on a bad day.
#[derive(Clone, Copy, Debug)]
pub enum Twist {
    /// The answer comes this late.
    Slow(Duration),
    /// The answer is replaced by this HTTP status (a gateway's 5xx).
    Http(u16),
    /// The answer carries no token (`access_token`, `authorizer_access_token`,
    /// `expires_in` removed), as WeCom's 代开发 and v2 exchanges answer.
    NoToken,
}

/// Why a token was refused.
enum Refused {
    Missing,
    Invalid,
    Expired,
}

struct Issued {
    kind: Kind,
    owner: String,
    until: Instant,
}

struct State {
    issued: HashMap<String, Issued>,
    serial: u64,
    expires_in: i64,
    latency: Duration,
    /// (path suffix, errcode) answered once, in order, instead of the real answer.
    failures: Vec<(String, i64)>,
    /// (path suffix, twist) applied once to the real answer, after its work.
    twists: Vec<(String, Twist)>,
    /// The plain apps' secret (see [`standin::Rules::secret`]).
    plain_secret: Option<String>,
    open: open::Open,
    work: work::Work,
}

impl State {
    /// A new token of `kind` for `owner`, valid `expires_in` seconds.
    fn issue(&mut self, kind: Kind, prefix: &str, owner: &str) -> String {
        self.serial += 1;
        let token = format!("{prefix}-{}-{owner}", self.serial);
        let until = Instant::now() + Duration::from_secs(self.expires_in.max(0) as u64);
        let owner = owner.to_string();
        self.issued
            .insert(token.clone(), Issued { kind, owner, until });
        token
    }

    /// The owner of `token` when it is a live token of `kind`.
    fn check(&self, token: Option<&String>, kind: Kind) -> Result<String, Refused> {
        let token = token.filter(|t| !t.is_empty()).ok_or(Refused::Missing)?;
        match self.issued.get(token) {
            Some(i) if i.kind != kind => Err(Refused::Invalid),
            Some(i) if i.until <= Instant::now() => Err(Refused::Expired),
            Some(i) => Ok(i.owner.clone()),
            None => Err(Refused::Invalid),
        }
    }

    fn next(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }
}

/// The platforms' state, shared by the test (knobs) and the running stand-in.
#[derive(Clone)]
pub struct Platforms {
    state: Arc<Mutex<State>>,
}

impl Default for Platforms {
    fn default() -> Self {
        Platforms::new()
    }
}

impl Platforms {
    /// One component, one suite, one provider (the constants above); no ticket
    /// pushed, no authorizer, no corp yet; tokens valid 7200 s.
    pub fn new() -> Platforms {
        Platforms {
            state: Arc::new(Mutex::new(State {
                issued: HashMap::new(),
                serial: 0,
                expires_in: 7200,
                latency: Duration::ZERO,
                failures: Vec::new(),
                twists: Vec::new(),
                plain_secret: Some(standin::SECRET.to_string()),
                open: open::Open::default(),
                work: work::Work::default(),
            })),
        }
    }

    /// Serves these platforms (and the plain endpoints) on 127.0.0.1.
    pub fn start(&self) -> StandIn {
        StandIn::start(self.handler())
    }

    /// The handler [`Platforms::start`] serves, for [`StandIn::start_on`].
    pub fn handler(&self) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
        let me = self.clone();
        let (expires_in, secret) = {
            let s = self.lock();
            (s.expires_in, s.plain_secret.clone())
        };
        let plain = standin::strict(standin::Rules {
            expires_in,
            secret,
            ..standin::Rules::default()
        });
        move |req: &Request| {
            let (reply, latency, twist) = {
                let mut s = me.lock();
                let reply = answer(&mut s, req);
                let i = s.twists.iter().position(|(p, _)| req.path.ends_with(p));
                let twist = i.filter(|_| reply.is_some()).map(|i| s.twists.remove(i).1);
                (reply, s.latency, twist)
            };
            let reply = reply.unwrap_or_else(|| plain(req)).delayed(latency);
            match twist {
                None => reply,
                Some(Twist::Slow(d)) => reply.delayed(d.max(latency)),
                Some(Twist::Http(status)) => {
                    Reply::status(status, "<html>bad gateway</html>").delayed(latency)
                }
                Some(Twist::NoToken) => {
                    let mut json: serde_json::Value =
                        serde_json::from_slice(&reply.body).unwrap_or_default();
                    if let Some(o) = json.as_object_mut() {
                        o.remove("access_token");
                        o.remove("expires_in");
                        let info = o.get_mut("authorization_info");
                        if let Some(info) = info.and_then(|i| i.as_object_mut()) {
                            info.remove("authorizer_access_token");
                            info.remove("expires_in");
                        }
                    }
                    Reply::json(json.to_string()).delayed(latency)
                }
            }
        }
    }

    /// The plain apps' secret for handlers made from now on (`None`: the first
    /// one each id comes with, as in the demo).
    pub fn set_plain_secret(&self, secret: Option<&str>) {
        self.lock().plain_secret = secret.map(str::to_string);
    }

    /// Every answer waits `latency` first.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The `expires_in` of tokens and tickets issued from now on (0 or less:
    /// they are dead on arrival).
    pub fn set_expires_in(&self, seconds: i64) {
        self.lock().expires_in = seconds;
    }

    /// The next request whose path ends with `endpoint` (e.g.
    /// `"api_authorizer_token"`) gets `errcode` instead of its answer.
    pub fn fail_next(&self, endpoint: &str, errcode: i64) {
        self.lock().failures.push((endpoint.to_string(), errcode));
    }

    /// The next answer of the endpoint whose path ends with `endpoint` gets
    /// `twist` once its work is done.
    pub fn twist_next(&self, endpoint: &str, twist: Twist) {
        self.lock().twists.push((endpoint.to_string(), twist));
    }

    /// Makes an issued token of any kind expire now (errcode 42001/42009 after).
    pub fn expire_token(&self, token: &str) {
        if let Some(i) = self.lock().issued.get_mut(token) {
            i.until = Instant::now();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `None` for what the plain handler answers.
fn answer(s: &mut State, req: &Request) -> Option<Reply> {
    if let Some(i) = s.failures.iter().position(|(p, _)| req.path.ends_with(p)) {
        let (_, code) = s.failures.remove(i);
        return Some(Reply::errcode(code, "forced by the test"));
    }
    // A ticket asked with a token the platforms never issued goes to the plain
    // handler, which answers it only when it issued that token itself.
    let platform_token = req
        .query
        .get("access_token")
        .is_some_and(|t| s.issued.contains_key(t));
    if req.query.contains_key("access_token") && !platform_token && is_ticket(&req.path) {
        return None;
    }
    open::answer(s, req).or_else(|| work::answer(s, req))
}

/// The ticket endpoints both the plain and the platform handlers serve.
fn is_ticket(path: &str) -> bool {
    matches!(
        path,
        "/cgi-bin/ticket/getticket" | "/cgi-bin/get_jsapi_ticket" | "/cgi-bin/ticket/get"
    )
}

/// The JSON body, or WeChat's answer to a body that is not JSON.
fn body(req: &Request) -> Result<serde_json::Value, Reply> {
    serde_json::from_str(&req.body).map_err(|_| Reply::errcode(47001, "data format error"))
}

/// A string field of the body ("" when absent).
fn field(json: &serde_json::Value, key: &str) -> String {
    match json.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn ok(json: serde_json::Value) -> Reply {
    Reply::json(json.to_string())
}
