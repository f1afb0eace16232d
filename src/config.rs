//! Turns loose input (the config file, or one app on the command line) into
//! checked [`App`]s (and [`Platform`]s, see `config::platform`), and reads their
//! secrets. Every error here is a usage error (exit 2) that names the file, the
//! app or platform, and the field.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use crate::app::{Api, App, DEFAULT_DAILY_BUDGET, SecretSource};
use crate::error::usage;
use crate::fsafe;
use crate::text::quoted;

mod base_url;
mod checks;
pub mod platform;
mod secrets;

pub(crate) use base_url::{check_base, insecure_http_allowed};
use checks::check_credential;
pub use checks::{appid_arg, check_name, name_arg};
pub(crate) use checks::{check_appid, check_env_name, in_config_dir, tickets};
use platform::{Platform, RawPlatform};
pub(crate) use secrets::{read_private_value, read_secret, read_secret_of};

/// The classic token calls WeChat allows an app a day.
const WECHAT_DAILY_QUOTA: u32 = 2000;

/// The environment variable that holds the secret of a command-line app.
pub const SECRET_ENV: &str = "WXTOKEN_SECRET";
/// The longest app name, in characters.
pub const MAX_NAME: usize = 128;
/// The longest appid or corpid, in bytes (WeChat's have 18 characters).
pub const MAX_APPID: usize = 128;
/// The largest config file read: a thousand apps take about 150 KiB, so a
/// hundred thousand fit.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// The longest config path (PATH_MAX).
const MAX_CONFIG_PATH: usize = 4096;
/// The longest variable name in `secret_env`.
pub(crate) const MAX_ENV_NAME: usize = 256;
/// WeChat's secrets have 32 characters: anything much longer is the wrong file
/// or variable (and would only make a request that the HTTP library refuses).
pub const MAX_SECRET: u64 = 4096;
/// The environment variable that lets every app's secret go over plain `http://`
/// to a host other than this one (the config's per-app `allow_insecure_http`).
pub const INSECURE_HTTP_ENV: &str = "WXTOKEN_ALLOW_INSECURE_HTTP";
/// The longest API base URL accepted; real ones are a few dozen characters.
pub const MAX_BASE_LEN: usize = 2048;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    app: Vec<RawApp>,
    #[serde(default)]
    platform: Vec<RawPlatform>,
    export_dir: Option<PathBuf>,
}

/// Everything a config file lists, checked.
#[derive(Debug)]
pub struct Config {
    pub apps: Vec<App>,
    pub platforms: Vec<Platform>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Option<String>,
    api: Option<String>,
    appid: Option<String>,
    secret_file: Option<PathBuf>,
    secret_env: Option<String>,
    secret_credential: Option<String>,
    /// Refused: secrets do not belong in the config file.
    secret: Option<toml::Value>,
    #[serde(default)]
    tickets: Vec<String>,
    api_base: Option<String>,
    /// Lets the secret go over plain `http://` to another host (a proxy on a trusted network).
    #[serde(default)]
    allow_insecure_http: bool,
    daily_budget: Option<u32>,
    /// A WeCom app's agentid, for `sign --ticket agent_config`.
    agentid: Option<u64>,
}

/// The default config file: the user's own (`$XDG_CONFIG_HOME/wxtoken/config.toml`)
/// when it exists, else `system` (the package's, `/etc/wxtoken/config.toml`) when it exists.
pub fn default_path(system: PathBuf) -> Option<PathBuf> {
    let own = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|base| base.join("wxtoken").join("config.toml"));
    own.filter(|p| p.is_file())
        .or_else(|| Some(system).filter(|p| p.is_file()))
}

/// Reads and checks the config file: it must list at least one app or
/// platform, and names are unique among both. `api_base` (from `--api-base`)
/// overrides every app's and platform's. Secrets are not read here (see
/// [`read_secret`] and `platform::keys::read_platform_secrets`): one that
/// cannot be read stops only its own app or platform.
pub fn load_all(path: &Path, api_base: Option<&str>) -> Result<Config> {
    load_listing(path, api_base, false)
}

