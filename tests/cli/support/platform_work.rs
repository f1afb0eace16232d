//! The WeCom service provider part of the platform stand-in (facts: B.2 to B.5).
//!
//! Checks: `get_suite_token` the suite id, secret and that the ticket was
//! registered as pushed; the other `service/*` APIs a live suite token in the
//! query parameter `suite_access_token`; `get_corp_token` and `get_auth_info`
//! that the permanent code is the corp's current one; `get_provider_token` the
//! provider corpid and secret; the two ticket APIs a live corp token (a suite
//! token gives 40014, as on WeCom). WeCom has no API listing the authorized
//! corps (the facts name none), so none is served.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{
    DK_SUITE_ID, DK_SUITE_SECRET, Kind, PROVIDER_CORPID, PROVIDER_SECRET, Platforms, Refused,
    Reply, Request, SUITE_ID, SUITE_SECRET, State, body, field, first_permanent_code, ok,
};

#[derive(Default)]
pub(super) struct Work {
    tickets: HashSet<String>,
    /// Pushed suite_tickets older than their 30 minutes.
    expired_tickets: HashSet<String>,
    /// auth_code → corpid; removed when exchanged.
    codes: HashMap<String, String>,
    /// corpid → current permanent code.
    corps: HashMap<String, String>,
    /// Permanent codes refused with 40084 although current.
    dead: HashSet<String>,
    /// Pre-auth codes issued, and those set_session_info made test ones.
    pre_auth: HashSet<String>,
    test_sessions: HashSet<String>,
    /// The suite whose token the request being answered carries.
    suite: String,
}

impl Platforms {
    /// Registers `ticket` as a suite_ticket WeCom pushed.
    pub fn push_suite_ticket(&self, ticket: &str) {
        self.lock().work.tickets.insert(ticket.to_string());
    }

    /// Makes a pushed suite_ticket too old (40085 from now on, as a wrong one).
    pub fn expire_suite_ticket(&self, ticket: &str) {
        self.lock().work.expired_tickets.insert(ticket.to_string());
    }

    /// Registers an install's auth_code for `corpid` (single use).
    pub fn corp_auth_code(&self, code: &str, corpid: &str) {
        let corpid = corpid.to_string();
        self.lock().work.codes.insert(code.to_string(), corpid);
    }

    /// Installs the suite in `n` more corps ([`super::corpid`] numbering,
    /// permanent code [`first_permanent_code`]) without any request.
    pub fn add_corps(&self, n: usize) {
        let mut s = self.lock();
        let start = s.work.corps.len();
        for i in start..start + n {
            let corpid = super::corpid(i);
            let code = first_permanent_code(&corpid);
            s.work.corps.insert(corpid, code);
        }
    }

    /// The corp's current permanent code (None when not installed).
    pub fn permanent_code(&self, corpid: &str) -> Option<String> {
        self.lock().work.corps.get(corpid).cloned()
    }

    /// Permanent code `code` gives 40084 from now on.
    pub fn kill_permanent_code(&self, code: &str) {
        self.lock().work.dead.insert(code.to_string());
    }

    /// Whether set_session_info made `pre_auth_code` a test authorization.
    pub fn test_session(&self, pre_auth_code: &str) -> bool {
        self.lock().work.test_sessions.contains(pre_auth_code)
    }

    /// The corp uninstalls the suite: 48004 for its corp token from now on.
    pub fn uninstall(&self, corpid: &str) {
        self.lock().work.corps.remove(corpid);
    }
}

