//! How the commands write what they found: aligned tables (`status`, `history`),
//! JSON (`show`, `status`), shell assignments (`show --format env`) and the
//! Prometheus text format (`status --format prometheus`). What goes in a cell
//! or a label is the command's business; how it is laid out and escaped is here.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use anyhow::Result;

use crate::text::{is_hostile, shown};

/// Writes a command's whole output on stdout and flushes it: one write, so
/// that a reader never sees half of it (a closed pipe is an error the caller
/// reports).
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Whether stdout gets colours: a terminal, and no `NO_COLOR` (any non-empty
/// value turns them off, as no-color.org asks).
pub fn colour_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A cell's colour on a terminal: red for what is broken, yellow for what
/// needs attention soon. The value is its SGR foreground code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Red = 31,
    Yellow = 33,
}

/// Columns aligned on the widest cell (in characters), `gap` between them,
/// no trailing spaces; the first row is the header.
pub struct Table {
    gap: &'static str,
    /// Columns from this one on are right-aligned (numbers).
    right_from: usize,
    rows: Vec<Vec<String>>,
    /// Painted cells by (row, column), the header being row 0; empty unless
    /// the table is `coloured`.
    colours: HashMap<(usize, usize), Colour>,
    coloured: bool,
}

impl Table {
    pub fn new(header: &[&str], gap: &'static str) -> Table {
        Table {
            gap,
            right_from: header.len(),
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
            colours: HashMap::new(),
            coloured: false,
        }
    }

    /// Writes the cells painted with `paint` in colour (for a terminal).
    pub fn coloured(mut self, on: bool) -> Table {
        self.coloured = on;
        self
    }

    /// Right-aligns the columns from `column` on.
    pub fn right_aligned_from(mut self, column: usize) -> Table {
        self.right_from = column;
        self
    }

    /// A row, one cell per header column.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Colours a cell of the row pushed last (nothing unless `coloured`).
    pub fn paint(&mut self, column: usize, colour: Option<Colour>) {
        if let (true, Some(colour)) = (self.coloured, colour) {
            self.colours.insert((self.rows.len() - 1, column), colour);
        }
    }

    pub fn render(&self) -> String {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for (r, row) in self.rows.iter().enumerate() {
            let cells: Vec<String> = (row.iter().enumerate())
                .map(|(c, cell)| {
                    // Padded by its visible width; the escape codes take no column.
                    let pad = " ".repeat(widths[c] - cell.chars().count());
                    let cell = match self.colours.get(&(r, c)) {
                        Some(colour) => format!("\x1b[{}m{cell}\x1b[0m", *colour as u8),
                        None => cell.clone(),
                    };
                    if c >= self.right_from {
                        pad + &cell
                    } else {
                        cell + &pad
                    }
                })
                .collect();
            out.push_str(cells.join(self.gap).trim_end());
            out.push('\n');
        }
        out
    }
}

/// Compact JSON, or pretty with `pretty`, whose strings have DEL, C1 and the
/// bidirectional controls written as `\uXXXX` escapes too (serde_json escapes
/// only C0): the data is exact, and a terminal shows it harmlessly.
pub fn json<T: serde::Serialize>(value: &T, pretty: bool) -> serde_json::Result<String> {
    let text = if pretty {
        serde_json::to_string_pretty(value)?
    } else {
        serde_json::to_string(value)?
    };
    // serde_json escapes C0 inside strings, and writes only ASCII outside them
    // (C0 there is the pretty layout's newlines): the others occur only inside
    // strings, where a \u escape means the same character.
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hostile(c) && c > '\u{1f}' {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// One line `NAME='value'` for `eval` in a POSIX shell.
pub fn env(name: &str, value: &str) -> String {
    format!("{name}={}\n", sh_quote(value))
}

/// `s` as one POSIX shell word: in single quotes, `'` written as `'\''`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The Prometheus text exposition format: gauges, each with its samples.
#[derive(Default)]
pub struct Prometheus {
    text: String,
}

impl Prometheus {
    /// Starts a gauge: its `# HELP` and `# TYPE` lines.
    pub fn gauge(&mut self, name: &str, help: &str) {
        self.text
            .push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
    }

    /// One sample of the gauge started last.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(label, v)| format!("{label}=\"{}\"", escape_label(v)))
            .collect();
        self.text
            .push_str(&format!("{name}{{{}}} {value}\n", labels.join(",")));
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// Escapes a label value as the exposition format asks (backslash, double
/// quote, newline), and control and bidirectional characters as every format
/// shows them, `\u{202e}` (its backslash escaped in turn).
fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push_str(&shown(c.encode_utf8(&mut [0; 4])).replace('\\', "\\\\")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        assert_eq!(escape_label("a\u{202e}b\u{1b}"), r"a\\u{202e}b\\u{1b}");
    }

    #[test]
    fn json_escapes_what_serde_leaves() {
        let v = serde_json::json!({"app": "shop\u{202e}gnp\u{85}\u{7f}\u{1b}"});
        let text = json(&v, false).unwrap();
        assert_eq!(text, r#"{"app":"shop\u202egnp\u0085\u007f\u001b"}"#);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        let pretty = json(&serde_json::json!([v]), true).unwrap();
        assert!(pretty.contains('\n') && !pretty.contains('\u{202e}'));
        let back: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(back[0], v);
    }

    #[test]
    fn shell_quoting_round_trips() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(env("X", "it's"), "X='it'\\''s'\n");
    }

    #[test]
    fn tables_align_on_characters_and_trim_the_ends() {
        let mut t = Table::new(&["NAME", "N"], "  ").right_aligned_from(1);
        t.push(vec!["名字".to_string(), "7".to_string()]);
        t.push(vec!["a".to_string(), "10".to_string()]);
        assert_eq!(t.render(), "NAME   N\n名字     7\na     10\n");
        let mut t = Table::new(&["A", "B"], " ");
        t.push(vec!["long".to_string(), String::new()]);
        assert_eq!(t.render(), "A    B\nlong\n");
    }

    #[test]
    fn coloured_cells_keep_the_columns_aligned() {
        let table = |on: bool| {
            let mut t = Table::new(&["APP", "STATE", "N"], " ")
                .right_aligned_from(2)
                .coloured(on);
            t.push(vec!["shop".into(), "expired".into(), "3".into()]);
            t.paint(1, Some(Colour::Red));
            t.paint(2, Some(Colour::Yellow));
            t.push(vec!["a".into(), "valid".into(), "12".into()]);
            t.paint(1, None);
            t.render()
        };
        assert_eq!(
            table(false),
            "APP  STATE    N\nshop expired  3\na    valid   12\n"
        );
        let coloured = table(true);
        assert_eq!(
            coloured,
            "APP  STATE    N\nshop \x1b[31mexpired\x1b[0m  \x1b[33m3\x1b[0m\na    valid   12\n"
        );
        // Without the escape codes, the same layout.
        let visible = coloured.replace("\x1b[31m", "").replace("\x1b[33m", "");
        assert_eq!(visible.replace("\x1b[0m", ""), table(false));
    }

    #[test]
    fn prometheus_samples_carry_escaped_labels() {
        let mut p = Prometheus::default();
        p.gauge("g", "Help.");
        p.sample("g", &[("app", "a\"b"), ("kind", "k")], 1.5);
        assert_eq!(
            p.finish(),
            "# HELP g Help.\n# TYPE g gauge\ng{app=\"a\\\"b\",kind=\"k\"} 1.5\n"
        );
    }
}
