//! Everything that talks to WeChat / WeCom: building the token and ticket requests,
//! retrying transient failures, and classifying each response, in one place.
//!
//! The secret only ever leaves this module inside a request. Error texts are built
//! here from the errcode, HTTP status or transport failure, never from ureq's own
//! error text (which carries the request URL, and with it the secret).

mod proxy;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::app::{Api, App, Ticket};
use crate::clock;
use crate::secret::Secret;

pub use proxy::Proxy;

/// The largest response body read; WeChat's answers are a few hundred bytes.
pub const BODY_LIMIT: u64 = 64 * 1024;
/// The longest lifetime accepted in `expires_in` (WeChat gives at most 7200 s).
pub const MAX_EXPIRES_IN: i64 = 86_400;
/// The longest token or ticket accepted (WeChat asks to reserve 512 characters).
pub const MAX_VALUE_LEN: usize = 2048;
/// The characters of WeChat's tokens and tickets besides ASCII letters and digits.
/// Anything else is refused before it is stored: `show`'s output goes to `eval`.
const VALUE_PUNCTUATION: &[u8] = b"-_.~+/=";

/// Whether `value` can be a token or ticket: only WeChat's alphabet.
pub fn token_alphabet(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || VALUE_PUNCTUATION.contains(&b))
}
/// Tries per call, the first included, for transient failures.
const MAX_TRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(400);

/// An upstream call: the access token, or a ticket fetched with a token.
pub enum Call<'a> {
    Token { force: bool },
    Ticket { ticket: Ticket, token: &'a str },
}

/// An upstream answer, as far as [`classify`] needs it.
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

/// A value that upstream issued.
#[derive(Debug, PartialEq, Eq)]
pub struct Issued {
    pub value: String,
    pub expires_in: i64,
}

/// Why a call did not give a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// WeChat answered with an errcode.
    Refused { errcode: i64, errmsg: String },
    /// An HTTP status other than 2xx.
    Http { status: u16 },
    /// Not a response wxtoken can use (HTML, truncated JSON, no token, bad expiry...).
    BadResponse(String),
    /// No answer within the timeout.
    Timeout,
    /// Upstream was not reached: no connection (refused, no route, DNS): the
    /// call cannot have counted against any quota.
    Unreached(String),
    /// Sending or reading failed on an open connection.
    Network(String),
    /// Upstream was not reached, and trying again now cannot help: its TLS
    /// certificate is not trusted, or the proxy refused the tunnel. A whole
    /// message: what failed, where, and the fix.
    Blocked(String),
    /// wxtoken refused to call (a local guard such as the daily budget).
    Guard(String),
}

impl Failure {
    /// Worth trying again within the same run.
    pub fn transient(&self) -> bool {
        match self {
            Failure::Refused { errcode, .. } => *errcode == -1,
            Failure::Http { status } => *status >= 500,
            Failure::Timeout | Failure::Network(_) | Failure::Unreached(_) => true,
            Failure::BadResponse(_) | Failure::Guard(_) | Failure::Blocked(_) => false,
        }
    }

    /// Whether the request may have reached upstream (and counted against a quota).
    pub fn reached_upstream(&self) -> bool {
        !matches!(
            self,
            Failure::Unreached(_) | Failure::Blocked(_) | Failure::Guard(_)
        )
    }

