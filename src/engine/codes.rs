//! A customer's pending one-use code (an authorization code, a WeCom auth
//! code), exchanged before its tokens are made: claimed in the database
//! first, so that it is sent upstream at most once by any process; sent once
//! (again only when the request never left); and the long-lived credential in
//! the answer sealed and stored the moment it is read, whether or not the
//! answer carries a token. The token is then made from that credential.
//! Each exchange is an attempt in the history, like every other call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Options;
use super::target::Link;
use super::work::{attempt, row};
use crate::app::App;
use crate::clock;
use crate::graph::{self, Api, Node, Outcome as Called};
use crate::secret::Secret;
use crate::store::PENDING_PREFIX;
use crate::store::{Attempt, CodeStep, Customer, CustomerState, Store};
use crate::text::shown;
use crate::upstream::classify::{self, text_at};
use crate::upstream::{Call, Client, Failure, Try};

/// Errcodes that refuse a code as used or expired (61009, 61010 on the Open
/// Platform, 40078 on WeCom): it is dropped.
pub const SPENT_CODE: &[i64] = &[61009, 61010, 40078];

/// How long a claimed code belongs to the process that claimed it (longer
/// than the longest exchange timeout): after that its answer is lost.
const CLAIM_LIFE: i64 = 600;

/// How long a code sent upstream is remembered as sent: the longest life of
/// any one-use code (an Open Platform authorization code and a WeChat code
/// live an hour, a WeCom auth code 20 minutes). A code pushed again within it
/// is dropped unsent; after it, upstream would refuse it as expired anyway.
const SPENT_LIFE: i64 = 3600;

/// What became of one code.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The credential is stored, under this appid.
    Stored(String),
    /// Another process has it (or it is no longer pending).
    Taken,
    /// Sent upstream before (its exchange maybe finished): dropped unsent.
    Spent,
    /// Not exchanged; the line says why (printed).
    Failed,
}

/// Exchanges the pending codes of `customers` (active, not sent, not ended),
/// each waiting up to `--exchange-timeout` or the platform's
/// `exchange_timeout`, and settles the codes that were sent and never
/// answered. Failures are printed; the result says whether any.
pub fn finish_pending(
    store: &mut dyn Store,
    link: &Arc<Link>,
    customers: &[Customer],
    opts: &Options,
) -> Result<bool> {
    let now = clock::now();
    let pending: Vec<&Customer> = customers
        .iter()
        .filter(|c| c.state == CustomerState::Active && c.pending_code.is_some())
        .filter(|c| c.pending_until.is_none_or(|until| until >= now))
        .collect();
    if pending.is_empty() {
        return Ok(true);
    }
    let sent: HashMap<String, i64> = store.sent_codes(&link.platform.name)?.into_iter().collect();
    let timeout = opts
        .exchange_timeout
        .unwrap_or(link.platform.exchange_timeout);
    let client = Client::new(timeout, opts.proxy.clone());
    let mut all_ok = true;
    for c in pending {
        let name = format!("{}/{}", link.platform.name, shown(&c.appid));
        match sent.get(&c.appid) {
            Some(at) if *at > now - CLAIM_LIFE => {
                log::info!("{name}: its code is being exchanged by another run; not sent again");
            }
            Some(_) => {
                all_ok &= unanswered(
                    store,
                    link,
                    &c.appid,
                    "its run ended before the answer was stored",
                )?;
            }
            None => all_ok &= exchange(store, link, &client, c, timeout)? != Outcome::Failed,
        }
    }
    Ok(all_ok)
}

