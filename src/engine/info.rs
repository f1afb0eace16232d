//! A WeCom company's authorization read (`get_auth_info`, D.5): again after
//! `change_auth` (push marks its info, [`crate::platform::marked_for_reread`],
//! and starts a refresh of it after answering); and once for a company whose
//! info names no agents (imported, or exchanged by an answer without them)
//! when the platform issues agent_config tickets, whose `wx.agentConfig` needs
//! the agentid. Kept as the customer's info: `auth_corp_info` with `auth_info`
//! (its agents, `is_customized_app`).

use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use super::Options;
use super::target::Link;
use crate::app::Ticket;
use crate::clock;
use crate::graph::Api;
use crate::store::{CodeStep, Customer, CustomerState, Store};
use crate::text::shown;
use crate::upstream::Client;

/// The most companies one run reads (one call each, one after the other): a
/// platform of 10,000 imported companies gets its agentids over several runs
/// rather than one long run. Those marked by `change_auth` come first.
const MOST_A_RUN: usize = 100;

/// Reads the authorization of each active WeCom company of `customers` that
/// needs it ([`crate::platform::info_to_read`]). A failure is logged: the next
/// run tries again.
pub fn reread(
    store: &mut dyn Store,
    link: &Link,
    customers: &[Customer],
    opts: &Options,
) -> Result<()> {
    let p = &link.platform;
    if p.kind != Api::WecomSuite {
        return Ok(());
    }
    let (Some(token), Some(key)) = (link.token(), &link.store_key) else {
        return Ok(());
    };
    let agents = p.tickets.contains(&Ticket::AgentConfig);
    let mut due: Vec<&Customer> = customers
        .iter()
        .filter(|c| c.state == CustomerState::Active && c.credential.is_some())
        .filter(|c| !c.appid.starts_with(crate::store::PENDING_PREFIX))
        .filter(|c| crate::platform::info_to_read(c.info.as_deref(), agents))
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    // Those marked first (false sorts before true), in order.
    due.sort_by_key(|c| !crate::platform::info_to_read(c.info.as_deref(), false));
    if due.len() > MOST_A_RUN {
        log::info!(
            "platform {}: {} companies' authorization to read (get_auth_info); {MOST_A_RUN} this run, the rest in the next",
            p.name,
            due.len()
        );
        due.truncate(MOST_A_RUN);
    }
    let client = Client::new(opts.timeout, opts.proxy.clone());
    for c in due {
        let name = format!("{}/{}", p.name, shown(&c.appid));
        let Some(sealed) = &c.credential else {
            continue;
        };
        let Ok(code) = key.open(sealed, &[&p.name, &c.appid, p.kind.grant_kind()]) else {
            continue;
        };
        let code = crate::secret::Secret::new(code);
        let body = json!({"auth_corpid": c.appid, "permanent_code": code.expose()});
        let query = [("suite_access_token", token.as_str())];
        let path = "/cgi-bin/service/get_auth_info";
        let deadline = Instant::now() + opts.app_budget();
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
