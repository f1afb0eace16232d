//! The WeChat Open Platform part of the platform stand-in (facts: A.3 to A.6).
//!
//! Checks: `api_component_token` the appid, the secret and that the ticket
//! was registered as pushed and has not expired; every `component/*` API a
//! live component token in the query parameter `component_access_token` and
//! the component appid in the body; `api_authorizer_token` that the refresh
//! token is the authorizer's current one; `ticket/getticket` a live
//! authorizer token (a component token is refused).

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{
    COMPONENT_APPID, COMPONENT_SECRET, Kind, Platforms, Refused, Reply, Request, State, body,
    field, first_refresh_token, now_unix, ok,
};

#[derive(Default)]
pub(super) struct Open {
    /// component_verify_tickets "pushed" so far; any of them is accepted.
    tickets: HashSet<String>,
    /// Pushed tickets older than their 12 hours.
    expired_tickets: HashSet<String>,
    /// authorization_code → authorizer appid; removed when exchanged.
    codes: HashMap<String, String>,
    authorizers: HashMap<String, Authorizer>,
    /// Authorizer appids in the order they authorized (api_get_authorizer_list).
    order: Vec<String>,
    /// Refresh tokens refused with 61023 although current.
    dead: HashSet<String>,
    rotate: bool,
}

struct Authorizer {
    refresh_token: String,
    auth_time: i64,
}

impl Platforms {
    /// Registers `ticket` as a component_verify_ticket WeChat pushed.
    pub fn push_ticket(&self, ticket: &str) {
        self.lock().open.tickets.insert(ticket.to_string());
    }

    /// A component token issued without a request (as to another host).
    pub fn issue_component_token(&self) -> String {
        self.lock()
            .issue(Kind::Component, "componenttoken", COMPONENT_APPID)
    }

    /// Makes a pushed component_verify_ticket too old (61005 from now on).
    pub fn expire_ticket(&self, ticket: &str) {
        self.lock().open.expired_tickets.insert(ticket.to_string());
    }

    /// Registers an authorization code for `authorizer_appid` (single use).
    pub fn auth_code(&self, code: &str, authorizer_appid: &str) {
        let appid = authorizer_appid.to_string();
        self.lock().open.codes.insert(code.to_string(), appid);
    }

    /// Authorizes `n` more authorizers ([`super::authorizer_appid`] numbering,
    /// refresh token [`first_refresh_token`]) without any request.
    pub fn add_authorizers(&self, n: usize) {
        let mut s = self.lock();
        let start = s.open.order.len();
        let now = now_unix();
        for i in start..start + n {
            authorize(&mut s.open, &super::authorizer_appid(i), now);
        }
    }

    /// The authorizer's current refresh token (None when not authorized).
    pub fn refresh_token(&self, authorizer_appid: &str) -> Option<String> {
        let s = self.lock();
        let a = s.open.authorizers.get(authorizer_appid)?;
        Some(a.refresh_token.clone())
    }

    /// `api_authorizer_token` answers with a new refresh token and kills the old one.
    pub fn rotate_refresh_tokens(&self, on: bool) {
        self.lock().open.rotate = on;
    }

    /// Refresh `token` gives 61023 from now on (the list still shows it).
    pub fn kill_refresh_token(&self, token: &str) {
        self.lock().open.dead.insert(token.to_string());
    }

    /// The merchant authorizes again: a new refresh token replaces (and kills)
    /// the old one; returns the new one.
    pub fn reauthorize(&self, authorizer_appid: &str) -> String {
        let mut s = self.lock();
        let n = s.next();
        let token = format!("{}.{n}", first_refresh_token(authorizer_appid));
        if !s.open.authorizers.contains_key(authorizer_appid) {
            authorize(&mut s.open, authorizer_appid, now_unix());
        }
        let a = s.open.authorizers.get_mut(authorizer_appid).unwrap();
        a.refresh_token = token.clone();
        token
    }

