//! The command line: declarations only. Doc comments are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::{Api, Ticket};

// Named by path: `build.rs` reads this file too, from the package's root.
#[path = "cli/authorizers.rs"]
mod authorizers;
#[path = "cli/show_only.rs"]
mod show_only;
#[path = "cli/show_plain.rs"]
mod show_plain;
#[path = "cli/sign.rs"]
mod sign;
pub use authorizers::{AddArgs, AuthorizersArgs, AuthorizersCommand, LinkArgs, ListFormat};
pub use show_only::ShowOnly;
pub use show_plain::show_plain;
pub use sign::{SignArgs, SignFormat, SignTicket};

/// Keeps WeChat access tokens fresh in a database: cron runs `wxtoken refresh`,
/// scripts read the token with `wxtoken show` (or one SELECT on the table).
#[derive(Parser, Debug)]
#[command(
    name = "wxtoken",
    version,
    about,
    max_term_width = 100,
    after_help = "Exit status: 0 done, 1 a failure, 2 a usage or configuration error, 3 no usable token (show, sign, history --app).
More: `wxtoken help COMMAND`, `man wxtoken`, and the docs/ folder of the source."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The database: a SQLite file, or a PostgreSQL URL
    /// (postgres://user:password@host:port/dbname) that several hosts share
    /// [default: $XDG_DATA_HOME/wxtoken/tokens.db, or /var/lib/wxtoken/tokens.db
    /// when only that exists]
    #[arg(
        long = "db",
        env = "WXTOKEN_DB",
        hide_env_values = true,
        global = true,
        value_name = "PATH|URL"
    )]
    pub db: Option<PathBuf>,

    /// The apps file [default: $XDG_CONFIG_HOME/wxtoken/config.toml when it exists,
    /// else /etc/wxtoken/config.toml]
    #[arg(
        long = "config",
        env = "WXTOKEN_CONFIG",
        hide_env_values = true,
        global = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Upstream base URL for every app (a proxy, or a local stand-in)
    #[arg(
        long = "api-base",
        env = "WXTOKEN_API_BASE",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub api_base: Option<String>,

    /// More output on stderr (-v info, -vv debug); RUST_LOG overrides
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Errors only on stderr
    #[arg(short = 'q', long = "quiet", global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// `--api-base` on a command that never calls upstream: accepted as before, but
