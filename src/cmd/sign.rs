//! `wxtoken sign`: what a web page's `wx.config` (or WeCom's `wx.agentConfig`)
//! needs, signed with the stored ticket.
//!
//! The signature is the SHA-1 of `jsapi_ticket=T&noncestr=N&timestamp=S&url=U`
//! in exactly that order, nothing escaped, `U` the page's full URL without its
//! `#fragment` (the JS-SDK's own rule; WeCom signs `wx.agentConfig` the same way
//! with the app's agent_config ticket). Read-only like `show`: one read of the
//! database, no network. Exit 3 when no valid ticket is stored.

use anyhow::Result;
use sha1::{Digest, Sha1};

use crate::app::{Kind, Ticket};
use crate::cli::{Global, SignArgs, SignFormat, SignTicket};
use crate::cmd::common::{config_path, open_to_read, service_refreshes, usable};
use crate::error::{no_token, usage};
use crate::store::{Lookup, Row, Store};
use crate::text::quoted;
use crate::{clock, config, render};

/// The longest `--url`: browsers cap URLs near this, and WeChat's pages are far shorter.
pub const MAX_URL: usize = 8192;
/// The longest `--nonce`; WeChat's examples use 16 characters.
pub const MAX_NONCE: usize = 64;
/// The length of a generated nonce.
const NONCE_LEN: usize = 16;
const NONCE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub fn run(global: &Global, args: &SignArgs) -> Result<()> {
    config::name_arg("--app", &args.app)?;
    let url = page_url(&args.url)?;
    if args.format == SignFormat::Plain && (args.nonce.is_none() || args.timestamp.is_none()) {
        return Err(usage(
            "--format plain prints the signature alone, so the page must already know the nonce and the timestamp: give --nonce and --timestamp, or use --format json",
        ));
    }
    let nonce = match &args.nonce {
        Some(n) => checked_nonce(n)?,
        None => random_nonce()?,
    };
    let timestamp = args.timestamp.unwrap_or_else(|| clock::now().max(0) as u64);
    let (location, mut store) = open_to_read(global)?;
    let ticket = match args.ticket {
        SignTicket::Jsapi => Ticket::Jsapi,
        SignTicket::AgentConfig => Ticket::AgentConfig,
    };
    let row = valid_ticket(store.as_mut(), &args.app, ticket)
        .map_err(|e| service_refreshes(e, &location))?;
    let signature = signature(&row.value, &nonce, timestamp, url);
    // The object of wx.config or wx.agentConfig, in the order `--format env`
    // prints it: each `WX_` and its name in capitals.
    let mut fields: Vec<(&str, serde_json::Value)> = match ticket {
        Ticket::AgentConfig => {
            let agentid = agentid(global, store.as_mut(), &args.app)?;
            vec![
                ("corpid", row.appid.clone().into()),
                ("agentid", agentid.to_string().into()),
            ]
        }
        _ => vec![("appId", row.appid.clone().into())],
    };
    fields.extend([
        ("timestamp", timestamp.into()),
        ("nonceStr", nonce.into()),
        ("signature", signature.clone().into()),
    ]);
    let text = match args.format {
        SignFormat::Plain => format!("{signature}\n"),
        SignFormat::Env => (fields.iter())
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                render::env(&format!("WX_{}", k.to_ascii_uppercase()), &v)
            })
            .collect(),
        SignFormat::Json => {
            let object: serde_json::Map<String, serde_json::Value> = (fields.into_iter())
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            format!("{}\n", render::json(&object, false)?)
        }
    };
    render::print(&text)
}

/// The SHA-1 signature of the JS-SDK, in lowercase hex.
pub fn signature(ticket: &str, nonce: &str, timestamp: u64, url: &str) -> String {
    let text = format!("jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}");
    format!("{:x}", Sha1::digest(text.as_bytes()))
}

/// `--url` without its `#fragment`: an http(s) URL of printable characters.
fn page_url(url: &str) -> Result<&str> {
    crate::text::max_bytes("--url", url, MAX_URL)?;
    let page = url.split_once('#').map_or(url, |(page, _)| page);
    if page.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(usage(
            "--url holds spaces or control characters: give the page's URL as the browser sends it (percent-encoded)",
        ));
    }
    let lower = page.get(..8).unwrap_or(page).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) || page.len() < 9 {
        return Err(usage(format!(
            "--url {}: not a page's full URL: give it with its scheme and host, as `location.href.split('#')[0]` has it (https://example.com/path?query)",
            crate::text::quoted_max(page, 80)
        )));
    }
    Ok(page)
}

/// A nonce of the caller's: it goes into the signed text between `=` and `&`,
/// so only characters that cannot end the field.
fn checked_nonce(nonce: &str) -> Result<String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if nonce.is_empty() || nonce.len() > MAX_NONCE || !nonce.chars().all(ok) {
        return Err(usage(format!(
            "--nonce must be 1 to {MAX_NONCE} letters, digits, `-` or `_` (or leave it out for a random one)"
        )));
    }
    Ok(nonce.to_string())
}

