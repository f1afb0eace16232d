//! App secrets, and the redaction that keeps them out of every line wxtoken writes.
//!
//! A `Secret` has no `Display` and a `Debug` of `***`. Every secret that is loaded is
//! also registered here, and the logger and the error printer pass their text through
//! [`redact`], so that even a library's trace log of a request URL (ureq logs the
//! query string at trace level) never shows one.

use std::sync::RwLock;

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret and registers it (raw and percent-encoded) for redaction.
    /// Values shorter than 4 characters are no real secrets (WeChat's have 32)
    /// and would garble every message they occur in: those are not redacted.
    pub fn new(value: String) -> Secret {
        if value.chars().count() >= 4 {
            let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
            let encoded = percent_encode(&value);
            if encoded != value {
                known.push(encoded);
            }
            known.push(value.clone());
        }
        Secret(value)
    }

    /// The secret itself, for building the upstream request and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every registered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for s in known.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// A token shortened for logs: its first 8 characters.
pub fn short(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_raw_and_encoded_forms() {
        let s = Secret::new("s3cr+t/x".to_string());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(redact("a s3cr+t/x b"), "a *** b");
        assert_eq!(redact("?secret=s3cr%2Bt%2Fx&"), "?secret=***&");
        assert_eq!(short("ACCESS_TOKEN_VALUE"), "ACCESS_T…");
    }
}
