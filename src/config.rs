//! Turns loose input (the config file, or one app on the command line) into
//! checked [`App`]s, and reads their secrets. Every error here is a usage error
//! (exit 2) that names the file, the app and the field.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use crate::app::{Api, App, DEFAULT_DAILY_BUDGET, SecretSource, Ticket};
use crate::error::usage;
use crate::secret::Secret;

/// The classic token calls WeChat allows an app a day.
const WECHAT_DAILY_QUOTA: u32 = 2000;

/// The environment variable that holds the secret of a command-line app.
pub const SECRET_ENV: &str = "WXTOKEN_SECRET";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    app: Vec<RawApp>,
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
    daily_budget: Option<u32>,
}

/// The default config file, if it exists: `$XDG_CONFIG_HOME/wxtoken/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("wxtoken").join("config.toml")).filter(|p| p.is_file())
}

/// Reads and checks the config file. `api_base` (from `--api-base`) overrides every app's.
pub fn load(path: &Path, api_base: Option<&str>) -> Result<Vec<App>> {
    let file = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("could not read config {file}: {e}")))?;
    let parsed: File = toml::from_str(&text).map_err(|e| {
        let mut msg = e.message().to_string();
        if msg.contains("expected a sequence") {
            msg.push_str(": write each app as [[app]] (two brackets)");
        }
        let line = e
            .span()
            .map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1))
            .unwrap_or_default();
        usage(format!("config {file}{line}: {msg}"))
    })?;
    if parsed.app.is_empty() {
        return Err(usage(format!(
            "config {file} lists no apps: add an [[app]] entry"
        )));
    }
    let mut names = HashSet::new();
    let mut apps = Vec::new();
    for (i, raw) in parsed.app.into_iter().enumerate() {
        let dir = path.parent().unwrap_or(Path::new("."));
        let app = check(raw, i, dir, api_base).map_err(|e| usage(format!("config {file}: {e}")))?;
        if !names.insert(app.name.clone()) {
            return Err(usage(format!(
                "config {file}: app {:?}: field name: the name is used twice; names must be unique",
                app.name
            )));
        }
        apps.push(app);
    }
    Ok(apps)
}

/// Checks one `[[app]]` entry; a relative `secret_file` is relative to `dir`, the
/// config file's folder.
fn check(raw: RawApp, index: usize, dir: &Path, api_base: Option<&str>) -> Result<App, String> {
    let name = raw
        .name
        .ok_or_else(|| format!("app #{}: field name is missing", index + 1))?;
    let at = |field: &str| format!("app {name:?}: field {field}");
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
            "{}: unknown api {api_text:?}: use classic, stable or wecom",
            at("api")
        )
    })?;
    let appid = raw
        .appid
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| format!("{} is missing (the corpid for wecom)", at("appid")))?;
    let mut sources = Vec::new();
    if let Some(f) = raw.secret_file {
        sources.push(("secret_file", SecretSource::File(dir.join(f))));
    }
    if let Some(v) = raw.secret_env {
        sources.push(("secret_env", SecretSource::Env(v)));
    }
    if let Some(c) = raw.secret_credential {
        check_credential(&c).map_err(|e| format!("{}: {e}", at("secret_credential")))?;
        sources.push(("secret_credential", SecretSource::Credential(c)));
    }
    let secret = match sources.as_slice() {
        [(_, source)] => source.clone(),
        [] => {
            return Err(format!(
                "app {name:?}: no secret: set secret_file, secret_env or secret_credential"
            ));
        }
        [(a, _), (b, _), ..] => {
            return Err(format!(
                "app {name:?}: fields {a} and {b} are both set: keep one"
            ));
        }
    };
    let mut tickets = Vec::new();
    for t in &raw.tickets {
        let ticket = Ticket::parse(t)
            .filter(|t| api.tickets().contains(t))
            .ok_or_else(|| {
                let known: Vec<_> = api.tickets().iter().map(|t| t.name()).collect();
                format!(
                    "{}: unknown ticket {t:?} for api {}: use {}",
                    at("tickets"),
                    api.as_str(),
                    known.join(" or ")
                )
            })?;
        if !tickets.contains(&ticket) {
            tickets.push(ticket);
        }
    }
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
    let api_base = api_base
        .map(str::to_string)
        .or(raw.api_base)
        .unwrap_or_else(|| api.default_base().to_string());
    check_base(&api_base).map_err(|e| format!("{}: {e}", at("api_base")))?;
    Ok(App {
        name,
        api,
        appid,
        secret,
        tickets,
        api_base: api_base.trim_end_matches('/').to_string(),
        daily_budget: raw.daily_budget.unwrap_or(DEFAULT_DAILY_BUDGET),
    })
}