/// Sends customer `c`'s pending code once and stores what the answer holds.
pub fn exchange(
    store: &mut dyn Store,
    link: &Link,
    client: &Client,
    c: &Customer,
    timeout: Duration,
) -> Result<Outcome> {
    let p = &link.platform;
    let name = format!("{}/{}", p.name, shown(&c.appid));
    let (Some(sealed), Some(key)) = (&c.pending_code, &link.store_key) else {
        return Ok(Outcome::Taken);
    };
    let code = match key.open(
        sealed,
        &[&p.name, &c.appid, crate::platform::PENDING_CODE_KIND],
    ) {
        Ok(code) => Secret::new(code),
        Err(e) => {
            crate::out::errln!(
                "wxtoken: {name}: its code: {e} (platform {}, store_key_file)",
                p.name
            );
            return Ok(Outcome::Failed);
        }
    };
    let Some(token) = link.token() else {
        log::info!("{name}: no usable platform token; its code waits");
        return Ok(Outcome::Failed);
    };
    let Some(node) = graph::exchange_node(link.app.api) else {
        return Ok(Outcome::Taken);
    };
    let key = crate::platform::push::pending_key(code.expose());
    let now = clock::now();
    let claim = CodeStep::Claim {
        sealed: sealed.clone(),
        key: key.clone(),
        until: now + SPENT_LIFE,
    };
    if !store.code_step(&p.name, &c.appid, &claim, now)? {
        let spent = CodeStep::Spent { key };
        if store.code_step(&p.name, &c.appid, &spent, clock::now())? {
            log::info!("{name}: its code was sent upstream before; dropped, not sent again");
            return Ok(Outcome::Spent);
        }
        log::info!("{name}: its code was taken by another run; not sent again");
        return Ok(Outcome::Taken);
    }
    let release = CodeStep::Release { key };
    let app = App {
        name: name.clone(),
        appid: c.appid.clone(),
        ..link.app.clone()
    };
    let call = Call {
        input: Some(&token),
        platform_appid: Some(&link.app.appid),
        grant: Some(code.expose()),
        once: true,
        ..Call::new(node)
    };
    log::info!(
        "{name}: exchanging its code (sent once; waiting up to {}s)",
        timeout.as_secs()
    );
    let reply = client.call(&app, &call, Instant::now() + timeout);
    let sent = reply.tries.iter().any(|t| match &t.result {
        Ok(()) => true,
        Err(f) => f.reached_upstream(),
    });
    // The credential first: stored the moment it is read, token or not.
    if let Some(answer) = &reply.answer
        && let Some(credential) = text_at(answer, node.grant)
    {
        let outcome = stored(store, link, c, answer, node.info, &credential)?;
        let appid = match &outcome {
            Outcome::Stored(appid) => appid,
            _ => &c.appid,
        };
        let done = matches!(outcome, Outcome::Stored(_));
        record(store, &p.name, appid, node, &reply.tries, done);
        // A token in the same answer saves a call; without one, the token
        // is made from the stored credential.
        if let (Outcome::Stored(appid), Ok((issued, sent))) = (&outcome, reply.result) {
            let app = App {
                name: format!("{}/{appid}", p.name),
                appid: appid.clone(),
                ..link.app.clone()
            };
            store.put_pushed(&row(&app, node, &issued, sent, Some(&token)))?;
        }
        return Ok(outcome);
    }
    record(store, &p.name, &c.appid, node, &reply.tries, false);
    let failure = match reply.result {
        Ok(_) => Failure::BadResponse(format!(
            "no {} in the answer",
            node.grant.unwrap_or("credential")
        )),
        Err(f) => f,
    };
    let what = failure.describe(true);
    match failure.errcode() {
        Some(code) if SPENT_CODE.contains(&code) => {
            let kept = store.code_step(&p.name, &c.appid, &CodeStep::Drop, clock::now())?;
            spent(link, &name, code, kept);
            Ok(if kept {
                Outcome::Taken
            } else {
                Outcome::Failed
            })
        }
        // Refused before the code was looked at: it is still good.
        Some(code) if code != -1 => {
            store.code_step(&p.name, &c.appid, &release, clock::now())?;
            crate::out::errln!(
                "wxtoken: {name}: the exchange of its code was refused: {what}; the code is kept for the next run"
            );
            Ok(Outcome::Failed)
        }
        _ if !sent => {
            store.code_step(&p.name, &c.appid, &release, clock::now())?;
            crate::out::errln!(
                "wxtoken: {name}: its code was not sent ({what}); it is kept for the next run"
            );
            Ok(Outcome::Failed)
        }
        _ => {
            unanswered(store, link, &c.appid, &what)?;
            Ok(Outcome::Failed)
        }
    }
}

/// Records the tries of an exchange as attempts of the customer
/// `PLATFORM/APPID` (the token's kind; the message names the request), the
/// last one `ok` when its credential was stored (`done`), whatever the answer
/// lacked. The credential is stored already: a database that does not take
/// the attempts is only logged.
fn record(
    store: &mut dyn Store,
    platform: &str,
    appid: &str,
    node: &Node,
    tries: &[Try],
    done: bool,
) {
    let path = node.request.path.rsplit('/').next().unwrap_or_default();
    let app = format!("{platform}/{appid}");
    let attempts: Vec<Attempt> = tries
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut a = attempt(&app, node.kind, t, node.meanings, true, false);
            let said = a.message.take().unwrap_or_else(|| "answered".to_string());
            a.message = Some(format!("code exchange ({path}): {said}"));
            if done && i + 1 == tries.len() {
                a.outcome = Called::Ok.as_str().to_string();
                a.errcode = None;
                a.message = Some(format!("code exchanged ({path})"));
            }
            a
        })
        .collect();
    if let Err(e) = store.record_attempts(&app, attempts) {
        log::warn!(
            "{}: the exchange could not be recorded in the history: {e:#}",
            shown(&app)
        );
    }
}

