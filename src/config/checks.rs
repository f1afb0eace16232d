//! The checks on single fields: names, appids, variable and credential
//! names, paths, tickets. Each returns what is wrong as text; the caller adds
//! where.

use std::path::Path;

use super::{MAX_APPID, MAX_ENV_NAME, MAX_NAME};
use crate::app::{Api, Ticket};
use crate::text::quoted;

/// A path from the config: as written when absolute, else in the config's
/// folder `dir`. It is taken as written: `~` is not expanded (whose home would
/// it be, under cron, sudo or a unit?), so a path that starts with it is
/// refused rather than read relative to the config's folder.
pub(crate) fn in_config_dir(
    dir: &Path,
    path: std::path::PathBuf,
) -> Result<std::path::PathBuf, String> {
    if path.as_os_str().as_encoded_bytes().starts_with(b"~") {
        return Err(format!(
            "{}: `~` is not expanded in the config file: write the full path (e.g. /home/NAME/{})",
            quoted(&path.display().to_string()),
            path.display()
                .to_string()
                .trim_start_matches('~')
                .split_once('/')
                .map_or("", |(_, rest)| rest)
        ));
    }
    Ok(dir.join(path))
}

/// A `*_env` field names a variable of reasonable length.
pub(crate) fn check_env_name(var: &str) -> Result<(), String> {
    if var.len() > MAX_ENV_NAME {
        return Err(format!("a variable name longer than {MAX_ENV_NAME} bytes"));
    }
    Ok(())
}

/// A credential name is a file name in `$CREDENTIALS_DIRECTORY`.
pub(super) fn check_credential(id: &str) -> Result<(), String> {
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
pub(crate) fn check_appid(appid: &str) -> Result<(), String> {
    if appid.len() > MAX_APPID {
        return Err(format!("the appid is longer than {MAX_APPID} bytes"));
    }
    if appid.chars().any(crate::text::is_hostile) {
        return Err("the appid contains control characters or bidirectional controls".to_string());
    }
    // WeChat's appids, corpids and suite ids are letters and digits (`-` and
    // `_` allowed for ids of test stand-ins); anything else (a space, a slash,
    // a quote) is a copying mistake and would end up in a request's URL.
    if let Some(c) = appid
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "the appid {} contains {}: an appid (or corpid) has letters and digits only: copy it again",
            quoted(appid),
            quoted(&c.to_string())
        ));
    }
    Ok(())
}

/// `--app NAME` as a lookup: any name the database may hold, up to the bound.
pub fn name_arg(flag: &str, name: &str) -> anyhow::Result<()> {
    crate::text::max_chars(flag, name, MAX_NAME)
}

/// `--appid ID` as a lookup.
pub fn appid_arg(flag: &str, appid: &str) -> anyhow::Result<()> {
    crate::text::max_bytes(flag, appid, MAX_APPID)
}

/// serde's `unknown field `X`, expected one of `a`, `b`, ...`, told better:
/// the field a typo away first (`did you mean `secret_file`?`), and without
/// `secret`, which is a field only to be refused with a message of its own.
/// Any other message is returned as it is.
pub(crate) fn unknown_field(msg: &str) -> String {
    let parts = msg
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once("`, expected one of "));
    let Some((field, expected)) = parts else {
        return msg.to_string();
    };
    let known: Vec<&str> = expected
        .split(", ")
        .map(|f| f.trim_matches('`'))
        .filter(|f| *f != "secret")
        .collect();
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    let near = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(field, k), *k))
        .filter(|(distance, _)| *distance <= 2)
        .min();
    match near {
        Some((_, k)) => format!(
            "unknown field `{field}`: did you mean `{k}`? (the fields: {})",
            list.join(", ")
        ),
        None => format!(
            "unknown field `{field}`, expected one of {}",
            list.join(", ")
        ),
    }
}

/// An entry's `tickets`, each once: those its `api` issues (`of`: "api" or
/// "kind", as the entry calls it); any other is an error at `at`.
pub(crate) fn tickets(
    listed: &[String],
    api: Api,
    of: &str,
    at: &str,
) -> Result<Vec<Ticket>, String> {
    let issued = api.tickets();
    let mut tickets = Vec::new();
    for t in listed {
        let ticket = Ticket::parse(t)
            .filter(|t| issued.contains(t))
            .ok_or_else(|| {
                let known: Vec<_> = issued.iter().map(|t| t.as_str()).collect();
                let fix = match known.as_slice() {
                    [] => "it has no tickets; remove the field".to_string(),
                    known => format!("use {}", known.join(" or ")),
                };
                let api = api.as_str();
                format!("{at}: unknown ticket {} for {of} {api}: {fix}", quoted(t))
            })?;
        if !tickets.contains(&ticket) {
            tickets.push(ticket);
        }
    }
    Ok(tickets)
}