/// not listed in its help. A command's own argument of the same id keeps the
/// global one from being added to it (clap adds a global argument to a
/// subcommand only when it has none of that id).
#[derive(Args, Debug)]
pub struct NoUpstream {
    #[arg(id = "api_base", long = "api-base", value_name = "URL", hide = true)]
    _api_base: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fetch what is missing or near expiry, store it, exit (for cron)
    #[command(after_help = "Examples:
  wxtoken refresh --config /etc/wxtoken/config.toml    # every app of the config
  wxtoken refresh --appid wx85871939f7f9b647 --name shop --secret-file ~/.wx.secret
  wxtoken refresh --app shop --force                   # fetch now, fresh or not")]
    Refresh(RefreshArgs),
    /// Print one current valid token or ticket (for scripts)
    #[command(after_help = "Examples:
  TOKEN=$(wxtoken show --app shop) || exit 1
  eval \"$(wxtoken show --app shop --format env)\"     # sets WX_ACCESS_TOKEN
  wxtoken show --app shop --ticket jsapi --min-ttl 5m")]
    Show(ShowArgs),
    /// Every app and platform: what is stored, how long it lasts, how the last refresh went
    #[command(after_help = "Examples:
  wxtoken status
  wxtoken status --platform acme --format json         # each customer of platform acme
  wxtoken status --format prometheus --output /var/lib/node_exporter/textfile/wxtoken.prom")]
    Status(StatusArgs),
    /// Mark a stored token unusable (a business call answered 40001/42001)
    #[command(after_help = "Examples:
  wxtoken invalidate --app shop --if-token \"$TOKEN\" && wxtoken refresh --app shop
  wxtoken invalidate --app shop --ticket jsapi")]
    Invalidate(InvalidateArgs),
    /// The recent upstream attempts, newest first
    #[command(after_help = "Examples:
  wxtoken history --app shop
  wxtoken history --limit 100
  wxtoken history --app shop --format json")]
    History(HistoryArgs),
    /// Print a shell completion script (bash, zsh, fish) on stdout
    #[command(after_help = "Examples:
  source <(wxtoken completions bash)                   # in ~/.bashrc
  wxtoken completions zsh > \"${fpath[1]}/_wxtoken\"
  wxtoken completions fish > ~/.config/fish/completions/wxtoken.fish")]
    Completions(CompletionsArgs),
    /// Write the manual pages into a folder, for `man -l` where the package is not installed
    #[command(after_help = "Examples:
  mkdir -p ~/wxtoken-man && wxtoken man ~/wxtoken-man
  wxtoken man ~/wxtoken-man && man -l ~/wxtoken-man/wxtoken.toml.5")]
    Man(ManArgs),
    /// Write a new store key (encrypts platforms' refresh tokens at rest) to a new file
    #[command(after_help = "Examples:
  wxtoken keygen /etc/wxtoken/store.key                # then: store_key_file = \"/etc/wxtoken/store.key\"
  sudo -u wxtoken wxtoken keygen /var/lib/wxtoken/store.key")]
    Keygen(KeygenArgs),
    /// Take one push from WeChat or WeCom (tickets, authorizations) on stdin, or as a CGI program
    #[command(after_help = "Examples:
  wxtoken push --platform acme --query \"$QUERY_STRING\" < body.xml
  # as a CGI program (GATEWAY_INTERFACE set) the web server runs a script:
  #   exec wxtoken push --platform acme --config /etc/wxtoken/config.toml
  # behind a web server, one process per connection (wxtoken-push.socket):
  systemd-socket-activate --accept --inetd -l /run/wxtoken/push.sock wxtoken push --inetd")]
    Push(PushArgs),
    /// A platform's customers: list them, import their credentials, sync them from upstream
    #[command(after_help = "Examples:
  wxtoken authorizers link --platform acme --redirect https://shop.example/cgi-bin/wx-add
  wxtoken authorizers add --platform acme --code \"$AUTH_CODE\"     # the redirect's auth_code
  wxtoken authorizers list --platform acme
  wxtoken authorizers import --platform acme authorizers.csv   # appid,refresh_token lines
  wxtoken authorizers sync --platform acme")]
    Authorizers(AuthorizersArgs),
    /// Sign a page for the JS-SDK's wx.config (or WeCom's wx.agentConfig) with the stored ticket
    #[command(after_help = "Examples:
  wxtoken sign --app shop --url 'https://shop.example.com/pay?id=7'
  wxtoken sign --app hr --ticket agent_config --url \"$PAGE_URL\" --format env")]
    Sign(SignArgs),
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The platform of the config file the push is for
    #[arg(
        long = "platform",
        value_name = "NAME",
        required_unless_present = "inetd"
    )]
    pub platform: Option<String>,

    /// The push URL's query string (msg_signature, timestamp, nonce[, echostr])
    /// [default: the QUERY_STRING variable when run as a CGI program]
    #[arg(long = "query", value_name = "QUERY", conflicts_with = "inetd")]
    pub query: Option<String>,

    /// Serve one HTTP/1.1 request on stdin, its answer on stdout (systemd
    /// socket activation with Accept=yes, or inetd); the platform is the
    /// request's path, /NAME
    #[arg(long = "inetd", conflicts_with = "platform")]
    pub inetd: bool,

    /// The longest time the request (--inetd) or the body (stdin, CGI) may take to arrive
    #[arg(long = "read-timeout", value_name = "DURATION", default_value = "10s", value_parser = timeout)]
    pub read_timeout: Duration,

    /// How long the exchange of a pushed code (run after the answer, in a
    /// process of its own) waits for upstream [default: the platform's
    /// exchange_timeout, or 30s]
    #[arg(long = "exchange-timeout", value_name = "DURATION", value_parser = timeout)]
    pub exchange_timeout: Option<Duration>,

    /// Only store a pushed code; the next `wxtoken refresh` exchanges it (for
    /// a web server whose user must not call out)
    #[arg(long = "no-exchange")]
    pub no_exchange: bool,
}

#[derive(Args, Debug)]
pub struct RefreshArgs {
    /// Refresh this app of the config (repeatable) [default: every app]
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,

    /// One app without a config file: its appid (the corpid for WeCom)
    #[arg(long = "appid", value_name = "ID", conflicts_with = "apps")]
    pub appid: Option<String>,

    /// With --appid: the name to store it under [default: the appid]
    #[arg(long = "name", value_name = "NAME", requires = "appid")]
    pub name: Option<String>,

    /// With --appid: which token endpoint to call
    #[arg(long = "api", value_enum, default_value_t = Api::Classic, requires = "appid")]
    pub api: Api,

