//! What the commands share: where the database and the config file are.

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::Global;
use crate::error::{NoToken, no_token, usage};
use crate::store::{self, Store};
use crate::{config, text};

/// `--db`, or `$XDG_DATA_HOME/wxtoken/tokens.db` (`~/.local/share/wxtoken/tokens.db`).
pub fn db_location(global: &Global) -> Result<store::Location> {
    if let Some(db) = &global.db {
        if db.as_os_str().is_empty() {
            return Err(usage("--db / WXTOKEN_DB is empty"));
        }
        return store::Location::parse(db.clone());
    }
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("wxtoken").join("tokens.db"))
        .ok_or_else(|| {
            usage("no database path: set --db / WXTOKEN_DB (neither XDG_DATA_HOME nor HOME is set)")
        })
        .and_then(|path| {
            text::max_bytes(
                "the default database path (under XDG_DATA_HOME or HOME)",
                &path.to_string_lossy(),
                store::MAX_DB_ARG,
            )?;
            Ok(store::Location::Sqlite(path))
        })
}

/// The database for reading, or `None` when there is none yet.
pub fn open_if_present(global: &Global) -> Result<Option<Box<dyn Store>>> {
    match store::open_read_only(&db_location(global)?) {
        Ok(store) => Ok(Some(store)),
        Err(e) if e.is::<NoToken>() => Ok(None),
        Err(e) => Err(e),
    }
}

/// A "no usable token" error with the database it looked in added, unless the
/// message names it already: cron and a shell often use different databases.
/// Other errors are returned as they are.
pub fn naming_database(err: anyhow::Error, location: &store::Location) -> anyhow::Error {
    let Some(NoToken(msg)) = err.downcast_ref::<NoToken>() else {
        return err;
    };
    // A PostgreSQL URL is shown with its password replaced.
    let db = match location {
        store::Location::Sqlite(path) => text::shown(&path.display().to_string()),
        store::Location::Postgres(url) => url.to_string(),
    };
    if msg.contains(&db) {
        return err;
    }
    no_token(format!("{msg} (database {db})"))
}

/// The KIND column of `status` and `history`: a ticket's name (jsapi, wx_card,
/// agent_config), or for a token the API that issued it (classic, stable,
/// wecom), its stored kind when that is not known. Either may come from
/// another writer of the table.
pub fn kind_column(kind: &str, api: Option<&str>) -> String {
    match (kind.strip_suffix("_ticket"), api) {
        (Some(ticket), _) => text::shown(ticket),
        (None, Some(api)) => text::shown(api),
        (None, None) => text::shown(kind),
    }
}

/// `--config`, or the default config file when it exists.
pub fn config_path(global: &Global) -> Option<PathBuf> {
    global.config.clone().or_else(config::default_path)
}

/// stderr diagnostics at the level of `-v` / `-q` (not for `show`, which logs nothing).
pub fn init_logging(global: &Global) {
    crate::logging::init(global.verbose, global.quiet);
}
