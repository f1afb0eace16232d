//! Text that others may control (app names and appids from the config or the
//! database, upstream's messages, command-line values), made safe to print.
//!
//! wxtoken's output goes to terminals, `eval`, logs and monitoring; other writers
//! may share its database table. Characters that move the cursor, clear the
//! screen or reorder what a reader sees are escaped as `\u{...}`, in every format,
//! and an over-long value is quoted only by its start.

/// Control characters (C0, DEL, C1) and the bidirectional controls that make a
/// name read differently from what it is (`shop\u{202e}gnp.exe`).
pub fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every [`is_hostile`] character written `\u{1b}`, `\u{202e}`...
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_hostile(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` in double quotes for a message, as [`shown`] writes it, with `"` and `\`
/// escaped, and cut after `max` characters (`…` marks the cut).
pub fn quoted_max(s: &str, max: usize) -> String {
    let (head, cut) = head(s, max);
    let escaped = head.replace('\\', r"\\").replace('"', r#"\""#);
    format!("\"{}\"{cut}", shown(&escaped))
}

/// At most `max` characters of `s`, as [`shown`] writes them (`…` marks a cut):
/// for text such as upstream's messages, put in a message of wxtoken's own.
pub fn clip(s: &str, max: usize) -> String {
    let (head, cut) = head(s, max);
    shown(&head) + cut
}

/// The first `max` characters of `s`, and `…` when that cuts it (else "").
fn head(s: &str, max: usize) -> (String, &'static str) {
    let cut = s.chars().nth(max).is_some();
    (s.chars().take(max).collect(), if cut { "…" } else { "" })
}

/// The longest part of a value a message quotes.
pub const QUOTED_MAX: usize = 160;

/// `s` in double quotes for a message: see [`quoted_max`].
pub fn quoted(s: &str) -> String {
    quoted_max(s, QUOTED_MAX)
}

/// A usage error (exit 2) when `value`, named `what` in the message, is longer
/// than `max` bytes; the message quotes only its start.
pub fn max_bytes(what: &str, value: &str, max: usize) -> anyhow::Result<()> {
    if value.len() > max {
        return Err(too_long(what, value, max, "bytes"));
    }
    Ok(())
}

/// As [`max_bytes`], counting characters.
pub fn max_chars(what: &str, value: &str, max: usize) -> anyhow::Result<()> {
    if value.chars().nth(max).is_some() {
        return Err(too_long(what, value, max, "characters"));
    }
    Ok(())
}

fn too_long(what: &str, value: &str, max: usize, unit: &str) -> anyhow::Error {
    crate::error::usage(format!(
        "{what} is longer than {max} {unit} (starting {})",
        quoted_max(value, 40)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_characters_are_escaped() {
        assert_eq!(shown("evil\u{1b}[2J"), "evil\\u{1b}[2J");
        assert_eq!(shown("shop\u{202e}gnp.exe"), "shop\\u{202e}gnp.exe");
        assert_eq!(shown("a\u{7f}\u{85}\u{9f}b"), "a\\u{7f}\\u{85}\\u{9f}b");
        assert_eq!(
            shown("\u{61c}\u{200e}\u{200f}\u{202a}\u{2066}\u{2069}"),
            "\\u{61c}\\u{200e}\\u{200f}\\u{202a}\\u{2066}\\u{2069}"
        );
        assert_eq!(
            shown("名字 🚀 it's \"q\" back\\slash"),
            "名字 🚀 it's \"q\" back\\slash"
        );
    }

    #[test]
    fn quoting_cuts_long_values() {
        assert_eq!(quoted("a\"b\\c\n"), r#""a\"b\\c\u{a}""#);
        assert_eq!(quoted_max("abcdef", 3), "\"abc\"…");
        assert_eq!(quoted_max("abc", 3), "\"abc\"");
    }
}