    /// The merchant de-authorizes: 61003 for its refresh, gone from the list.
    pub fn unauthorize(&self, authorizer_appid: &str) {
        let mut s = self.lock();
        s.open.authorizers.remove(authorizer_appid);
        s.open.order.retain(|a| a != authorizer_appid);
    }
}

fn authorize(open: &mut Open, appid: &str, auth_time: i64) {
    let refresh_token = first_refresh_token(appid);
    let old = open.authorizers.insert(
        appid.to_string(),
        Authorizer {
            refresh_token,
            auth_time,
        },
    );
    if old.is_none() {
        open.order.push(appid.to_string());
    }
}

/// `None` when `req` is not an Open Platform path.
pub(super) fn answer(s: &mut State, req: &Request) -> Option<Reply> {
    let reply = match req.path.as_str() {
        "/cgi-bin/component/api_component_token" => component_token(s, req),
        "/cgi-bin/component/api_start_push_ticket" => start_push_ticket(req),
        "/cgi-bin/component/api_create_preauthcode" => with_token(s, req, |s, _| {
            let code = format!("preauthcode@@@{}", s.next());
            Ok(ok(json!({"pre_auth_code": code, "expires_in": 600})))
        }),
        "/cgi-bin/component/api_query_auth" => with_token(s, req, query_auth),
        "/cgi-bin/component/api_authorizer_token" => with_token(s, req, authorizer_token),
        "/cgi-bin/component/api_get_authorizer_list" => with_token(s, req, authorizer_list),
        "/cgi-bin/ticket/getticket" => ticket(s, req),
        _ => return None,
    };
    Some(reply.unwrap_or_else(|refused| refused))
}

fn component_token(s: &mut State, req: &Request) -> Result<Reply, Reply> {
    let b = body(req)?;
    if field(&b, "component_appid") != COMPONENT_APPID {
        return Err(Reply::errcode(40013, "invalid appid"));
    }
    match field(&b, "component_appsecret").as_str() {
        "" => return Err(Reply::errcode(41004, "appsecret missing")),
        COMPONENT_SECRET => {}
        _ => return Err(Reply::errcode(40125, "invalid appsecret")),
    }
    let ticket = field(&b, "component_verify_ticket");
    if s.open.expired_tickets.contains(&ticket) {
        return Err(Reply::errcode(61005, "component ticket is expired"));
    }
    if !s.open.tickets.contains(&ticket) {
        return Err(Reply::errcode(61006, "component ticket is invalid"));
    }
    let token = s.issue(Kind::Component, "componenttoken", COMPONENT_APPID);
    let expires_in = s.expires_in;
    Ok(ok(
        json!({"component_access_token": token, "expires_in": expires_in}),
    ))
}

/// No token: the component's appid and secret (note: `component_secret`).
fn start_push_ticket(req: &Request) -> Result<Reply, Reply> {
    let b = body(req)?;
    if field(&b, "component_appid") != COMPONENT_APPID {
        return Err(Reply::errcode(40013, "invalid appid"));
    }
    if field(&b, "component_secret") != COMPONENT_SECRET {
        return Err(Reply::errcode(40125, "invalid appsecret"));
    }
    Ok(ok(json!({"errcode": 0, "errmsg": "ok"})))
}

type Api = fn(&mut State, &serde_json::Value) -> Result<Reply, Reply>;

/// Runs `api` once the component token in the query and the appid in the body check out.
fn with_token(s: &mut State, req: &Request, api: Api) -> Result<Reply, Reply> {
    let token = req.query.get("component_access_token");
    s.check(token, Kind::Component).map_err(|r| match r {
        Refused::Missing => Reply::errcode(41001, "access_token missing"),
        Refused::Invalid => Reply::errcode(
            40001,
            "invalid credential, access_token is invalid or not latest",
        ),
        Refused::Expired => Reply::errcode(42001, "access_token expired"),
    })?;
    let b = body(req)?;
    if field(&b, "component_appid") != COMPONENT_APPID {
        return Err(Reply::errcode(40013, "invalid appid"));
    }
    api(s, &b)
}

