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
use crate::fsafe;
use crate::secret::Secret;
use crate::text::quoted;

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
const MAX_ENV_NAME: usize = 256;
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
    allow_insecure_http: Option<bool>,
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
    let (bytes, _) = fsafe::read_trusted(path, "config", MAX_CONFIG_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("config {file} is not UTF-8 text: save it as UTF-8")))?;
    let parsed: File = toml::from_str(&text).map_err(|e| {
        let mut msg = crate::text::clip(e.message(), 300);
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
    if let Some(base) = api_base {
        // Plain http:// to another host: every app it replaces must opt in.
        let all_opt_in = parsed
            .app
            .iter()
            .all(|a| a.allow_insecure_http == Some(true));
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
    Ok(apps)
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
    let mut sources = Vec::new();
    if let Some(f) = raw.secret_file {
        sources.push(("secret_file", SecretSource::File(dir.join(f))));
    }
    if let Some(v) = raw.secret_env {
        if v.len() > MAX_ENV_NAME {
            return Err(format!(
                "{}: a variable name longer than {MAX_ENV_NAME} bytes",
                at("secret_env")
            ));
        }
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
                "app {shown}: no secret: set secret_file, secret_env or secret_credential"
            ));
        }
        [(a, _), (b, _), ..] => {
            return Err(format!(
                "app {shown}: fields {a} and {b} are both set: keep one"
            ));
        }
    };
    let mut tickets = Vec::new();
    for t in &raw.tickets {
        let ticket = Ticket::parse(t)
            .filter(|t| api.tickets().contains(t))
            .ok_or_else(|| {
                let known: Vec<_> = api.tickets().iter().map(|t| t.as_str()).collect();
                format!(
                    "{}: unknown ticket {} for api {}: use {}",
                    at("tickets"),
                    quoted(t),
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
    let api_base = match api_base {
        Some(base) => base.to_string(),
        None => {
            let base = raw
                .api_base
                .unwrap_or_else(|| api.default_base().to_string());
            let insecure_ok = insecure_ok || raw.allow_insecure_http == Some(true);
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
    })
}

/// An upstream base URL must be https://host[:port][/path], at most
/// [`MAX_BASE_LEN`] bytes. Plain `http://` carries the secret in clear text: it
/// is accepted for this machine (loopback), elsewhere only with `insecure_ok`.
pub fn check_base(base: &str, insecure_ok: bool) -> Result<(), String> {
    if base.len() > MAX_BASE_LEN {
        return Err(format!(
            "the URL is {} bytes long; an API base URL is at most {MAX_BASE_LEN}",
            base.len()
        ));
    }
    let (rest, https) = match base.strip_prefix("https://") {
        Some(rest) => (rest, true),
        None => (
            base.strip_prefix("http://")
                .ok_or_else(|| format!("{base:?} is not an http:// or https:// URL"))?,
            false,
        ),
    };
    let not_a_base = || format!("{base:?} is not a base URL such as https://api.weixin.qq.com");
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty()
        || authority.contains(['@', '\\'])
        || base.contains(char::is_whitespace)
        || base.contains(['?', '#'])
    {
        return Err(not_a_base());
    }
    let (host, port) = split_host_port(authority).ok_or_else(not_a_base)?;
    if host.is_empty() {
        return Err(not_a_base());
    }
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{base:?}: the port {port:?} is not a number from 1 to 65535"
        ));
    }
    if !https && !insecure_ok && !is_loopback(host) {
        return Err(format!(
            "{base:?} would send the secret in clear text to {host}: use https://, or opt in with allow_insecure_http = true for the app in the config, or {INSECURE_HTTP_ENV}=1 (only where nobody can read or change the traffic on the way)"
        ));
    }
    Ok(())
}

/// `host[:port]` or `[v6][:port]`: the host (without brackets) and the port text.
pub(crate) fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// This machine: `localhost`, 127.0.0.0/8 or ::1. (Traffic to them never leaves it.)
pub fn is_loopback(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether [`INSECURE_HTTP_ENV`] opts every app in to plain `http://`.
fn insecure_http_allowed() -> Result<bool> {
    match std::env::var(INSECURE_HTTP_ENV) {
        Err(_) => Ok(false),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Ok(true),
            "" | "0" | "false" | "no" => Ok(false),
            _ => Err(usage(format!(
                "{INSECURE_HTTP_ENV} is neither 1 nor 0 (it lets the secret go over plain http://)"
            ))),
        },
    }
}