    pub fn errcode(&self) -> Option<i64> {
        match self {
            Failure::Refused { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// A token endpoint's or ticket endpoint's answer that means "this token is stale".
    pub fn stale_token(&self) -> bool {
        matches!(self.errcode(), Some(40001 | 40014 | 42001))
    }

    /// One line: what happened and what to do. `call` tells the token endpoint
    /// (where 40001 means a wrong secret) from the others.
    pub fn describe(&self, ticket: bool) -> String {
        match self {
            Failure::Refused { errcode, errmsg } => {
                let (meaning, fix) = meaning(*errcode, errmsg, ticket);
                format!("errcode {errcode} ({meaning}): {fix}")
            }
            Failure::Http { status } if *status >= 500 => {
                format!("HTTP {status} from upstream: a server error; run again later")
            }
            Failure::Http { status } => format!(
                "HTTP {status} from upstream: check --api-base / WXTOKEN_API_BASE and any proxy"
            ),
            Failure::BadResponse(what) => format!(
                "bad response: {what}; check --api-base / WXTOKEN_API_BASE and any proxy in between"
            ),
            Failure::Timeout => "no answer within --timeout: check the network path to upstream (a proxy can be set with HTTPS_PROXY), or raise --timeout".to_string(),
            Failure::Network(what) => format!(
                "network error: {what}; check the network path to upstream and HTTPS_PROXY"
            ),
            Failure::Unreached(what) => format!(
                "could not reach upstream: {what}; check DNS, the firewall, --api-base and HTTPS_PROXY"
            ),
            Failure::Guard(what) | Failure::Blocked(what) => what.clone(),
        }
    }
}

/// The meaning of an errcode and the user's fix, from the upstream documentation.
fn meaning(errcode: i64, errmsg: &str, ticket: bool) -> (String, String) {
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    match errcode {
        -1 => s(
            "system busy",
            "WeChat is busy; wxtoken retried; run again later",
        ),
        40001 if ticket => s(
            "access token invalid or not the latest",
            "another process fetched a newer token; run `wxtoken refresh` again",
        ),
        40001 => s(
            "wrong AppSecret",
            "check the app's secret; if it was reset in the admin console, store the new one",
        ),
        40002 => s(
            "invalid grant_type",
            "a bug in wxtoken's request; please report it",
        ),
        40013 => s(
            "invalid appid",
            "check the appid (for WeCom, the corpid) and that it belongs to this secret",
        ),
        40014 => s(
            "invalid access_token",
            "the token was revoked; run `wxtoken refresh --force`",
        ),
        40125 => s(
            "invalid AppSecret",
            "check the app's secret; reset it in the admin console if it was lost",
        ),
        40164 => {
            let ip = quoted_ip(errmsg).unwrap_or_else(|| "this machine's IP".to_string());
            (
                format!("caller IP {ip} is not on the IP whitelist"),
                format!(
                    "add {ip} to the IP whitelist in the admin console (Development > Basic configuration)"
                ),
            )
        }
        40243 => s(
            "AppSecret frozen",
            "unfreeze or reset the AppSecret in the admin console",
        ),
        41001 => s(
            "access_token missing",
            "a bug in wxtoken's request; please report it",
        ),
        41002 => s("appid missing", "set the app's appid"),
        41004 => s("secret missing", "set the app's secret"),
        42001 => s(
            "access_token expired",
            "run `wxtoken refresh` (the stored token is marked stale)",
        ),
        45009 => s(
            "daily quota reached",
            "wait until the quota resets at midnight Beijing time, or reset it with clear_quota (10 times a month)",
        ),
        45011 => s(
            "per-minute quota reached",
            "wait a minute and run again; check that nothing else calls the token API",
        ),
        48001 => s(
            "API not authorized for this account",
            "check the account's permissions in the admin console",
        ),
        50004 => s(
            "token API forbidden for this account",
            "check the account's status in the admin console",
        ),
        50007 => s(
            "account frozen",
            "check the account's status in the admin console",
        ),
        89501 | 89503 => s(
            "waiting for the administrator to confirm this IP",
            "ask the administrator to confirm the IP in the admin console, then run again",
        ),
        89506 => s(
            "the administrator refused this IP: blocked for 24 hours",
            "call from a whitelisted IP, or wait 24 hours",
        ),
        89507 => s(
            "the administrator refused this IP: blocked for 1 hour",
            "call from a whitelisted IP, or wait an hour",
        ),
        60020 => {
            let ip = quoted_ip(errmsg).unwrap_or_else(|| "this machine's IP".to_string());
            (
                format!("caller IP {ip} is not a trusted IP of this WeCom app"),
                format!("add {ip} to the app's trusted IPs in the WeCom admin console"),
            )
        }
        _ => (
            crate::text::clip(errmsg, 120),
            "see WeChat's global error code list".to_string(),
        ),
    }
}

/// The IP that WeChat quotes in a whitelist error: `invalid ip 1.2.3.4 ipv6 ...`
/// or `from ip: 1.2.3.4`.
fn quoted_ip(errmsg: &str) -> Option<String> {
    let mut words = errmsg.split(|c: char| c.is_whitespace() || c == ',');
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("ip") || w.eq_ignore_ascii_case("ip:") {
            for next in words.by_ref() {
                if next.is_empty() || next == ":" {
                    continue;
                }
                if next.parse::<std::net::IpAddr>().is_ok() {
                    return Some(next.to_string());
                }
                break;
            }
        }
    }
    None
}

/// Turns an upstream answer into an issued value or a failure. `field` is the
/// JSON key of the value: `access_token` or `ticket`. Never panics.
pub fn classify(resp: &Response, field: &str) -> Result<Issued, Failure> {
    if !(200..300).contains(&resp.status) {
        return Err(Failure::Http {
            status: resp.status,
        });
    }
    let bad = |what: String| Err(Failure::BadResponse(what));
    if resp.body.iter().all(|b| b.is_ascii_whitespace()) {
        return bad("empty body".to_string());
    }
    let json: serde_json::Value = match serde_json::from_slice(resp.body) {
        Ok(v) => v,
        Err(e) => {
            let start = String::from_utf8_lossy(&resp.body[..resp.body.len().min(40)]);
            let what = if e.is_eof() {
                "truncated JSON"
            } else {
                "not JSON"
            };
            return bad(format!(
                "{what}, starting {}",
                crate::text::quoted_max(&start, 40)
            ));
        }
    };
    let Some(obj) = json.as_object() else {
        return bad("JSON that is not an object".to_string());
    };
    if let Some(code) = obj.get("errcode") {
        let Some(errcode) = code.as_i64() else {
            return bad(format!("errcode is not an integer: {code}"));
        };
        if errcode != 0 {
            let errmsg = obj.get("errmsg").and_then(|m| m.as_str()).unwrap_or("");
            return Err(Failure::Refused {
                errcode,
                errmsg: errmsg.to_string(),
            });
        }
    }
    let value = match obj.get(field) {
        Some(serde_json::Value::String(v)) if !v.is_empty() => v,
        Some(serde_json::Value::String(_)) => return bad(format!("empty {field}")),
        Some(_) => return bad(format!("{field} is not a string")),
        None => return bad(format!("no {field} in the response")),
    };
    if value.len() > MAX_VALUE_LEN {
        return bad(format!("{field} longer than {MAX_VALUE_LEN} characters"));
    }
    if !token_alphabet(value) {
        return bad(format!(
            "{field} holds characters a token never has (only letters, digits and -_.~+/= are accepted)"
        ));
    }
    let expires_in = match obj.get("expires_in") {
        Some(v) => match v.as_i64() {
            Some(n) if (1..=MAX_EXPIRES_IN).contains(&n) => n,
            _ => {
                return bad(format!(
                    "expires_in is {v}, not a whole number of seconds from 1 to {MAX_EXPIRES_IN}"
                ));
            }
        },
        None => return bad("no expires_in in the response".to_string()),
    };
    Ok(Issued {
        value: value.clone(),
        expires_in,
    })
}

/// One HTTP request made for a call, for the attempts history.
#[derive(Debug)]
pub struct Try {
    pub started_ms: i64,
    pub duration_ms: i64,
    pub result: Result<(), Failure>,
}

/// The end of a call: what each try did, and the value (with the Unix time its
/// successful request was sent) or the last failure.
pub struct Outcome {
    pub tries: Vec<Try>,
    pub result: Result<(Issued, i64), Failure>,
    /// Seconds that upstream's `Date` header differed from the local clock, if it did.
    pub clock_skew: Option<i64>,
}

/// The HTTP client. Cheap to share between threads.
#[derive(Clone)]
pub struct Client {
    timeout: Duration,
    proxy: Option<Arc<Proxy>>,
    /// Agents by (https, through the proxy), each made at its first call: only
    /// TLS reads the CA store.
    agents: Arc<Mutex<HashMap<(bool, bool), ureq::Agent>>>,
}

impl Client {
    /// `timeout` bounds each request; `proxy` carries every call to a host its
    /// NO_PROXY list does not exempt.
    pub fn new(timeout: Duration, proxy: Option<Proxy>) -> Client {
        Client {
            timeout,
            proxy: proxy.map(Arc::new),
            agents: Arc::default(),
        }
    }

    /// The agent for a call: TLS or not, through the proxy or not.
    fn agent(&self, https: bool, proxy: Option<&Proxy>) -> Result<ureq::Agent, Failure> {
        let mut agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(agent) = agents.get(&(https, proxy.is_some())) {
            return Ok(agent.clone());
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("wxtoken/", env!("CARGO_PKG_VERSION")))
            .proxy(proxy.map(|p| p.proxy.clone()));
        if https || proxy.is_some_and(|p| p.tls) {
            let roots = match crate::trust::roots().map_err(Failure::Blocked)? {
                crate::trust::Roots::System(certs) => ureq::tls::RootCerts::new_with_certs(
                    &certs
                        .iter()
                        .map(|c| ureq::tls::Certificate::from_der(c).to_owned())
                        .collect::<Vec<_>>(),
                ),
                crate::trust::Roots::Mozilla => ureq::tls::RootCerts::WebPki,
            };
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        let agent = config.build().new_agent();
        agents.insert((https, proxy.is_some()), agent.clone());
        Ok(agent)
    }

    /// Makes `call` for `app`, retrying transient failures with exponential backoff
    /// and jitter while tries remain and `deadline` allows.
    pub fn call(&self, app: &App, secret: &Secret, call: &Call, deadline: Instant) -> Outcome {
        let field = match call {
            Call::Token { .. } => "access_token",
            Call::Ticket { .. } => "ticket",
        };
        // A forced stable call is never repeated: WeChat allows 20 a day, 30 s apart.
        let max_tries = match call {
            Call::Token { force: true } if app.api == Api::Stable => 1,
            _ => MAX_TRIES,
        };
        let mut tries = Vec::new();
        let mut clock_skew = None;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let started_ms = clock::now_ms();
            let clock_start = Instant::now();
            let result = if remaining.is_zero() {
                Err(Failure::Timeout)
            } else {
                self.send(app, secret, call, remaining.min(self.timeout))
                    .and_then(|(status, date, body)| {
                        if let Some(skew) = date.as_deref().and_then(|d| skew_from(d, started_ms)) {
                            clock_skew = Some(skew);
                        }
                        classify(
                            &Response {
                                status,
                                body: &body,
                            },
                            field,
                        )
                    })
            };
            let duration_ms = clock_start.elapsed().as_millis() as i64;
            let sent = started_ms.div_euclid(1000);
            let retry = match &result {
                Err(f) => f.transient(),
                Ok(_) => false,
            };
            tries.push(Try {
                started_ms,
                duration_ms,
                result: result.as_ref().map(|_| ()).map_err(Clone::clone),
            });
            let wait = jitter(backoff);
            let out_of_time = Instant::now() + wait >= deadline;
            if !retry || tries.len() as u32 >= max_tries || out_of_time {
                return Outcome {
                    tries,
                    result: result.map(|issued| (issued, sent)),
                    clock_skew,
                };
            }
            log::info!(
                "{}: {}; retrying in {} ms",
                app.name,
                result
                    .as_ref()
                    .err()
                    .map(|f| f.describe(false))
                    .unwrap_or_default(),
                wait.as_millis()
            );
            std::thread::sleep(wait);
            backoff *= 2;
        }
    }

    /// One HTTP request: status, `Date` header and body (at most BODY_LIMIT bytes).
    fn send(
        &self,
        app: &App,
        secret: &Secret,
        call: &Call,
        timeout: Duration,
    ) -> Result<(u16, Option<String>, Vec<u8>), Failure> {
        let base = &app.api_base;
        let appid = app.appid.as_str();
        let secret = secret.expose();
        let (https, host) = target(base);
        let proxy = self.proxy.as_deref().filter(|p| !p.bypassed(host));
        let agent = self.agent(https, proxy)?;
        let failure = |e| transport_failure(e, host, proxy);
        let get = |url: String| {
            agent
                .get(url)
                .config()
                .timeout_global(Some(timeout))
                .build()
        };
        let response = match (call, app.api) {
            (Call::Token { .. }, Api::Classic) => {
                log::debug!("{}: GET {base}/cgi-bin/token", app.name);
                get(format!("{base}/cgi-bin/token"))
                    .query("grant_type", "client_credential")
                    .query("appid", appid)
                    .query("secret", secret)
                    .call()
            }
            (Call::Token { force }, Api::Stable) => {
                log::debug!(
                    "{}: POST {base}/cgi-bin/stable_token force_refresh={force}",
                    app.name
                );
                let body = serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": appid,
                    "secret": secret,
                    "force_refresh": force,
                });
                agent
                    .post(format!("{base}/cgi-bin/stable_token"))
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .header("content-type", "application/json")
                    .send(body.to_string())
            }
            (Call::Token { .. }, Api::Wecom) => {
                log::debug!("{}: GET {base}/cgi-bin/gettoken", app.name);
                get(format!("{base}/cgi-bin/gettoken"))
                    .query("corpid", appid)
                    .query("corpsecret", secret)
                    .call()
            }
            (Call::Ticket { ticket, token }, api) => {
                let (path, kind) = match (api, ticket) {
                    (Api::Wecom, Ticket::Jsapi) => ("/cgi-bin/get_jsapi_ticket", None),
                    (Api::Wecom, t) => ("/cgi-bin/ticket/get", Some(t.name())),
                    (_, t) => ("/cgi-bin/ticket/getticket", Some(t.name())),
                };
                log::debug!(
                    "{}: GET {base}{path} with token {}",
                    app.name,
                    crate::secret::short(token)
                );
                let req = get(format!("{base}{path}")).query("access_token", token);
                match kind {
                    Some(kind) => req.query("type", kind),
                    None => req,
                }
                .call()
            }
        };
        let mut response = response.map_err(failure)?;
        let status = response.status().as_u16();
        let date = response
            .headers()
            .get("date")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    Failure::BadResponse(format!("body larger than {BODY_LIMIT} bytes"))
                }
                e => failure(e),
            })?;
        Ok((status, date, body))
    }
}

