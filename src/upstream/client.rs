//! The HTTP client: one request per try, retries of transient failures with
//! backoff, every try bounded by `--timeout` and the whole call by its deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::classify::{classify, text_at};
use super::transport::transport_failure;
use super::{Failure, Issued, Proxy};
use crate::app::App;
use crate::clock;
use crate::graph::{Kind, Method, Node, Param};
use crate::secret::Secret;

/// The largest response body read; WeChat's answers are a few hundred bytes.
pub const BODY_LIMIT: u64 = 64 * 1024;
/// Tries per call, the first included, for transient failures.
const MAX_TRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(400);

/// One upstream call: a node's request, with the values its parameters take.
pub struct Call<'a> {
    pub node: &'static Node,
    /// The value of the credential the node needs (for a customer's token,
    /// its platform's token).
    pub input: Option<&'a str>,
    pub force: bool,
    pub secret: Option<&'a Secret>,
    /// A customer's platform's appid.
    pub platform_appid: Option<&'a str>,
    /// The platform's pushed ticket.
    pub pushed: Option<&'a str>,
    /// A customer's opened credential or pending code.
    pub grant: Option<&'a str>,
    /// A one-use code goes with the request: it is sent at most once (tried
    /// again only when the request never left: no connection), and a
    /// connection that takes the whole timeout counts as never made.
    pub once: bool,
}

impl Call<'_> {
    /// The call of `node` with no values yet (`..Call::new(node)` fills in
    /// what a caller does not set).
    pub fn new(node: &'static Node) -> Call<'static> {
        Call {
            node,
            input: None,
            force: false,
            secret: None,
            platform_appid: None,
            pushed: None,
            grant: None,
            once: false,
        }
    }

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
    /// The last answer's JSON object, whatever it said (a one-use code's
    /// answer holds a credential even when it holds no token).
    pub answer: Option<serde_json::Value>,
}

