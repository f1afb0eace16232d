//! `wxtoken show`: print one current valid token or ticket.
//!
//! Read-only and fast: one read of the database, no network, no writes, no
//! logger, no HTTP client. Exit 3 (with the reason) whenever there is no usable
//! value, so that scripts can branch on it.

use std::io::Write;

use anyhow::Result;

use crate::app::{Api, Kind};
use crate::cli::{Global, ShowArgs, ShowFormat};
use crate::cmd::common::{not_stored, open_to_read, service_refreshes};
use crate::error::{no_token, usage};
use crate::store::{self, CustomerState, Lookup, Row, Store};
use crate::text::quoted;
use crate::{clock, config, render};

pub fn run(global: &Global, args: &ShowArgs) -> Result<()> {
    // SAFETY: nothing has used SQLite yet, and `show` runs no other thread.
    unsafe { store::sqlite::Sqlite::configure_for_one_short_read() };
    let (location, mut store) = open_to_read(global)?;
    let printed = print(store.as_mut(), args, &mut std::io::stdout().lock())
        .map_err(|e| service_refreshes(e, &location));
    if let store::Location::Sqlite(_) = location {
        // The process ends now. A read-only SQLite connection leaves nothing to
        // save when it closes (it never checkpoints the WAL), and the exit
        // drops its locks and descriptors: closing would only free memory, a
        // twentieth of a `show`. A PostgreSQL connection is closed, so that the
        // server sees a client leave, not a connection lost.
        std::mem::forget(store);
    }
    printed
}

/// What is printed: the row's kind as messages and `--format env` name it.
struct What {
    label: String,
    env_name: String,
}

fn print(store: &mut dyn Store, args: &ShowArgs, out: &mut dyn Write) -> Result<()> {
    if let Some(platform) = &args.platform {
        return print_platform(store, platform, args, out);
    }
    let kind = args.ticket.map_or(Kind::AccessToken, Kind::Ticket);
    if let Some(app) = &args.app {
        config::name_arg("--app", app)?;
    }
    if let Some(appid) = &args.appid {
        config::appid_arg("--appid", appid)?;
    }
    let lookup = match (&args.app, &args.appid) {
        (Some(app), _) => Lookup::App(app),
        (None, Some(appid)) => Lookup::Appid(appid),
        (None, None) => Lookup::Any,
    };
    let mut rows = store.lookup(lookup, kind)?;
    let what = kind.label();
    let row = match (rows.len(), &args.app, &args.appid) {
        (1, _, _) => rows.remove(0),
        (0, Some(app), _) if kind == Kind::AccessToken => {
            revoked(store, app)?;
            not_stored(store, app)??;
            return Err(no_token(format!(
                "no {what} stored for app {}: run `wxtoken refresh` (see `wxtoken status` for the apps stored)",
                quoted(app)
            )));
        }
        (0, Some(app), _) => {
            not_stored(store, app)??;
            no_such_ticket(store, app, kind)?;
            return Err(no_token(format!(
                "no {what} stored for app {}: list it in the app's tickets in the config file (classic and stable apps issue jsapi and wx_card, WeCom apps jsapi and agent_config), then run `wxtoken refresh`",
                quoted(app)
            )));
        }
        (0, None, Some(appid)) => {
            return Err(no_token(format!(
                "no {what} stored for appid {}: run `wxtoken refresh`",
                quoted(appid)
            )));
        }
        (0, None, None) => {
            return Err(no_token(format!(
                "no {what} stored yet: run `wxtoken refresh`"
            )));
        }
        (_, _, appid) => {
            let mut names: Vec<String> = rows.iter().take(10).map(|r| quoted(&r.app)).collect();
            if rows.len() > 10 {
                names.push(format!("and {} more", rows.len() - 10));
            }
            let why = match appid {
                Some(id) => format!("several apps have appid {}", quoted(id)),
                None => "several apps are stored".to_string(),
            };
            return Err(usage(format!(
                "{why}: {}; pick one with --app NAME",
                names.join(", ")
            )));
        }
    };
    let what = What {
        label: what,
        env_name: kind.env_name().to_string(),
    };
    emit(store, &row, &what, args, out)
}

/// `show --platform NAME`: the platform's own token, whichever kind it is.
/// One read, as for an app: the rows stored under the platform's name.
fn print_platform(
    store: &mut dyn Store,
    platform: &str,
    args: &ShowArgs,
    out: &mut dyn Write,
) -> Result<()> {
    config::name_arg("--platform", platform)?;
    let rows = store.rows(&[platform.to_string()])?;
    let Some(row) = rows
        .iter()
        .find(|r| r.known_kind().is_some_and(Kind::is_platform_token))
    else {
        if rows
            .iter()
            .any(|r| r.known_kind() == Some(Kind::AccessToken))
        {
            return Err(usage(format!(
                "{} is an app, not a platform: use --app {}",
                quoted(platform),
                quoted(platform)
            )));
        }
        return Err(no_token(format!(
            "no token stored for platform {}: run `wxtoken refresh` (it needs the platform's pushed ticket first; see `wxtoken status`)",
            quoted(platform)
        )));
    };
    let what = What {
        label: row.kind.replace('_', " "),
        env_name: format!("WX_{}", row.kind.to_ascii_uppercase()),
    };
    emit(store, row, &what, args, out)
}

