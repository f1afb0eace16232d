//! The `[[platform]]` entries of the config file: checked [`Platform`]s.
//! Errors name the platform and the field, as for apps (`config` adds the
//! file). Their secrets and keys are read by `platform::keys`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use super::{check_appid, check_base, check_name, in_config_dir, secret_source, value_source};
use crate::app::{SecretSource, Ticket};
use crate::graph::Api;
use crate::text::quoted;

/// One `[[platform]]` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlatform {
    name: Option<String>,
    kind: Option<String>,
    appid: Option<String>,
    secret_file: Option<PathBuf>,
    secret_env: Option<String>,
    secret_credential: Option<String>,
    /// Refused, like `message_token` and `aes_key`: secrets do not belong in
    /// the config file.
    secret: Option<toml::Value>,
    message_token_file: Option<PathBuf>,
    message_token_env: Option<String>,
    message_token: Option<toml::Value>,
    aes_key_file: Option<PathBuf>,
    aes_key_env: Option<String>,
    aes_key: Option<toml::Value>,
    store_key_file: Option<PathBuf>,
    #[serde(default)]
    tickets: Vec<String>,
    provider_corpid: Option<String>,
    api_base: Option<String>,
    #[serde(default)]
    pub(super) allow_insecure_http: bool,
    exchange_timeout: Option<String>,
}

/// How long the exchange of a one-use code waits for its answer unless the
/// config or `--exchange-timeout` says otherwise (WeCom calls the classic
/// `get_permanent_code` slow).
pub const DEFAULT_EXCHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a platform's `appid` field holds, for messages.
fn appid_meaning(kind: Api) -> &'static str {
    match kind {
        Api::OpenPlatform => "the component appid",
        Api::WecomSuite => "the suite id",
        _ => "the provider's corpid",
    }
}

/// One checked `[[platform]]` entry. For a kind that receives pushes
/// ([`Api::receives_pushes`]) `message_token`, `aes_key` and
/// `store_key_file` are always set; for `wecom_provider` they are `None` and
/// `tickets` is empty.
#[derive(Clone, Debug)]
pub struct Platform {
    /// Its own values are stored under this name, its customers' under
    /// `NAME/APPID`.
    pub name: String,
    pub kind: Api,
    /// The component appid, the suite id, or the provider's corpid.
    pub appid: String,
    pub secret: SecretSource,
    pub message_token: Option<SecretSource>,
    pub aes_key: Option<SecretSource>,
    pub store_key_file: Option<PathBuf>,
    /// The tickets every customer gets.
    pub tickets: Vec<Ticket>,
    /// wecom_suite only: the provider's own corpid, also accepted as the
    /// receiver id of WeCom's URL check.
    pub provider_corpid: Option<String>,
    /// The upstream base URL, without a trailing slash.
    pub api_base: String,
    /// How long the exchange of a one-use code waits for its answer.
    pub exchange_timeout: std::time::Duration,
}

impl Platform {
    /// A WeCom 代开发 template (its id starts with `dk`, D.7): the permanent
    /// code is each company's app secret.
    pub fn customized(&self) -> bool {
        self.kind == Api::WecomSuite && self.appid.starts_with("dk")
    }
}

