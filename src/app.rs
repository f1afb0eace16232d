//! What wxtoken keeps fresh: apps (named credentials) and the kinds of value
//! stored for each (the access token and the tickets derived from it).

use std::path::PathBuf;

pub use crate::graph::{Api, Kind, Ticket};

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
    /// A WeCom app's agentid (`sign --ticket agent_config`), when the config names it.
    pub agentid: Option<u64>,
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
