//! The proxy for upstream calls, read from the environment once per run, and
//! the hosts `NO_PROXY` sends direct.
//!
//! ureq reads these variables itself, but skips a proxy URL it cannot parse
//! (calling direct instead), takes a port above 65535 or a word as port 80, and
//! matches `NO_PROXY=example.com` against that name only. Here a bad proxy URL
//! is a usage error, and `NO_PROXY` follows curl: `example.com` and
//! `.example.com` both cover the domain and its subdomains, `*` covers all,
//! IP addresses and CIDR ranges match addresses.

use std::net::IpAddr;

/// Where the proxy comes from, first set first (curl's order for https URLs;
/// HTTP_PROXY last, as ureq has always read it).
const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "HTTP_PROXY",
    "http_proxy",
];
const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// A proxy for upstream calls.
#[derive(Clone, Debug)]
pub struct Proxy {
    pub(super) proxy: ureq::Proxy,
    /// `host:port`, the one way messages name it (never with its credentials).
    pub shown: String,
    /// The variable it was read from.
    pub var: &'static str,
    /// Whether wxtoken talks TLS to the proxy itself (`https://proxy`).
    pub(super) tls: bool,
    no_proxy: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    All,
    /// A domain and its subdomains, lowercase, without a leading dot.
    Domain(String),
    Ip(IpAddr),
    /// An address range: the network and the prefix length.
    Cidr(IpAddr, u8),
}

impl Proxy {
    /// The proxy the environment names, if any. An error names the variable
    /// and what is wrong, never the credentials.
    pub fn from_env() -> Result<Option<Proxy>, String> {
        Proxy::from_vars(|var| std::env::var(var).ok())
    }

    /// [`Proxy::from_env`] with the variables `get` gives.
    ///
    /// Run as a CGI program (`GATEWAY_INTERFACE` or `REQUEST_METHOD` set),
    /// `HTTP_PROXY` is whatever the request's `Proxy:` header said (httpoxy,
    /// CVE-2016-5385): it and `http_proxy` are never read there, as Go's
    /// net/http and curl do. `HTTPS_PROXY` and `ALL_PROXY` still are: no
    /// request header becomes them.
    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Proxy>, String> {
        let cgi = ["GATEWAY_INTERFACE", "REQUEST_METHOD"]
            .iter()
            .any(|v| get(v).is_some());
        let Some((var, url)) = PROXY_VARS.into_iter().find_map(|var| {
            if cgi && var.eq_ignore_ascii_case("HTTP_PROXY") {
                if get(var).is_some_and(|v| !v.trim().is_empty()) {
                    log::warn!(
                        "{var} ignored: run as a CGI program it may come from a request's Proxy: header; set HTTPS_PROXY for a proxy"
                    );
                }
                return None;
            }
            get(var)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (var, v))
        }) else {
            return Ok(None);
        };
        let no_proxy = NO_PROXY_VARS
            .into_iter()
            .find_map(&get)
            .map(|v| parse_no_proxy(&v))
            .unwrap_or_default();
        parse(var, url.trim(), no_proxy).map(Some)
    }

    /// Whether calls to `host` go direct. This machine (`localhost`,
    /// 127.0.0.0/8, `::1`) always does, whatever `NO_PROXY` says: a proxy
    /// cannot reach it, and a plain `http://` call to it would hand the
    /// secret to the proxy in clear (a `HTTP_PROXY` of `/etc/environment`
    /// reaches cron jobs), and store what the proxy answers.
    pub fn bypassed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if super::host::is_loopback(host) {
            return true;
        }
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.no_proxy.iter().any(|entry| match entry {
            Entry::All => true,
            Entry::Domain(d) => {
                host == *d
                    || (host.len() > d.len()
                        && host.ends_with(d.as_str())
                        && host.as_bytes()[host.len() - d.len() - 1] == b'.')
            }
            Entry::Ip(a) => ip == Some(*a),
            Entry::Cidr(net, bits) => ip.is_some_and(|ip| in_range(ip, *net, *bits)),
        })
    }
}

/// `[scheme://][user[:password]@]host[:port][/]`, checked.
fn parse(var: &'static str, url: &str, no_proxy: Vec<Entry>) -> Result<Proxy, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_string(), url),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    // The credentials end at the last '@': a password may hold one.
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let bad = |what: String| Err(format!("{var}: {what}"));
    let odd = hostport.contains(['/', '?', '#']) || hostport.chars().any(char::is_whitespace);
    let Some((host, port)) = super::host::split_host_port(hostport).filter(|_| !odd) else {
        return bad("not a proxy URL such as http://proxy.example:3128".to_string());
    };
    if host.is_empty() {
        return bad("the proxy URL has no host".to_string());
    }
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        "socks4" | "socks4a" | "socks5" | "socks5h" | "socks" => 1080,
        _ => {
            return bad(format!(
                "unknown proxy scheme {:?}: use http://, https://, socks5:// or socks5h://",
                printable(&scheme)
            ));
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return bad(format!(
                    "the port {:?} of proxy {} is not a number from 1 to 65535",
                    printable(p),
                    printable(host)
                ));
            }
        },
    };
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let proxy = ureq::Proxy::new(url).map_err(|_| {
        format!("{var}: the URL of proxy {shown} cannot be read (percent-encode the user name and password)")
    })?;
    Ok(Proxy {
        proxy,
        shown,
        var,
        tls: scheme == "https",
        no_proxy,
    })
}

