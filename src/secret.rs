//! App secrets, and the redaction that keeps them out of every line wxtoken writes.
//!
//! A `Secret` has no `Display` and a `Debug` of `***`. Every secret that is loaded is
//! also registered here, and the logger and the error printer pass their text through
//! [`redact`], which finds a secret however a library may have encoded it: raw,
//! percent-encoded with any safe set, or JSON-escaped.
//!
//! One pass over a line finds every secret at once, however many are registered
//! (a refresh of 10,000 customers registers each one's credential): the line is
//! decoded once (`%XX`, `\uXXXX` and JSON's short escapes, `+` taken for a space),
//! and [aho-corasick] automatons of the secrets run over it and over the line as
//! written; each place found is then checked exactly ([`encoded_at`]). A secret
//! with a `%` or a `\` of its own, which the decoding could take for the start of
//! an escape, is looked for the slow way, at every place (there are few).

mod index;

use std::collections::BTreeSet;
use std::sync::RwLock;

use index::Index;

// A set: a refresh registers every customer's credential (10,000 and more),
// and a list checked for duplicates made that quadratic.
static KNOWN: RwLock<Known> = RwLock::new(Known {
    all: BTreeSet::new(),
    index: Index::new(),
});

struct Known {
    all: BTreeSet<String>,
    index: Index,
}

#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret and registers it for redaction. Values shorter than 4
    /// characters are no real secrets (WeChat's have 32) and would garble every
    /// message they occur in: those are not redacted.
    pub fn new(value: String) -> Secret {
        if value.chars().count() >= 4 {
            let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
            if known.all.insert(value.clone()) {
                known.index.add(value.clone());
            }
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

/// Replaces every registered secret in `text`, in any of its encodings, with `***`.
pub fn redact(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    if known.all.is_empty() {
        return text.to_string();
    }
    // (start, length) of every secret found, checked.
    let mut found = known.index.find(text);
    // The longest at each place, the leftmost first; none inside another.
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, len) in found {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str("***");
        at = start + len;
    }
    out.push_str(&text[at..]);
    out
}

/// The length of the longest prefix of `text` that is `secret` written with any
/// mix of encodings, character by character (see [`char_forms`]). Tracks every
/// place in `text` a prefix of the secret can end at (a handful at most), so it
/// never backtracks.
pub(crate) fn encoded_at(secret: &str, text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut ends = vec![0];
    for c in secret.chars() {
        let mut next = Vec::new();
        for &at in &ends {
            for len in char_forms(c, &bytes[at..]).into_iter().flatten() {
                if !next.contains(&(at + len)) {
                    next.push(at + len);
                }
            }
        }
        if next.is_empty() {
            return None;
        }
        ends = next;
    }
    // Every form is whole characters; checked all the same, as the caller slices there.
    ends.into_iter()
        .filter(|&end| text.is_char_boundary(end))
        .max()
}

/// The lengths of the ways `text` can start with `c`: raw (`+` for a space),
/// percent-encoded (either hex case), `\uXXXX`-escaped, or a short JSON escape
/// such as `\/`.
fn char_forms(c: char, text: &[u8]) -> [Option<usize>; 4] {
    let mut utf8 = [0; 4];
    let utf8 = c.encode_utf8(&mut utf8).as_bytes();
    let raw =
        (text.starts_with(utf8) || (c == ' ' && text.starts_with(b"+"))).then_some(utf8.len());
    let mut percent = Some(0);
    for &b in utf8 {
        percent = percent.and_then(|at| match text.get(at..at + 3)? {
            [b'%', hi, lo] if hex_byte(*hi, *lo) == Some(b) => Some(at + 3),
            _ => None,
        });
    }
    // Beyond the BMP, a surrogate pair.
    let mut units = [0; 2];
    let mut unicode = Some(0);
    for &unit in c.encode_utf16(&mut units).iter() {
        unicode = unicode.and_then(|at| match text.get(at..at + 6)? {
            [b'\\', b'u', h1, h2, h3, h4]
                if hex_byte(*h1, *h2) == Some((unit >> 8) as u8)
                    && hex_byte(*h3, *h4) == Some(unit as u8) =>
            {
                Some(at + 6)
            }
            _ => None,
        });
    }
    let escape = match c {
        '"' | '\\' | '/' => Some(c as u8),
        '\u{8}' => Some(b'b'),
        '\u{c}' => Some(b'f'),
        '\n' => Some(b'n'),
        '\r' => Some(b'r'),
        '\t' => Some(b't'),
        _ => None,
    };
    let short = match (escape, text) {
        (Some(e), [b'\\', x, ..]) if *x == e => Some(2),
        _ => None,
    };
    [raw, percent, unicode, short]
}

/// The byte two hex digits (either case) spell.
fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    let digit = |d: u8| (d as char).to_digit(16);
    Some((digit(hi)? * 16 + digit(lo)?) as u8)
}

