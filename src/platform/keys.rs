//! A platform's secrets and keys, read through the same trusted reader as
//! app secrets: its secret, and what receiving pushes needs (the message
//! Token and EncodingAESKey as a [`MsgCrypt`], the store key). Each value is
//! registered for redaction as it is read.

use anyhow::Result;

use crate::config::platform::Platform;
use crate::config::{read_private_value, read_secret_of};
use crate::error::usage;
use crate::platform::crypto::{KeyError, MsgCrypt};
use crate::platform::storekey::StoreKey;
use crate::secret::Secret;
use crate::text::quoted;

/// A platform's secrets, read and checked (all registered for redaction).
pub struct PlatformSecrets {
    pub secret: Secret,
    /// Seals and opens customer refresh tokens and permanent codes; `None`
    /// for `wecom_provider`.
    pub store_key: Option<StoreKey>,
}

/// Reads a platform's secret, message Token, EncodingAESKey and store key
/// through the same trusted reader as app secrets; the Token and the key must
/// make a [`MsgCrypt`]. Each value is registered for redaction as it is read.
/// Errors are usage errors (exit 2) naming the platform and the field; the
/// caller adds the config file.
pub fn read_platform_secrets(platform: &Platform) -> Result<PlatformSecrets> {
    let who = format!("platform {}", quoted(&platform.name));
    let secret = read_secret_of(&platform.secret, &who)?;
    // The Token and key are checked (and registered) here; refresh needs only the store key.
    let PushKeys { store_key, .. } = read_push_keys(platform)?;
    Ok(PlatformSecrets { secret, store_key })
}

/// What receiving pushes needs, and nothing more (not the platform's secret:
/// the web server running `push` need not be able to read it).
pub struct PushKeys {
    pub crypt: Option<MsgCrypt>,
    pub store_key: Option<StoreKey>,
}

/// Reads a platform's message Token, EncodingAESKey and store key, as
/// [`read_platform_secrets`] does.
pub fn read_push_keys(platform: &Platform) -> Result<PushKeys> {
    let who = format!("platform {}", quoted(&platform.name));
    let crypt = match (&platform.message_token, &platform.aes_key) {
        (Some(token), Some(key)) => {
            let token = read_private_value(
                token,
                &who,
                "message_token",
                "a message Token has at most 32 characters",
            )?;
            Secret::new(token.clone());
            let key =
                read_private_value(key, &who, "aes_key", "an EncodingAESKey has 43 characters")?;
            Secret::new(key.clone());
            Some(MsgCrypt::new(&token, &key).map_err(|e| {
                let field = match e {
                    KeyError::KeyLength(_) | KeyError::KeyChar(_) => "aes_key",
                    _ => "message_token",
                };
                usage(format!("{who}: field {field}: {e}"))
            })?)
        }
        _ => None,
    };
    let store_key = (platform.store_key_file.as_deref())
        .map(|path| {
            StoreKey::load(path).map_err(|e| usage(format!("{who}: field store_key_file: {e:#}")))
        })
        .transpose()?;
    Ok(PushKeys { crypt, store_key })
}
