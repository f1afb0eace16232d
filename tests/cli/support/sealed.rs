//! Test-only sealing of customer credentials, as wxtoken's store key does it
//! (src/platform/storekey.rs): `v1:` + base64(nonce ‖ ciphertext ‖ tag),
//! AES-256-GCM, AAD `wxtoken store v1` + each part length-prefixed (u64 BE).
//! Tests plant customer rows with it, and open what wxtoken stored.
#![allow(dead_code)]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The key file's line: 32 bytes of 0x42, base64.
pub const KEY_LINE: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

fn cipher() -> Aes256Gcm {
    Aes256Gcm::new_from_slice(&STANDARD.decode(KEY_LINE).unwrap()).unwrap()
}

fn associated(parts: &[&str]) -> Vec<u8> {
    let mut out = b"wxtoken store v1".to_vec();
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// `plain` sealed for `[platform, appid, kind]` (a fixed nonce: tests only).
pub fn seal(plain: &str, aad: &[&str]) -> String {
    let nonce = [7u8; 12];
    let aad = associated(aad);
    let sealed = cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain.as_bytes(),
                aad: &aad,
            },
        )
        .unwrap();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    format!("v1:{}", STANDARD.encode(out))
}

/// What wxtoken sealed for `[platform, appid, kind]`.
pub fn open(sealed: &str, aad: &[&str]) -> String {
    let bytes = STANDARD
        .decode(sealed.strip_prefix("v1:").unwrap())
        .unwrap();
    let (nonce, ct) = bytes.split_at(12);
    let aad = associated(aad);
    let plain = cipher()
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .unwrap();
    String::from_utf8(plain).unwrap()
}