/// A token shortened for logs: its first 8 characters.
pub fn short(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn redacts_raw_and_encoded_forms() {
        let s = Secret::new("s3cr+t/x".to_string());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(redact("a s3cr+t/x b"), "a *** b");
        assert_eq!(redact("?secret=s3cr%2Bt%2Fx&"), "?secret=***&");
        assert_eq!(redact("?secret=s3cr%2bt%2fx&"), "?secret=***&");
        assert_eq!(redact(r#"{"secret":"s3cr+t\/x"}"#), r#"{"secret":"***"}"#);
        assert_eq!(short("ACCESS_TOKEN_VALUE"), "ACCESS_T…");
    }

    #[test]
    fn redacts_every_safe_set_and_escape() {
        Secret::new("Ab1!()*'~;-x_9".to_string());
        for form in [
            "Ab1!()*'~;-x_9",
            "Ab1!()*%27~%3B-x_9",
            "Ab1%21%28%29%2A%27%7E%3B-x_9",
            "Ab1%21%28%29%2a%27%7e%3b%2Dx%5F9",
            "Ab1!()*\\u0027~\\u003b-x_9",
            "Ab1\\u0021\\u0028\\u0029\\u002A'~;-x_9",
            "\\u0041b1!()*'~;-x_9",
        ] {
            assert_eq!(
                redact(&format!("secret={form}&x")),
                "secret=***&x",
                "{form}"
            );
        }
        // A prefix or a near miss is no secret.
        assert_eq!(redact("Ab1!()*'~;-x_"), "Ab1!()*'~;-x_");
        assert_eq!(redact("Ab1%21()*'~;-x_8"), "Ab1%21()*'~;-x_8");
    }

    #[test]
    fn redacts_spaces_quotes_and_non_ascii() {
        Secret::new("pw d\"é😀/".to_string());
        for form in [
            "pw d\"é😀/",
            "pw+d%22%C3%A9%F0%9F%98%80%2F",
            "pw%20d%22%c3%a9%f0%9f%98%80/",
            "pw d\\\"\\u00e9\\ud83d\\ude00\\/",
        ] {
            assert_eq!(redact(&format!("«{form}»")), "«***»", "{form}");
        }
    }

    #[test]
    fn every_place_a_prefix_ends_at_is_kept() {
        // `\` is one byte raw and two JSON-escaped: after `q`, a prefix of the
        // secret ends at 2 or at 3, and only 3 leads on to the rest.
        Secret::new("q\\Wz9".to_string());
        assert_eq!(redact(r#"{"k":"q\\Wz9"}"#), r#"{"k":"***"}"#);
    }

    #[test]
    fn an_escape_of_another_character_is_no_secret() {
        // Secrets with a `%` or a `\` are checked at every place by
        // `encoded_at` alone: an escape must spell the very byte (or UTF-16 unit).
        Secret::new("Qx%9z".to_string());
        assert_eq!(redact("a Qx%259z b"), "a *** b");
        assert_eq!(redact("a Qx%269z b"), "a Qx%269z b");
        Secret::new("Qx\\9z".to_string());
        assert_eq!(redact(r"a Qx\u005c9z b"), "a *** b");
        assert_eq!(redact(r"a Qx\u005d9z b"), r"a Qx\u005d9z b");
        assert_eq!(redact(r"a Qx\u015c9z b"), r"a Qx\u015c9z b");
        assert_eq!(redact(r"a Qx\\9z b"), "a *** b");
        assert_eq!(redact(r#"a Qx\"9z b"#), r#"a Qx\"9z b"#);
    }

    #[test]
    fn control_characters_in_json_short_escapes_are_redacted() {
        let secret = "Ctl\u{8}\u{c}\n\r\tEnd";
        Secret::new(secret.to_string());
        let json = serde_json::to_string(secret).unwrap();
        assert_eq!(json, r#""Ctl\b\f\n\r\tEnd""#);
        let line = format!("{{\"k\":{json}}}");
        assert_eq!(redact(&line), r#"{"k":"***"}"#, "looked for the slow way");
        index_them();
        assert_eq!(redact(&line), r#"{"k":"***"}"#, "in an automaton");
    }

    /// How a library might write one character of a secret.
    fn encode(c: char, how: u8) -> String {
        match how % 4 {
            0 => c.to_string(),
            1 => c.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
            2 => c.to_string().bytes().map(|b| format!("%{b:02x}")).collect(),
            _ => c
                .encode_utf16(&mut [0; 2])
                .iter()
                .map(|u| format!("\\u{u:04x}"))
                .collect(),
        }
    }

    /// Registers enough other secrets that every one registered before is
    /// in an automaton, not among the few looked for the slow way.
    fn index_them() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        for _ in 0..32 {
            let n = N.fetch_add(1, Ordering::SeqCst);
            Secret::new(format!("filler-QZ{n:08}-qz"));
        }
    }

    #[test]
    fn among_thousands_each_secret_is_found_in_every_form() {
        let secrets: Vec<String> = (0..3000)
            .map(|i| format!("{i:04}Mx{}", "k9+/ \"ab".repeat(1 + i % 3)))
            .collect();
        for s in &secrets {
            Secret::new(s.clone());
        }
        index_them();
        for s in secrets.iter().step_by(97) {
            let json = s.replace('/', "\\/").replace('"', "\\\"");
            let form = s.replace('+', "%2B").replace(' ', "+").replace('"', "%22");
            let line = format!("a {s} b {json} c {form} d {s}{s}");
            assert_eq!(redact(&line), "a *** b *** c *** d ******", "{line}");
        }
        // The longest wins where two start at one place.
        Secret::new("0000Mxk9".to_string());
        assert_eq!(redact("x0000Mxk9+/ \"aby"), "x***y");
        assert_eq!(redact("x0000Mxk9+/y"), "x***+/y");
    }

    proptest! {
        #[test]
        fn any_mix_of_encodings_is_redacted(
            secret in "[ -~é中😀]{4,20}",
            how in proptest::collection::vec(any::<u8>(), 20),
            before in "[a-z =&?]{0,8}",
        ) {
            Secret::new(secret.clone());
            index_them();
            let encoded: String = secret.chars().zip(&how).map(|(c, h)| encode(c, *h)).collect();
            let out = redact(&format!("{before}{encoded}"));
            prop_assert!(out.contains("***"), "{encoded:?} gave {out:?}");
            prop_assert!(!out.contains(&encoded), "{encoded:?} gave {out:?}");
        }
    }
}