fn query_auth(s: &mut State, b: &serde_json::Value) -> Result<Reply, Reply> {
    let code = field(b, "authorization_code");
    // The code is consumed; an unknown or used one gives 61009 (code is invalid).
    let appid = s
        .open
        .codes
        .remove(&code)
        .ok_or_else(|| Reply::errcode(61009, "code is invalid"))?;
    authorize(&mut s.open, &appid, now_unix());
    let n = s.next();
    // Authorizing again invalidates the previous refresh token.
    let refresh = format!("{}.{n}", first_refresh_token(&appid));
    s.open.authorizers.get_mut(&appid).unwrap().refresh_token = refresh.clone();
    let token = s.issue(Kind::Authorizer, "authorizertoken", &appid);
    Ok(ok(json!({"authorization_info": {
        "authorizer_appid": appid,
        "authorizer_access_token": token,
        "expires_in": s.expires_in,
        "authorizer_refresh_token": refresh,
        "func_info": [{"funcscope_category": {"id": 1}}],
    }})))
}

fn authorizer_token(s: &mut State, b: &serde_json::Value) -> Result<Reply, Reply> {
    let appid = field(b, "authorizer_appid");
    let sent = field(b, "authorizer_refresh_token");
    let Some(current) = s
        .open
        .authorizers
        .get(&appid)
        .map(|a| a.refresh_token.clone())
    else {
        return Err(Reply::errcode(
            61003,
            "component is not authorized by this account",
        ));
    };
    if sent.is_empty() || sent != current || s.open.dead.contains(&sent) {
        return Err(Reply::errcode(61023, "refresh_token is invalid"));
    }
    let refresh = if s.open.rotate {
        let n = s.next();
        let new = format!("{}.{n}", first_refresh_token(&appid));
        s.open.authorizers.get_mut(&appid).unwrap().refresh_token = new.clone();
        new
    } else {
        current
    };
    let token = s.issue(Kind::Authorizer, "authorizertoken", &appid);
    Ok(ok(json!({
        "authorizer_access_token": token,
        "expires_in": s.expires_in,
        "authorizer_refresh_token": refresh,
    })))
}

fn authorizer_list(s: &mut State, b: &serde_json::Value) -> Result<Reply, Reply> {
    let number = |key| b.get(key).and_then(serde_json::Value::as_u64);
    let (Some(offset), Some(count @ 1..=500)) = (number("offset"), number("count")) else {
        return Err(Reply::errcode(40097, "invalid args"));
    };
    let page: Vec<_> = (s.open.order.iter())
        .skip(offset as usize)
        .take(count as usize)
        .map(|appid| {
            let a = &s.open.authorizers[appid];
            json!({"authorizer_appid": appid, "refresh_token": a.refresh_token, "auth_time": a.auth_time})
        })
        .collect();
    Ok(ok(json!({"total_count": s.open.order.len(), "list": page})))
}

fn ticket(s: &mut State, req: &Request) -> Result<Reply, Reply> {
    let appid = match s.check(req.query.get("access_token"), Kind::Authorizer) {
        Ok(appid) => appid,
        Err(Refused::Missing) => return Err(Reply::errcode(41001, "access_token missing")),
        Err(Refused::Expired) => return Err(Reply::errcode(42001, "access_token expired")),
        Err(Refused::Invalid) => {
            return Err(Reply::errcode(
                40001,
                "invalid credential, access_token is invalid or not latest",
            ));
        }
    };
    let kind = req.query.get("type").map_or("", String::as_str);
    if kind != "jsapi" && kind != "wx_card" {
        return Err(Reply::errcode(40097, "invalid args"));
    }
    let ticket = format!("ticket-{}-{kind}-{appid}", s.next());
    Ok(Reply::ticket(&ticket, s.expires_in))
}
