//! `wxtoken sign`'s arguments (the declarations of `cli.rs`, kept apart for size).

use clap::{Args, ValueEnum};

use super::NoUpstream;

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The app whose ticket signs (a platform's customer is PLATFORM/APPID)
    #[arg(long = "app", value_name = "NAME", required = true)]
    pub app: String,

    /// The page's full URL, as the browser shows it (a `#fragment` is dropped)
    #[arg(long = "url", value_name = "URL", required = true)]
    pub url: String,

    /// Which ticket signs: jsapi for wx.config, agent_config for WeCom's
    /// wx.agentConfig (which also needs the app's agentid)
    #[arg(long = "ticket", value_enum, value_name = "KIND", default_value_t = SignTicket::Jsapi)]
    pub ticket: SignTicket,

    /// The nonceStr to sign with (letters, digits, `-` and `_`)
    /// [default: 16 random characters from the system's random source]
    #[arg(long = "nonce", value_name = "N")]
    pub nonce: Option<String>,

    /// The timestamp to sign with, in Unix seconds [default: now]
    #[arg(long = "timestamp", value_name = "T")]
    pub timestamp: Option<u64>,

    /// Output format
    #[arg(long = "format", value_enum, default_value_t = SignFormat::Json)]
    pub format: SignFormat,

    #[command(flatten)]
    pub no_upstream: NoUpstream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SignTicket {
    /// the JS-SDK ticket (wx.config)
    Jsapi,
    /// the WeCom app's ticket (wx.agentConfig)
    #[value(name = "agent_config")]
    AgentConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SignFormat {
    /// one JSON object for wx.config (appId, timestamp, nonceStr, signature) or
    /// wx.agentConfig (corpid, agentid, timestamp, nonceStr, signature)
    Json,
    /// WX_APPID (or WX_CORPID and WX_AGENTID), WX_TIMESTAMP, WX_NONCESTR and
    /// WX_SIGNATURE lines for eval
    Env,
    /// the signature alone (needs --nonce and --timestamp, which the page then uses)
    Plain,
}
