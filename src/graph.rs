//! The credential graph: every kind of value wxtoken stores, the upstream call
//! that makes it, what that call needs, how long the value lives, and which
//! answers mean "what I was made from is stale".
//!
//! One table, [`NODES`], drives the upstream requests (`upstream::client`), the
//! order of a refresh's work (a value after the values it needs), its quota
//! guard, and the retry of a value whose input went stale. The names here
//! (`as_str`) are the ones the database, the output and the logs use.

/// Which upstream endpoint issues an app's access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// Official Account / Mini Program: GET /cgi-bin/token (2000 calls a day)
    Classic,
    /// Official Account / Mini Program: POST /cgi-bin/stable_token
    Stable,
    /// WeCom: GET /cgi-bin/gettoken with corpid and corpsecret
    Wecom,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Classic => "classic",
            Api::Stable => "stable",
            Api::Wecom => "wecom",
        }
    }

    pub fn parse(s: &str) -> Option<Api> {
        [Api::Classic, Api::Stable, Api::Wecom]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    pub fn default_base(self) -> &'static str {
        match self {
            Api::Classic | Api::Stable => "https://api.weixin.qq.com",
            Api::Wecom => "https://qyapi.weixin.qq.com",
        }
    }

    /// The tickets this API can issue: its ticket nodes, in table order.
    pub fn tickets(self) -> Vec<Ticket> {
        NODES
            .iter()
            .filter(|n| n.apis.contains(&self))
            .filter_map(|n| match n.kind {
                Kind::Ticket(t) => Some(t),
                Kind::AccessToken => None,
            })
            .collect()
    }
}

/// A ticket derived from an access token (`show --ticket KIND`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Ticket {
    /// JS-SDK ticket (wx.config)
    Jsapi,
    /// card ticket (classic and stable apps)
    #[value(name = "wx_card")]
    WxCard,
    /// WeCom app ticket (wx.agentConfig)
    #[value(name = "agent_config")]
    AgentConfig,
}

impl Ticket {
    /// The name in the config, on the command line and in the request's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ticket::Jsapi => "jsapi",
            Ticket::WxCard => "wx_card",
            Ticket::AgentConfig => "agent_config",
        }
    }

    pub fn parse(s: &str) -> Option<Ticket> {
        [Ticket::Jsapi, Ticket::WxCard, Ticket::AgentConfig]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// What a database row holds: the access token or one of the tickets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    AccessToken,
    Ticket(Ticket),
}

impl Kind {
    /// Every kind, in the order a refresh fetches them.
    pub const ALL: [Kind; 4] = [
        Kind::AccessToken,
        Kind::Ticket(Ticket::Jsapi),
        Kind::Ticket(Ticket::WxCard),
        Kind::Ticket(Ticket::AgentConfig),
    ];

    /// The `kind` column of the tokens table.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AccessToken => "access_token",
            Kind::Ticket(Ticket::Jsapi) => "jsapi_ticket",
            Kind::Ticket(Ticket::WxCard) => "wx_card_ticket",
            Kind::Ticket(Ticket::AgentConfig) => "agent_config_ticket",
        }
    }

    /// The kind a `kind` column names, if wxtoken knows it.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The variable name of `show --format env`.
    pub fn env_name(self) -> &'static str {
        match self {
            Kind::AccessToken => "WX_ACCESS_TOKEN",
            Kind::Ticket(Ticket::Jsapi) => "WX_JSAPI_TICKET",
            Kind::Ticket(Ticket::WxCard) => "WX_WX_CARD_TICKET",
            Kind::Ticket(Ticket::AgentConfig) => "WX_AGENT_CONFIG_TICKET",
        }
    }

    /// "token" or "jsapi ticket", for messages.
    pub fn label(self) -> String {
        match self {
            Kind::AccessToken => "token".to_string(),
            Kind::Ticket(t) => format!("{} ticket", t.as_str()),
        }
    }
}

