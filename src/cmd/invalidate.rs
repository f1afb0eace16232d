//! `wxtoken invalidate`: mark a stored token (or ticket) unusable, so that `show`
//! exits 3 and the next `refresh` fetches. With `--if-token`, only if the stored
//! value is still that token: a caller that saw 40001 cannot throw away a fresher
//! token another process already stored. `--if-token -` reads the token from
//! standard input, so that it never sits in argv (where `ps` shows it).

use std::io::Read;

use anyhow::Result;

use crate::app::Kind;
use crate::cli::{Global, InvalidateArgs};
use crate::cmd::common::{init_logging, open_if_present};
use crate::error::usage;
use crate::store::{Invalidated, Store};
use crate::text::quoted;
use crate::{clock, config};

/// The longest token `--if-token` takes (WeChat's are at most 2048 bytes).
pub const MAX_IF_TOKEN: usize = 4096;

pub fn run(global: &Global, args: &InvalidateArgs) -> Result<()> {
    init_logging(global);
    config::name_arg("--app", &args.app)?;
    let if_token = if_token(args.if_token.as_deref(), &mut std::io::stdin().lock())?;
    // Opening read-only first: invalidate never creates a database.
    if open_if_present(global)?.is_none() {
        return Err(usage(
            "no database yet: nothing to invalidate (run `wxtoken refresh` first)",
        ));
    }
    let mut store = crate::cmd::common::open_to_invalidate(global)?;
    let kind = args.ticket.map_or(Kind::AccessToken, Kind::Ticket);
    let result = mark(store.as_mut(), &args.app, kind, if_token.as_deref());
    crate::cmd::common::export_outcome(store.as_mut(), result)
}

/// The token of `--if-token`: the argument itself, or with `-` one line of
/// `stdin` (its newline stripped).
fn if_token(arg: Option<&str>, stdin: &mut dyn Read) -> Result<Option<String>> {
    let Some(arg) = arg else {
        return Ok(None);
    };
    if arg != "-" {
        crate::text::max_bytes("--if-token", arg, MAX_IF_TOKEN)?;
        return Ok(Some(arg.to_string()));
    }
    let mut bytes = Vec::new();
    // Room for the token, "\r\n", and one byte more to tell that it is too long.
    stdin
        .take(MAX_IF_TOKEN as u64 + 3)
        .read_to_end(&mut bytes)
        .map_err(|e| usage(format!("--if-token -: could not read standard input: {e}")))?;
    let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_IF_TOKEN {
        return Err(usage(format!(
            "--if-token -: the token on standard input is longer than {MAX_IF_TOKEN} bytes"
        )));
    }
    if line.contains(&b'\n') {
        return Err(usage(
            "--if-token -: standard input holds more than one line: give the token alone",
        ));
    }
    let token = std::str::from_utf8(line)
        .map_err(|_| usage("--if-token -: standard input is not UTF-8 text"))?;
    if token.is_empty() {
        return Err(usage(
            "--if-token -: standard input is empty: give the token your call was refused with",
        ));
    }
    Ok(Some(token.to_string()))
}

fn mark(store: &mut dyn Store, app: &str, kind: Kind, if_token: Option<&str>) -> Result<()> {
    let what = kind.label();
    let shown = quoted(app);
    match store.invalidate(app, kind.as_str(), if_token, clock::now())? {
        Invalidated::Done => {
            log::info!(
                "app {shown}: {what} invalidated; the next `wxtoken refresh` fetches a new one"
            );
        }
        Invalidated::Mismatch => crate::out::errln!(
            "wxtoken: app {shown}: the stored {what} is not the one given with --if-token: a newer one is already stored; nothing invalidated"
        ),
        Invalidated::Already => {
            crate::out::errln!("wxtoken: app {shown}: the stored {what} was already invalidated")
        }
        Invalidated::Missing => {
            if let Some(unknown) = crate::cmd::common::unknown_app(store, app)? {
                return Err(usage(format!(
                    "{unknown}: check --app and --db; nothing to invalidate"
                )));
            }
            return Err(usage(format!(
                "no {what} stored for app {shown}: nothing to invalidate (see `wxtoken status`)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(input: &[u8]) -> Result<Option<String>> {
        if_token(Some("-"), &mut &input[..])
    }

    #[test]
    fn if_token_dash_reads_one_line() {
        assert_eq!(from(b"TOKEN\n").unwrap().as_deref(), Some("TOKEN"));
        assert_eq!(from(b"TOKEN\r\n").unwrap().as_deref(), Some("TOKEN"));
        assert_eq!(from(b"TOKEN").unwrap().as_deref(), Some("TOKEN"));
        let max = "A".repeat(MAX_IF_TOKEN);
        assert_eq!(
            from(format!("{max}\n").as_bytes()).unwrap(),
            Some(max.clone())
        );
        for bad in [&b""[..], b"\n", b"a\nb\n", b"\xff\n"] {
            assert!(from(bad).is_err(), "{bad:?}");
        }
        let long = from("A".repeat(MAX_IF_TOKEN + 1).as_bytes()).unwrap_err();
        assert!(long.to_string().contains("longer than 4096"), "{long}");
        assert!(from(&vec![b'A'; 1 << 20]).is_err());
        assert_eq!(
            if_token(Some("T"), &mut &b"ignored"[..])
                .unwrap()
                .as_deref(),
            Some("T")
        );
        assert!(if_token(Some(&max), &mut &b""[..]).is_ok());
        assert!(if_token(Some(&format!("{max}A")), &mut &b""[..]).is_err());
        assert_eq!(if_token(None, &mut &b"x"[..]).unwrap(), None);
    }
}