/// The size of each call's input and output buffer (see [`Client::agent`]).
const BUFFER_SIZE: usize = 16 * 1024;

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
            // Each call in flight holds an input and an output buffer, 128 KiB
            // each by default: 16 MiB at --jobs 64. WeChat's headers and
            // answers are a few hundred bytes; a response header larger than
            // the input buffer fails the call.
            .input_buffer_size(BUFFER_SIZE)
            .output_buffer_size(BUFFER_SIZE)
            .proxy(proxy.map(|p| p.proxy.clone()));
        if https || proxy.is_some_and(|p| p.tls) {
            let roots = match crate::tls_roots::roots().map_err(Failure::Blocked)? {
                crate::tls_roots::Roots::System(certs) => ureq::tls::RootCerts::new_with_certs(
                    &certs
                        .iter()
                        .map(|c| ureq::tls::Certificate::from_der(c).to_owned())
                        .collect::<Vec<_>>(),
                ),
                crate::tls_roots::Roots::Mozilla => ureq::tls::RootCerts::WebPki,
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
    pub fn call(&self, app: &App, call: &Call, deadline: Instant) -> Reply {
        let node = call.node;
        // A forced call is never repeated (stable: WeChat allows 20 a day, 30 s apart).
        let max_tries = if call.forced() { 1 } else { MAX_TRIES };
        let mut clock_skew = None;
        let mut answer = None;
        let again = |f: &Failure, wait: Duration| {
            let again = !(call.once && f.reached_upstream());
            if again {
                log::info!(
                    "{}: {}; retrying in {} ms",
                    app.name,
                    f.describe(false),
                    wait.as_millis()
                );
            }
            again
        };
        let (tries, result) = self.retried(max_tries, deadline, again, |started_ms, timeout| {
            let (status, date, body) = self.send(app, call, timeout)?;
            if let Some(remote) = date.as_deref().and_then(clock::parse_http_date) {
                clock_skew = Some(remote - started_ms.div_euclid(1000));
            }
            answer = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .filter(serde_json::Value::is_object);
            classify(status, &body, node.field).map(|mut issued| {
                issued.grant = answer.as_ref().and_then(|a| text_at(a, node.grant));
                issued
            })
        });
        let sent = tries.last().map_or(0, |t| t.started_ms.div_euclid(1000));
        Reply {
            tries,
            result: result.map(|issued| (issued, sent)),
            clock_skew,
            answer,
        }
    }

    /// Every try of `attempt` (given its start in Unix ms and its time) and the
    /// last result: a transient failure is tried again, with backoff, while
    /// `max_tries` and `deadline` allow and `again` (given the wait) says so.
    fn retried<T>(
        &self,
        max_tries: u32,
        deadline: Instant,
        again: impl Fn(&Failure, Duration) -> bool,
        mut attempt: impl FnMut(i64, Duration) -> Result<T, Failure>,
    ) -> (Vec<Try>, Result<T, Failure>) {
        let mut tries = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let started_ms = clock::now_ms();
            let clock_start = Instant::now();
            let result = if remaining.is_zero() {
                Err(Failure::Timeout)
            } else {
                attempt(started_ms, remaining.min(self.timeout))
            };
            tries.push(Try {
                started_ms,
                duration_ms: clock_start.elapsed().as_millis() as i64,
                result: result.as_ref().map(|_| ()).map_err(Clone::clone),
            });
            let wait = jitter(backoff);
            match &result {
                Err(f)
                    if f.transient()
                        && (tries.len() as u32) < max_tries
                        && Instant::now() + wait < deadline
                        && again(f, wait) => {}
                _ => return (tries, result),
            }
            std::thread::sleep(wait);
            backoff *= 2;
        }
    }

    /// One HTTP request of `call` for `app`: status, `Date` header and body.
    fn send(
        &self,
        app: &App,
        call: &Call,
        timeout: Duration,
    ) -> Result<(u16, Option<String>, Vec<u8>), Failure> {
        let (base, node) = (&app.api_base, call.node);
        let request = &node.request;
        let value = |param: Param| match param {
            Param::Fixed(v) => Some(v),
            Param::Appid => Some(app.appid.as_str()),
            Param::PlatformAppid => call.platform_appid,
            Param::Secret => call.secret.map(Secret::expose),
            Param::Credential => call.input,
            Param::Pushed => call.pushed,
            Param::Grant => call.grant,
            Param::TicketType => match node.kind {
                Kind::Ticket(t) => Some(t.as_str()),
                _ => None,
            },
            // A JSON boolean, not text: see the POST below.
            Param::Force => None,
        };
        let query = (request.query.iter()).map(|(name, p)| (*name, value(*p).unwrap_or_default()));
        let url = url(base, request.path, query);
        match request.method {
            Method::Get => {
                match call.input {
                    Some(token) => log::debug!(
                        "{}: GET {url} with token {}",
                        app.name,
                        crate::secret::short(token)
                    ),
                    None => log::debug!("{}: GET {url}", app.name),
                }
                let params = (request.params.iter())
                    .filter_map(|(name, param)| Some((*name, value(*param)?)));
                self.request(base, &url, params, None, timeout, None)
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
                log::debug!("{}: POST {base}{}{shown}", app.name, request.path);
                // A connection not made within the time is a request that
                // never left (`Unreached`): a one-use code may go again.
                let connect = call.once.then(|| timeout.mul_f64(0.9));
                let body = Some(serde_json::Value::Object(body));
                self.request(base, &url, [], body.as_ref(), timeout, connect)
            }
        }
    }

    /// A GET of `url` under `base` with the query `params` added, or a POST of
    /// `body` (JSON) to it, within `timeout` (the connection alone within
    /// `connect`), through the proxy unless NO_PROXY exempts the host: status,
    /// `Date` header and body (at most BODY_LIMIT bytes).
    fn request<'a>(
        &self,
        base: &str,
        url: &str,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        body: Option<&serde_json::Value>,
        timeout: Duration,
        connect: Option<Duration>,
    ) -> Result<(u16, Option<String>, Vec<u8>), Failure> {
        let (https, host) = target(base);
        let proxy = self.proxy.as_deref().filter(|p| !p.bypassed(host));
        let agent = self.agent(https, proxy)?;
        let failure = |e| transport_failure(e, host, proxy);
        let response = match body {
            Some(body) => (agent.post(url).config().timeout_global(Some(timeout)))
                .timeout_connect(connect)
                .build()
                .header("content-type", "application/json")
                .send(body.to_string()),
            None => {
                let get = agent.get(url).config().timeout_global(Some(timeout));
                (params.into_iter())
                    .fold(get.build(), |req, (name, v)| req.query(name, v))
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

    /// A POST of `body` (a GET without one) to `path` with `query`, for a
    /// list or a link (no value to store): the answer's JSON object, or the
    /// failure. Transient failures are retried as for values, within `deadline`.
    pub fn post_json(
        &self,
        app: &App,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
        let base = &app.api_base;
        let url = url(base, path, query.iter().copied());
        let method = if body.is_some() { "POST" } else { "GET" };
        let again = |_: &Failure, _| true;
        let (_, result) = self.retried(MAX_TRIES, deadline, again, |_, timeout| {
            log::debug!("{}: {method} {base}{path}", app.name);
            let (status, _, body) = self.request(base, &url, [], body, timeout, None)?;
            super::classify::object(status, &body)
        });
        result
    }
}

/// `path` under `base` with `query`, each value percent-encoded (a stored
/// value is never trusted to be WeChat's alphabet).
fn url<'a>(base: &str, path: &str, query: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut url = format!("{base}{path}");
    for (i, (name, v)) in query.enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&format!("{name}={}", super::percent(v)));
    }
    url
}

/// Whether a (checked) base URL is https, and its host.
fn target(base: &str) -> (bool, &str) {
    let (https, rest) = match base.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, base.strip_prefix("http://").unwrap_or(base)),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = super::host::split_host_port(authority).map_or(authority, |(h, _)| h);
    (https, host)
}

/// A random wait between half and all of `d`.
fn jitter(d: Duration) -> Duration {
    let r = getrandom::u32().map_or(500, |r| r % 1000);
    d / 2 + d * r / 2000
}
