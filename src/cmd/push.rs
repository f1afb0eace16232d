//! `wxtoken push --platform NAME`: one push from WeChat or WeCom, on stdin or
//! as a CGI program (RFC 3875: `GATEWAY_INTERFACE` set). It is checked and read
//! by `platform::push`, stored here, and answered `success` (or, for WeCom's URL
//! check, the decrypted `echostr`) only once stored. An authorization code is
//! stored sealed, answered, and then exchanged by a process of its own
//! ([`start_exchanges`]); `push` itself calls nothing upstream.

use std::io::IsTerminal;

use anyhow::{Context, Result, anyhow};

use crate::cli::{Global, PushArgs};
use crate::config::platform::Platform;
use crate::error::{Exit, exit_status, usage};
use crate::graph::Api;
use crate::platform::PENDING_CODE_KIND;
use crate::platform::keys::read_push_keys;
use crate::platform::push::{self, Event, Refused};
use crate::platform::storekey::StoreKey;
use crate::platform::xml::{Fields, MAX_BODY};
use crate::store::{Customer, CustomerState, Row, Store};
use crate::text::quoted;
use crate::{clock, config};

use super::common;

mod detach;
mod inetd;
mod input;

use input::Input;

pub fn run(global: &Global, args: &PushArgs) -> Result<()> {
    if args.inetd {
        return inetd::run(global, args);
    }
    let cgi = std::env::var_os("GATEWAY_INTERFACE").is_some();
    let Some(platform) = &args.platform else {
        return Err(usage(
            "push: no --platform: name the platform of the config the push is for (or serve HTTP with --inetd)",
        ));
    };
    // The web server's address for the client (RFC 3875), for the log line.
    let peer = std::env::var("REMOTE_ADDR")
        .ok()
        .filter(|a| cgi && !a.is_empty());
    let query = (args.query.clone())
        .or_else(|| cgi.then(|| std::env::var("QUERY_STRING").unwrap_or_default()));
    let mut input = Input::stdin(args.read_timeout);
    let result = handle(global, platform, peer.as_deref(), query, |q| {
        read_body(&mut input, q, cgi)
    });
    if cgi {
        // An unknown platform is the server's configuration here, not the URL.
        let status = match http_status(&result) {
            404 => 500,
            s => s,
        };
        let body = result.as_deref().unwrap_or("refused\n");
        let written = write_out(&format!(
            "Status: {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            inetd::reason(status),
            body.len()
        ));
        // Refused, perhaps before the body was read: let the web server
        // finish writing it, so that it does not cut the answer short.
        if result.is_err() && cgi_content_length().is_some_and(|n| n > 0) {
            input.linger();
        }
        written?;
    } else if let Ok(answer) = &result {
        // Exactly the body WeChat expects into a pipe; a terminal gets a
        // newline too, so that the shell's prompt starts on a line of its own.
        let end = std::io::stdout().is_terminal().then_some("\n");
        write_out(&format!("{answer}{}", end.unwrap_or_default()))?;
    }
    start_exchanges(global, args);
    result.map(|_| ())
}

/// The HTTP status a push's outcome is answered with: 200; a [`Refused`]
/// request's own (400 or 403 for a push, more for an [`inetd`] request); 404 for a platform
/// the config does not have; 500 for a configuration error; 503 otherwise
/// (the database, say: WeChat sends the push again).
fn http_status(result: &Result<String>) -> u16 {
    let Err(e) = result else { return 200 };
    match e.downcast_ref::<Refused>() {
        Some(refused) => refused.status,
        None if e.is::<UnknownPlatform>() => 404,
        None if exit_status(e).0 == Exit::Usage => 500,
        None => 503,
    }
}

/// The codes this push stored, to exchange once it has answered (platform,
/// customer appid).
static EXCHANGES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Starts the exchange of each code this push stored, now that its answer is
/// complete: each in a detached process of its own (`push::detach`),
/// unless `--no-exchange`. One that cannot start is left to the next refresh.
fn start_exchanges(global: &Global, args: &PushArgs) {
    let codes = std::mem::take(&mut *EXCHANGES.lock().unwrap_or_else(|e| e.into_inner()));
    for (platform, appid) in codes.into_iter().filter(|_| !args.no_exchange) {
        if let Err(e) = detach::detach(global, &platform, &appid, args.exchange_timeout) {
            log::warn!(
                "platform {}: customer {}: {}; the next refresh exchanges its code",
                quoted(&platform),
                quoted(&appid),
                crate::report::message(&e)
            );
        }
    }
}

fn write_out(text: &str) -> Result<()> {
    crate::render::print(text).context("could not write the answer on stdout")
}

