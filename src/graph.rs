//! The credential graph: every kind of value wxtoken stores, the upstream call
//! that makes it, what that call needs, how long the value lives, and which
//! answers mean "what I was made from is stale".
//!
//! One table, [`NODES`], drives the upstream requests (`upstream::client`), the
//! order of a refresh's work (a value after the values it needs), its quota
//! guard, and the retry of a value whose input went stale. The names here
//! (`as_str`) are the ones the database, the output and the logs use.

/// Which upstream endpoint issues an app's access token; for a third-party
/// platform, the platform's kind (its own token and its customers' values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// Official Account / Mini Program: GET /cgi-bin/token (2000 calls a day)
    Classic,
    /// Official Account / Mini Program: POST /cgi-bin/stable_token
    Stable,
    /// WeCom: GET /cgi-bin/gettoken with corpid and corpsecret
    Wecom,
    /// A WeChat Open Platform component and its authorizers.
    #[value(skip)]
    OpenPlatform,
    /// A WeCom third-party app (suite) and the companies that installed it.
    #[value(skip)]
    WecomSuite,
    /// A WeCom service provider's own token.
    #[value(skip)]
    WecomProvider,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Classic => "classic",
            Api::Stable => "stable",
            Api::Wecom => "wecom",
            Api::OpenPlatform => "open_platform",
            Api::WecomSuite => "wecom_suite",
            Api::WecomProvider => "wecom_provider",
        }
    }

    /// An app's API (the `api` field of an `[[app]]`); platforms' are not.
    pub fn parse(s: &str) -> Option<Api> {
        clap::ValueEnum::from_str(s, false).ok()
    }

    pub fn default_base(self) -> &'static str {
        match self {
            Api::Classic | Api::Stable | Api::OpenPlatform => "https://api.weixin.qq.com",
            Api::Wecom | Api::WecomSuite | Api::WecomProvider => "https://qyapi.weixin.qq.com",
        }
    }

    /// The third-party platforms' APIs: the `kind` of a `[[platform]]`.
    pub const PLATFORMS: [Api; 3] = [Api::OpenPlatform, Api::WecomSuite, Api::WecomProvider];

    /// A platform's API by its `kind` name (an app's are not).
    pub fn parse_platform(s: &str) -> Option<Api> {
        Api::PLATFORMS.into_iter().find(|a| a.as_str() == s)
    }

    /// The kind of the value made from the secret: an app's access token, a
    /// platform's own token (stored under its name).
    pub fn token_kind(self) -> Kind {
        token_node(self).map_or(Kind::AccessToken, |n| n.kind)
    }

    /// The ticket pushed to a platform of this API that its token is made
    /// from, and how long a pushed one stays usable (seconds).
    pub fn pushed_ticket(self) -> Option<(Kind, i64)> {
        token_node(self)?.pushed_input()
    }

    /// Whether WeChat pushes to a platform of this API (tickets,
    /// authorizations): then it needs the message Token, the EncodingAESKey
    /// and a store key for the long-lived customer credentials it receives.
    pub fn receives_pushes(self) -> bool {
        self.pushed_ticket().is_some()
    }

    /// The name of a platform's customers' long-lived credential (an
    /// authorizer's refresh token, a company's permanent code): the `kind`
    /// it is sealed under (part of its AAD).
    pub const fn grant_kind(self) -> &'static str {
        match self {
            Api::OpenPlatform => "authorizer_refresh_token",
            _ => "permanent_code",
        }
    }

    /// The tickets this API can issue: its ticket nodes, in table order.
    pub fn tickets(self) -> Vec<Ticket> {
        NODES
            .iter()
            .filter(|n| n.apis.contains(&self))
            .filter_map(|n| match n.kind {
                Kind::Ticket(t) => Some(t),
                _ => None,
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
        clap::ValueEnum::from_str(s, false).ok()
    }
}

/// What a database row holds: the access token or one of the tickets; for a
/// platform, its own token or the ticket pushed to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    AccessToken,
    Ticket(Ticket),
    ComponentAccessToken,
    SuiteAccessToken,
    ProviderAccessToken,
    /// Pushed by WeChat to an Open Platform component every 10 minutes.
    ComponentVerifyTicket,
    /// Pushed by WeCom to a suite every 10 minutes.
    SuiteTicket,
}

