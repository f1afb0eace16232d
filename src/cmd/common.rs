//! What the commands share: where the database and the config file are.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::Global;
use crate::error::{Exit, NoToken, no_token, usage};
use crate::store::{self, Row, Store};
use crate::{config, text};

/// The package's database: the default when the user has none of their own.
const SYSTEM_DB: &str = "/var/lib/wxtoken/tokens.db";
/// The package's config file: the default when the user has none of their own.
const SYSTEM_CONFIG: &str = "/etc/wxtoken/config.toml";

/// A path of the package's layout. Debug builds (the tests') may move it under
/// `WXTOKEN_TEST_SYSTEM_ROOT`; release builds never read that variable.
pub fn system_path(path: &str) -> PathBuf {
    #[cfg(debug_assertions)]
    if let Some(root) = std::env::var_os("WXTOKEN_TEST_SYSTEM_ROOT") {
        return PathBuf::from(root).join(path.trim_start_matches('/'));
    }
    PathBuf::from(path)
}

/// Whether something is at `path`, as far as this user can tell: a path they
/// may not look at (a folder of another group's) counts as there, so that a
/// reader outside the package's group is told so rather than sent elsewhere.
fn present(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
    }
}

/// The user's own database: `$XDG_DATA_HOME/wxtoken/tokens.db`
/// (`~/.local/share/wxtoken/tokens.db`), whether it exists or not.
fn own_db() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("wxtoken").join("tokens.db"))
}

/// `--db`; else the user's own database when it exists; else the package's
/// (`/var/lib/wxtoken/tokens.db`) when it exists; else the user's own, to be
/// created by `refresh`. No more than a `stat` or two: `show` runs this.
pub fn db_location(global: &Global) -> Result<store::Location> {
    if let Some(db) = &global.db {
        if db.as_os_str().is_empty() {
            return Err(usage("--db / WXTOKEN_DB is empty"));
        }
        return store::Location::parse(db.clone());
    }
    let own = own_db();
    let system = system_path(SYSTEM_DB);
    let path = match own {
        Some(own) if present(&own) => own,
        _ if present(&system) => system,
        Some(own) => own,
        None => {
            return Err(usage(
                "no database path: set --db / WXTOKEN_DB (neither XDG_DATA_HOME nor HOME is set)",
            ));
        }
    };
    text::max_bytes(
        "the default database path (under XDG_DATA_HOME or HOME)",
        &path.to_string_lossy(),
        store::MAX_DB_ARG,
    )?;
    Ok(store::Location::Sqlite(path))
}

/// The database for writing (`refresh`, `push`, ...), created when missing.
/// SQLite creates the database's own folder only, so that a mistyped `--db`
/// starts no second database in a new tree; the user's default is the
/// exception: its parents (`~/.local/share`) are made here, private.
/// `invalidates` for `invalidate`, which fetches nothing: any config may mark
/// the package's database's tokens stale.
pub fn open_for_writing(global: &Global, invalidates: bool) -> Result<Box<dyn Store>> {
    writes_the_packages(global, invalidates)?;
    let location = db_location(global)?;
    if let store::Location::Sqlite(path) = &location
        && global.db.is_none()
        && let Some(parents) = path.parent().and_then(Path::parent)
        && !parents.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parents)
            .with_context(|| format!("could not create folder {}", parents.display()))?;
    }
    store::open(&location)
}

