//! Reading a secret (an app's or a platform's): from a variable, a file, or a
//! systemd credential.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{MAX_SECRET, SECRET_ENV};
use crate::app::{App, SecretSource};
use crate::error::usage;
use crate::fsafe;
use crate::secret::Secret;

/// Reads an app's secret, from its file or variable.
pub fn read_secret(app: &App) -> Result<Secret> {
    let name = &app.name;
    if let SecretSource::Env(var) = &app.secret
        && var == SECRET_ENV
        && !std::env::var(var).is_ok_and(|v| !clean(&v).is_empty())
    {
        return Err(usage(format!(
            "no secret for app {name:?}: set {SECRET_ENV} or pass --secret-file PATH (never the secret itself on the command line)"
        )));
    }
    read_secret_of(&app.secret, &format!("app {name:?}"))
}

/// Reads the secret of an app or a platform (`who` starts every message)
/// and registers it for redaction; whitespace inside it is refused.
pub(crate) fn read_secret_of(source: &SecretSource, who: &str) -> Result<Secret> {
    let value = read_value(source, who, "secret", "a WeChat secret has 32 characters")?;
    if value.chars().any(char::is_whitespace) {
        return Err(usage(format!(
            "{who}: the secret contains whitespace; check its file or variable"
        )));
    }
    Ok(Secret::new(value))
}

/// Reads a value (a secret, a message Token, an EncodingAESKey) from its file,
/// credential or variable, without a byte order mark and surrounding blanks.
/// `who` starts every message (`app "shop"`), `field` names the config fields
/// (`secret` for `secret_file`, `secret_env`, ...), `hint` says what the value
/// should look like when a variable is too long.
fn read_value(source: &SecretSource, who: &str, field: &str, hint: &str) -> Result<String> {
    match source {
        SecretSource::File(path) => read_file_value(path, who, &format!("{field}_file"), false),
        SecretSource::Credential(id) => {
            read_file_value(&credential_path(id, who)?, who, "secret_file", false)
        }
        SecretSource::Env(var) => match std::env::var(var) {
            Ok(v) if v.len() as u64 > MAX_SECRET => Err(usage(format!(
                "{who}: {var} holds {} bytes, more than {MAX_SECRET}: {hint}; check the variable",
                v.len()
            ))),
            Ok(v) if !clean(&v).is_empty() => Ok(clean(&v).to_string()),
            Ok(_) => Err(usage(format!("{who}: {field}_env {var} is empty"))),
            // The usual cause: a command that works in a login shell, run by
            // cron, sudo or a unit, which pass none of that shell's variables.
            Err(_) => Err(usage(format!(
                "{who}: {field}_env {var} is not set (cron, sudo and systemd units pass none of your login shell's variables): use {field}_file = \"/full/path\" in the config, or set {var} in the crontab or unit"
            ))),
        },
    }
}

/// [`read_value`] for a value with which anyone who reads it forges pushes
/// (the message Token, the EncodingAESKey): a file that group or others can
/// read is refused (exit 2), as the store key's is.
pub(crate) fn read_private_value(
    source: &SecretSource,
    who: &str,
    field: &str,
    hint: &str,
) -> Result<String> {
    match source {
        SecretSource::File(path) => read_file_value(path, who, &format!("{field}_file"), true),
        _ => read_value(source, who, field, hint),
    }
}

/// Reads a secret from a file: every secret that comes from a path comes
/// through here. The path must be trusted (see `fsafe`) and name a regular
/// file of at most [`MAX_SECRET`] bytes; a byte order mark and surrounding
/// blanks and line ends (a Windows editor's `\r\n`) are not part of the
/// secret. A file readable by group or others gets a warning (with
/// `private`, is refused). `who` starts every message (`app "shop"`), `field`
/// names the config field; errors are usage errors (exit 2).
fn read_file_value(path: &Path, who: &str, field: &str, private: bool) -> Result<String> {
    let shown = path.display();
    let label = field.replace('_', " ");
    let (bytes, meta) =
        fsafe::read_trusted(path, field, MAX_SECRET).map_err(|e| usage(format!("{who}: {e:#}")))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        if private && mode & 0o044 != 0 {
            return Err(usage(format!(
                "{who}: {label} {shown} (mode {:04o}) is readable by group or others, who could forge pushes with it: chmod 600 {shown} (owned by the user that runs push)",
                mode & 0o7777
            )));
        }
        log::warn!("{who}: {label} {shown} is readable by group or others: chmod 600 {shown}");
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| usage(format!("{who}: {label} {shown} is not UTF-8 text")))?;
    let value = clean(&text);
    if value.is_empty() {
        return Err(usage(format!(
            "{who}: {label} {shown} is empty: write the value into it"
        )));
    }
    Ok(value.to_string())
}

/// A secret without a byte order mark and surrounding blanks and line ends.
fn clean(text: &str) -> &str {
    text.trim_start_matches('\u{feff}').trim()
}

/// The file a `secret_credential` is read from: the file that systemd's
/// `LoadCredential=` puts in `$CREDENTIALS_DIRECTORY` for the service's run.
fn credential_path(id: &str, who: &str) -> Result<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            usage(format!(
                "{who}: secret_credential {id:?}: CREDENTIALS_DIRECTORY is not set: run wxtoken from a systemd unit with LoadCredential={id}:/path/to/secret, or use secret_file"
            ))
        })?;
    let path = Path::new(&dir).join(id);
    if !path.exists() {
        return Err(usage(format!(
            "{who}: secret_credential {id:?}: no such credential in {}: add LoadCredential={id}:/path/to/secret to the unit (then `systemctl daemon-reload`)",
            path.parent().unwrap_or(&path).display()
        )));
    }
    Ok(path)
}
