//! Reading an app's secret: from a variable, a file, or a systemd credential.

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