/// Whether a (checked) base URL is https, and its host.
fn target(base: &str) -> (bool, &str) {
    let (https, rest) = match base.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, base.strip_prefix("http://").unwrap_or(base)),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = crate::config::split_host_port(authority).map_or(authority, |(h, _)| h);
    (https, host)
}

/// How to make a CA trusted, for certificate errors.
const ADD_CA: &str = "if it is a private CA or a TLS-inspecting proxy's, add that CA to the system store (copy it to /usr/local/share/ca-certificates/ and run update-ca-certificates) or point SSL_CERT_FILE at a PEM file holding it";

/// A failed TLS connection to `host`, in words: it never heals by retrying.
fn tls_failure(e: &rustls::Error, host: &str, proxy: Option<&Proxy>) -> Failure {
    use rustls::CertificateError as C;
    let whose = match proxy {
        Some(p) if p.tls => format!("{host} (or of the proxy {})", p.shown),
        _ => host.to_string(),
    };
    let (what, fix) = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => ("unknown issuer (signed by a CA this machine does not trust)".to_string(), ADD_CA.to_string()),
            C::Expired | C::ExpiredContext { .. } => (
                "expired".to_string(),
                "check this machine's clock; if it is right, the server's certificate must be renewed".to_string(),
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => (
                "not valid yet".to_string(),
                "check this machine's clock (NTP)".to_string(),
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => (
                format!("name mismatch (not issued for {host})"),
                "check the host in --api-base / api_base; a TLS-inspecting proxy must issue certificates for that name".to_string(),
            ),
            other => (format!("{other:?}"), ADD_CA.to_string()),
        },
        other => {
            return Failure::Blocked(format!(
                "TLS handshake with {whose} failed: {other}; check --api-base / api_base (an https:// URL of a server that speaks TLS) and any proxy"
            ));
        }
    };
    Failure::Blocked(format!(
        "the TLS certificate of {whose} is not trusted: {what}; {fix}"
    ))
}

