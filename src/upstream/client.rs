//! The HTTP client: one request per try, retries of transient failures with
//! backoff, every try bounded by `--timeout` and the whole call by its deadline.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::classify::classify;
use super::{Failure, Issued, Proxy, Response, unreached};
use crate::app::App;
use crate::clock;
use crate::graph::{Kind, Method, Node, Param};
use crate::secret::Secret;

/// The largest response body read; WeChat's answers are a few hundred bytes.
pub const BODY_LIMIT: u64 = 64 * 1024;
/// Tries per call, the first included, for transient failures.
const MAX_TRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(400);

/// One upstream call: a node's request, with the value of the credential it
/// needs (if any) and `--force`.
pub struct Call<'a> {
    pub node: &'static Node,
    pub input: Option<&'a str>,
    pub force: bool,
}

impl Call<'_> {
    /// Whether `--force` reaches upstream in this call.
    pub fn forced(&self) -> bool {
        self.force && self.node.forceable()
    }
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
pub struct Reply {
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

    /// Makes the request of `node` for `app`, retrying transient failures with
    /// exponential backoff and jitter while tries remain and `deadline` allows.
    /// `input` is the value of the credential the node needs, if it needs one.
    pub fn call(&self, app: &App, secret: &Secret, call: &Call, deadline: Instant) -> Reply {
        let field = call.node.field;
        // A forced call is never repeated (stable: WeChat allows 20 a day, 30 s apart).
        let max_tries = if call.forced() { 1 } else { MAX_TRIES };
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
                return Reply {
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
        let (https, host) = target(base);
        let proxy = self.proxy.as_deref().filter(|p| !p.bypassed(host));
        let agent = self.agent(https, proxy)?;
        let failure = |e| transport_failure(e, host, proxy);
        let request = &call.node.request;
        let url = format!("{base}{}", request.path);
        let value = |param: Param| match param {
            Param::Fixed(v) => Some(v),
            Param::Appid => Some(app.appid.as_str()),
            Param::Secret => Some(secret.expose()),
            Param::Credential => call.input,
            Param::TicketType => match call.node.kind {
                Kind::Ticket(t) => Some(t.as_str()),
                Kind::AccessToken => None,
            },
            // A JSON boolean, not text: see the POST below.
            Param::Force => None,
        };
        let response = match request.method {
            Method::Get => {
                match call.input {
                    Some(token) => log::debug!(
                        "{}: GET {url} with token {}",
                        app.name,
                        crate::secret::short(token)
                    ),
                    None => log::debug!("{}: GET {url}", app.name),
                }
                let mut req = agent
                    .get(&url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build();
                for (name, param) in request.params {
                    if let Some(v) = value(*param) {
                        req = req.query(*name, v);
                    }
                }
                req.call()
            }
            Method::PostJson => {
                let mut body = serde_json::Map::new();
                let mut shown = String::new();
                for (name, param) in request.params {
                    let v = match param {
                        Param::Force => {
                            shown.push_str(&format!(" {name}={}", call.force));
                            serde_json::Value::from(call.force)
                        }
                        p => serde_json::Value::from(value(*p).unwrap_or_default()),
                    };
                    body.insert(name.to_string(), v);
                }
                log::debug!("{}: POST {url}{shown}", app.name);
                agent
                    .post(&url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .header("content-type", "application/json")
                    .send(serde_json::Value::Object(body).to_string())
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
        Some(code) => unreached(
            host,
            format!("{name} answered {code} to a tunnel to {host}"),
        ),
        None => unreached(
            host,
            format!("{name} closed the connection without answering the tunnel request"),
        ),
    }
}

/// A transport error in words of our own: ureq's texts may carry the URL.
/// `host` is upstream's; `proxy` the proxy the call went through, if any.
pub(super) fn transport_failure(e: ureq::Error, host: &str, proxy: Option<&Proxy>) -> Failure {
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
            unreached(
                host,
                format!(
                    "could not connect to proxy {} (from {}): {what}",
                    p.shown, p.var
                ),
            )
        };
        match &e {
            ureq::Error::ConnectProxyFailed(reason) => return proxy_failure(reason, host, p),
            ureq::Error::HostNotFound => return unreached("host not found").by_dns(),
            ureq::Error::ConnectionFailed => return unreached("could not connect"),
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused => return unreached("connection refused"),
                ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => {
                    return unreached("no route to the host");
                }
                _ if io.to_string().contains("lookup address") => {
                    return unreached("host name not resolved").by_dns();
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
            ErrorKind::ConnectionRefused => unreached(host, "connection refused"),
            ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => {
                unreached(host, "no route to the host")
            }
            ErrorKind::ConnectionReset => {
                Failure::Network("connection reset by the server".to_string())
            }
            ErrorKind::UnexpectedEof => {
                Failure::Network("connection closed before the answer ended".to_string())
            }
            // Name resolution failures come as uncategorized I/O errors.
            _ if io.to_string().contains("lookup address") => {
                unreached(host, format!("host name not resolved ({io})")).by_dns()
            }
            _ => Failure::Network(crate::secret::redact(&io.to_string())),
        },
        ureq::Error::HostNotFound => unreached(host, "host not found").by_dns(),
        ureq::Error::ConnectionFailed => unreached(host, "could not connect"),
        ureq::Error::Protocol(_) => Failure::BadResponse("not a valid HTTP response".to_string()),
        ureq::Error::BadUri(_) => {
            unreached(host, "invalid URL: check --api-base / WXTOKEN_API_BASE")
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