/// Control characters replaced, at most 64 characters: user input in a message.
fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Comma- or space-separated entries, as curl reads them.
fn parse_no_proxy(value: &str) -> Vec<Entry> {
    value
        .split([',', ' ', '\t'])
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            if e == "*" {
                return Some(Entry::All);
            }
            if let Some((net, bits)) = e.split_once('/') {
                let net = net.trim_start_matches('[').trim_end_matches(']');
                let net: IpAddr = net.parse().ok()?;
                let max = if net.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits.parse().ok().filter(|b| *b <= max)?;
                return Some(Entry::Cidr(net, bits));
            }
            let bare = e.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>() {
                return Some(Entry::Ip(ip));
            }
            let domain = e.strip_prefix("*.").unwrap_or(e);
            let domain = domain.trim_start_matches('.');
            let domain = domain.strip_suffix('.').unwrap_or(domain);
            (!domain.is_empty()).then(|| Entry::Domain(domain.to_ascii_lowercase()))
        })
        .collect()
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(url: &str, no_proxy: &str) -> Result<Proxy, String> {
        parse("HTTPS_PROXY", url, parse_no_proxy(no_proxy))
    }

    #[test]
    fn no_proxy_follows_curl() {
        let p = proxy(
            "http://proxy:3128",
            ".example.com, corp.example ,10.0.0.0/8,::1,192.168.1.7,[fd00::1]",
        )
        .unwrap();
        for host in [
            "example.com",
            "api.example.com",
            "API.Example.COM.",
            "corp.example",
            "a.b.corp.example",
            "10.1.2.3",
            "::1",
            "[::1]",
            "192.168.1.7",
            "fd00::1",
        ] {
            assert!(p.bypassed(host), "{host} should go direct");
        }
        for host in [
            "notexample.com",
            "example.com.evil",
            "xcorp.example",
            "11.0.0.1",
            "192.168.1.8",
            "api.weixin.qq.com",
        ] {
            assert!(!p.bypassed(host), "{host} should go through the proxy");
        }
        assert!(
            proxy("http://p:1", "*")
                .unwrap()
                .bypassed("api.weixin.qq.com")
        );
        assert!(
            proxy("http://p:1", "*.qq.com")
                .unwrap()
                .bypassed("api.weixin.qq.com")
        );
        assert!(
            !proxy("http://p:1", "")
                .unwrap()
                .bypassed("api.weixin.qq.com")
        );
        // This machine goes direct, whatever NO_PROXY says.
        let none = proxy("http://p:1", "").unwrap();
        for host in ["127.0.0.1", "127.9.8.7", "localhost", "LOCALHOST.", "[::1]"] {
            assert!(none.bypassed(host), "{host} should go direct");
        }
    }

    fn from(vars: &[(&str, &str)]) -> Option<Proxy> {
        Proxy::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    #[test]
    fn a_cgi_program_never_takes_http_proxy_httpoxy() {
        let shown = |vars: &[(&str, &str)]| from(vars).map(|p| (p.var, p.shown));
        let header = ("HTTP_PROXY", "http://203.0.113.9:8080");
        let lower = ("http_proxy", "http://203.0.113.10:8080");
        assert_eq!(
            shown(&[header]),
            Some(("HTTP_PROXY", "203.0.113.9:8080".to_string()))
        );
        for cgi in [("GATEWAY_INTERFACE", "CGI/1.1"), ("REQUEST_METHOD", "POST")] {
            assert_eq!(shown(&[cgi, header]), None, "{cgi:?}");
            assert_eq!(shown(&[cgi, lower]), None, "{cgi:?}");
            assert_eq!(
                shown(&[cgi, header, ("HTTPS_PROXY", "http://proxy.corp:3128")]),
                Some(("HTTPS_PROXY", "proxy.corp:3128".to_string())),
                "{cgi:?}"
            );
        }
    }

    #[test]
    fn proxy_urls_are_checked_and_shown_without_credentials() {
        let p = proxy("http://user:p%40ss@proxy.corp:3128/", "").unwrap();
        assert_eq!(p.shown, "proxy.corp:3128");
        assert_eq!(proxy("proxy.corp", "").unwrap().shown, "proxy.corp:80");
        assert_eq!(
            proxy("https://[fd00::1]", "").unwrap().shown,
            "[fd00::1]:443"
        );
        for (url, needle) in [
            (
                "http://proxy:99999",
                "the port \"99999\" of proxy proxy is not a number",
            ),
            ("http://proxy:abc", "the port \"abc\""),
            ("http://proxy:0", "the port \"0\""),
            ("http://u:pw@proxy:+80", "the port \"+80\""),
            ("ftp://proxy:21", "unknown proxy scheme \"ftp\""),
            ("http://", "no host"),
            ("http://u:pw@:8080", "no host"),
        ] {
            let e = proxy(url, "").unwrap_err();
            assert!(e.starts_with("HTTPS_PROXY: "), "{e}");
            assert!(e.contains(needle), "{url}: {e}");
            assert!(!e.contains("pw"), "{e}");
        }
    }
}