/// `None` when `req` is not a WeCom provider path.
pub(super) fn answer(s: &mut State, req: &Request) -> Option<Reply> {
    let reply = match req.path.as_str() {
        "/cgi-bin/service/get_suite_token" => suite_token(s, req),
        "/cgi-bin/service/get_provider_token" => provider_token(s, req),
        "/cgi-bin/service/get_permanent_code" => with_token(s, req, |s, b| exchange(s, b, true)),
        "/cgi-bin/service/v2/get_permanent_code" => {
            with_token(s, req, |s, b| exchange(s, b, false))
        }
        "/cgi-bin/service/get_auth_info" | "/cgi-bin/service/v2/get_auth_info" => {
            with_token(s, req, auth_info)
        }
        "/cgi-bin/service/get_corp_token" => with_token(s, req, corp_token),
        "/cgi-bin/service/get_pre_auth_code" => pre_auth_code(s, req),
        "/cgi-bin/gettoken" => return customized_token(s, req),
        "/cgi-bin/service/set_session_info" => with_token(s, req, session_info),
        "/cgi-bin/get_jsapi_ticket" => ticket(s, req, "jsapi"),
        "/cgi-bin/ticket/get" => {
            if req.query.get("type").is_some_and(|t| t == "agent_config") {
                ticket(s, req, "agent_config")
            } else {
                Err(Reply::errcode(40058, "invalid type"))
            }
        }
        _ => return None,
    };
    Some(reply.unwrap_or_else(|refused| refused))
}

fn suite_token(s: &mut State, req: &Request) -> Result<Reply, Reply> {
    let b = body(req)?;
    let suite = field(&b, "suite_id");
    let secret = match suite.as_str() {
        SUITE_ID => SUITE_SECRET,
        DK_SUITE_ID => DK_SUITE_SECRET,
        _ => return Err(Reply::errcode(40083, "invalid suite_id")),
    };
    if field(&b, "suite_secret") != secret {
        return Err(Reply::errcode(40080, "invalid suite_secret"));
    }
    let ticket = field(&b, "suite_ticket");
    if !s.work.tickets.contains(&ticket) || s.work.expired_tickets.contains(&ticket) {
        return Err(Reply::errcode(40085, "invalid suite_ticket"));
    }
    let token = s.issue(Kind::Suite, "suitetoken", &suite);
    Ok(ok(json!({
        "errcode": 0, "errmsg": "ok", "suite_access_token": token, "expires_in": s.expires_in,
    })))
}

fn provider_token(s: &mut State, req: &Request) -> Result<Reply, Reply> {
    let b = body(req)?;
    if field(&b, "corpid") != PROVIDER_CORPID {
        return Err(Reply::errcode(40013, "invalid corpid"));
    }
    if field(&b, "provider_secret") != PROVIDER_SECRET {
        return Err(Reply::errcode(40001, "invalid secret"));
    }
    let token = s.issue(Kind::Provider, "providertoken", PROVIDER_CORPID);
    Ok(ok(json!({
        "errcode": 0, "errmsg": "ok", "provider_access_token": token, "expires_in": s.expires_in,
    })))
}

type Api = fn(&mut State, &serde_json::Value) -> Result<Reply, Reply>;

/// Runs `api` once the suite token in the query checks out.
fn with_token(s: &mut State, req: &Request, api: Api) -> Result<Reply, Reply> {
    let token = req.query.get("suite_access_token");
    s.work.suite = s.check(token, Kind::Suite).map_err(|r| match r {
        Refused::Missing => Reply::errcode(41022, "suite_access_token missing"),
        Refused::Invalid => Reply::errcode(
            40082,
            "invalid suite_acccess_token or provider_access_token",
        ),
        Refused::Expired => Reply::errcode(42009, "suite_access_token expired"),
    })?;
    api(s, &body(req)?)
}

/// `get_permanent_code` (classic: with a corp token) and its v2 (without).
fn exchange(s: &mut State, b: &serde_json::Value, classic: bool) -> Result<Reply, Reply> {
    let corpid = (s.work.codes)
        .remove(&field(b, "auth_code"))
        .ok_or_else(|| Reply::errcode(40078, "invalid auth_code"))?;
    let n = s.next();
    // Installing again resets the permanent code.
    let code = format!("{}.{n}", first_permanent_code(&corpid));
    s.work.corps.insert(corpid.clone(), code.clone());
    let mut answer = json!({
        "errcode": 0, "errmsg": "ok",
        "permanent_code": code,
        "auth_corp_info": {"corpid": corpid, "corp_name": format!("corp {corpid}")},
        "auth_user_info": {"userid": "installer"},
        "state": "",
    });
    if s.work.suite.starts_with("dk") {
        // 代开发 (D.7): the permanent code is the app's secret; no token.
        answer["auth_info"] =
            json!({"agent": [{"agentid": 1000002, "name": "dk app", "is_customized_app": true}]});
    } else if classic {
        answer["access_token"] = json!(s.issue(Kind::Corp, "corptoken", &corpid));
        answer["expires_in"] = json!(s.expires_in);
        answer["auth_info"] = json!({"agent": [{"agentid": 1000001, "name": "standin app"}]});
    }
    Ok(ok(answer))
}

