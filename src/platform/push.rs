//! One push from WeChat or WeCom, checked and read: the query's signature and
//! age, the decrypted message's receiver id and inner platform id, then what
//! the message says (an [`Event`]). No IO here: `cmd::push` reads the request
//! and stores the event. Facts: `wechat-third-party-api.md`, A.1, A.2, B.1, B.3.

use sha1::{Digest, Sha1};

use super::crypto::MsgCrypt;
use super::xml::{self, Fields};
use crate::config::platform::Platform;
use crate::graph::{Api, Kind};
use crate::secret::Secret;
use crate::store::PENDING_PREFIX;
use crate::text::quoted;
use crate::upstream::classify::{MAX_VALUE_LEN, token_alphabet};

/// How far a push's `timestamp` may be from now, either way, in seconds.
/// WeChat signs each push when it sends it and retries within seconds; an
/// older signed push is a replay (or a clock that is off: fix NTP).
pub const MAX_AGE: i64 = 300;

/// The longest query string taken (an `echostr` is a few hundred bytes).
pub const MAX_QUERY: usize = 8 * 1024;

/// The longest lifetime an authorization code is believed to have, when the
/// push says when it ends.
const MAX_CODE_LIFETIME: i64 = 7 * 86_400;
/// The longest customer appid / corpid taken.
const MAX_CUSTOMER_ID: usize = 64;

/// Why a push or its request was refused (never quotes the Token, the key or
/// a secret), and the HTTP status to answer it with: 400 for what is not a
/// push this wxtoken can read (missing fields, broken XML), 403 for a push not
/// signed with this platform's Token, stale, or addressed elsewhere; `push
/// --inetd` refuses a request by its HTTP form with the status that says why.
#[derive(Debug, thiserror::Error)]
#[error("{why}")]
pub struct Refused {
    pub status: u16,
    pub why: String,
}

fn bad(why: impl Into<String>) -> Refused {
    Refused {
        status: 400,
        why: why.into(),
    }
}

fn forbidden(why: impl Into<String>) -> Refused {
    Refused {
        status: 403,
        why: why.into(),
    }
}

/// What a verified push says.
#[derive(Debug)]
pub enum Event {
    /// A pushed ticket: store under the platform's own name, usable until
    /// `expires` (its kind and lifetime are the credential graph's).
    Ticket {
        kind: Kind,
        value: String,
        created: i64,
        expires: i64,
    },
    /// A customer authorized (or re-authorized, or reset its permanent code):
    /// keep the code, sealed (as `PENDING_CODE_KIND`), until it is exchanged.
    Authorized {
        appid: String,
        code: Secret,
        created: i64,
        pending_until: Option<i64>,
    },
    /// The customer withdrew the authorization.
    Revoked { appid: String, created: i64 },
    /// The customer changed what it granted: its info is to be read again.
    Changed { appid: String, created: i64 },
    /// WeCom's URL check: answer this plaintext alone.
    Echo(String),
    /// Verified, but nothing wxtoken keeps (this InfoType).
    Ignored(String),
}

/// The query string's fields, percent-decoded (a `+` stays a `+`: base64's).
pub fn parse_query(query: &str) -> Result<Fields, Refused> {
    if query.len() > MAX_QUERY {
        return Err(bad(format!(
            "the query string has {} bytes, more than {MAX_QUERY}",
            query.len()
        )));
    }
    let mut fields = Fields::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad(format!("query field {} is not UTF-8", quoted(name))))
        };
        let (name, value) = (decode(name)?, decode(value)?);
        if fields.insert(name.clone(), value).is_some() {
            return Err(bad(format!("query field {} comes twice", quoted(&name))));
        }
    }
    Ok(fields)
}

fn field<'a>(fields: &'a Fields, name: &str, of: &str) -> Result<&'a str, Refused> {
    fields
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad(format!("{of} has no {name}")))
}

