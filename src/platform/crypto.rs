//! WeChat's message crypto (WXBizMsgCrypt), the same for Open Platform pushes
//! and WeCom callbacks: facts in `wechat-third-party-api.md`, A.2.
//!
//! AES-256-CBC with the IV taken from the key, no cipher-level padding, then a
//! PKCS#7 pad to 32-byte blocks removed here by hand (a 16-byte PKCS#7
//! unpadder cannot take pads of 17..32). The plaintext is
//! `random(16) ‖ msg_len (u32, big-endian) ‖ msg ‖ receive_id`.
//!
//! Callers verify the signature before decrypting: what fails to decrypt is
//! then either WeChat's bug or a wrong key, never an oracle for a forger.
//! Every input is bounded and no input panics (the proptests below).

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
#[cfg(test)]
use cbc::cipher::BlockEncryptMut;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The longest `Encrypt` / `echostr` text taken (pushes are a few kB).
pub const MAX_ENCRYPTED: usize = 1 << 20;

/// The longest message `encrypt` takes: its base64 stays under [`MAX_ENCRYPTED`].
#[cfg(test)]
pub const MAX_MESSAGE: usize = MAX_ENCRYPTED / 4 * 3 - 1024;

/// The longest callback Token taken (WeChat's are 3 to 32 characters).
const MAX_TOKEN: usize = 128;

/// An EncodingAESKey is this many characters of `[A-Za-z0-9]`.
const KEY_CHARS: usize = 43;

/// PKCS#7 block size of the padding inside the plaintext (not AES's 16).
const PAD_BLOCK: usize = 32;

/// `random(16) ‖ msg_len(4)`.
const HEADER: usize = 20;

/// Why a Token or EncodingAESKey is refused. The messages never quote the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The EncodingAESKey has this many characters, not 43.
    #[error(
        "the EncodingAESKey has {0} character{s}, not {KEY_CHARS}: copy it again from the platform's settings (it is 43 letters or digits, of your choosing)",
        s = if *.0 == 1 { "" } else { "s" }
    )]
    KeyLength(usize),
    /// Its character at this (1-based) position is not a letter or digit.
    #[error(
        "character {0} of the EncodingAESKey is not a letter or digit: copy it again from the platform's settings"
    )]
    KeyChar(usize),
    /// The Token is empty.
    #[error("the message Token is empty")]
    TokenEmpty,
    /// The Token is longer than [`MAX_TOKEN`] bytes.
    #[error("the message Token has {0} bytes, more than {MAX_TOKEN}: is it the right file?")]
    TokenLength(usize),
    /// The Token has a blank or control character (a stray line end?).
    #[error(
        "the message Token has a blank or control character: copy it again from the platform's settings"
    )]
    TokenChar,
}

/// Why an `Encrypt` text is refused (after its signature was verified).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptError {
    /// Longer than [`MAX_ENCRYPTED`] (or, encrypting, [`MAX_MESSAGE`]).
    #[error("encrypted text of {0} bytes is longer than {MAX_ENCRYPTED}")]
    TooLong(usize),
    /// Not standard base64.
    #[error("encrypted text is not base64")]
    Base64,
    /// Not a whole number of AES blocks, or too short to hold the header.
    #[error("encrypted text of {0} bytes is not a whole number of AES blocks")]
    Length(usize),
    /// The PKCS#7 padding is not 1..32 bytes of its own length: a wrong key?
    #[error(
        "decrypted text has no valid padding: is the EncodingAESKey the platform's current one?"
    )]
    Padding,
    /// The message length field points past the end.
    #[error(
        "decrypted message length {0} is past the end: is the EncodingAESKey the platform's current one?"
    )]
    MsgLength(u32),
    /// The message or the receiver id is not UTF-8.
    #[error("decrypted message is not UTF-8")]
    Utf8,
}

/// A decrypted push: the message (XML) and whom it was encrypted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub msg: String,
    /// The component appid, suite id or corpid (A.2): compare it with the
    /// configured one.
    pub receive_id: String,
}

/// One platform's callback Token and AES key.
#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    /// The AES key; its first 16 bytes are the IV.
    key: [u8; 32],
}

#[cfg(test)]
impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MsgCrypt(***)")
    }
}

