//! `wxtoken authorizers add --platform NAME --code CODE|-`: the customer an
//! authorization redirect brings (`engine::add_code`). As a CGI program
//! (`GATEWAY_INTERFACE` set, no `--code`) it is the redirect's target: the
//! code is `auth_code` of `QUERY_STRING`, and the answer a short HTML page
//! saying what happened, or `303 See Other` to `--then URL` once stored. The
//! details of a failure go to stderr (the web server's log), not to the page
//! the customer sees.

use std::io::Read;

use anyhow::{Context, Result};

use crate::cli::{AddArgs, Global};
use crate::error::usage;

/// The longest `--then` URL and `-` input taken.
const MAX_INPUT: usize = 2048;

pub fn run(global: &Global, args: &AddArgs) -> Result<()> {
    let cgi = std::env::var_os("GATEWAY_INTERFACE").is_some() && args.code.is_none();
    if !cgi {
        let code = match args.code.as_deref() {
            Some("-") => read_stdin()?,
            Some(code) => decoded(code),
            None => {
                return Err(usage(
                    "authorizers add: no --code: pass the redirect's auth_code (or `-` to read it from standard input)",
                ));
            }
        };
        let code = crate::engine::check_code(&code)?;
        let name =
            crate::cmd::session::add_code(global, &args.platform, &code, args.exchange_timeout)?;
        return crate::render::print(&format!("{name}\n")).context("could not write on stdout");
    }
    let then = args.then.as_deref().map(check_then).transpose()?;
    let query = std::env::var("QUERY_STRING").unwrap_or_default();
    let code = (crate::platform::push::parse_query(&query).ok())
        .and_then(|q| q.get("auth_code").cloned())
        .ok_or_else(|| {
            usage("authorizers add: the request has no auth_code: is this the authorization redirect?")
        })
        .and_then(|code| crate::engine::check_code(&code));
    let not_a_code = code.is_err();
    let result = code.and_then(|code| {
        crate::cmd::session::add_code(global, &args.platform, &code, args.exchange_timeout)
    });
    let answer = match (&result, then) {
        (Ok(_), Some(url)) => {
            format!("Status: 303 See Other\r\nLocation: {url}\r\nContent-Length: 0\r\n\r\n")
        }
        (Ok(name), None) => page(
            "200 OK",
            &format!("Authorization received: {name} is stored. You can close this page."),
        ),
        (Err(_), _) if not_a_code => page(
            "400 Bad Request",
            "This is not an authorization: the link carries no valid authorization code.",
        ),
        (Err(_), _) => page(
            "502 Bad Gateway",
            "The authorization could not be completed. Please authorize again from a new link, or contact the service provider.",
        ),
    };
    if let Err(e) = &result
        && !e.is::<crate::error::Silent>()
    {
        crate::out::errln!("wxtoken: {}", crate::report::message(e));
    }
    crate::render::print(&answer).context("could not write the answer on stdout")?;
    result.map(|_| ())
}

/// A short HTML page with `status` (our own words only: nothing of the request).
fn page(status: &str, text: &str) -> String {
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Authorization</title></head>\n<body><p>{text}</p></body></html>\n"
    );
    format!(
        "Status: {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `--then`: an http(s) URL or an absolute path, nothing that could end the
/// Location header.
fn check_then(url: &str) -> Result<&str> {
    let ok = (url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
        && url.len() <= MAX_INPUT
        && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    if !ok {
        return Err(usage(format!(
            "authorizers add: --then {}: give an http(s):// URL or a path starting with /, without spaces",
            crate::text::quoted(&crate::text::clip(url, 80))
        )));
    }
    Ok(url)
}

/// A code as copied from the redirect URL (`queryauthcode%40%40%40...`), decoded.
fn decoded(code: &str) -> String {
    percent_encoding::percent_decode_str(code)
        .decode_utf8()
        .map_or_else(|_| code.to_string(), |c| c.into_owned())
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_INPUT as u64 + 1)
        .read_to_string(&mut text)
        .context("authorizers add: could not read the code from standard input")?;
    if text.len() > MAX_INPUT {
        return Err(usage(
            "authorizers add: standard input is longer than a code",
        ));
    }
    Ok(decoded(text.trim()))
}