/// An upstream base URL must be http(s)://host[:port][/path].
pub fn check_base(base: &str) -> Result<(), String> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .ok_or_else(|| format!("{base:?} is not an http:// or https:// URL"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || base.contains(['?', '#']) {
        return Err(format!(
            "{base:?} is not a base URL such as https://api.weixin.qq.com"
        ));
    }
    Ok(())
}

/// A credential name is a file name in `$CREDENTIALS_DIRECTORY`.
fn check_credential(id: &str) -> Result<(), String> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(format!(
            "{id:?} is not a credential name: use the name of LoadCredential=NAME:PATH"
        ));
    }
    if id.contains('/') {
        return Err(format!(
            "{id:?} contains '/': a credential is named, not a path (LoadCredential=NAME:PATH in the unit)"
        ));
    }
    Ok(())
}

/// App names are keys in the database and words in messages: printable, not too long.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the name is empty".to_string());
    }
    if name.chars().count() > 128 {
        return Err("the name is longer than 128 characters".to_string());
    }
    if name.chars().any(char::is_control) {
        return Err("the name contains control characters".to_string());
    }
    Ok(())
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
    let name = name.unwrap_or(appid).to_string();
    check_name(&name).map_err(|e| usage(format!("--name: {e}")))?;
    if let Some(base) = api_base {
        check_base(base).map_err(|e| usage(format!("--api-base / WXTOKEN_API_BASE: {e}")))?;
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
    })
}

/// Reads an app's secret. A file readable by group or others gets a warning.
pub fn read_secret(app: &App) -> Result<Secret> {
    let name = &app.name;
    let value = match &app.secret {
        SecretSource::File(_) | SecretSource::Credential(_) => {
            let path = &secret_path(app)?;
            let shown = path.display();
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage(format!(
                    "app {name:?}: could not read secret_file {shown}: {e}"
                ))
            })?;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                log::warn!(
                    "app {name:?}: secret file {shown} is readable by group or others: chmod 600 {shown}"
                );
            }
            let value = text.trim().to_string();
            if value.is_empty() {
                return Err(usage(format!("app {name:?}: secret file {shown} is empty")));
            }
            value
        }
        SecretSource::Env(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
            _ if var == SECRET_ENV => {
                return Err(usage(format!(
                    "no secret for app {name:?}: set {SECRET_ENV} or pass --secret-file PATH (never the secret itself on the command line)"
                )));
            }
            _ => {
                return Err(usage(format!(
                    "app {name:?}: secret_env {var} is not set or empty"
                )));
            }
        },
    };
    if value.chars().any(char::is_whitespace) {
        return Err(usage(format!(
            "app {name:?}: the secret contains whitespace; check its file or variable"
        )));
    }
    Ok(Secret::new(value))
}

/// The file a `secret_file` or `secret_credential` is read from. A credential
/// is the file that systemd's `LoadCredential=` puts in `$CREDENTIALS_DIRECTORY`
/// for the service's run.
fn secret_path(app: &App) -> Result<PathBuf> {
    let name = &app.name;
    let id = match &app.secret {
        SecretSource::Credential(id) => id,
        SecretSource::File(path) => return Ok(path.clone()),
        SecretSource::Env(var) => {
            return Err(usage(format!(
                "app {name:?}: secret_env {var} is a variable, not a file"
            )));
        }
    };
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            usage(format!(
                "app {name:?}: secret_credential {id:?}: CREDENTIALS_DIRECTORY is not set: run wxtoken from a systemd unit with LoadCredential={id}:/path/to/secret, or use secret_file"
            ))
        })?;
    let path = Path::new(&dir).join(id);
    if !path.exists() {
        return Err(usage(format!(
            "app {name:?}: secret_credential {id:?}: no such credential in {}: add LoadCredential={id}:/path/to/secret to the unit",
            path.parent().unwrap_or(&path).display()
        )));
    }
    Ok(path)
}
