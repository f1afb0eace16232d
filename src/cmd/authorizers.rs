//! `wxtoken authorizers list|sync|import|add|link --platform NAME`: a
//! platform's customers (Open Platform authorizers, WeCom companies); `add`
//! and `link` are in their own files.
//!
//! `import` takes credentials a previous system kept (`appid,refresh_token` or
//! `corpid,permanent_code` lines): the file is read like a secret file, every
//! line is checked before anything is stored, and all of them are stored in
//! one transaction, sealed with the platform's store key, or none is.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, anyhow};
use serde_json::json;

use crate::cli::{AuthorizersArgs, AuthorizersCommand, Global, ListFormat};
use crate::config::platform::Platform;
use crate::error::usage;
use crate::graph::{Api, Kind};
use crate::platform::keys::read_push_keys;
use crate::platform::push::{is_customer_id, pushed_alphabet};
use crate::render::Table;
use crate::secret::Secret;
use crate::store::{Customer, CustomerState};
use crate::text::{quoted, shown};
use crate::upstream::classify::MAX_VALUE_LEN;
use crate::{clock, config, fsafe};

use super::common;

/// The largest import file taken (some 10 000 customers).
const MAX_IMPORT_FILE: u64 = 4 * 1024 * 1024;
/// The longest line of an import file.
const MAX_LINE: usize = 4096;

pub fn run(global: &Global, args: &AuthorizersArgs) -> Result<()> {
    common::init_logging(global);
    match &args.command {
        AuthorizersCommand::List { platform, format } => {
            list(global, &find(global, platform)?, *format)
        }
        AuthorizersCommand::Sync { platform } => {
            find(global, platform).and_then(|_| sync::run(global, platform))
        }
        AuthorizersCommand::Import { platform, file } => {
            import(global, &find(global, platform)?, file)
        }
        AuthorizersCommand::Add(args) => add::run(global, args),
        AuthorizersCommand::Link(args) => link::run(global, args),
    }
}

mod add;
mod link;
mod sync;

/// The named platform of the config file.
fn find(global: &Global, name: &str) -> Result<Platform> {
    let path = common::config_path(global).ok_or_else(|| {
        usage("authorizers: no config file: set --config / WXTOKEN_CONFIG (the platform is read from it)")
    })?;
    config::load_all(&path, global.api_base.as_deref())?
        .platforms
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            usage(format!(
                "authorizers: no platform {} in config {}: add a [[platform]] entry or check --platform",
                quoted(name),
                path.display()
            ))
        })
}

fn list(global: &Global, platform: &Platform, format: ListFormat) -> Result<()> {
    let now = clock::now();
    let (customers, rows) = match common::open_if_present(global)? {
        None => (Vec::new(), Vec::new()),
        Some(mut db) => {
            let customers = db.customers(&platform.name)?;
            let apps: Vec<String> = customers
                .iter()
                .map(|c| format!("{}/{}", platform.name, c.appid))
                .collect();
            let rows = if apps.is_empty() {
                Vec::new()
            } else {
                db.rows(&apps)?
            };
            (customers, rows)
        }
    };
    // Seconds the customer's access token stays usable, when one is stored.
    let left: HashMap<&str, i64> = rows
        .iter()
        .filter(|r| r.known_kind() == Some(Kind::AccessToken) && r.invalidated_at.is_none())
        .map(|r| (r.appid.as_str(), (r.expires_at - now).max(0)))
        .collect();
    let text = match format {
        ListFormat::Json => {
            let items: Vec<_> = customers
                .iter()
                .map(|c| {
                    json!({
                        "platform": c.platform,
                        "appid": c.appid,
                        "state": state(c),
                        "authorized_at": c.authorized_at,
                        "credential": c.credential.is_some(),
                        "pending_code": c.pending_code.is_some(),
                        "token_expires_in": left.get(c.appid.as_str()),
                    })
                })
                .collect();
            crate::render::json(&items, true)? + "\n"
        }
        ListFormat::Table => {
            let mut table = Table::new(
                &["APPID", "STATE", "AUTHORIZED", "CREDENTIAL", "TOKEN LEFT"],
                "  ",
            );
            for c in &customers {
                let credential = match (&c.credential, &c.pending_code) {
                    (Some(_), _) => "stored",
                    (None, Some(_)) => "pending",
                    (None, None) => "none",
                };
                table.push(vec![
                    shown(&c.appid),
                    state(c).to_string(),
                    c.authorized_at
                        .map_or("-".to_string(), |t| clock::local(t, "%Y-%m-%d %H:%M")),
                    credential.to_string(),
                    left.get(c.appid.as_str())
                        .map_or("-".to_string(), |s| format!("{}m", s / 60)),
                ]);
            }
            table.render()
        }
    };
    crate::render::print(&text)
}

