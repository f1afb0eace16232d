//! A WeCom company's authorization read again (`get_auth_info`, D.5) after
//! `change_auth` (push marks its info [`crate::platform::REREAD_INFO`] and
//! starts a refresh of it after answering). Kept as the customer's info:
//! `auth_corp_info` with `auth_info` (its agents, `is_customized_app`).

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::target::{Link, grant_kind};
use crate::clock;
use crate::config::platform::PlatformKind;
use crate::store::{CodeStep, Customer, CustomerState, Store};
use crate::text::shown;
use crate::upstream::Client;

/// Reads the authorization of each active WeCom company of `customers` marked
/// for it. A failure is logged: the next run tries again.
pub fn reread(
    store: &mut dyn Store,
    link: &Link,
    customers: &[Customer],
    timeout: Duration,
    proxy: Option<crate::upstream::Proxy>,
) -> Result<()> {
    let p = &link.platform;
    if p.kind != PlatformKind::WecomSuite {
        return Ok(());
    }
    let (Some(token), Some(key)) = (link.token(), &link.store_key) else {
        return Ok(());
    };
    let due: Vec<&Customer> = customers
        .iter()
        .filter(|c| {
            c.state == CustomerState::Active
                && c.info.as_deref() == Some(crate::platform::REREAD_INFO)
        })
        .filter(|c| !c.appid.starts_with(crate::store::PENDING_PREFIX))
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    let client = Client::new(timeout, proxy);
    for c in due {
        let name = format!("{}/{}", p.name, shown(&c.appid));
        let Some(sealed) = &c.credential else {
            continue;
        };
        let Ok(code) = key.open(sealed, &[&p.name, &c.appid, grant_kind(p.kind)]) else {
            continue;
        };
        let code = crate::secret::Secret::new(code);
        let body = json!({"auth_corpid": c.appid, "permanent_code": code.expose()});
        let query = [("suite_access_token", token.as_str())];
        let path = "/cgi-bin/service/get_auth_info";
        let deadline = Instant::now() + timeout * 3;
        match client.post_json(&link.app, path, &query, Some(&body), deadline) {
            Ok(answer) => {
                let answer = serde_json::Value::Object(answer);
                if let Some(info) = super::codes::customer_info(&answer, Some("auth_corp_info")) {
                    store.code_step(&p.name, &c.appid, &CodeStep::Info { info }, clock::now())?;
                    log::info!("{name}: its authorization was read again (get_auth_info)");
                }
            }
            Err(f) => log::warn!(
                "{name}: get_auth_info: {}; the next refresh tries again",
                f.describe(true)
            ),
        }
    }
    Ok(())
}
