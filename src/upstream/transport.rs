//! Transport failures in words of our own: what failed, where, and the fix
//! (ureq's own texts may carry the request URL, and with it the secret).

use super::{Failure, Proxy, unreached};

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
            false,
        ),
        None => unreached(
            host,
            format!("{name} closed the connection without answering the tunnel request"),
            false,
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
    if let (Some(p), ureq::Error::ConnectProxyFailed(reason)) = (proxy, &e) {
        return proxy_failure(reason, host, p);
    }
    // Through a proxy, a connection that was not made is the proxy's.
    let no_connection = |what: String, dns: bool| match proxy {
        Some(p) => unreached(
            host,
            format!(
                "could not connect to proxy {} (from {}): {what}",
                p.shown, p.var
            ),
            dns,
        ),
        None => unreached(host, what, dns),
    };
    match e {
        ureq::Error::Tls(what) => Failure::Blocked(format!(
            "TLS with {host} could not start: {what}; check --api-base / api_base"
        )),
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            unreached(host, "no connection within the timeout", false)
        }
        ureq::Error::Timeout(_) => Failure::Timeout,
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::TimedOut => Failure::Timeout,
            ErrorKind::ConnectionRefused => no_connection("connection refused".into(), false),
            ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => {
                no_connection("no route to the host".into(), false)
            }
            ErrorKind::ConnectionReset => {
                Failure::Network("connection reset by the server".to_string())
            }
            ErrorKind::UnexpectedEof => {
                Failure::Network("connection closed before the answer ended".to_string())
            }
            // Name resolution failures come as uncategorized I/O errors.
            _ if io.to_string().contains("lookup address") => {
                let what = match proxy {
                    Some(_) => "host name not resolved".to_string(),
                    None => format!("host name not resolved ({io})"),
                };
                no_connection(what, true)
            }
            _ => Failure::Network(crate::secret::redact(&io.to_string())),
        },
        ureq::Error::HostNotFound => no_connection("host not found".into(), true),
        ureq::Error::ConnectionFailed => no_connection("could not connect".into(), false),
        ureq::Error::Protocol(_) => Failure::BadResponse("not a valid HTTP response".to_string()),
        ureq::Error::BadUri(_) => unreached(
            host,
            "invalid URL: check --api-base / WXTOKEN_API_BASE",
            false,
        ),
        ureq::Error::InvalidProxyUrl => Failure::Blocked(
            "invalid proxy URL in HTTPS_PROXY / ALL_PROXY / HTTP_PROXY".to_string(),
        ),
        other => Failure::Network(crate::secret::redact(&other.to_string())),
    }
}