fn import(global: &Global, platform: &Platform, file: &std::path::Path) -> Result<()> {
    let who = format!("platform {}", quoted(&platform.name));
    let pair = match platform.kind {
        Api::OpenPlatform => "appid,refresh_token",
        Api::WecomSuite => "corpid,permanent_code",
        _ => {
            return Err(usage(format!(
                "authorizers import: {who} is a wecom_provider: it has no customers; import into its wecom_suite platform"
            )));
        }
    };
    let kind = platform.kind.grant_kind();
    let (bytes, _) = fsafe::read_trusted(file, "authorizers file", MAX_IMPORT_FILE)?;
    let shown_file = file.display();
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("authorizers file {shown_file} is not UTF-8 text")))?;
    let mut found: BTreeMap<String, Secret> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: &str| {
            usage(format!(
                "authorizers file {shown_file} line {}: {why}; nothing was imported: fix the line and import again",
                n + 1
            ))
        };
        if line.len() > MAX_LINE {
            return Err(at(&format!("longer than {MAX_LINE} bytes")));
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((id, credential)) = line.split_once(',') else {
            return Err(at(&format!("not {pair}")));
        };
        let (id, credential) = (id.trim(), credential.trim());
        if !is_customer_id(id) {
            return Err(at(&format!(
                "{} is not an appid (letters, digits, - and _, at most 64)",
                quoted(&crate::text::clip(id, 80))
            )));
        }
        // The credential is never quoted: it is a secret.
        if credential.is_empty() || credential.len() > MAX_VALUE_LEN || !pushed_alphabet(credential)
        {
            return Err(at(&format!(
                "the {kind} is empty, longer than {MAX_VALUE_LEN} or has characters outside [A-Za-z0-9-_.~+/=@]"
            )));
        }
        let secret = Secret::new(credential.to_string());
        if found.insert(id.to_string(), secret).is_some() {
            return Err(at(&format!("{} comes a second time", quoted(id))));
        }
    }
    if found.is_empty() {
        return Err(usage(format!(
            "authorizers file {shown_file} has no {pair} lines: nothing to import"
        )));
    }
    let key = read_push_keys(platform)?
        .store_key
        .ok_or_else(|| anyhow!("{who}: no store key"))?;
    let mut db = common::open_for_writing(global, false)?;
    let old: HashMap<String, Customer> = db
        .customers(&platform.name)?
        .into_iter()
        .map(|c| (c.appid.clone(), c))
        .collect();
    let now = clock::now();
    let mut customers = Vec::with_capacity(found.len());
    for (appid, credential) in &found {
        let sealed = key.seal(credential.expose(), &[&platform.name, appid, kind])?;
        let before = old.get(appid);
        customers.push(Customer {
            platform: platform.name.clone(),
            appid: appid.clone(),
            credential: Some(sealed),
            pending_code: None,
            pending_until: None,
            state: CustomerState::Active,
            info: before.and_then(|c| c.info.clone()),
            authorized_at: before.and_then(|c| c.authorized_at),
            updated_at: now,
        });
    }
    db.upsert_customers(&customers)
        .with_context(|| format!("authorizers import into {who}"))?;
    let replaced = found.keys().filter(|a| old.contains_key(*a)).count();
    crate::render::print(&format!(
        "imported {} customers into {who}: {} new, {replaced} replaced\n",
        found.len(),
        found.len() - replaced
    ))
}

/// A customer's state as listed: `pending` for a WeCom install whose code is
/// not exchanged yet (kept under a pending key, not its corpid).
fn state(c: &Customer) -> &'static str {
    if c.appid.starts_with(crate::store::PENDING_PREFIX) {
        "pending"
    } else {
        c.state.as_str()
    }
}