/// How one upstream attempt ended: the `outcome` column of the attempts table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Upstream answered with an error (or not at all once reached): counted
    /// against the quota guard's budget.
    Error,
    /// wxtoken's own guard refused the call; upstream was not called.
    Refused,
    /// No connection, an untrusted certificate, a proxy that refused: not a call.
    Unreached,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
            Outcome::Unreached => "unreached",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Ok,
            Outcome::Error,
            Outcome::Refused,
            Outcome::Unreached,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One kind of stored value for the apps of some APIs: a node of the graph.
#[derive(Debug)]
pub struct Node {
    pub kind: Kind,
    /// The APIs whose apps have this node.
    pub apis: &'static [Api],
    /// The upstream request that makes the value.
    pub request: Request,
    /// The JSON key of the value in upstream's answer.
    pub field: &'static str,
    /// What the request is made from, besides the app's appid. A value is
    /// fetched after the credentials it needs.
    pub needs: &'static [Input],
    pub lifetime: Lifetime,
    /// Errcodes of this request that mean the credential it was made from is
    /// stale: that one is marked invalidated, fetched again once, and this
    /// value fetched again once with it.
    pub stale_input: &'static [i64],
    pub quota: Quota,
}

/// What a value is made from. (Later: a pushed ticket such as
/// component_verify_ticket, a sealed refresh token.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The app's secret.
    Secret,
    /// Another stored value of the same app.
    Credential(Kind),
}

/// How long a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// As long as the answer's `expires_in` says, counted from when the request
    /// was sent (WeChat gives 7200 s).
    ExpiresIn,
}

/// The limits wxtoken keeps to for a node's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    None,
    /// At most the app's `daily_budget` calls in 24 hours.
    DailyBudget,
    /// Forced calls (`--force`): at most `per_day` in 24 hours, `gap_ms` apart,
    /// and never retried.
    Forced {
        per_day: i64,
        gap_ms: i64,
    },
}

/// An upstream request, relative to the app's `api_base`.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub path: &'static str,
    /// Query parameters (GET) or JSON fields (POST), in order.
    pub params: &'static [(&'static str, Param)],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    /// POST with a JSON object body.
    PostJson,
}

/// Where a request parameter's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Fixed(&'static str),
    Appid,
    Secret,
    /// The value of the credential the node needs.
    Credential,
    /// The ticket's own name (`type=jsapi`).
    TicketType,
    /// `--force`, as a JSON boolean.
    Force,
}

impl Node {
    /// Whether `--force` changes this node's request (and its quota).
    pub fn forceable(&self) -> bool {
        self.request.params.iter().any(|(_, p)| *p == Param::Force)
    }

    /// The stored value this node is made from, if any.
    pub fn credential_input(&self) -> Option<Kind> {
        self.needs.iter().find_map(|i| match i {
            Input::Credential(k) => Some(*k),
            Input::Secret => None,
        })
    }
}

/// The node that makes `kind` for apps of `api`.
pub fn node(api: Api, kind: Kind) -> Option<&'static Node> {
    NODES
        .iter()
        .find(|n| n.kind == kind && n.apis.contains(&api))
}

/// Errcodes of a ticket endpoint that mean its access token is stale.
const STALE_TOKEN: &[i64] = &[40001, 40014, 42001];
const CLASSIC_STABLE: &[Api] = &[Api::Classic, Api::Stable];
const NEEDS_SECRET: &[Input] = &[Input::Secret];
const NEEDS_TOKEN: &[Input] = &[Input::Credential(Kind::AccessToken)];

/// A ticket node: fetched with the app's access token, by a GET of `path`.
const fn ticket(
    ticket: Ticket,
    apis: &'static [Api],
    path: &'static str,
    params: &'static [(&'static str, Param)],
) -> Node {
    Node {
        kind: Kind::Ticket(ticket),
        apis,
        request: Request {
            method: Method::Get,
            path,
            params,
        },
        field: "ticket",
        needs: NEEDS_TOKEN,
        lifetime: Lifetime::ExpiresIn,
        stale_input: STALE_TOKEN,
        quota: Quota::None,
    }
}