/// The proxy refused or failed to open the tunnel: upstream was not reached.
/// `reason` is ureq's text: `proxy server responded 407/...` or `... did not respond`.
fn proxy_failure(reason: &str, host: &str, proxy: &Proxy) -> Failure {
    let name = format!("proxy {} (from {})", proxy.shown, proxy.var);
    let status = reason
        .split_once("responded ")
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(407) => Failure::Blocked(format!(
            "{name} answered 407 Proxy Authentication Required: put the proxy's user and password in {} (http://USER:PASSWORD@host:port, percent-encoded)",
            proxy.var
        )),
        Some(403) => Failure::Blocked(format!(
            "{name} answered 403 Forbidden to a tunnel to {host}: ask its administrator to allow {host}, or list {host} in NO_PROXY if it is reachable directly"
        )),
        Some(code) => Failure::Unreached(format!("{name} answered {code} to a tunnel to {host}")),
        None => Failure::Unreached(format!(
            "{name} closed the connection without answering the tunnel request"
        )),
    }
}

/// A transport error in words of our own: ureq's texts may carry the URL.
/// `host` is upstream's; `proxy` the proxy the call went through, if any.
fn transport_failure(e: ureq::Error, host: &str, proxy: Option<&Proxy>) -> Failure {
    use std::io::ErrorKind;
    let tls = match &e {
        ureq::Error::Rustls(t) => Some(t),
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    if let Some(t) = tls {
        return tls_failure(t, host, proxy);
    }
    if let Some(p) = proxy {
        let unreached = |what: &str| {
            Failure::Unreached(format!(
                "could not connect to proxy {} (from {}): {what}",
                p.shown, p.var
            ))
        };
        match &e {
            ureq::Error::ConnectProxyFailed(reason) => return proxy_failure(reason, host, p),
            ureq::Error::HostNotFound => return unreached("host not found"),
            ureq::Error::ConnectionFailed => return unreached("could not connect"),
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused => return unreached("connection refused"),
                ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => {
                    return unreached("no route to the host");
                }
                _ if io.to_string().contains("lookup address") => {
                    return unreached("host name not resolved");
                }
                _ => {}
            },
            _ => {}
        }
    }
    match e {
        ureq::Error::Tls(what) => Failure::Blocked(format!(
            "TLS with {host} could not start: {what}; check --api-base / api_base"
        )),
        ureq::Error::Timeout(_) => Failure::Timeout,
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::TimedOut => Failure::Timeout,
            ErrorKind::ConnectionRefused => Failure::Unreached("connection refused".to_string()),
            ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => {
                Failure::Unreached("no route to the host".to_string())
            }
            ErrorKind::ConnectionReset => {
                Failure::Network("connection reset by the server".to_string())
            }
            ErrorKind::UnexpectedEof => {
                Failure::Network("connection closed before the answer ended".to_string())
            }
            // Name resolution failures come as uncategorized I/O errors.
            _ if io.to_string().contains("lookup address") => {
                Failure::Unreached(format!("host name not resolved ({io})"))
            }
            _ => Failure::Network(crate::secret::redact(&io.to_string())),
        },
        ureq::Error::HostNotFound => Failure::Unreached("host not found".to_string()),
        ureq::Error::ConnectionFailed => Failure::Unreached("could not connect".to_string()),
        ureq::Error::Protocol(_) => Failure::BadResponse("not a valid HTTP response".to_string()),
        ureq::Error::BadUri(_) => {
            Failure::Unreached("invalid URL: check --api-base / WXTOKEN_API_BASE".to_string())
        }
        ureq::Error::InvalidProxyUrl => Failure::Blocked(
            "invalid proxy URL in HTTPS_PROXY / ALL_PROXY / HTTP_PROXY".to_string(),
        ),
        other => Failure::Network(crate::secret::redact(&other.to_string())),
    }
}