/// The package's database, taken by default, is written with the package's
/// config only, and by its owner (the service's user) or root. Anyone else,
/// or root with a config of their own, would be a second refresher beside
/// the service, each fetch killing the other's token: they are told so
/// before anything is fetched, with the ways that work. `invalidate` fetches
/// nothing: its owner or root may, and anyone else is told how.
fn writes_the_packages(global: &Global, invalidates: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (None, Ok(store::Location::Sqlite(db))) = (&global.db, db_location(global)) else {
        return Ok(());
    };
    let path = db.as_path();
    if path != system_path(SYSTEM_DB) {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let owner = euid == 0 || std::fs::metadata(path).is_ok_and(|m| m.uid() == euid);
    if invalidates {
        return match owner {
            true => Ok(()),
            false => Err(usage(format!(
                "database {}: the package's database is written by its service's user only (wxtoken): invalidate as that user, `sudo -u wxtoken wxtoken invalidate --app NAME --if-token -` (a sudo rule can allow just that; see docs/reading-the-token.md)",
                path.display()
            ))),
        };
    }
    let config = config_path(global);
    let packages_config = config
        .as_deref()
        .is_none_or(|c| c == system_path(SYSTEM_CONFIG));
    if owner && packages_config {
        return Ok(());
    }
    let whose = match config {
        Some(c) if owner => format!(" with the config {}", c.display()),
        _ => String::new(),
    };
    // Outside the package's group, show and status cannot read it either.
    let read = match rustix::fs::access(path, rustix::fs::Access::READ_OK) {
        Err(rustix::io::Errno::ACCESS) => {
            "join group wxtoken to read it with show or status (`sudo usermod -aG wxtoken \"$USER\"`, then log in again)"
        }
        _ => "read it with show or status",
    };
    Err(usage(format!(
        "database {}: the package's database is written by its own service (the wxtoken timer, as user wxtoken, with /etc/wxtoken/config.toml); a second refresher{whose} would break its tokens: {read}, have its service refresh it (`sudo systemctl start wxtoken-refresh.service`), or keep a database of your own (`mkdir -p ~/.local/share/wxtoken`, then `wxtoken refresh --db ~/.local/share/wxtoken/tokens.db` once; from then on it is the default)",
        path.display()
    )))
}

/// What a failing command names, so that a user whose shell and cron (or
/// sudo) see different defaults can tell where it looked: `database PATH`
/// (a URL with its password replaced), and with `config` the config file
/// used, if any. Only stats, as for `show`.
pub fn places(global: &Global, config: bool) -> Vec<String> {
    let mut places = Vec::new();
    // A path too long to be used was refused already, quoted in part.
    let named = |what: &str, place: String| format!("{what} {}", text::clip(&place, 300));
    match db_location(global) {
        Ok(store::Location::Sqlite(path)) => {
            places.push(named("database", path.display().to_string()));
        }
        Ok(store::Location::Postgres(url)) => places.push(named("database", url.to_string())),
        Err(_) => {}
    }
    if config && let Some(path) = config_path(global) {
        places.push(named("config", path.display().to_string()));
    }
    places
}

/// The database for writing (created when missing), exporting its values to
/// the config's `export_dir` when it names one (see `store::export`). With
/// `config_optional` (`refresh --appid`, `invalidate`: commands that need
/// nothing else of the config), a config that cannot be read exports nothing.
pub fn open_store(global: &Global, config_optional: bool) -> Result<Box<dyn Store>> {
    may_write(global, config_optional)?;
    exporting(global, open_for_writing(global, false)?, config_optional)
}

/// The refusals of [`open_store`] that open nothing (a few `stat`s): for
/// `refresh` to make before it reads a secret, so that a user who may not
/// write the database is told that, not that a secret is not theirs.
pub fn may_write(global: &Global, config_optional: bool) -> Result<()> {
    if !config_optional {
        second_database(global)?;
    }
    writes_the_packages(global, false)
}

/// `--db` (or `WXTOKEN_DB`) names a SQLite file that is not there yet, the
/// config is the package's, found by default, and the package's database
/// exists: most likely a typo (`/var/lib/wxtokn/...`) that would start a
/// second refresher of the service's apps, each fetch ending the other's
/// token. Refused before anything is created or fetched; naming the config
/// too (`--config`) says it is meant.
fn second_database(global: &Global) -> Result<()> {
    let (Some(_), None) = (&global.db, &global.config) else {
        return Ok(());
    };
    let store::Location::Sqlite(path) = db_location(global)? else {
        return Ok(());
    };
    let (system_db, system_config) = (system_path(SYSTEM_DB), system_path(SYSTEM_CONFIG));
    if present(&path)
        || path == system_db
        || !present(&system_db)
        || config_path(global).is_none_or(|c| c != system_config)
    {
        return Ok(());
    }
    Err(usage(format!(
        "database {}: there is none there yet, and the config is the package's ({}, found by default), whose apps its service refreshes into {}: a second database of them would be a second refresher, each fetch ending the other's token: check --db / WXTOKEN_DB; to start one there on purpose, name the config too (--config {})",
        text::shown(&path.display().to_string()),
        system_config.display(),
        system_db.display(),
        system_config.display()
    )))
}

/// `invalidate`'s database: as [`open_store`], but the package's is not
/// refused to a config of one's own (see [`writes_the_packages`]).
pub fn open_to_invalidate(global: &Global) -> Result<Box<dyn Store>> {
    exporting(global, open_for_writing(global, true)?, true)
}

fn exporting(
    global: &Global,
    store: Box<dyn Store>,
    config_optional: bool,
) -> Result<Box<dyn Store>> {
    let dir = match config_path(global).map(|path| configured_export_dir(&path)) {
        Some(Err(_)) if config_optional => None,
        Some(dir) => dir?,
        None => None,
    };
    store::export::wrap(store, dir.as_deref())
}

/// The config's `export_dir`, read alone: the command checked the whole file
/// already, or (`invalidate`) needs nothing else of it.
fn configured_export_dir(path: &std::path::Path) -> Result<Option<PathBuf>> {
    #[derive(serde::Deserialize)]
    struct Top {
        export_dir: Option<PathBuf>,
    }
    let (bytes, _) = crate::fsafe::read_trusted(path, "config", config::MAX_CONFIG_BYTES)?;
    let file = path.display();
    let top: Top = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| toml::from_str(text).ok())
        .ok_or_else(|| {
            usage(format!(
                "config {file}: not a valid config file: check it with `wxtoken status`"
            ))
        })?;
    top.export_dir
        .map(|d| store::export::check_dir(d, &file))
        .transpose()
}