impl Kind {
    /// Every kind, in the order a refresh fetches them.
    pub const ALL: [Kind; 9] = [
        Kind::ComponentVerifyTicket,
        Kind::SuiteTicket,
        Kind::ComponentAccessToken,
        Kind::SuiteAccessToken,
        Kind::ProviderAccessToken,
        Kind::AccessToken,
        Kind::Ticket(Ticket::Jsapi),
        Kind::Ticket(Ticket::WxCard),
        Kind::Ticket(Ticket::AgentConfig),
    ];

    /// The `kind` column of the tokens table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::AccessToken => "access_token",
            Kind::Ticket(Ticket::Jsapi) => "jsapi_ticket",
            Kind::Ticket(Ticket::WxCard) => "wx_card_ticket",
            Kind::Ticket(Ticket::AgentConfig) => "agent_config_ticket",
            Kind::ComponentAccessToken => "component_access_token",
            Kind::SuiteAccessToken => "suite_access_token",
            Kind::ProviderAccessToken => "provider_access_token",
            Kind::ComponentVerifyTicket => "component_verify_ticket",
            Kind::SuiteTicket => "suite_ticket",
        }
    }

    /// The kind a `kind` column names, if wxtoken knows it.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The variable name of `show --format env`: `WX_` and the kind in
    /// capitals (the card ticket's is `WX_CARD_TICKET`).
    pub fn env_name(self) -> String {
        match self {
            Kind::Ticket(Ticket::WxCard) => "WX_CARD_TICKET".to_string(),
            _ => format!("WX_{}", self.as_str().to_ascii_uppercase()),
        }
    }

    /// A platform's own token (the value a platform makes from its secret).
    pub fn is_platform_token(self) -> bool {
        Api::PLATFORMS.iter().any(|a| a.token_kind() == self)
    }

    /// A ticket pushed to a platform: stored by `push`, never fetched.
    pub fn is_pushed(self) -> bool {
        (Api::PLATFORMS.iter()).any(|a| a.pushed_ticket().is_some_and(|(k, _)| k == self))
    }

    /// "token" or "jsapi ticket", for messages.
    pub fn label(self) -> String {
        match self {
            Kind::AccessToken => "token".to_string(),
            Kind::Ticket(t) => format!("{} ticket", t.as_str()),
            Kind::ComponentAccessToken => "component token".to_string(),
            Kind::SuiteAccessToken => "suite token".to_string(),
            Kind::ProviderAccessToken => "provider token".to_string(),
            Kind::ComponentVerifyTicket | Kind::SuiteTicket => self.as_str().to_string(),
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

    /// The outcome an `outcome` column names: the tests' round trip (the
    /// code compares the column with [`Outcome::as_str`]).
    #[cfg(test)]
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
    /// The JSON key of the value in upstream's answer (`a.b`: key `b` of
    /// object `a`; `expires_in` is read next to it); for a pushed ticket,
    /// the field of the push's message that holds it.
    pub field: &'static str,
    /// The JSON key of a customer's long-lived credential in the answer (a
    /// new or rotated refresh token, a permanent code), stored sealed.
    pub grant: Option<&'static str>,
    /// The JSON key of what upstream says about the customer (kept as `info`).
    pub info: Option<&'static str>,
    /// What the request is made from, besides the app's appid. A value is
    /// fetched after the credentials it needs.
    pub needs: &'static [Input],
    pub lifetime: Lifetime,
    /// Errcodes of this request that mean the credential it was made from is
    /// stale: that one is marked invalidated, fetched again once, and this
    /// value fetched again once with it.
    pub stale_input: &'static [i64],
    pub quota: Quota,
    /// Errcodes that mean something else for this request than in the
    /// errcode table (`upstream::errcodes`): (errcode, meaning, fix), looked
    /// up first for its failure lines.
    pub meanings: &'static [(i64, &'static str, &'static str)],
}

/// What a value is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The app's (or platform's) secret.
    Secret,
    /// Another stored value of the same app.
    Credential(Kind),
    /// A ticket pushed to the platform (its node says how long one is
    /// usable after it was pushed).
    Pushed(Kind),
    /// A customer's platform's own token.
    Platform(Kind),
    /// A customer's long-lived credential (refresh token, permanent code),
    /// stored sealed.
    Grant,
    /// A customer's authorization code, pushed and not exchanged yet.
    Code,
}