/// Seconds between upstream's `Date` header and the local clock when the request was sent.
fn skew_from(date: &str, local_ms: i64) -> Option<i64> {
    let remote = clock::parse_http_date(date)?;
    Some(remote - local_ms.div_euclid(1000))
}

/// A random wait between half and all of `d`.
fn jitter(d: Duration) -> Duration {
    let r = RandomState::new().hash_one(clock::now_ms()) % 1000;
    d / 2 + d * r as u32 / 2000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Result<Issued, Failure> {
        classify(
            &Response {
                status: 200,
                body: body.as_bytes(),
            },
            "access_token",
        )
    }

    #[test]
    fn success_needs_a_token_and_a_sane_expiry() {
        assert_eq!(
            ok(r#"{"access_token":"T","expires_in":7200}"#),
            Ok(Issued {
                value: "T".into(),
                expires_in: 7200
            })
        );
        assert!(ok(r#"{"errcode":0,"errmsg":"ok","access_token":"T","expires_in":5}"#).is_ok());
        for body in [
            r#"{"access_token":"","expires_in":7200}"#,
            r#"{"access_token":"T"}"#,
            r#"{"access_token":"T","expires_in":0}"#,
            r#"{"access_token":"T","expires_in":-5}"#,
            r#"{"access_token":"T","expires_in":1e12}"#,
            r#"{"access_token":"T","expires_in":"7200"}"#,
            r#"{"access_token":"a b","expires_in":7200}"#,
            r#"{"access_token":"a;b","expires_in":7200}"#,
            r#"{"access_token":"a'b","expires_in":7200}"#,
            r#"{"access_token":"$(id)","expires_in":7200}"#,
            r#"{"access_token":"a\u001bb","expires_in":7200}"#,
            r#"{"access_token":"é","expires_in":7200}"#,
            r#"{"access_token":7,"expires_in":7200}"#,
            r#"[]"#,
            "<html>",
            r#"{"access_token":"T","#,
            "",
        ] {
            assert!(
                matches!(ok(body), Err(Failure::BadResponse(_))),
                "accepted {body}"
            );
        }
    }

    #[test]
    fn values_are_bounded_to_2048_characters_of_the_token_alphabet() {
        let of = |v: &str| ok(&format!(r#"{{"access_token":"{v}","expires_in":7200}}"#));
        let alphabet = "AZaz09-_.~+/=";
        assert_eq!(of(alphabet).unwrap().value, alphabet);
        assert!(of(&"A".repeat(2048)).is_ok());
        assert!(matches!(
            of(&"A".repeat(2049)),
            Err(Failure::BadResponse(_))
        ));
    }

    #[test]
    fn errcodes_are_refusals_and_only_minus_one_is_transient() {
        let f = ok(r#"{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 6566"}"#)
            .unwrap_err();
        assert!(!f.transient());
        assert!(
            f.describe(false)
                .contains("add 1.2.3.4 to the IP whitelist"),
            "{}",
            f.describe(false)
        );
        assert!(
            ok(r#"{"errcode":-1,"errmsg":"system error"}"#)
                .unwrap_err()
                .transient()
        );
        assert!(Failure::Http { status: 502 }.transient());
        assert!(!Failure::Http { status: 404 }.transient());
    }

    #[test]
    fn quoted_ip_forms() {
        assert_eq!(
            quoted_ip("invalid ip 10.0.0.7 ipv6 ::ffff:10.0.0.7, not in whitelist").as_deref(),
            Some("10.0.0.7")
        );
        assert_eq!(
            quoted_ip("not allow to access from your ip, hint: [x], from ip: 1.2.3.4").as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(quoted_ip("invalid ip"), None);
    }
}

/// Property tests of [`classify`]: it never panics, and it never accepts a
/// response without a non-empty token and a sane expiry. Run longer with
/// `PROPTEST_CASES=1000000 cargo test --release classify_`.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Checks one response: an accepted one must really be a success.
    fn check(status: u16, body: &[u8], field: &str) {
        let Ok(issued) = classify(&Response { status, body }, field) else {
            return;
        };
        assert!((200..300).contains(&status), "accepted HTTP {status}");
        assert!(!issued.value.is_empty());
        assert!(issued.value.len() <= MAX_VALUE_LEN);
        assert!(
            issued
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b)),
            "accepted {:?}",
            issued.value
        );
        assert!((1..=MAX_EXPIRES_IN).contains(&issued.expires_in));
        let json: serde_json::Value = serde_json::from_slice(body).expect("accepted non-JSON");
        assert_eq!(json[field].as_str(), Some(issued.value.as_str()));
        assert_eq!(json["expires_in"].as_i64(), Some(issued.expires_in));
        assert!(json.get("errcode").is_none_or(|c| c.as_i64() == Some(0)));
    }

    /// JSON values of every kind, to put in the fields that matter.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-10i64..10_000).prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
            "[A-Za-z0-9_-]{0,40}".prop_map(serde_json::Value::from),
            "[ -~]{0,40}".prop_map(serde_json::Value::from),
            "[A-Za-z0-9_.~+/=-]{2040,2050}".prop_map(serde_json::Value::from),
            Just(serde_json::json!([])),
            Just(serde_json::json!({})),
        ]
    }

    proptest! {
        #[test]
        fn classify_arbitrary_bytes(status in 0u16..1000, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            check(status, &body, "access_token");
            check(status, &body, "ticket");
        }

        #[test]
        fn classify_json_objects(
            status in prop_oneof![Just(200u16), 100u16..600],
            token in proptest::option::of(value()),
            expires in proptest::option::of(value()),
            errcode in proptest::option::of(prop_oneof![Just(serde_json::json!(0)), value()]),
            truncate in proptest::option::of(0usize..80),
        ) {
            let mut obj = serde_json::Map::new();
            for (key, v) in [("access_token", token), ("expires_in", expires), ("errcode", errcode)] {
                if let Some(v) = v {
                    obj.insert(key.to_string(), v);
                }
            }
            let mut body = serde_json::Value::Object(obj).to_string().into_bytes();
            if let Some(n) = truncate {
                body.truncate(n);
            }
            check(status, &body, "access_token");
        }
    }
}