/// Exit 1 when `export_dir` files could not be kept (each reported already),
/// unless the command failed otherwise.
pub fn export_outcome(store: &mut dyn Store, result: Result<()>) -> Result<()> {
    match result {
        Ok(()) if store.export_problems() > 0 => Err(crate::error::Silent(Exit::Failure).into()),
        other => other,
    }
}

/// The database for `show` and `sign`, read-only; a "no usable token" names
/// the database it looked in.
pub fn open_to_read(global: &Global) -> Result<(store::Location, Box<dyn Store>)> {
    let location = db_location(global)?;
    match store::open_read_only(&location) {
        Ok(store) => Ok((location, store)),
        Err(e) => {
            let e = missing_folder(e, global, &location);
            Err(service_refreshes(e, &location))
        }
    }
}

/// No database at a path given with `--db` / `WXTOKEN_DB` whose folder does
/// not exist: more likely a mistyped path than a database not made yet, so
/// the folder is named (still exit 3). One more `stat`, on this failure only.
fn missing_folder(
    err: anyhow::Error,
    global: &Global,
    location: &store::Location,
) -> anyhow::Error {
    let nonempty = |p: &Path| !p.as_os_str().is_empty();
    let (Some(_), store::Location::Sqlite(path)) = (&global.db, location) else {
        return err;
    };
    let Some(dir) = path.parent().filter(|d| nonempty(d)) else {
        return err;
    };
    if !err.is::<NoToken>() || present(dir) {
        return err;
    }
    let shown = |p: &Path| text::shown(&p.display().to_string());
    // `refresh` creates the database's own folder, not the ones above. That
    // folder alone missing is no reason to run it: most likely the path is
    // mistyped, and on a package box `refresh` refuses such a path too.
    let fix = match dir.parent().filter(|d| nonempty(d)) {
        Some(up) if !up.is_dir() => {
            format!(", or create folder {} and run `wxtoken refresh`", shown(up))
        }
        _ => String::new(),
    };
    no_token(format!(
        "no database at {}: folder {} does not exist: check --db / WXTOKEN_DB{fix}",
        shown(path),
        shown(dir)
    ))
}

