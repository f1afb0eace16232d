//! The store key: encrypts the long-lived secrets of platforms (authorizer
//! refresh tokens, permanent codes) before they go into the database, so that
//! a copied database or backup gives nobody access. Readers of tokens never
//! need it.
//!
//! The key file (made by `wxtoken keygen`) is one line: 32 random bytes in
//! standard base64. A sealed value is `v1:` + base64(nonce ‖ ciphertext ‖ tag),
//! AES-256-GCM with a random 96-bit nonce; the associated data names the
//! value's place (platform, customer, kind), so a value copied into another
//! row does not open. A wrong key or an altered value fails, never decrypts
//! to garbage.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Result, anyhow};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::usage;
use crate::fsafe;

/// What a sealed value starts with: the format's version.
const PREFIX: &str = "v1:";

/// The longest sealed value taken (refresh tokens and permanent codes are at
/// most 512 bytes).
pub const MAX_SEALED: usize = 64 * 1024;

const NONCE: usize = 12;
const TAG: usize = 16;

/// The key file's length: 44 base64 characters and a line end.
const KEY_LINE: usize = 45;

pub struct StoreKey {
    cipher: Aes256Gcm,
}

#[cfg(test)]
impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(***)")
    }
}

/// Why a sealed value does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not `v1:` and base64 of a nonce, ciphertext and tag.
    #[error("the stored value is not a sealed value (v1:...): was it written by hand?")]
    Format,
    /// The key is not the one it was sealed with, or the value was altered
    /// or moved from another place.
    #[error(
        "the stored value does not open with this store key: is store_key_file the key it was stored with? (or the value was altered or copied from another row)"
    )]
    Mismatch,
}

/// A new key file's text: 32 random bytes in base64, and a line end.
pub fn new_key_line() -> Result<String> {
    let mut key = [0u8; 32];
    random(&mut key)?;
    Ok(format!("{}\n", STANDARD.encode(key)))
}

impl StoreKey {
    /// Reads the key file: trusted (see `fsafe`), a regular file, readable by
    /// its owner only, one line of 44 base64 characters. Errors exit 2.
    pub fn load(path: &Path) -> Result<StoreKey> {
        let shown = path.display();
        let (bytes, meta) = fsafe::read_trusted(path, "store key file", KEY_LINE as u64)?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(usage(format!(
                "store key file {shown} (mode {:04o}) is readable by group or others: `chmod 600 {shown}`",
                mode & 0o7777
            )));
        }
        StoreKey::from_line(&bytes).ok_or_else(|| {
            usage(format!(
                "store key file {shown} is not a store key (one line of 44 base64 characters): point store_key_file at the file `wxtoken keygen` wrote, or make a new one with `wxtoken keygen PATH` if nothing is stored yet"
            ))
        })
    }

    /// The key from a key file's bytes, if they are one line of 44 base64
    /// characters (32 bytes), with or without its line end.
    fn from_line(bytes: &[u8]) -> Option<StoreKey> {
        let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        if line.len() != 44 {
            return None;
        }
        let key = STANDARD.decode(line).ok()?;
        let cipher = Aes256Gcm::new_from_slice(&key).ok()?;
        Some(StoreKey { cipher })
    }

    /// Encrypts `plaintext` for the place `aad` names (platform, customer,
    /// kind): only [`StoreKey::open`] with the same place opens it.
    pub fn seal(&self, plaintext: &str, aad: &[&str]) -> Result<String> {
        let mut nonce = [0u8; NONCE];
        random(&mut nonce)?;
        let aad = associated(aad);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow!("could not encrypt a value of {} bytes", plaintext.len()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Decrypts what [`StoreKey::seal`] made for the same place.
    pub fn open(&self, sealed: &str, aad: &[&str]) -> Result<String, OpenError> {
        if sealed.len() > MAX_SEALED {
            return Err(OpenError::Format);
        }
        let data = sealed.strip_prefix(PREFIX).ok_or(OpenError::Format)?;
        let bytes = STANDARD.decode(data).map_err(|_| OpenError::Format)?;
        if bytes.len() < NONCE + TAG {
            return Err(OpenError::Format);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE);
        let aad = associated(aad);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Mismatch)?;
        // Authentic and sealed from a &str: UTF-8 unless sealed by another program.
        String::from_utf8(plain).map_err(|_| OpenError::Format)
    }
}

fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| anyhow!("the operating system gave no random bytes: {e}"))
}

/// The parts of a place, each with its length, so that no two lists of
/// parts give the same bytes (`a/b` + `c` differs from `a` + `b/c`).
fn associated(parts: &[&str]) -> Vec<u8> {
    let mut out = b"wxtoken store v1".to_vec();
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests;