/// Checks the signature and age of a push and reads it. `query` is the
/// parsed query string, `body` the request body (ignored for WeCom's URL
/// check, a GET with `echostr`).
pub fn read(
    platform: &Platform,
    crypt: &MsgCrypt,
    query: &Fields,
    body: &[u8],
    now: i64,
) -> Result<Event, Refused> {
    let signature = field(query, "msg_signature", "the query")?;
    let timestamp = field(query, "timestamp", "the query")?;
    let nonce = field(query, "nonce", "the query")?;
    if let Some(echostr) = query.get("echostr") {
        if platform.kind != Api::WecomSuite {
            return Err(bad(
                "a URL check (echostr) is WeCom's; an Open Platform push is a POST of XML",
            ));
        }
        let plain = open(crypt, signature, timestamp, nonce, echostr, now)?;
        // WeCom encrypts the URL check for the provider's corpid (or the
        // suite id, or a company's corpid): nothing is stored and the
        // signature is what counts, so any well-formed id is taken
        // (provider_corpid is not needed).
        if !plain.receive_id.is_empty() && !is_customer_id(&plain.receive_id) {
            let mut ids = vec![platform.appid.as_str()];
            ids.extend(platform.provider_corpid.as_deref());
            receiver(&plain.receive_id, &ids)?;
        }
        return echo(plain.msg);
    }
    let envelope = parse_xml(body, "the body")?;
    let encrypt = field(&envelope, "Encrypt", "the body")?;
    // The envelope is not signed, but a different id there is a misrouted URL.
    let to = match platform.kind {
        Api::OpenPlatform => "AppId",
        _ => "ToUserName",
    };
    if let Some(id) = envelope.get(to).filter(|id| **id != platform.appid) {
        return Err(forbidden(format!(
            "the push is addressed to {} ({to}), not to {}: is the URL of another platform?",
            quoted(id),
            quoted(&platform.appid)
        )));
    }
    let plain = open(crypt, signature, timestamp, nonce, encrypt, now)?;
    receiver(&plain.receive_id, &[&platform.appid])?;
    let msg = parse_xml(plain.msg.as_bytes(), "the decrypted message")?;
    event(platform, &msg, now)
}

/// Verifies `msg_signature` over `encrypted` (constant time), refuses a stale
/// timestamp, decrypts.
fn open(
    crypt: &MsgCrypt,
    signature: &str,
    timestamp: &str,
    nonce: &str,
    encrypted: &str,
    now: i64,
) -> Result<super::crypto::Decrypted, Refused> {
    if !crypt.verify(signature, timestamp, nonce, encrypted) {
        return Err(forbidden(
            "msg_signature does not match: a forged or altered push, or the message_token is not the platform's current Token",
        ));
    }
    let sent: i64 = timestamp.parse().map_err(|_| {
        bad(format!(
            "the query's timestamp {} is not a number",
            quoted(timestamp)
        ))
    })?;
    let off = now.saturating_sub(sent);
    if off.unsigned_abs() > MAX_AGE.unsigned_abs() {
        let when = if off > 0 {
            format!("{off}s ago")
        } else {
            format!("{}s ahead of this host's clock", off.unsigned_abs())
        };
        return Err(forbidden(format!(
            "the push was signed {when}, more than {MAX_AGE}s: a replay, or this host's clock is off"
        )));
    }
    crypt.decrypt(encrypted).map_err(|e| bad(format!("{e}")))
}

/// The longest URL-check plaintext answered. WeCom's is a short random
/// string; anything else decrypted here is a captured push replayed as a URL
/// check (its `Encrypt` as the `echostr`), whose plaintext must not be printed.
pub const MAX_ECHO: usize = 128;

fn echo(plain: String) -> Result<Event, Refused> {
    if plain.len() > MAX_ECHO {
        return Err(forbidden(format!(
            "the URL check's echostr decrypts to {} bytes, more than {MAX_ECHO}: a push replayed as a URL check?",
            plain.len()
        )));
    }
    if !plain.bytes().all(|b| b.is_ascii_graphic()) || plain.contains('<') {
        return Err(forbidden(
            "the URL check's echostr decrypts to XML or control characters, not a random string: a push replayed as a URL check?",
        ));
    }
    Ok(Event::Echo(plain))
}

