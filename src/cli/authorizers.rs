//! `wxtoken authorizers`' arguments (the declarations of `cli.rs`, kept apart for size).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::timeout;

#[derive(Args, Debug)]
pub struct AuthorizersArgs {
    #[command(subcommand)]
    pub command: AuthorizersCommand,
}

#[derive(Subcommand, Debug)]
pub enum AuthorizersCommand {
    /// The platform's customers: state, when authorized, whether a credential is stored, token time left
    List {
        /// The platform of the config file
        #[arg(long = "platform", value_name = "NAME")]
        platform: String,
        /// Output format
        #[arg(long = "format", value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Ask upstream for the platform's customers and store the ones missing
    Sync {
        /// The platform of the config file
        #[arg(long = "platform", value_name = "NAME")]
        platform: String,
    },
    /// Store customers' credentials from a file of `appid,refresh_token` (Open
    /// Platform) or `corpid,permanent_code` (WeCom) lines: all of them or none
    Import {
        /// The platform of the config file
        #[arg(long = "platform", value_name = "NAME")]
        platform: String,
        /// The file (trusted like a secret file: it holds credentials)
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Exchange the auth_code an authorization redirect carries and store the
    /// customer; as a CGI program (GATEWAY_INTERFACE set) it is the redirect's target
    Add(AddArgs),
    /// Print a new authorization link (Open Platform) or install link (WeCom
    /// suite) that sends the customer back to --redirect (each link is single use)
    Link(LinkArgs),
}

#[derive(Args, Debug)]
pub struct LinkArgs {
    /// The platform of the config file
    #[arg(long = "platform", value_name = "NAME")]
    pub platform: String,

    /// Where WeChat sends the customer back with auth_code (your page, or
    /// `wxtoken authorizers add` as a CGI program); its domain must be the
    /// platform's configured authorization (install) domain
    #[arg(long = "redirect", value_name = "URL")]
    pub redirect: String,

    /// Open Platform: the link for a phone (H5 bindcomponent) instead of the PC one
    #[arg(long = "mobile")]
    pub mobile: bool,

    /// Open Platform: 1 Official Accounts only, 2 Mini Programs only, 3 both
    #[arg(long = "auth-type", value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub auth_type: u8,

    /// Open Platform: only this account may authorize
    #[arg(long = "biz-appid", value_name = "WX")]
    pub biz_appid: Option<String>,

    /// WeCom: a value the redirect brings back (letters and digits, at most 128)
    #[arg(long = "state", value_name = "S")]
    pub state: Option<String>,

    /// WeCom: a test authorization (set_session_info auth_type 1)
    #[arg(long = "test")]
    pub test: bool,
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The platform of the config file
    #[arg(long = "platform", value_name = "NAME")]
    pub platform: String,

    /// The redirect's auth_code (URL-decoded or not); `-` reads it from
    /// standard input [as a CGI program: auth_code of QUERY_STRING]
    #[arg(long = "code", value_name = "CODE|-")]
    pub code: Option<String>,

    /// As a CGI program: once stored, answer 303 See Other to this URL
    /// instead of a short page
    #[arg(long = "then", value_name = "URL")]
    pub then: Option<String>,

    /// Wait this long for the exchange's answer (the code is sent once)
    /// [default: the platform's exchange_timeout, or 30s]
    #[arg(long = "exchange-timeout", value_name = "DURATION", value_parser = timeout)]
    pub exchange_timeout: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// aligned columns
    Table,
    /// an array of objects with stable field names
    Json,
}