/// As [`load_all`], for a config no `--config` / `WXTOKEN_CONFIG` asked for
/// (the user's default or the package's): one that lists nothing (the
/// package's comments only) is as no config to the reading commands.
pub fn load_fallback(path: &Path, api_base: Option<&str>) -> Result<Config> {
    load_listing(path, api_base, true)
}

fn load_listing(path: &Path, api_base: Option<&str>, empty_ok: bool) -> Result<Config> {
    crate::text::max_bytes(
        "--config / WXTOKEN_CONFIG",
        &path.to_string_lossy(),
        MAX_CONFIG_PATH,
    )?;
    let file = path.display();
    let insecure_ok = insecure_http_allowed()?;
    let blame_override = |e| usage(format!("--api-base / WXTOKEN_API_BASE: {e}"));
    // The override is the flag's or the variable's fault, not the config file's.
    if let Some(base) = api_base {
        check_base(base, true).map_err(blame_override)?;
    }
    let (bytes, _) =
        fsafe::read_checked(path, "config", MAX_CONFIG_BYTES, fsafe::Owners::RootOrMe)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("config {file} is not UTF-8 text: save it as UTF-8")))?;
    let parsed: File = toml::from_str(&text).map_err(|e| {
        let mut msg = crate::text::clip(&checks::unknown_field(e.message()), 300);
        // `[app]` for `[[app]]`: a table where a list of tables belongs. (A
        // field such as `tickets = "jsapi"` wants a list too, of strings.)
        let at = e.span().map_or("", |s| text[s.start..].trim_start());
        if msg.contains("expected a sequence") {
            if let Some(table) = ["app", "platform"]
                .into_iter()
                .find(|t| at.starts_with(&format!("[{t}]")))
            {
                msg.push_str(&format!(
                    ": write each {table} as [[{table}]] (two brackets)"
                ));
            } else if !at.starts_with('[') {
                msg.push_str(": write a list, e.g. tickets = [\"jsapi\"]");
            }
        }
        let line = e
            .span()
            .map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1))
            .unwrap_or_default();
        usage(format!("config {file}{line}: {msg}"))
    })?;
    if parsed.app.is_empty() && parsed.platform.is_empty() && !empty_ok {
        return Err(usage(format!(
            "config {file} lists no apps or platforms: add an [[app]] entry"
        )));
    }
    if let Some(base) = api_base {
        // Plain http:// to another host: every entry it replaces must opt in.
        let all_opt_in = parsed.app.iter().all(|a| a.allow_insecure_http)
            && parsed.platform.iter().all(|p| p.allow_insecure_http);
        check_base(base, insecure_ok || all_opt_in).map_err(blame_override)?;
    }
    let mut names = HashSet::new();
    let mut apps = Vec::new();
    for (i, raw) in parsed.app.into_iter().enumerate() {
        let dir = path.parent().unwrap_or(Path::new("."));
        let app = check(raw, i, dir, api_base, insecure_ok)
            .map_err(|e| usage(format!("config {file}: {e}")))?;
        if !names.insert(app.name.clone()) {
            return Err(usage(format!(
                "config {file}: app {}: field name: the name is used twice; names must be unique",
                quoted(&app.name)
            )));
        }
        apps.push(app);
    }
    one_name_per_classic_appid(&apps).map_err(|e| usage(format!("config {file}: {e}")))?;
    let mut platforms = Vec::new();
    for (i, raw) in parsed.platform.into_iter().enumerate() {
        let dir = path.parent().unwrap_or(Path::new("."));
        let platform = platform::check(raw, i, dir, api_base, insecure_ok)
            .map_err(|e| usage(format!("config {file}: {e}")))?;
        if !names.insert(platform.name.clone()) {
            return Err(usage(format!(
                "config {file}: platform {}: field name: the name is used twice; names must be unique among apps and platforms",
                quoted(&platform.name)
            )));
        }
        platforms.push(platform);
    }
    // A platform stores its customers under `PLATFORM/APPID`: an app there
    // would share their rows.
    for app in &apps {
        if let Some((prefix, _)) = app.name.split_once('/')
            && platforms.iter().any(|p| p.name == prefix)
        {
            return Err(usage(format!(
                "config {file}: app {}: field name: names starting with {} are where platform {} stores its customers; rename the app",
                quoted(&app.name),
                quoted(&format!("{prefix}/")),
                quoted(prefix)
            )));
        }
    }
    // Read by the commands that write (`cmd::common::open_store`); checked here too.
    if let Some(dir) = parsed.export_dir {
        crate::store::export::check_dir(dir, &file)?;
    }
    Ok(Config { apps, platforms })
}

