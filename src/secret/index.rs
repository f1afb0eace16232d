//! The registered secrets, indexed for [`super::redact`]: automatons that find
//! them all in one pass over a line, and the line decoded once for them.
//!
//! Secrets arrive one at a time (a rotated credential in the middle of a
//! run), and lines are written in between: the automatons are built in
//! levels, a new one merged with the one before while that is not more than
//! twice its size, so each secret is built into an automaton a few times
//! (log n) in all, and a line runs a few automatons (log n) whatever n is.

use aho_corasick::{AhoCorasick, MatchKind};

use super::{encoded_at, hex_byte};

/// Secrets added since the last level was built are looked for the slow way,
/// at every place of a line, until there are this many.
const PENDING: usize = 32;

pub(super) struct Index {
    levels: Vec<Level>,
    /// Added since the last level was built.
    pending: Vec<String>,
    /// Those with a `%` or a `\` of their own: the decoding could take them
    /// for the start of an escape, so they are always looked for the slow way.
    slow: Vec<String>,
}

struct Level {
    secrets: Vec<String>,
    automaton: AhoCorasick,
}

impl Level {
    fn build(secrets: Vec<String>) -> Option<Level> {
        let patterns = secrets.iter().map(|s| folded(s.as_bytes()));
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .ok()?;
        Some(Level { secrets, automaton })
    }
}

impl Index {
    pub(super) const fn new() -> Index {
        Index {
            levels: Vec::new(),
            pending: Vec::new(),
            slow: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, secret: String) {
        if secret.contains(['%', '\\']) {
            self.slow.push(secret);
            return;
        }
        self.pending.push(secret);
        if self.pending.len() < PENDING {
            return;
        }
        let mut secrets = std::mem::take(&mut self.pending);
        while let Some(last) = self
            .levels
            .pop_if(|last| last.secrets.len() <= 2 * secrets.len())
        {
            secrets.extend(last.secrets);
        }
        match Level::build(secrets.clone()) {
            Some(level) => self.levels.push(level),
            // Too large for an automaton (not at any real size): the slow way.
            None => self.slow.extend(secrets),
        }
    }

    /// Where registered secrets are in `text`: (start, length) in bytes,
    /// every one checked with [`encoded_at`], overlapping ones included.
    pub(super) fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        let plain = folded(text.as_bytes());
        // The line decoded, and where in `text` each of its bytes came from;
        // a line with nothing to decode is searched once.
        let decoded = text.contains(['%', '\\']).then(|| decode(text.as_bytes()));
        for level in &self.levels {
            for m in level.automaton.find_overlapping_iter(&plain) {
                check(
                    &level.secrets[m.pattern().as_usize()],
                    text,
                    m.start(),
                    &mut found,
                );
            }
            if let Some((bytes, starts)) = &decoded {
                for m in level.automaton.find_overlapping_iter(bytes) {
                    let secret = &level.secrets[m.pattern().as_usize()];
                    check(secret, text, starts[m.start()], &mut found);
                }
            }
        }
        for secret in self.pending.iter().chain(&self.slow) {
            for (start, _) in text.char_indices() {
                check(secret, text, start, &mut found);
            }
        }
        found
    }
}

/// Records `secret` at `start` of `text` when it is really there.
fn check(secret: &str, text: &str, start: usize, found: &mut Vec<(usize, usize)>) {
    if text.is_char_boundary(start)
        && let Some(len) = encoded_at(secret, &text[start..])
    {
        found.push((start, len));
    }
}

/// `+` read as a space, as a form-encoded line means it (a secret's own `+`
/// is folded too: the check after tells them apart).
fn folded(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect()
}

/// `text` with `%XX`, `\uXXXX` (surrogate pairs joined) and JSON's short
/// escapes decoded, `+` folded; and for each byte of that, the place in
/// `text` where the escape (or the byte) it came from starts.
fn decode(text: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::with_capacity(text.len());
    let mut starts = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let mut utf8 = [0; 4];
        let (out, used): (&[u8], usize) = match escape(&text[i..]) {
            Some((Decoded::Byte(b), used)) => {
                utf8[0] = b;
                (&utf8[..1], used)
            }
            Some((Decoded::Char(c), used)) => (c.encode_utf8(&mut utf8).as_bytes(), used),
            None => (&text[i..=i], 1),
        };
        for &b in out {
            bytes.push(if b == b'+' { b' ' } else { b });
            starts.push(i);
        }
        i += used;
    }
    (bytes, starts)
}

enum Decoded {
    Byte(u8),
    Char(char),
}

/// The escape `text` starts with, and its length.
fn escape(text: &[u8]) -> Option<(Decoded, usize)> {
    match text {
        [b'%', hi, lo, ..] => Some((Decoded::Byte(hex_byte(*hi, *lo)?), 3)),
        [b'\\', b'u', ..] => {
            let high = unit(text)?;
            if (0xD800..0xDC00).contains(&high) {
                let low = unit(text.get(6..)?)?;
                let c = char::decode_utf16([high, low]).next()?.ok()?;
                return Some((Decoded::Char(c), 12));
            }
            Some((Decoded::Char(char::from_u32(u32::from(high))?), 6))
        }
        [b'\\', e, ..] => {
            let c = match e {
                b'"' | b'\\' | b'/' => *e,
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                _ => return None,
            };
            Some((Decoded::Byte(c), 2))
        }
        _ => None,
    }
}

/// The UTF-16 unit of a `\uXXXX` at the start of `text`.
fn unit(text: &[u8]) -> Option<u16> {
    match text {
        [b'\\', b'u', h1, h2, h3, h4, ..] => {
            Some(u16::from(hex_byte(*h1, *h2)?) << 8 | u16::from(hex_byte(*h3, *h4)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The promise of the levels: fewer than `PENDING` secrets looked for the
    /// slow way, every automaton built from at least a full batch, and each
    /// level more than twice the size of the one after it (so a line runs
    /// log n automatons); every secret is still found.
    #[test]
    fn levels_are_few_and_each_secret_is_found() {
        let mut index = Index::new();
        for n in 1..=2000 {
            index.add(format!("lv-{n:05}-x"));
            assert!(
                index.pending.len() < PENDING,
                "{n}: {}",
                index.pending.len()
            );
            assert!(
                index.slow.is_empty(),
                "{n}: {} the slow way",
                index.slow.len()
            );
            let sizes: Vec<usize> = index.levels.iter().map(|l| l.secrets.len()).collect();
            let held: usize = sizes.iter().sum::<usize>() + index.pending.len();
            assert_eq!(held, n, "{sizes:?}");
            assert!(sizes.iter().all(|&s| s >= PENDING), "{n}: {sizes:?}");
            assert!(sizes.windows(2).all(|w| w[0] > 2 * w[1]), "{n}: {sizes:?}");
        }
        for n in [1, 32, 33, 1000, 1999, 2000] {
            let line = format!("a lv-{n:05}-x b");
            assert_eq!(index.find(&line), [(2, 10)], "{line}");
        }
    }
}