/// A push for a platform the config does not name (an error's context; HTTP
/// 404 when served with `--inetd`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UnknownPlatform(String);

/// Checks, reads and stores the push for `platform` (a name from the command
/// line or the request path), from `peer` (the client's address as the web
/// server gave it) with `query` (the URL's query string; `None`: none was
/// given), its body read by `read_body` once the query is known to be a
/// push's; the answer's body. Every error names the platform and the peer: it
/// is the one line a refused push leaves on stderr.
fn handle(
    global: &Global,
    platform: &str,
    peer: Option<&str>,
    query: Option<String>,
    read_body: impl FnOnce(&Fields) -> Result<Vec<u8>>,
) -> Result<String> {
    common::init_logging(global);
    let now = clock::now();
    let from =
        (peer.map(|peer| format!(" from {}", crate::text::clip(peer, 64)))).unwrap_or_default();
    let who = format!("push to platform {}{from}", quoted(platform));
    let config_path = common::config_path(global).ok_or_else(|| {
        usage(format!(
            "{who}: no config file: set --config / WXTOKEN_CONFIG (the platform is read from it)"
        ))
    })?;
    let platforms = (config::load_all(&config_path, global.api_base.as_deref()))
        .with_context(|| who.clone())?
        .platforms;
    let Some(platform) = platforms.iter().find(|p| p.name == platform) else {
        return Err(usage(format!(
            "no platform {} in config {}: add a [[platform]] entry or check the platform's name",
            quoted(platform),
            config_path.display()
        ))
        .context(UnknownPlatform(format!("{who} refused"))));
    };
    if platform.kind == Api::WecomProvider {
        return Err(usage(format!(
            "{who}: a wecom_provider receives no pushes: point the URL at its wecom_suite platform"
        )));
    }
    let keys = read_push_keys(platform)
        .with_context(|| format!("config {}", config_path.display()))
        .with_context(|| who.clone())?;
    let (Some(crypt), Some(key)) = (&keys.crypt, &keys.store_key) else {
        return Err(anyhow!("{who}: no message Token or store key"));
    };
    let refused = |e: anyhow::Error| e.context(format!("{who} refused"));
    let Some(query) = query else {
        return Err(usage(format!(
            "{who}: no --query: pass the push URL's query string (msg_signature=..&timestamp=..&nonce=..)"
        )));
    };
    let query = push::parse_query(&query)
        .map_err(anyhow::Error::new)
        .map_err(refused)?;
    let body = read_body(&query).map_err(refused)?;
    let event = push::read(platform, crypt, &query, &body, now)
        .map_err(anyhow::Error::new)
        .map_err(refused)?;
    let mut db = common::open_store(global, false).with_context(|| who.clone())?;
    keep(&mut *db, platform, key, event, now).with_context(|| who.clone())
}

/// The request body: none for a URL check (`echostr`), else at most
/// [`MAX_BODY`] bytes of stdin (CGI: exactly `CONTENT_LENGTH` of them).
fn read_body(input: &mut Input, query: &Fields, cgi: bool) -> Result<Vec<u8>> {
    let bad = |why: String| input::refuse(400, why);
    let check = query.contains_key("echostr");
    let mut limit = MAX_BODY + 1;
    if cgi {
        let method = std::env::var("REQUEST_METHOD").unwrap_or_default();
        match (method.as_str(), check) {
            ("GET", true) => return Ok(Vec::new()),
            ("POST", false) => {}
            ("GET", false) => return Err(bad("a GET without echostr: pushes are POSTs".into())),
            _ => {
                return Err(bad(format!(
                    "method {} with{} echostr: expected POST (a push) or GET with echostr (WeCom's URL check)",
                    quoted(&crate::text::clip(&method, 20)),
                    if check { "" } else { "out" }
                )));
            }
        }
        let n = cgi_content_length()
            .ok_or_else(|| bad("CONTENT_LENGTH is missing or not a number".into()))?;
        if n > MAX_BODY as u64 {
            return Err(bad(format!(
                "the body has {n} bytes, more than {MAX_BODY}: not a push"
            )));
        }
        limit = n as usize;
    } else if check {
        return Ok(Vec::new());
    }
    input.fill(limit)?;
    let body = std::mem::take(&mut input.buf);
    if body.len() > MAX_BODY {
        return Err(bad(format!(
            "the body is larger than {MAX_BODY} bytes: not a push"
        )));
    }
    if cgi && body.len() < limit {
        return Err(bad(format!(
            "the body ended after {} of CONTENT_LENGTH {limit} bytes",
            body.len()
        )));
    }
    Ok(body)
}

fn cgi_content_length() -> Option<u64> {
    std::env::var("CONTENT_LENGTH").ok()?.trim().parse().ok()
}