/// The parameters of a ticket request that names its type.
const TOKEN_AND_TYPE: &[(&str, Param)] = &[
    ("access_token", Param::Credential),
    ("type", Param::TicketType),
];

/// An access-token node: fetched with the app's secret.
const fn token(api: &'static [Api], request: Request, quota: Quota) -> Node {
    Node {
        kind: Kind::AccessToken,
        apis: api,
        request,
        field: "access_token",
        needs: NEEDS_SECRET,
        lifetime: Lifetime::ExpiresIn,
        stale_input: &[],
        quota,
    }
}

/// Every node; a value's node comes after the nodes it needs.
pub static NODES: &[Node] = &[
    token(
        &[Api::Classic],
        Request {
            method: Method::Get,
            path: "/cgi-bin/token",
            params: &[
                ("grant_type", Param::Fixed("client_credential")),
                ("appid", Param::Appid),
                ("secret", Param::Secret),
            ],
        },
        Quota::DailyBudget,
    ),
    token(
        &[Api::Stable],
        Request {
            method: Method::PostJson,
            path: "/cgi-bin/stable_token",
            params: &[
                ("grant_type", Param::Fixed("client_credential")),
                ("appid", Param::Appid),
                ("secret", Param::Secret),
                ("force_refresh", Param::Force),
            ],
        },
        Quota::Forced {
            per_day: 20,
            gap_ms: 30_000,
        },
    ),
    token(
        &[Api::Wecom],
        Request {
            method: Method::Get,
            path: "/cgi-bin/gettoken",
            params: &[("corpid", Param::Appid), ("corpsecret", Param::Secret)],
        },
        Quota::None,
    ),
    ticket(
        Ticket::Jsapi,
        CLASSIC_STABLE,
        "/cgi-bin/ticket/getticket",
        TOKEN_AND_TYPE,
    ),
    ticket(
        Ticket::WxCard,
        CLASSIC_STABLE,
        "/cgi-bin/ticket/getticket",
        TOKEN_AND_TYPE,
    ),
    ticket(
        Ticket::Jsapi,
        &[Api::Wecom],
        "/cgi-bin/get_jsapi_ticket",
        &[("access_token", Param::Credential)],
    ),
    ticket(
        Ticket::AgentConfig,
        &[Api::Wecom],
        "/cgi-bin/ticket/get",
        TOKEN_AND_TYPE,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        for a in [Api::Classic, Api::Stable, Api::Wecom] {
            assert_eq!(Api::parse(a.as_str()), Some(a));
        }
        for o in [
            Outcome::Ok,
            Outcome::Error,
            Outcome::Refused,
            Outcome::Unreached,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Kind::parse("component_access_token"), None);
    }

    /// Every API has one token node, every node's inputs come before it, and
    /// the tickets each API offers are the documented ones.
    #[test]
    fn the_graph_is_complete_and_ordered() {
        for api in [Api::Classic, Api::Stable, Api::Wecom] {
            assert!(node(api, Kind::AccessToken).is_some(), "{api:?}");
            for (i, n) in NODES.iter().enumerate() {
                if let Some(input) = n.credential_input().filter(|_| n.apis.contains(&api)) {
                    let at = NODES
                        .iter()
                        .position(|m| m.kind == input && m.apis.contains(&api));
                    assert!(at.is_some_and(|at| at < i), "{:?} before its input", n.kind);
                }
            }
        }
        assert_eq!(Api::Classic.tickets(), [Ticket::Jsapi, Ticket::WxCard]);
        assert_eq!(Api::Wecom.tickets(), [Ticket::Jsapi, Ticket::AgentConfig]);
        assert!(node(Api::Stable, Kind::AccessToken).unwrap().forceable());
        assert!(!node(Api::Classic, Kind::AccessToken).unwrap().forceable());
    }
}