impl MsgCrypt {
    /// The Token and the 43-character EncodingAESKey from the platform's settings.
    pub fn new(token: &str, encoding_aes_key: &str) -> Result<MsgCrypt, KeyError> {
        if token.is_empty() {
            return Err(KeyError::TokenEmpty);
        }
        if token.len() > MAX_TOKEN {
            return Err(KeyError::TokenLength(token.len()));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KeyError::TokenChar);
        }
        let n = encoding_aes_key.chars().count();
        if n != KEY_CHARS {
            return Err(KeyError::KeyLength(n));
        }
        if let Some(at) = encoding_aes_key
            .bytes()
            .position(|b| !b.is_ascii_alphanumeric())
        {
            return Err(KeyError::KeyChar(at + 1));
        }
        // The 43rd character carries 4 bits that are not part of the key and
        // are seldom zero: a strict decoder refuses most real keys.
        const LENIENT: GeneralPurpose = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let bytes = LENIENT
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| KeyError::KeyChar(KEY_CHARS))?;
        let key = <[u8; 32]>::try_from(bytes).map_err(|b| KeyError::KeyLength(b.len()))?;
        Ok(MsgCrypt {
            token: token.to_string(),
            key,
        })
    }

    /// `msg_signature`: lowercase hex SHA-1 of the sorted token, timestamp,
    /// nonce and `Encrypt` text, concatenated. Only [`MsgCrypt::verify`] and
    /// tests call it: a signature from outside is compared there, in constant
    /// time (a test holds every source file to that).
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sha1_sorted(&mut [&self.token, timestamp, nonce, encrypt])
    }

    /// The plain `signature` (token, timestamp, nonce): Open Platform sends it
    /// too, but says not to verify with it (tests only).
    #[cfg(test)]
    pub fn url_signature(&self, timestamp: &str, nonce: &str) -> String {
        sha1_sorted(&mut [&self.token, timestamp, nonce])
    }

    /// Whether `msg_signature` signs this `Encrypt` text (in constant time).
    pub fn verify(&self, msg_signature: &str, timestamp: &str, nonce: &str, encrypt: &str) -> bool {
        let expected = self.signature(timestamp, nonce, encrypt);
        bool::from(expected.as_bytes().ct_eq(msg_signature.as_bytes()))
    }

    /// Decrypts an `Encrypt` (or WeCom `echostr`, URL-decoded) text.
    pub fn decrypt(&self, encrypted: &str) -> Result<Decrypted, CryptError> {
        if encrypted.len() > MAX_ENCRYPTED {
            return Err(CryptError::TooLong(encrypted.len()));
        }
        let mut buf = STANDARD.decode(encrypted).map_err(|_| CryptError::Base64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptError::Length(buf.len()));
        }
        let plain = cbc::Decryptor::<Aes256>::new(&self.key.into(), self.key[..16].into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CryptError::Length(encrypted.len()))?;
        let pad = usize::from(*plain.last().ok_or(CryptError::Padding)?);
        if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
            return Err(CryptError::Padding);
        }
        let (content, padding) = plain.split_at(plain.len() - pad);
        if padding.iter().any(|&b| usize::from(b) != pad) {
            return Err(CryptError::Padding);
        }
        let Some((header, rest)) = content.split_at_checked(HEADER) else {
            return Err(CryptError::Padding);
        };
        let len = u32::from_be_bytes([header[16], header[17], header[18], header[19]]);
        let Some((msg, receive_id)) = usize::try_from(len)
            .ok()
            .and_then(|n| rest.split_at_checked(n))
        else {
            return Err(CryptError::MsgLength(len));
        };
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| CryptError::Utf8);
        Ok(Decrypted {
            msg: text(msg)?,
            receive_id: text(receive_id)?,
        })
    }

    /// Encrypts a message for `receive_id` with the given 16 random bytes, as
    /// base64 (tests only: wxtoken's replies are never encrypted).
    #[cfg(test)]
    pub fn encrypt(
        &self,
        msg: &str,
        receive_id: &str,
        random: [u8; 16],
    ) -> Result<String, CryptError> {
        let body = msg.len() + receive_id.len();
        if body > MAX_MESSAGE {
            return Err(CryptError::TooLong(body));
        }
        let len = u32::try_from(msg.len()).map_err(|_| CryptError::TooLong(msg.len()))?;
        let mut buf = Vec::with_capacity(HEADER + body + PAD_BLOCK);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(receive_id.as_bytes());
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        // pad is 1..=32, so it fits a byte.
        buf.resize(buf.len() + pad, pad as u8);
        let n = buf.len();
        let cipher = cbc::Encryptor::<Aes256>::new(&self.key.into(), self.key[..16].into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, n)
            .map_err(|_| CryptError::Length(n))?;
        Ok(STANDARD.encode(cipher))
    }
}

fn sha1_sorted(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    format!("{:x}", Sha1::digest(parts.concat()))
}

#[cfg(test)]
mod tests;