/// Stores what the push says; the answer's body.
fn keep(
    db: &mut dyn Store,
    platform: &Platform,
    key: &StoreKey,
    event: Event,
    now: i64,
) -> Result<String> {
    let name = &platform.name;
    // A customer's event applies only in order; a late one is acknowledged.
    if let Event::Authorized { appid, created, .. }
    | Event::Revoked { appid, created }
    | Event::Changed { appid, created } = &event
        && !in_order(db, name, appid, *created, now)?
    {
        return Ok("success".to_string());
    }
    match event {
        Event::Echo(plain) => return Ok(plain),
        Event::Ticket {
            kind,
            value,
            created,
            expires,
        } => {
            let row = Row {
                app: name.clone(),
                kind: kind.as_str().to_string(),
                api: platform.kind.as_str().to_string(),
                appid: platform.appid.clone(),
                value,
                fetched_at: created,
                expires_at: expires,
                invalidated_at: None,
                source_token: None,
            };
            if !db.put_pushed(&row)? {
                log::info!(
                    "platform {}: kept the newer {} already stored",
                    quoted(name),
                    kind.as_str()
                );
            }
        }
        Event::Authorized {
            appid,
            code,
            created,
            pending_until,
        } => {
            let old = db.customer(name, &appid)?;
            // The same code pushed again (WeChat retries): the stored one
            // stays, so that a code being exchanged is not taken for new.
            let place = [name, &appid, PENDING_CODE_KIND];
            let same = |sealed: &str| key.open(sealed, &place).is_ok_and(|p| p == code.expose());
            let sealed = match old.as_ref().and_then(|c| c.pending_code.clone()) {
                Some(sealed) if same(&sealed) => sealed,
                _ => key.seal(code.expose(), &place)?,
            };
            let authorized_at = match &old {
                Some(c) if c.state == CustomerState::Active => c.authorized_at.or(Some(created)),
                _ => Some(created),
            };
            db.upsert_customer(&Customer {
                platform: name.clone(),
                appid: appid.clone(),
                credential: old.as_ref().and_then(|c| c.credential.clone()),
                pending_code: Some(sealed),
                pending_until,
                state: CustomerState::Active,
                info: old.and_then(|c| c.info),
                authorized_at,
                updated_at: now,
            })?;
            // A customer stored just now: its first event is this one.
            in_order(db, name, &appid, created, now)?;
            log::info!(
                "platform {}: customer {} authorized; its code is kept for the exchange",
                quoted(name),
                quoted(&appid)
            );
            // Answered first (WeCom: within 1000 ms); the exchange runs
            // after, in a process of its own, with its whole timeout.
            (EXCHANGES.lock().unwrap_or_else(|e| e.into_inner())).push((name.clone(), appid));
        }
        Event::Revoked { appid, .. } => {
            if !db.revoke_customer(name, &appid, now)? {
                log::info!(
                    "platform {}: revocation of unknown customer {}: nothing to do",
                    quoted(name),
                    quoted(&appid)
                );
            }
        }
        Event::Changed { appid, .. } => match db.customer(name, &appid)? {
            // Marked: the next refresh reads the authorization again
            // (get_auth_info), right after this answer.
            Some(c) => {
                db.upsert_customer(&Customer {
                    info: Some(crate::platform::marked_for_reread(c.info.as_deref())),
                    updated_at: now,
                    ..c
                })?;
                (EXCHANGES.lock().unwrap_or_else(|e| e.into_inner())).push((name.clone(), appid));
            }
            None => log::info!(
                "platform {}: change of unknown customer {}: nothing to do",
                quoted(name),
                quoted(&appid)
            ),
        },
        Event::Ignored(info_type) => log::info!(
            "platform {}: InfoType {} acknowledged, nothing stored",
            quoted(name),
            quoted(&crate::text::clip(&info_type, 60))
        ),
    }
    Ok("success".to_string())
}

/// Whether an event created at `created` may apply to customer `appid`: not
/// when an event created later was applied already (a late or replayed
/// `unauthorized` never revokes a newer authorization). Recorded when it may
/// (for a customer not stored yet, by the caller's write and then here).
fn in_order(
    db: &mut dyn Store,
    platform: &str,
    appid: &str,
    created: i64,
    now: i64,
) -> Result<bool> {
    let step = crate::store::CodeStep::Event { at: created };
    if db.code_step(platform, appid, &step, now)? {
        return Ok(true);
    }
    log::info!(
        "platform {}: customer {}: an event of {created} is older than the last one applied; acknowledged, nothing changed",
        quoted(platform),
        quoted(appid)
    );
    Ok(false)
}