/// `NONCE_LEN` letters and digits from the system's random source, unbiased
/// (bytes past the last whole multiple of the alphabet are drawn again).
fn random_nonce() -> Result<String> {
    let limit = 256 - 256 % NONCE_ALPHABET.len();
    let mut nonce = String::with_capacity(NONCE_LEN);
    while nonce.len() < NONCE_LEN {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("could not read the system's random source: {e}"))?;
        for b in bytes.iter().map(|&b| b as usize).filter(|&b| b < limit) {
            if nonce.len() < NONCE_LEN {
                nonce.push(NONCE_ALPHABET[b % NONCE_ALPHABET.len()] as char);
            }
        }
    }
    Ok(nonce)
}

/// The stored ticket of `app`, if it is valid now; else exit 3 saying why.
fn valid_ticket(store: &mut dyn Store, app: &str, ticket: Ticket) -> Result<Row> {
    let kind = Kind::Ticket(ticket);
    let label = kind.label();
    let shown = quoted(app);
    let Some(row) = store.lookup(Lookup::App(app), kind)?.pop() else {
        crate::cmd::common::not_stored(store, app)??;
        return Err(no_token(format!(
            "no {label} stored for app {shown}: list {} in the app's tickets in the config file, then run `wxtoken refresh`",
            quoted(ticket.as_str())
        )));
    };
    usable(&row, &label, clock::now(), 0, "signing with")?;
    Ok(row)
}

/// The agentid of `wx.agentConfig`: the config's `agentid` for an app, the
/// stored authorization info for a platform's customer (`PLATFORM/CORPID`).
fn agentid(global: &Global, store: &mut dyn Store, app: &str) -> Result<u64> {
    if let Some((platform, corpid)) = app.split_once('/') {
        let info = store
            .customer(platform, corpid)?
            .and_then(|c| c.info)
            .and_then(|info| serde_json::from_str::<serde_json::Value>(&info).ok());
        return info.as_ref().and_then(agentid_in_info).ok_or_else(|| {
            usage(format!(
                "app {}: wx.agentConfig needs the app's agentid, and the company's stored authorization names none yet: `wxtoken refresh --app {}` reads it (get_auth_info) when the platform's tickets include agent_config",
                quoted(app),
                quoted(platform)
            ))
        });
    }
    let configured = match config_path(global) {
        Some(path) => config::load_all(&path, None)?
            .apps
            .into_iter()
            .find(|a| a.name == app)
            .and_then(|a| a.agentid),
        None => None,
    };
    configured.ok_or_else(|| {
        usage(format!(
            "app {}: wx.agentConfig needs the app's agentid: add `agentid = 1000002` (the app's AgentId in the WeCom admin console) to its [[app]] in the config file",
            quoted(app)
        ))
    })
}

/// An agentid in a WeCom customer's authorization info: `auth_info.agent[0].agentid`
/// (get_permanent_code, get_auth_info) or a top-level `agentid`.
fn agentid_in_info(info: &serde_json::Value) -> Option<u64> {
    let id = info
        .pointer("/auth_info/agent/0/agentid")
        .or_else(|| info.get("agentid"))?;
    id.as_u64()
        .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JS-SDK page's worked example, both revisions of it.
    #[test]
    fn the_official_examples() {
        let ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
        let sign = |url| signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, url);
        assert_eq!(
            sign("http://mp.weixin.qq.com?params=value"),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
        assert_eq!(
            sign("http://mp.weixin.qq.com"),
            "f4d90daf4b3bca3078ab155816175ba34c443a7b"
        );
    }

    #[test]
    fn the_fragment_is_dropped_and_other_urls_refused() {
        assert_eq!(
            page_url("https://a.example/p?x=1#/route?y=2").unwrap(),
            "https://a.example/p?x=1"
        );
        for bad in [
            "",
            "a.example/p",
            "ftp://a.example/",
            "https://a b/",
            "https://a/\n",
        ] {
            assert!(page_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_nonces_are_16_letters_and_digits_and_differ() {
        let (a, b) = (random_nonce().unwrap(), random_nonce().unwrap());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn a_nonce_cannot_end_its_field() {
        assert!(checked_nonce("Wm3WZYTPz0wzccnW").is_ok());
        for bad in ["", "a&url=x", "a=b", "é", &"x".repeat(65)] {
            assert!(checked_nonce(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_customers_agentid_from_its_authorization_info() {
        let info = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let from_wecom = info(r#"{"auth_info":{"agent":[{"agentid":1000012,"name":"hr"}]}}"#);
        assert_eq!(agentid_in_info(&from_wecom), Some(1000012));
        assert_eq!(agentid_in_info(&info(r#"{"agentid":"7"}"#)), Some(7));
        assert_eq!(agentid_in_info(&info(r#"{"corpid":"ww1"}"#)), None);
    }
}