fn receiver(id: &str, expected: &[&str]) -> Result<(), Refused> {
    if expected.contains(&id) {
        return Ok(());
    }
    Err(forbidden(format!(
        "the push was encrypted for {}, not for {}: is the URL of another platform?",
        quoted(id),
        expected
            .iter()
            .map(|e| quoted(e))
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

fn parse_xml(body: &[u8], what: &str) -> Result<Fields, Refused> {
    xml::parse(body).map_err(|e| bad(format!("{what}: {e}")))
}

/// The ticket pushed to `platform` in `msg`, created at `created`: its kind,
/// the message's field that holds it and how long it stays usable are its
/// node's in the credential graph.
fn pushed(platform: &Platform, msg: &Fields, created: i64) -> Result<Event, Refused> {
    let none = || {
        bad(format!(
            "a {} gets no pushed ticket",
            platform.kind.as_str()
        ))
    };
    let (kind, life) = platform.kind.pushed_ticket().ok_or_else(none)?;
    let node = crate::graph::node(platform.kind, kind).ok_or_else(none)?;
    Ok(Event::Ticket {
        kind,
        value: value(msg, node.field)?.to_string(),
        created,
        expires: created + life,
    })
}

/// The message's platform id must be this platform's (several may share a URL).
fn inner_id(msg: &Fields, name: &str, platform: &Platform) -> Result<(), Refused> {
    let id = field(msg, name, "the decrypted message")?;
    if id != platform.appid {
        return Err(forbidden(format!(
            "the message's {name} is {}, not {}",
            quoted(id),
            quoted(&platform.appid)
        )));
    }
    Ok(())
}

/// What the decrypted message says, in the fields and InfoTypes of the platform's kind.
fn event(platform: &Platform, msg: &Fields, now: i64) -> Result<Event, Refused> {
    let (id, time_field) = match platform.kind {
        Api::OpenPlatform => ("AppId", "CreateTime"),
        Api::WecomSuite => ("SuiteId", "TimeStamp"),
        _ => return Err(bad("a wecom_provider receives no pushes")),
    };
    inner_id(msg, id, platform)?;
    let created = time(msg, time_field, now)?;
    let info_type = field(msg, "InfoType", "the decrypted message")?;
    match (platform.kind, info_type) {
        (Api::OpenPlatform, "component_verify_ticket") | (Api::WecomSuite, "suite_ticket") => {
            pushed(platform, msg, created)
        }
        (Api::OpenPlatform, "authorized" | "updateauthorized") => {
            // Documented only as "expiry time, unit seconds": kept when it reads
            // as a time after the push, not long after; else unknown (NULL).
            let until = msg
                .get("AuthorizationCodeExpiredTime")
                .and_then(|t| t.trim().parse::<i64>().ok())
                .filter(|t| *t > created && *t <= created + MAX_CODE_LIFETIME);
            Ok(Event::Authorized {
                appid: customer_id(msg, "AuthorizerAppid")?,
                code: Secret::new(value(msg, "AuthorizationCode")?.to_string()),
                created,
                pending_until: until,
            })
        }
        // A fast-registered mini program (D.3): status 0 is an authorization
        // whose auth_code is exchanged like an authorization code; any other
        // status (a failed registration) stores nothing.
        (Api::OpenPlatform, "notify_third_fasteregister") => {
            match msg.get("status").map(|s| s.trim()) {
                Some("0") => Ok(Event::Authorized {
                    appid: customer_id(msg, "appid")?,
                    code: Secret::new(value(msg, "auth_code")?.to_string()),
                    created,
                    pending_until: None,
                }),
                status => Ok(Event::Ignored(format!(
                    "notify_third_fasteregister with status {}",
                    crate::text::clip(status.unwrap_or("(none)"), 20)
                ))),
            }
        }
        (Api::OpenPlatform, "unauthorized") => Ok(Event::Revoked {
            appid: customer_id(msg, "AuthorizerAppid")?,
            created,
        }),
        (Api::WecomSuite, "create_auth" | "reset_permanent_code") => {
            let code = value(msg, "AuthCode")?.to_string();
            // The corpid comes only with the exchange (B.3): until then the
            // pending entry is keyed by the code's hash, one per code.
            let appid = match msg.get("AuthCorpId") {
                Some(_) => customer_id(msg, "AuthCorpId")?,
                None => pending_key(&code),
            };
            Ok(Event::Authorized {
                appid,
                code: Secret::new(code),
                created,
                // Valid 10 minutes (B.3).
                pending_until: Some(created + 600),
            })
        }
        (Api::WecomSuite, "change_auth") => Ok(Event::Changed {
            appid: customer_id(msg, "AuthCorpId")?,
            created,
        }),
        (Api::WecomSuite, "cancel_auth") => Ok(Event::Revoked {
            appid: customer_id(msg, "AuthCorpId")?,
            created,
        }),
        (_, other) => Ok(Event::Ignored(other.to_string())),
    }
}

/// The customer key of a WeCom auth code whose corpid is not known yet:
/// `pending-` and 16 hex digits of the code's SHA-1 (the code is single use
/// and random: the hash reveals nothing usable).
pub fn pending_key(code: &str) -> String {
    format!("{PENDING_PREFIX}{:.16x}", Sha1::digest(code.as_bytes()))
}

/// A Unix time field, within [`MAX_AGE`] of `now` either way. The query's
/// `timestamp` and `nonce` are signed as a sorted set, so a numeric nonce can
/// stand in for an old timestamp: the message's own time, inside the
/// encryption, is what a replay cannot change.
fn time(msg: &Fields, name: &str, now: i64) -> Result<i64, Refused> {
    let text = field(msg, name, "the decrypted message")?;
    let t: i64 = text.trim().parse().map_err(|_| {
        bad(format!(
            "the message's {name} {} is not a number",
            quoted(text)
        ))
    })?;
    let off = now.saturating_sub(t);
    if off.unsigned_abs() > MAX_AGE.unsigned_abs() {
        return Err(forbidden(format!(
            "the message's {name} {t} is {off}s from now, more than {MAX_AGE}s: a replay, or this host's clock is off"
        )));
    }
    Ok(t)
}

/// Whether a pushed value can be stored: WeChat's token alphabet and `@`
/// (tickets and codes read `ticket@@@...`, `queryauthcode@@@...`). `@` means
/// nothing to a shell outside `$@`/`@(`, and neither can form here.
pub fn pushed_alphabet(value: &str) -> bool {
    value.split('@').all(token_alphabet)
}

fn value<'a>(msg: &'a Fields, name: &str) -> Result<&'a str, Refused> {
    let v = field(msg, name, "the decrypted message")?;
    if v.len() > MAX_VALUE_LEN {
        return Err(bad(format!(
            "the message's {name} has {} bytes, more than {MAX_VALUE_LEN}",
            v.len()
        )));
    }
    if !pushed_alphabet(v) {
        return Err(bad(format!(
            "the message's {name} has characters outside [A-Za-z0-9-_.~+/=@]"
        )));
    }
    Ok(v)
}

/// A customer's appid or corpid: letters, digits, `-`, `_`, at most 64.
pub fn is_customer_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CUSTOMER_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn customer_id(msg: &Fields, name: &str) -> Result<String, Refused> {
    let id = field(msg, name, "the decrypted message")?;
    if !is_customer_id(id) {
        return Err(bad(format!(
            "the message's {name} {} is not an appid (letters, digits, - and _, at most {MAX_CUSTOMER_ID})",
            quoted(&crate::text::clip(id, 80))
        )));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests;