/// One classic appid under two names would be two fetchers of one token, each
/// fetch ending the other's token five minutes later: exactly what wxtoken is
/// for preventing. (Stable tokens do not end each other; WeCom apps of one
/// company share its corpid, each with its own secret and token.)
fn one_name_per_classic_appid(apps: &[App]) -> Result<(), String> {
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for app in apps.iter().filter(|a| a.api == Api::Classic) {
        if let Some(first) = seen.insert(&app.appid, &app.name) {
            return Err(format!(
                "apps {} and {} both fetch classic tokens for appid {}: each fetch ends the other's token 5 minutes later; keep one app (programs read its token by name or with `show --appid`)",
                quoted(first),
                quoted(&app.name),
                quoted(&app.appid)
            ));
        }
    }
    Ok(())
}

/// Checks one `[[app]]` entry; a relative `secret_file` is relative to `dir`, the
/// config file's folder. `api_base`, the override, was checked already.
fn check(
    raw: RawApp,
    index: usize,
    dir: &Path,
    api_base: Option<&str>,
    insecure_ok: bool,
) -> Result<App, String> {
    let name = raw
        .name
        .ok_or_else(|| format!("app #{}: field name is missing", index + 1))?;
    let shown = quoted(&name);
    let at = |field: &str| format!("app {shown}: field {field}");
    check_name(&name).map_err(|e| format!("{}: {e}", at("name")))?;
    if raw.secret.is_some() {
        return Err(format!(
            "{}: secrets are not accepted in the config file; put the secret in a file (secret_file = \"/etc/wxtoken/{name}.secret\", mode 0600) or a variable (secret_env = \"...\")",
            at("secret")
        ));
    }
    let api_text = raw.api.unwrap_or_else(|| "classic".to_string());
    let api = Api::parse(&api_text).ok_or_else(|| {
        format!(
            "{}: unknown api {}: use classic, stable or wecom",
            at("api"),
            quoted(&api_text)
        )
    })?;
    let appid = raw
        .appid
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| format!("{} is missing (the corpid for wecom)", at("appid")))?;
    check_appid(&appid).map_err(|e| format!("{}: {e}", at("appid")))?;
    let secret = secret_source(
        &format!("app {shown}"),
        dir,
        raw.secret_file,
        raw.secret_env,
        raw.secret_credential,
    )?;
    let tickets = tickets(&raw.tickets, api, "api", &at("tickets"))?;
    if raw.daily_budget.is_some() && api != Api::Classic {
        return Err(format!(
            "{}: the daily budget guards classic token calls only; remove it from this {} app",
            at("daily_budget"),
            api.as_str()
        ));
    }
    if let Some(budget) = raw.daily_budget
        && budget > WECHAT_DAILY_QUOTA
    {
        log::warn!(
            "{}: {budget} is above WeChat's {WECHAT_DAILY_QUOTA} classic token calls a day: the quota runs out (errcode 45009) before the guard stops anything; use at most {WECHAT_DAILY_QUOTA} (default {DEFAULT_DAILY_BUDGET})",
            at("daily_budget")
        );
    }
    if raw.agentid.is_some() && api != Api::Wecom {
        return Err(format!(
            "{}: only WeCom apps have an agentid; remove it from this {} app",
            at("agentid"),
            api.as_str()
        ));
    }
    let api_base = match api_base {
        Some(base) => base.to_string(),
        None => {
            let base = raw
                .api_base
                .unwrap_or_else(|| api.default_base().to_string());
            let insecure_ok = insecure_ok || raw.allow_insecure_http;
            check_base(&base, insecure_ok).map_err(|e| format!("{}: {e}", at("api_base")))?;
            base
        }
    };
    Ok(App {
        name,
        api,
        appid,
        secret,
        tickets,
        api_base: api_base.trim_end_matches('/').to_string(),
        daily_budget: raw.daily_budget.unwrap_or(DEFAULT_DAILY_BUDGET),
        agentid: raw.agentid,
    })
}