    /// With --appid: read the secret from this file [default: the WXTOKEN_SECRET variable]
    #[arg(long = "secret-file", value_name = "PATH", requires = "appid")]
    pub secret_file: Option<PathBuf>,

    /// Fetch even when the stored token is fresh (stable apps: force_refresh, 20 a day)
    #[arg(long = "force")]
    pub force: bool,

    /// Renew what expires within this long
    #[arg(long = "ahead", value_name = "DURATION", default_value = "75m", value_parser = crate::duration::parse)]
    pub ahead: Duration,

    /// Give up on one upstream request after this long; an app's retries together
    /// end within 3 times this
    #[arg(long = "timeout", value_name = "DURATION", default_value = "10s", value_parser = timeout)]
    pub timeout: Duration,

    /// Wait this long for the answer to the exchange of a one-use code (an
    /// authorization code is sent once, never again) [default: each platform's
    /// exchange_timeout, or 30s]
    #[arg(long = "exchange-timeout", value_name = "DURATION", value_parser = timeout)]
    pub exchange_timeout: Option<Duration>,

    /// Refresh at most this many apps at once
    #[arg(long = "jobs", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: u16,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The app's name [default: the only app stored]
    #[arg(long = "app", value_name = "NAME")]
    pub app: Option<String>,

    /// Find the app by its appid instead
    #[arg(long = "appid", value_name = "ID", conflicts_with = "app")]
    pub appid: Option<String>,

    /// Print this ticket instead of the access token
    #[arg(long = "ticket", value_enum, value_name = "KIND")]
    pub ticket: Option<Ticket>,

    /// Exit 3 unless the token stays valid at least this long
    #[arg(long = "min-ttl", value_name = "DURATION", default_value = "60s", value_parser = crate::duration::parse)]
    pub min_ttl: Duration,

    /// Output format
    #[arg(long = "format", value_enum, default_value_t = ShowFormat::Plain)]
    pub format: ShowFormat,

    /// Print this third-party platform's own token instead (component, suite
    /// or provider access token)
    #[arg(long = "platform", value_name = "NAME", conflicts_with_all = ["app", "appid", "ticket"])]
    pub platform: Option<String>,

    #[command(flatten)]
    pub no_upstream: NoUpstream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// the token and a newline
    Plain,
    /// one JSON object: app, appid, kind, token, expires_at, expires_in
    Json,
    /// WX_ACCESS_TOKEN='...' for eval
    Env,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Output format
    #[arg(long = "format", value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,

    /// Write to this file (atomically, for node_exporter's textfile collector)
    /// instead of stdout
    #[arg(long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// List this third-party platform's customers, one line each
    #[arg(long = "platform", value_name = "NAME")]
    pub platform: Option<String>,

    #[command(flatten)]
    pub no_upstream: NoUpstream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// aligned columns, local times
    Table,
    /// an array of objects with stable field names
    Json,
    /// the Prometheus text exposition format
    Prometheus,
}

#[derive(Args, Debug)]
pub struct InvalidateArgs {
    /// The app whose token to invalidate
    #[arg(long = "app", value_name = "NAME", required = true)]
    pub app: String,

    /// Invalidate this ticket instead of the access token
    #[arg(long = "ticket", value_enum, value_name = "KIND")]
    pub ticket: Option<Ticket>,

    /// Only if the stored value is still this one (the token your call was refused
    /// with); `-` reads it from standard input, so that it never shows in `ps`
    #[arg(long = "if-token", value_name = "TOKEN")]
    pub if_token: Option<String>,

    #[command(flatten)]
    pub no_upstream: NoUpstream,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Only this app
    #[arg(long = "app", value_name = "NAME")]
    pub app: Option<String>,

    /// How many attempts to list
    #[arg(long = "limit", value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,

    /// Output format
    #[arg(long = "format", value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,

    #[command(flatten)]
    pub no_upstream: NoUpstream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    /// aligned columns, local times; KIND as `status` shows it
    Table,
    /// an array of objects with stable field names
    Json,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The folder to write the pages into (it must exist)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// The key file to create (mode 0600); an existing file is never replaced.
    /// Name it in `store_key_file` and back it up: what is stored with it
    /// cannot be read without it
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
}

pub(crate) fn timeout(s: &str) -> Result<Duration, String> {
    match crate::duration::parse(s)? {
        d if d.is_zero() => Err("a timeout must be at least 1s".to_string()),
        d if d > crate::upstream::MAX_TIMEOUT => Err("a timeout must be at most 5m".to_string()),
        d => Ok(d),
    }
}

#[cfg(test)]
#[path = "cli/tests.rs"]
mod tests;