/// Checks one `[[platform]]` entry; relative paths are relative to `dir`, the
/// config file's folder. `api_base`, the override, was checked already.
pub(crate) fn check(
    raw: RawPlatform,
    index: usize,
    dir: &Path,
    api_base: Option<&str>,
    insecure_ok: bool,
) -> Result<Platform, String> {
    let name = raw
        .name
        .ok_or_else(|| format!("platform #{}: field name is missing", index + 1))?;
    let shown = quoted(&name);
    let who = format!("platform {shown}");
    let at = |field: &str| format!("{who}: field {field}");
    check_name(&name).map_err(|e| format!("{}: {e}", at("name")))?;
    if name.contains('/') {
        return Err(format!(
            "{}: the name contains '/': a platform's customers are stored as NAME/APPID",
            at("name")
        ));
    }
    for (field, value) in [
        ("secret", &raw.secret),
        ("message_token", &raw.message_token),
        ("aes_key", &raw.aes_key),
    ] {
        if value.is_some() {
            return Err(format!(
                "{}: secrets are not accepted in the config file; put it in a file ({field}_file = \"/etc/wxtoken/{name}.{}\", mode 0600) or a variable ({field}_env = \"...\")",
                at(field),
                field.replace('_', "")
            ));
        }
    }
    let kind_text = raw.kind.ok_or_else(|| {
        format!(
            "{} is missing: use open_platform, wecom_suite or wecom_provider",
            at("kind")
        )
    })?;
    let kind = Api::parse_platform(&kind_text).ok_or_else(|| {
        format!(
            "{}: unknown kind {}: use open_platform, wecom_suite or wecom_provider",
            at("kind"),
            quoted(&kind_text)
        )
    })?;
    let appid = raw
        .appid
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| format!("{} is missing ({})", at("appid"), appid_meaning(kind)))?;
    check_appid(&appid).map_err(|e| format!("{}: {e}", at("appid")))?;
    let secret = secret_source(
        &who,
        dir,
        raw.secret_file,
        raw.secret_env,
        raw.secret_credential,
    )?;
    let message_token = value_source(
        &who,
        "message_token",
        dir,
        raw.message_token_file,
        raw.message_token_env,
    )?;
    let aes_key = value_source(&who, "aes_key", dir, raw.aes_key_file, raw.aes_key_env)?;
    let store_key_file = (raw
        .store_key_file
        .map(|f| in_config_dir(dir, f))
        .transpose())
    .map_err(|e| format!("{who}: field store_key_file: {e}"))?;
    let (message_token, aes_key, store_key_file) = if kind.receives_pushes() {
        let missing = |field: &str, what: &str| {
            format!(
                "{who}: no {what}: set {field}_file or {field}_env (from the platform's callback settings)"
            )
        };
        (
            Some(message_token.ok_or_else(|| missing("message_token", "message Token"))?),
            Some(aes_key.ok_or_else(|| missing("aes_key", "EncodingAESKey"))?),
            Some(store_key_file.ok_or_else(|| {
                format!(
                    "{} is missing: customer credentials are stored encrypted with it; make one with `wxtoken keygen /etc/wxtoken/store.key`",
                    at("store_key_file")
                )
            })?),
        )
    } else {
        let set = [
            ("message_token", message_token.is_some()),
            ("aes_key", aes_key.is_some()),
            ("store_key_file", store_key_file.is_some()),
        ];
        if let Some((field, _)) = set.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{}: a {} receives no pushes and stores no customer credentials; remove it",
                at(field),
                kind.as_str()
            ));
        }
        (None, None, None)
    };
    let tickets = super::tickets(&raw.tickets, kind, "kind", &at("tickets"))?;
    let provider_corpid = match raw.provider_corpid {
        None => None,
        Some(_) if kind != Api::WecomSuite => {
            return Err(format!(
                "{}: only a wecom_suite has one; remove it from this {}",
                at("provider_corpid"),
                kind.as_str()
            ));
        }
        Some(id) if id.trim().is_empty() => {
            return Err(format!(
                "{} is empty: remove it or set the provider's corpid",
                at("provider_corpid")
            ));
        }
        Some(id) => {
            check_appid(&id).map_err(|e| format!("{}: {e}", at("provider_corpid")))?;
            Some(id)
        }
    };
    let api_base = match api_base {
        Some(base) => base.to_string(),
        None => {
            let base = raw
                .api_base
                .unwrap_or_else(|| kind.default_base().to_string());
            let insecure_ok = insecure_ok || raw.allow_insecure_http;
            check_base(&base, insecure_ok).map_err(|e| format!("{}: {e}", at("api_base")))?;
            base
        }
    };
    let exchange_timeout = match raw.exchange_timeout {
        None => DEFAULT_EXCHANGE_TIMEOUT,
        Some(t) => {
            crate::cli::timeout(&t).map_err(|e| format!("{}: {e}", at("exchange_timeout")))?
        }
    };
    Ok(Platform {
        exchange_timeout,
        name,
        kind,
        appid,
        secret,
        message_token,
        aes_key,
        store_key_file,
        tickets,
        provider_corpid,
        api_base: api_base.trim_end_matches('/').to_string(),
    })
}

#[cfg(test)]
mod tests;
