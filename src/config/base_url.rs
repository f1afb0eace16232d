//! The upstream base URL of an app (`api_base`, `--api-base`): https, or plain
//! http to this machine or where the administrator opted in.

use anyhow::Result;

use super::{INSECURE_HTTP_ENV, MAX_BASE_LEN};
use crate::error::usage;
use crate::upstream::host::{is_loopback, split_host_port};

/// An upstream base URL must be https://host[:port][/path], at most
/// [`MAX_BASE_LEN`] bytes. Plain `http://` carries the secret in clear text: it
/// is accepted for this machine (loopback), elsewhere only with `insecure_ok`.
pub fn check_base(base: &str, insecure_ok: bool) -> Result<(), String> {
    if base.len() > MAX_BASE_LEN {
        return Err(format!(
            "the URL is {} bytes long; an API base URL is at most {MAX_BASE_LEN}",
            base.len()
        ));
    }
    let (rest, https) = match base.strip_prefix("https://") {
        Some(rest) => (rest, true),
        None => (
            base.strip_prefix("http://")
                .ok_or_else(|| format!("{base:?} is not an http:// or https:// URL"))?,
            false,
        ),
    };
    let not_a_base = || format!("{base:?} is not a base URL such as https://api.weixin.qq.com");
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty()
        || authority.contains(['@', '\\'])
        || base.contains(char::is_whitespace)
        || base.contains(['?', '#'])
    {
        return Err(not_a_base());
    }
    let (host, port) = split_host_port(authority).ok_or_else(not_a_base)?;
    if host.is_empty() {
        return Err(not_a_base());
    }
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{base:?}: the port {port:?} is not a number from 1 to 65535"
        ));
    }
    if !https && !insecure_ok && !is_loopback(host) {
        return Err(format!(
            "{base:?} would send the secret in clear text to {host}: use https://, or opt in with allow_insecure_http = true for the app in the config, or {INSECURE_HTTP_ENV}=1 (only where nobody can read or change the traffic on the way)"
        ));
    }
    Ok(())
}

/// Whether [`INSECURE_HTTP_ENV`] opts every app in to plain `http://`.
pub(crate) fn insecure_http_allowed() -> Result<bool> {
    match std::env::var(INSECURE_HTTP_ENV) {
        Err(_) => Ok(false),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Ok(true),
            "" | "0" | "false" | "no" => Ok(false),
            _ => Err(usage(format!(
                "{INSECURE_HTTP_ENV} is neither 1 nor 0 (it lets the secret go over plain http://)"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "https://api.weixin.qq.com",
            "https://[2001:db8::1]:8443/wx",
            "http://127.0.0.1:8080",
            "http://127.5.6.7",
            "http://[::1]:9000/",
            "http://localhost",
            "http://localhost.:80",
        ] {
            assert_eq!(check_base(ok, false), Ok(()), "{ok}");
        }
        for refused in [
            "http://api.weixin.qq.com",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com",
            "http://[::ffff:10.0.0.1]",
            "http://10.0.0.1",
            "http://0.0.0.0",
        ] {
            let e = check_base(refused, false).unwrap_err();
            assert!(e.contains("clear text"), "{refused}: {e}");
            assert_eq!(check_base(refused, true), Ok(()), "{refused}");
        }
        for bad in [
            "http://127.0.0.1@evil.example",
            "https://",
            "https://:443",
            "https://host:0",
            "https://host:65536",
            "https://[::1",
            "https://a b",
        ] {
            assert!(check_base(bad, true).is_err(), "{bad}");
        }
    }
}
