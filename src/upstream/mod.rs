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
mod proxy;
mod transport;

pub use classify::Response;
pub use client::{Call, Client, Reply};
pub use proxy::Proxy;

/// A value that upstream issued.
#[derive(Debug, PartialEq, Eq)]
pub struct Issued {
    pub value: String,
    pub expires_in: i64,
    /// A customer's new long-lived credential in the answer (the node's `grant`).
    pub grant: Option<String>,
    /// What the answer says about the customer (the node's `info`), as JSON.
    pub info: Option<String>,
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

    /// One line: what happened and what to do. `from_credential` tells a
    /// request made from another credential (a ticket from its token, where
    /// 40001 means a stale token) from one made from the secret.
    pub fn describe(&self, from_credential: bool) -> String {
        match self {
            Failure::Refused { errcode, errmsg } => {
                let (meaning, fix) = errcodes::meaning(*errcode, errmsg, from_credential);
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