/// The database for reading, or `None` when there is none yet.
pub fn open_if_present(global: &Global) -> Result<Option<Box<dyn Store>>> {
    match store::open_read_only(&db_location(global)?) {
        Ok(store) => Ok(Some(store)),
        Err(e) if e.is::<NoToken>() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Exit 3 when the database holds nothing under app `name` (a typo, or
/// another database than the one `refresh` writes), naming the apps it holds.
/// Only on the way to an exit 3: it reads every row.
pub fn not_stored(store: &mut dyn Store, name: &str) -> Result<Result<(), anyhow::Error>> {
    Ok(match unknown_app(store, name)? {
        None => Ok(()),
        Some(unknown) => Err(no_token(format!(
            "{unknown}: check --app and --db, or run `wxtoken refresh` if the app is new in the config"
        ))),
    })
}

/// `no app "NAME" in the database (it holds ...)` when the database holds
/// nothing under app `name`.
pub fn unknown_app(store: &mut dyn Store, name: &str) -> Result<Option<String>> {
    let mut known: Vec<String> = store.rows(&[])?.into_iter().map(|r| r.app).collect();
    if known.iter().any(|a| a == name) {
        return Ok(None);
    }
    known.sort();
    known.dedup();
    let known: Vec<String> = known.iter().map(|a| text::shown(a)).collect();
    let listed = match known.len() {
        0 => "it holds no app yet".to_string(),
        n if n <= 10 => format!("it holds {}", known.join(", ")),
        n => format!("it holds {} and {} more", known[..10].join(", "), n - 10),
    };
    Ok(Some(format!(
        "no app {} in the database ({listed})",
        text::quoted(name)
    )))
}

/// A "no usable token" error on the package's database: its service
/// refreshes it, so that is the way named rather than `wxtoken refresh`.
/// Other errors are returned as they are. The database (and config) the
/// command used are added when it is reported, as for every command.
pub fn service_refreshes(err: anyhow::Error, location: &store::Location) -> anyhow::Error {
    let run = "run `wxtoken refresh`";
    match err.downcast_ref::<NoToken>() {
        Some(NoToken(msg))
            if matches!(location, store::Location::Sqlite(p) if *p == system_path(SYSTEM_DB))
                && msg.contains(run) =>
        {
            let service = "have the package's service refresh it (`sudo systemctl start wxtoken-refresh.service`)";
            no_token(msg.replacen(run, service, 1))
        }
        _ => err,
    }
}

/// Exit 3 saying why when `row` (a `label`) is unusable at `now`: invalidated,
/// expired, less than `min_ttl` seconds left. Control characters (another
/// writer's: they could move a terminal's cursor) refuse it in any format.
pub fn usable(row: &Row, label: &str, now: i64, min_ttl: i64, doing: &str) -> Result<()> {
    let app = text::quoted(&row.app);
    let left = row.expires_at - now;
    if let Some(at) = row.invalidated_at {
        return Err(no_token(format!(
            "the {label} of app {app} was invalidated at {}: run `wxtoken refresh`",
            crate::clock::rfc3339(at)
        )));
    }
    if left <= 0 {
        return Err(no_token(format!(
            "the {label} of app {app} expired at {}: run `wxtoken refresh` (is cron running it?)",
            crate::clock::rfc3339(row.expires_at)
        )));
    }
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
    if row.value.chars().any(char::is_control) {
        anyhow::bail!(
            "the {label} of app {app} holds control characters, so something other than wxtoken wrote it: not {doing} it; run `wxtoken refresh --force` to replace it"
        );
    }
    Ok(())
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
    global
        .config
        .clone()
        .or_else(|| config::default_path(system_path(SYSTEM_CONFIG)))
}

/// stderr diagnostics at the level of `-v` / `-q` (not for `show`, which logs nothing).
pub fn init_logging(global: &Global) {
    crate::logging::init(global.verbose, global.quiet);
}