/// The one source of a secret among `secret_file` (relative to `dir`),
/// `secret_env` and `secret_credential`; `who` starts every message.
pub(crate) fn secret_source(
    who: &str,
    dir: &Path,
    file: Option<PathBuf>,
    env: Option<String>,
    credential: Option<String>,
) -> Result<SecretSource, String> {
    let at = |field: &str| format!("{who}: field {field}");
    let mut sources = Vec::new();
    if let Some(f) = file {
        let f = in_config_dir(dir, f).map_err(|e| format!("{}: {e}", at("secret_file")))?;
        sources.push(("secret_file", SecretSource::File(f)));
    }
    if let Some(v) = env {
        check_env_name(&v).map_err(|e| format!("{}: {e}", at("secret_env")))?;
        sources.push(("secret_env", SecretSource::Env(v)));
    }
    if let Some(c) = credential {
        check_credential(&c).map_err(|e| format!("{}: {e}", at("secret_credential")))?;
        sources.push(("secret_credential", SecretSource::Credential(c)));
    }
    match sources.as_slice() {
        [(_, source)] => Ok(source.clone()),
        [] => Err(format!(
            "{who}: no secret: set secret_file, secret_env or secret_credential"
        )),
        [(a, _), (b, _), ..] => Err(format!("{who}: fields {a} and {b} are both set: keep one")),
    }
}

/// The one source of a non-secret-kind value (`FIELD_file` or `FIELD_env`), if any.
pub(crate) fn value_source(
    who: &str,
    field: &str,
    dir: &Path,
    file: Option<PathBuf>,
    env: Option<String>,
) -> Result<Option<SecretSource>, String> {
    if let Some(v) = &env {
        check_env_name(v).map_err(|e| format!("{who}: field {field}_env: {e}"))?;
    }
    match (file, env) {
        (Some(_), Some(_)) => Err(format!(
            "{who}: fields {field}_file and {field}_env are both set: keep one"
        )),
        (Some(f), None) => in_config_dir(dir, f)
            .map(|f| Some(SecretSource::File(f)))
            .map_err(|e| format!("{who}: field {field}_file: {e}")),
        (None, Some(v)) => Ok(Some(SecretSource::Env(v))),
        (None, None) => Ok(None),
    }
}

/// The one app of `refresh --appid ID [--name NAME] [--api API] [--secret-file PATH]`.
pub fn cli_app(
    appid: &str,
    name: Option<&str>,
    api: Api,
    secret_file: Option<&Path>,
    api_base: Option<&str>,
) -> Result<App> {
    if appid.trim().is_empty() {
        return Err(usage("--appid is empty"));
    }
    check_appid(appid).map_err(|e| usage(format!("--appid: {e}")))?;
    let flag = if name.is_some() { "--name" } else { "--appid" };
    let name = name.unwrap_or(appid).to_string();
    check_name(&name).map_err(|e| usage(format!("{flag}: {e}")))?;
    if let Some(base) = api_base {
        check_base(base, insecure_http_allowed()?)
            .map_err(|e| usage(format!("--api-base / WXTOKEN_API_BASE: {e}")))?;
    }
    Ok(App {
        name,
        api,
        appid: appid.to_string(),
        secret: match secret_file {
            Some(f) => SecretSource::File(f.to_path_buf()),
            None => SecretSource::Env(SECRET_ENV.to_string()),
        },
        tickets: Vec::new(),
        api_base: api_base
            .unwrap_or(api.default_base())
            .trim_end_matches('/')
            .to_string(),
        daily_budget: DEFAULT_DAILY_BUDGET,
        agentid: None,
    })
}
