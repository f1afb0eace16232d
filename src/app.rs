//! What wxtoken keeps fresh: apps (named credentials) and the kinds of value
//! stored for each (the access token and the tickets derived from it).

use std::path::PathBuf;

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

    /// The tickets this API can issue.
    pub fn tickets(self) -> &'static [Ticket] {
        match self {
            Api::Classic | Api::Stable => &[Ticket::Jsapi, Ticket::WxCard],
            Api::Wecom => &[Ticket::Jsapi, Ticket::AgentConfig],
        }
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
    pub fn name(self) -> &'static str {
        match self {
            Ticket::Jsapi => "jsapi",
            Ticket::WxCard => "wx_card",
            Ticket::AgentConfig => "agent_config",
        }
    }

    pub fn parse(s: &str) -> Option<Ticket> {
        [Ticket::Jsapi, Ticket::WxCard, Ticket::AgentConfig]
            .into_iter()
            .find(|t| t.name() == s)
    }
}

/// What a database row holds: the access token or one of the tickets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    AccessToken,
    Ticket(Ticket),
}

impl Kind {
    /// The `kind` column of the tokens table.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AccessToken => "access_token",
            Kind::Ticket(Ticket::Jsapi) => "jsapi_ticket",
            Kind::Ticket(Ticket::WxCard) => "wx_card_ticket",
            Kind::Ticket(Ticket::AgentConfig) => "agent_config_ticket",
        }
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
            Kind::Ticket(t) => format!("{} ticket", t.name()),
        }
    }
}

/// One named credential, checked and ready to refresh.
#[derive(Clone, Debug)]
pub struct App {
    /// The key under which its values are stored.
    pub name: String,
    pub api: Api,
    /// The appid (the corpid for WeCom).
    pub appid: String,
    /// Where its secret is read from (never the secret itself).
    pub secret: SecretSource,
    pub tickets: Vec<Ticket>,
    /// The upstream base URL, without a trailing slash.
    pub api_base: String,
    /// Refuse classic token calls past this many in 24 hours (WeChat allows 2000).
    pub daily_budget: u32,
}

/// The default `daily_budget`: a margin below WeChat's 2000 classic calls a day.
pub const DEFAULT_DAILY_BUDGET: u32 = 1800;

/// Where an app's secret comes from.
#[derive(Clone, Debug)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
    /// A systemd credential (`LoadCredential=NAME:...`): the file NAME in
    /// `$CREDENTIALS_DIRECTORY`, only known when the secret is read.
    Credential(String),
}