/// How long a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// As long as the answer's `expires_in` says, counted from when the request
    /// was sent (WeChat gives 7200 s).
    ExpiresIn,
    /// Pushed to a platform, never fetched: usable this many seconds after
    /// it was pushed (`push` stores it; its node makes no request).
    Pushed(i64),
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
    /// Query parameters of a POST.
    pub query: &'static [(&'static str, Param)],
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
    /// A customer's platform's appid (component appid).
    PlatformAppid,
    Secret,
    /// The value of the credential the node needs (for a customer's token:
    /// its platform's token).
    Credential,
    /// The platform's pushed ticket.
    Pushed,
    /// The customer's opened long-lived credential, or its pending code.
    Grant,
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

    /// The stored value of the same app this node is made from, if any.
    pub fn credential_input(&self) -> Option<Kind> {
        self.needs.iter().find_map(|i| match i {
            Input::Credential(k) => Some(*k),
            _ => None,
        })
    }

    /// The pushed ticket this node is made from and how long one is usable.
    pub fn pushed_input(&self) -> Option<(Kind, i64)> {
        let kind = self.needs.iter().find_map(|i| match i {
            Input::Pushed(kind) => Some(*kind),
            _ => None,
        })?;
        let pushed = NODES.iter().find(|n| n.kind == kind)?;
        match pushed.lifetime {
            Lifetime::Pushed(max_age) => Some((kind, max_age)),
            Lifetime::ExpiresIn => None,
        }
    }

    /// Whether this node is made with its platform's own token.
    pub fn needs_platform(&self) -> bool {
        self.needs.iter().any(|i| matches!(i, Input::Platform(_)))
    }

    /// Whether this node exchanges a pending authorization code.
    pub fn takes_code(&self) -> bool {
        self.needs.contains(&Input::Code)
    }
}

pub(crate) mod nodes;
pub use nodes::NODES;

/// The node that makes `kind` for apps of `api` (for a customer's token: from
/// its stored credential, not from a pending code). A WeCom 代开发 company's
/// token node is not this one: see [`customer_token_node`].
pub fn node(api: Api, kind: Kind) -> Option<&'static Node> {
    NODES
        .iter()
        .find(|n| n.kind == kind && n.apis.contains(&api) && !n.takes_code())
}

/// The node of a customer's token from its stored credential: for a WeCom
/// 代开发 company (`customized`), gettoken with its permanent code.
pub fn customer_token_node(api: Api, customized: bool) -> Option<&'static Node> {
    match customized {
        true => Some(&nodes::CUSTOMIZED_TOKEN),
        false => node(api, Kind::AccessToken),
    }
}

/// The node of the value an app or platform of `api` makes from its secret.
pub fn token_node(api: Api) -> Option<&'static Node> {
    NODES
        .iter()
        .find(|n| n.apis.contains(&api) && n.needs.contains(&Input::Secret))
}

/// The node that exchanges a customer's pending authorization code for its
/// first token and its long-lived credential.
pub fn exchange_node(api: Api) -> Option<&'static Node> {
    NODES
        .iter()
        .find(|n| n.kind == Kind::AccessToken && n.apis.contains(&api) && n.takes_code())
}

#[cfg(test)]
mod tests;
