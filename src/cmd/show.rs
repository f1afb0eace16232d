//! `wxtoken show`: print one current valid token or ticket.
//!
//! Read-only and fast: one read of the database, no network, no writes, no
//! logger, no HTTP client. Exit 3 (with the reason) whenever there is no usable
//! value, so that scripts can branch on it.

use anyhow::Result;

use crate::app::{Api, Kind};
use crate::cli::{Global, ShowArgs, ShowFormat};
use crate::cmd::common::{not_stored, open_to_read, service_refreshes, usable};
use crate::error::{no_token, usage};
use crate::store::{self, CustomerState, Lookup, Row, Store};
use crate::text::quoted;
use crate::{clock, config, render};

pub fn run(global: &Global, args: &ShowArgs) -> Result<()> {
    // SAFETY: nothing has used SQLite yet, and `show` runs no other thread.
    unsafe { store::sqlite::Sqlite::configure_for_one_short_read() };
    let (location, mut store) = open_to_read(global)?;
    let printed = print(store.as_mut(), args).map_err(|e| service_refreshes(e, &location));
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

fn print(store: &mut dyn Store, args: &ShowArgs) -> Result<()> {
    if let Some(platform) = &args.platform {
        return print_platform(store, platform, args);
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
    emit(store, &row, &what, &kind.env_name(), args)
}

/// `show --platform NAME`: the platform's own token, whichever kind it is.
/// One read, as for an app: the rows stored under the platform's name.
fn print_platform(store: &mut dyn Store, platform: &str, args: &ShowArgs) -> Result<()> {
    config::name_arg("--platform", platform)?;
    let rows = store.rows(&[platform.to_string()])?;
    let own = |r: &Row| r.known_kind().filter(|k| k.is_platform_token());
    let Some((row, kind)) = rows.iter().find_map(|r| Some((r, own(r)?))) else {
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
    let label = row.kind.replace('_', " ");
    emit(store, row, &label, &kind.env_name(), args)
}

/// Exits 3 saying so when `app` is a platform's customer (`PLATFORM/APPID`)
/// whose authorization was revoked or refused. Only on the way to an exit 3:
/// the normal path reads tokens alone.
fn revoked(store: &mut dyn Store, app: &str) -> Result<()> {
    let Some((platform, appid)) = app.split_once('/') else {
        return Ok(());
    };
    // The exit-3 reason at hand stands when this cannot be read.
    let state = store
        .customer(platform, appid)
        .ok()
        .flatten()
        .map(|c| c.state);
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

/// Prints `row` unless it is unusable now (exit 3, saying why): its kind as
/// messages (`label`) and `--format env` (`env_name`) name it.
fn emit(
    store: &mut dyn Store,
    row: &Row,
    label: &str,
    env_name: &str,
    args: &ShowArgs,
) -> Result<()> {
    let now = clock::now();
    let left = row.expires_at - now;
    if row.invalidated_at.is_some() || left <= 0 {
        revoked(store, &row.app)?;
    }
    usable(row, label, now, args.min_ttl.as_secs() as i64, "printing")?;
    let text = match args.format {
        ShowFormat::Plain => format!("{}\n", row.value),
        ShowFormat::Env => render::env(env_name, &row.value),
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
    render::print(&text)
}