/// Exits 3 saying so when `app` is a platform's customer (`PLATFORM/APPID`)
/// whose authorization was revoked or refused. Only on the way to an exit 3:
/// the normal path reads tokens alone.
fn revoked(store: &mut dyn Store, app: &str) -> Result<()> {
    let Some((platform, appid)) = app.split_once('/') else {
        return Ok(());
    };
    // The exit-3 reason at hand stands when this cannot be read.
    let state = store.customer_state(platform, appid).ok().flatten();
    let unknown = state.is_none() && is_platform(store, platform);
    let (app, platform) = (quoted(app), quoted(platform));
    match state {
        Some(CustomerState::Revoked) => Err(no_token(format!(
            "app {app}: authorization revoked: the customer withdrew its authorization of platform {platform}; its tokens come back once it authorizes the platform again"
        ))),
        Some(CustomerState::Reauthorize) => Err(no_token(format!(
            "app {app}: needs re-authorization: upstream refused its stored credential; the customer must authorize platform {platform} again (or try `wxtoken authorizers sync --platform {platform}`)"
        ))),
        Some(CustomerState::Active) => Ok(()),
        None if unknown => Err(no_token(format!(
            "app {app}: platform {platform} has no customer {} stored: customers arrive with their authorization push (or `wxtoken authorizers link`), or from WeChat's list with `wxtoken authorizers sync --platform {platform}`, or from a file with `authorizers import`",
            quoted(appid)
        ))),
        None => Ok(()),
    }
}

/// Whether the database knows `name` as a platform: its own token or pushed
/// ticket is stored, or customers are.
fn is_platform(store: &mut dyn Store, name: &str) -> bool {
    let own = |k: Kind| k.is_platform_token() || k.is_pushed();
    store
        .rows(&[name.to_string()])
        .is_ok_and(|rows| rows.iter().any(|r| r.known_kind().is_some_and(own)))
        || store
            .customer_platforms()
            .is_ok_and(|p| p.iter().any(|p| p == name))
}

/// A usage error (exit 2) when `app` is stored with an API that cannot issue
/// the ticket `kind` (WeCom has no wx_card): no config change would help.
fn no_such_ticket(store: &mut dyn Store, app: &str, kind: Kind) -> Result<()> {
    let Kind::Ticket(ticket) = kind else {
        return Ok(());
    };
    let rows = store.lookup(Lookup::App(app), Kind::AccessToken)?;
    let Some(api) = rows.first().and_then(|r| Api::parse(&r.api)) else {
        return Ok(());
    };
    if api.tickets().contains(&ticket) {
        return Ok(());
    }
    let known: Vec<&str> = api.tickets().iter().map(|t| t.as_str()).collect();
    Err(usage(format!(
        "app {} is a {} app, which has no {} ticket: it issues {}",
        quoted(app),
        api.as_str(),
        ticket.as_str(),
        known.join(" and ")
    )))
}

/// Prints `row` unless it is unusable now (exit 3, saying why).
fn emit(
    store: &mut dyn Store,
    row: &Row,
    what: &What,
    args: &ShowArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let label = &what.label;
    let now = clock::now();
    let left = row.expires_at - now;
    let app = quoted(&row.app);
    if row.invalidated_at.is_some() || left <= 0 {
        revoked(store, &row.app)?;
    }
    if let Some(at) = row.invalidated_at {
        return Err(no_token(format!(
            "the {label} of app {app} was invalidated at {}: run `wxtoken refresh`",
            clock::rfc3339(at)
        )));
    }
    if left <= 0 {
        return Err(no_token(format!(
            "the {label} of app {app} expired at {}: run `wxtoken refresh` (is cron running it?)",
            clock::rfc3339(row.expires_at)
        )));
    }
    let min_ttl = args.min_ttl.as_secs() as i64;
    let lifetime = row.expires_at - row.fetched_at;
    if left < min_ttl && min_ttl >= lifetime {
        return Err(no_token(format!(
            "--min-ttl {min_ttl}s is longer than the {label} of app {app} lives ({lifetime}s): lower it"
        )));
    }
    if left < min_ttl {
        return Err(no_token(format!(
            "the {label} of app {app} has only {left}s left, less than --min-ttl {min_ttl}s: run `wxtoken refresh`"
        )));
    }
    // wxtoken stores only WeChat's alphabet, but other writers share the table:
    // a value that could move a terminal's cursor is not printed in any format.
    if row.value.chars().any(char::is_control) {
        anyhow::bail!(
            "the {label} of app {app} holds control characters, so something other than wxtoken wrote it: not printing it; run `wxtoken refresh --force` to replace it"
        );
    }
    let text = match args.format {
        ShowFormat::Plain => format!("{}\n", row.value),
        ShowFormat::Env => render::env(&what.env_name, &row.value),
        ShowFormat::Json => format!(
            "{}\n",
            render::json(
                &serde_json::json!({
                    "app": row.app,
                    "appid": row.appid,
                    "kind": row.kind,
                    "token": row.value,
                    "expires_at": clock::rfc3339(row.expires_at),
                    "expires_in": left,
                }),
                false
            )?
        ),
    };
    render::write(out, &text)
}