/// A credential name is a file name in `$CREDENTIALS_DIRECTORY`.
fn check_credential(id: &str) -> Result<(), String> {
    if id.len() > 255 {
        return Err(format!(
            "{} is longer than a file name (255 bytes): use the name of LoadCredential=NAME:PATH",
            quoted(id)
        ));
    }
    if id.is_empty() || id == "." || id == ".." {
        return Err(format!(
            "{} is not a credential name: use the name of LoadCredential=NAME:PATH",
            quoted(id)
        ));
    }
    if id.contains('/') {
        return Err(format!(
            "{} contains '/': a credential is named, not a path (LoadCredential=NAME:PATH in the unit)",
            quoted(id)
        ));
    }
    Ok(())
}

/// App names are keys in the database and words in messages: printable, not too
/// long, and read as written (no bidirectional controls).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the name is empty".to_string());
    }
    if name.chars().nth(MAX_NAME).is_some() {
        return Err(format!("the name is longer than {MAX_NAME} characters"));
    }
    if name.chars().any(crate::text::is_hostile) {
        return Err(
            "the name contains control characters or bidirectional controls (such as U+202E)"
                .to_string(),
        );
    }
    Ok(())
}

/// Appids and corpids go into requests and the database: as for names, and at
/// most `MAX_APPID` bytes.
fn check_appid(appid: &str) -> Result<(), String> {
    if appid.len() > MAX_APPID {
        return Err(format!("the appid is longer than {MAX_APPID} bytes"));
    }
    if appid.chars().any(crate::text::is_hostile) {
        return Err("the appid contains control characters or bidirectional controls".to_string());
    }
    Ok(())
}

/// `--app NAME` as a lookup: any name the database may hold, up to the bound.
pub fn name_arg(flag: &str, name: &str) -> Result<()> {
    crate::text::max_chars(flag, name, MAX_NAME)
}

/// `--appid ID` as a lookup.
pub fn appid_arg(flag: &str, appid: &str) -> Result<()> {
    crate::text::max_bytes(flag, appid, MAX_APPID)
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
    })
}

/// Reads an app's secret, from its file or variable.
pub fn read_secret(app: &App) -> Result<Secret> {
    let name = &app.name;
    let value = match &app.secret {
        SecretSource::File(_) | SecretSource::Credential(_) => {
            read_secret_file(&secret_path(app)?, &format!("app {name:?}"))?
        }
        SecretSource::Env(var) => match std::env::var(var) {
            Ok(v) if v.len() as u64 > MAX_SECRET => {
                return Err(usage(format!(
                    "app {name:?}: {var} holds {} bytes, more than {MAX_SECRET}: a WeChat secret has 32 characters; check the variable",
                    v.len()
                )));
            }
            Ok(v) if !clean(&v).is_empty() => clean(&v).to_string(),
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

/// Reads a secret from a file: every secret that comes from a path comes
/// through here. The path must be trusted (see `fsafe`) and name a regular
/// file of at most [`MAX_SECRET`] bytes; a byte order mark and surrounding
/// blanks and line ends (a Windows editor's `\r\n`) are not part of the
/// secret. A file readable by group or others gets a warning. `who` starts
/// every message (`app "shop"`); errors are usage errors (exit 2).
pub fn read_secret_file(path: &Path, who: &str) -> Result<String> {
    let shown = path.display();
    let (bytes, meta) = fsafe::read_trusted(path, "secret_file", MAX_SECRET)
        .map_err(|e| usage(format!("{who}: {e:#}")))?;
    if meta.permissions().mode() & 0o077 != 0 {
        log::warn!("{who}: secret file {shown} is readable by group or others: chmod 600 {shown}");
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("{who}: secret file {shown} is not UTF-8 text")))?;
    let value = clean(&text);
    if value.is_empty() {
        return Err(usage(format!("{who}: secret file {shown} is empty")));
    }
    Ok(value.to_string())
}

/// A secret without a byte order mark and surrounding blanks and line ends.
fn clean(text: &str) -> &str {
    text.trim_start_matches('\u{feff}').trim()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "https://api.weixin.qq.com",
            "https://[2001:db8::1]:8443/wx",
            "http://127.0.0.1:8080",
            "http://127.5.6.7",
            "http://[::1]:9000/",
            "http://localhost",
            "http://localhost.:80",
        ] {
            assert_eq!(check_base(ok, false), Ok(()), "{ok}");
        }
        for refused in [
            "http://api.weixin.qq.com",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com",
            "http://[::ffff:10.0.0.1]",
            "http://10.0.0.1",
            "http://0.0.0.0",
        ] {
            let e = check_base(refused, false).unwrap_err();
            assert!(e.contains("clear text"), "{refused}: {e}");
            assert_eq!(check_base(refused, true), Ok(()), "{refused}");
        }
        for bad in [
            "http://127.0.0.1@evil.example",
            "https://",
            "https://:443",
            "https://host:0",
            "https://host:65536",
            "https://[::1",
            "https://a b",
        ] {
            assert!(check_base(bad, true).is_err(), "{bad}");
        }
    }
}
