//! Everything that talks to WeChat / WeCom, in three parts: the HTTP client with
//! its retry policy and deadlines ([`client`]), the classifier of answers into an
//! issued value or a failure ([`classify`]), and the errcode table ([`errcodes`]).
//! The requests themselves are described by the credential graph (`crate::graph`).
//!
//! The secret only ever leaves this module inside a request. Error texts are built
//! here from the errcode, HTTP status or transport failure, never from ureq's own
//! error text (which carries the request URL, and with it the secret).

pub mod classify;
mod client;
mod errcodes;
pub mod host;
mod proxy;
mod transport;

pub use client::{Call, Client, Reply, Try};
pub use proxy::Proxy;

/// The longest time an upstream request may take (`--timeout`, a platform's
/// `exchange_timeout`): the engine's leases are sized from it.
pub const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// `value` percent-encoded for a URL's query (RFC 3986's unreserved kept).
pub fn percent(value: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}

/// A value that upstream issued.
#[derive(Debug, PartialEq, Eq)]
pub struct Issued {
    pub value: String,
    pub expires_in: i64,
    /// A customer's new long-lived credential in the answer (the node's `grant`).
    pub grant: Option<String>,
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
    /// Upstream (`host`) was not reached: no connection (refused, no route,
    /// DNS, `dns` when the name did not resolve): the call cannot have counted
    /// against any quota.
    Unreached {
        host: String,
        what: String,
        dns: bool,
    },
    /// Sending or reading failed on an open connection.
    Network(String),
    /// Upstream was not reached, and trying again now cannot help: its TLS
    /// certificate is not trusted, or the proxy refused the tunnel. A whole
    /// message: what failed, where, and the fix.
    Blocked(String),
    /// wxtoken refused to call (a local guard such as the daily budget).
    Guard(String),
}

/// `host` was not reached, for `what` reason (`dns`: its name did not resolve).
fn unreached(host: &str, what: impl Into<String>, dns: bool) -> Failure {
    Failure::Unreached {
        host: host.to_string(),
        what: what.into(),
        dns,
    }
}

impl Failure {
    /// Worth trying again within the same run.
    pub fn transient(&self) -> bool {
        match self {
            Failure::Refused { errcode, .. } => *errcode == -1,
            Failure::Http { status } => *status >= 500,
            Failure::Timeout | Failure::Network(_) | Failure::Unreached { .. } => true,
            Failure::BadResponse(_) | Failure::Guard(_) | Failure::Blocked(_) => false,
        }
    }

    /// Whether the request may have reached upstream (and counted against a quota).
    pub fn reached_upstream(&self) -> bool {
        !matches!(
            self,
            Failure::Unreached { .. } | Failure::Blocked(_) | Failure::Guard(_)
        )
    }

    pub fn errcode(&self) -> Option<i64> {
        match self {
            Failure::Refused { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// One line: what happened and what to do. `from_credential` tells a
    /// request made from another credential (a ticket from its token, where
    /// 40001 means a stale token) from one made from the secret.
    pub fn describe(&self, from_credential: bool) -> String {
        self.describe_with(&[], from_credential)
    }

    /// [`Failure::describe`] of a request whose node gives errcodes its own
    /// meanings (`own`, looked up first: see `Node::meanings`).
    pub fn describe_with(&self, own: &[(i64, &str, &str)], from_credential: bool) -> String {
        match self {
            Failure::Refused { errcode, errmsg } => {
                let (meaning, fix) = errcodes::meaning(own, *errcode, errmsg, from_credential);
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
            Failure::Unreached { host, what, dns } => format!(
                "could not reach {host}: {what}; check {}the firewall, --api-base and HTTPS_PROXY",
                if *dns { "DNS, " } else { "" }
            ),
            Failure::Guard(what) | Failure::Blocked(what) => what.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::transport::transport_failure;

    fn io(kind: std::io::ErrorKind, text: &str) -> ureq::Error {
        ureq::Error::Io(std::io::Error::new(kind, text))
    }

    /// The line names the host that was not reached, and blames DNS only when
    /// the name did not resolve.
    #[test]
    fn unreached_names_the_host_and_blames_dns_only_for_dns() {
        let host = "api.weixin.qq.com";
        let cases = [
            (ureq::Error::HostNotFound, true),
            (
                io(
                    std::io::ErrorKind::Other,
                    "failed to lookup address information",
                ),
                true,
            ),
            (io(std::io::ErrorKind::ConnectionRefused, "refused"), false),
            (io(std::io::ErrorKind::HostUnreachable, "no route"), false),
            (ureq::Error::ConnectionFailed, false),
        ];
        for (e, dns) in cases {
            let failure = transport_failure(e, host, None);
            let line = failure.describe(false);
            assert!(
                line.starts_with("could not reach api.weixin.qq.com: "),
                "{line}"
            );
            assert_eq!(line.contains("DNS"), dns, "{line}");
            assert!(!failure.reached_upstream() && failure.transient(), "{line}");
        }
    }
}