/// The corp named in the body, when its permanent code is the current one.
fn installed(s: &State, b: &serde_json::Value) -> Result<String, Reply> {
    let corpid = field(b, "auth_corpid");
    let code = field(b, "permanent_code");
    match s.work.corps.get(&corpid) {
        None => Err(Reply::errcode(48004, "authorization invalid")),
        Some(current) if *current != code || s.work.dead.contains(&code) => {
            Err(Reply::errcode(40084, "invalid permanent_code"))
        }
        Some(_) => Ok(corpid),
    }
}

fn auth_info(s: &mut State, b: &serde_json::Value) -> Result<Reply, Reply> {
    let corpid = installed(s, b)?;
    Ok(ok(json!({
        "errcode": 0, "errmsg": "ok",
        "auth_corp_info": {"corpid": corpid, "corp_name": format!("corp {corpid}")},
        "auth_info": {"agent": [{"agentid": 1000001, "name": "standin app"}]},
    })))
}

fn corp_token(s: &mut State, b: &serde_json::Value) -> Result<Reply, Reply> {
    let corpid = installed(s, b)?;
    let token = s.issue(Kind::Corp, "corptoken", &corpid);
    Ok(ok(json!({
        "errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": s.expires_in,
    })))
}

fn ticket(s: &mut State, req: &Request, kind: &str) -> Result<Reply, Reply> {
    let corpid = match s.check(req.query.get("access_token"), Kind::Corp) {
        Ok(corpid) => corpid,
        Err(Refused::Missing) => return Err(Reply::errcode(41001, "access_token missing")),
        Err(Refused::Expired) => return Err(Reply::errcode(42001, "access_token expired")),
        Err(Refused::Invalid) => return Err(Reply::errcode(40014, "invalid access_token")),
    };
    let ticket = format!("ticket-{}-{kind}-{corpid}", s.next());
    Ok(Reply::ticket(&ticket, s.expires_in))
}

/// GET `get_pre_auth_code` (/path/90601): no body, the suite token in the query.
fn pre_auth_code(s: &mut State, req: &Request) -> Result<Reply, Reply> {
    if req.method != "GET" {
        return Err(Reply::errcode(43001, "require GET method"));
    }
    s.check(req.query.get("suite_access_token"), Kind::Suite)
        .map_err(|_| Reply::errcode(40082, "invalid suite_acccess_token"))?;
    let code = format!("preauthcode-{}", s.next());
    s.work.pre_auth.insert(code.clone());
    Ok(ok(
        json!({"errcode": 0, "errmsg": "ok", "pre_auth_code": code, "expires_in": 1200}),
    ))
}

/// `set_session_info` (/path/90602): auth_type 1 makes a test authorization.
fn session_info(s: &mut State, b: &serde_json::Value) -> Result<Reply, Reply> {
    let code = field(b, "pre_auth_code");
    if !s.work.pre_auth.contains(&code) {
        return Err(Reply::errcode(40077, "invalid pre_auth_code"));
    }
    let auth_type = b.get("session_info").and_then(|i| i.get("auth_type"));
    if auth_type.and_then(serde_json::Value::as_i64) == Some(1) {
        s.work.test_sessions.insert(code);
    }
    Ok(ok(json!({"errcode": 0, "errmsg": "ok"})))
}

/// `gettoken` for a company that installed a 代开发 template (D.7): the
/// corpsecret must be its current permanent code. `None` for other corpids
/// (the plain stand-in's self-built apps).
fn customized_token(s: &mut State, req: &Request) -> Option<Reply> {
    let corpid = req.query.get("corpid")?;
    let current = s.work.corps.get(corpid)?.clone();
    let secret = req.query.get("corpsecret").cloned().unwrap_or_default();
    if secret != current || s.work.dead.contains(&secret) {
        return Some(Reply::errcode(40001, "invalid credential"));
    }
    let token = s.issue(Kind::Corp, "dktoken", corpid);
    Some(Reply::token(&token, s.expires_in))
}