/// Seals and stores the credential of an exchange's answer: under the appid
/// the answer names (a pending WeCom install moves there).
fn stored(
    store: &mut dyn Store,
    link: &Link,
    c: &Customer,
    answer: &serde_json::Value,
    info_key: Option<&str>,
    credential: &str,
) -> Result<Outcome> {
    let p = &link.platform;
    let name = format!("{}/{}", p.name, shown(&c.appid));
    let id_key = match p.kind {
        Api::OpenPlatform => "authorization_info.authorizer_appid",
        _ => "auth_corp_info.corpid",
    };
    let named = text_at(answer, Some(id_key)).filter(|id| {
        crate::platform::push::is_customer_id(id)
            && crate::config::check_appid(id).is_ok()
            && !id.starts_with(PENDING_PREFIX)
    });
    let appid = match named {
        Some(id) => id,
        None if !c.appid.starts_with(PENDING_PREFIX) => c.appid.clone(),
        None => {
            // Sent, answered, and still not storable: never sent again.
            store.code_step(&p.name, &c.appid, &CodeStep::Drop, clock::now())?;
            crate::out::errln!(
                "wxtoken: {name}: the answer names no valid corpid ({id_key}): nothing stored; the company must reset the permanent code or install again (`wxtoken authorizers link --platform {}`)",
                p.name
            );
            return Ok(Outcome::Failed);
        }
    };
    let kind = p.kind.grant_kind();
    let sealed = match link
        .store_key
        .as_ref()
        .map(|k| k.seal(credential, &[&p.name, &appid, kind]))
    {
        Some(Ok(sealed)) => sealed,
        _ => {
            crate::out::errln!(
                "wxtoken: {name}: the {kind} in the answer could not be sealed with the store key of platform {}: it is lost; the customer must authorize again",
                p.name
            );
            store.code_step(&p.name, &c.appid, &CodeStep::Drop, clock::now())?;
            return Ok(Outcome::Failed);
        }
    };
    let info = customer_info(answer, info_key);
    let step = CodeStep::Exchanged {
        appid: appid.clone(),
        credential: sealed,
        info,
    };
    if !store.code_step(&p.name, &c.appid, &step, clock::now())? {
        crate::out::errln!(
            "wxtoken: {name}: the {kind} in the answer found no customer to store it in (removed while the code was exchanged): it is lost; the customer must authorize again"
        );
        return Ok(Outcome::Failed);
    }
    log::info!(
        "{}/{}: code exchanged; its {kind} is stored sealed",
        p.name,
        shown(&appid)
    );
    Ok(Outcome::Stored(appid))
}

/// A code refused as used or expired is dropped: said once, loudly when the
/// customer has nothing else.
fn spent(link: &Link, name: &str, errcode: i64, kept: bool) {
    let kind = link.platform.kind.grant_kind();
    if kept {
        log::warn!(
            "{name}: its code was refused as used or expired (errcode {errcode}); dropped: the stored {kind} goes on"
        );
    } else if name.contains(PENDING_PREFIX) {
        // A code from the redirect: the push of the same authorization may
        // have brought (and spent) it first.
        crate::out::errln!(
            "wxtoken: {name}: its code was refused as used or expired (errcode {errcode}): if the authorization push came first, the customer is stored already (`wxtoken authorizers list --platform {p}`); else send it a new link (`wxtoken authorizers link --platform {p}`)",
            p = link.platform.name
        );
    } else {
        crate::out::errln!(
            "wxtoken: {name}: its code was refused as used or expired (errcode {errcode}) and no {kind} is stored: it must authorize again: send it a new link (`wxtoken authorizers link --platform {}`)",
            link.platform.name
        );
    }
}

/// A code was sent and no usable answer came back (a timeout, a server
/// error, a kill): it may have been used upstream, so it is never sent again.
/// An Open Platform authorizer without a credential is marked `reauthorize`,
/// which looks it up in the authorizer list in this run; else the loss is said
/// with the fix. False: printed as a failure.
fn unanswered(store: &mut dyn Store, link: &Link, appid: &str, why: &str) -> Result<bool> {
    let p = &link.platform;
    let name = format!("{}/{}", p.name, shown(appid));
    let kept = store.code_step(&p.name, appid, &CodeStep::Drop, clock::now())?;
    let kind = p.kind.grant_kind();
    let next = match (kept, p.kind) {
        (true, _) => format!("the stored {kind} goes on"),
        (false, Api::OpenPlatform) => {
            format!(
                "its {kind} is looked up in the authorizer list; if it is not there, it must authorize again (`wxtoken authorizers link --platform {}`)",
                p.name
            )
        }
        (false, _) => format!(
            "if WeCom stored the install, the company must reset its permanent code or install again (`wxtoken authorizers link --platform {}`)",
            p.name
        ),
    };
    crate::out::errln!(
        "wxtoken: {name}: the exchange of its code got no usable answer ({why}); a one-use code is never sent twice: {next}"
    );
    Ok(false)
}

/// What an answer says about the customer, as stored: the object at
/// `info_key` (WeCom's `auth_corp_info`), with WeCom's `auth_info` (its
/// agents, `is_customized_app`) kept in it as `auth_info`.
pub fn customer_info(answer: &serde_json::Value, info_key: Option<&str>) -> Option<String> {
    let mut info = classify::at(answer, info_key?)
        .filter(|v| v.is_object())?
        .clone();
    if let (Some(obj), Some(auth)) = (info.as_object_mut(), answer.get("auth_info")) {
        obj.insert("auth_info".to_string(), auth.clone());
    }
    Some(info.to_string()).filter(|v| v.len() <= 16 * 1024)
}
