//! Where tokens are stored: one interface, an implementation per database.
//!
//! The commands talk to `dyn Store` only. Every method is one short transaction
//! (or one read), so that no lock is ever held while upstream is called.

use std::path::PathBuf;

use anyhow::Result;

use crate::error::usage;

pub mod pg;
pub mod sqlite;

/// Where the database is: `--db` / `WXTOKEN_DB`.
#[derive(Clone, Debug)]
pub enum Location {
    /// The embedded database: a file on this host.
    Sqlite(PathBuf),
    /// A PostgreSQL server that several hosts share.
    Postgres(Box<pg::Url>),
}

impl Location {
    /// `--db` as given: a `postgres://` or `postgresql://` URL means PostgreSQL,
    /// anything else without `://` is a SQLite file.
    pub fn parse(db: PathBuf) -> Result<Location> {
        match db.to_str() {
            Some(s) if pg::Url::is_url(s) => Ok(Location::Postgres(Box::new(pg::Url::parse(s)?))),
            Some(s) if s.contains("://") => Err(usage(format!(
                "--db {}://...: not a database wxtoken knows: give a SQLite file path or a postgres:// URL",
                s.split("://").next().unwrap_or_default()
            ))),
            _ => Ok(Location::Sqlite(db)),
        }
    }
}

/// What to do about a database error, when wxtoken knows: appended to the message.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    err.chain()
        .find_map(|e| e.downcast_ref::<rusqlite::Error>())
        .and_then(sqlite::hint)
}

/// Opens for `refresh` and `invalidate`: read-write, creating the schema (and,
/// for SQLite, the database file) when missing.
pub fn open(location: &Location) -> Result<Box<dyn Store>> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(sqlite::Sqlite::open(path)?)),
        Location::Postgres(url) => Ok(Box::new(pg::Postgres::open(url)?)),
    }
}

/// Opens for reading only (`show`, `status`, `history`); never creates anything.
/// No database yet is a `NoToken` error.
pub fn open_read_only(location: &Location) -> Result<Box<dyn Store>> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(sqlite::Sqlite::open_read_only(path)?)),
        Location::Postgres(url) => Ok(Box::new(pg::Postgres::open_read_only(url)?)),
    }
}

/// The schema the binary writes; a database with a higher version is refused.
pub const SCHEMA: &str = include_str!("../../schema.sql");
/// Migrations, in order; the schema version is how many have been applied.
pub const MIGRATIONS: &[&str] = &[SCHEMA];

/// A stored token or ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub app: String,
    pub kind: String,
    pub api: String,
    pub appid: String,
    pub value: String,
    pub fetched_at: i64,
    pub expires_at: i64,
    pub invalidated_at: Option<i64>,
    pub source_token: Option<String>,
}

/// One upstream request, as the history records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub app: String,
    pub kind: String,
    pub started_ms: i64,
    pub duration_ms: i64,
    /// `ok`, `error`, `unreached` (no connection, an untrusted certificate, a
    /// proxy that refused: not a call) or `refused` (wxtoken's own guard; upstream not called)
    pub outcome: String,
    pub forced: bool,
    pub errcode: Option<i64>,
    pub message: Option<String>,
}

/// Which rows `show` looks at.
pub enum Lookup<'a> {
    /// Every app that has a row of this kind.
    Any,
    App(&'a str),
    Appid(&'a str),
}

/// What `invalidate` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalidated {
    Done,
    /// Nothing stored under that app and kind.
    Missing,
    /// `--if-token` did not match: the stored value is another one.
    Mismatch,
    /// It was already invalidated.
    Already,
}

/// How an app's calls for one kind have gone: the last 24 hours and the last attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub app: String,
    pub kind: String,
    /// Calls that reached (or tried to reach) upstream since `since_ms`.
    pub calls: i64,
    /// Of those, `force_refresh` calls.
    pub forced: i64,
    /// When the last forced call started, if one did since `since_ms`.
    pub last_forced_ms: Option<i64>,
    /// The latest attempt, at any time.
    pub last: Option<Attempt>,
    /// Attempts that did not succeed since the last one that did.
    pub failures_in_a_row: i64,
}

/// The results of one app's refresh, written in one transaction.
#[derive(Default)]
pub struct Commit<'a> {
    pub values: Vec<Row>,
    /// A stale token to mark invalidated (`(kind, value)`), if it is still the stored one.
    pub invalidate: Option<(String, String)>,
    pub attempts: Vec<Attempt>,
    /// Release this owner's lease on the app.
    pub owner: &'a str,
}

/// What `invalidate` does given the stored value and invalidation time, if any.
pub(crate) fn stored_outcome(
    current: Option<(String, Option<i64>)>,
    if_value: Option<&str>,
) -> Invalidated {
    match current {
        None => Invalidated::Missing,
        Some((value, _)) if if_value.is_some_and(|v| v != value) => Invalidated::Mismatch,
        Some((_, Some(_))) => Invalidated::Already,
        Some(_) => Invalidated::Done,
    }
}

pub trait Store {
    /// Rows of the named apps (all apps when `apps` is empty), in one query.
    fn rows(&mut self, apps: &[String]) -> Result<Vec<Row>>;

    /// `show`'s read: rows of one kind for the lookup.
    fn lookup(&mut self, lookup: Lookup, kind: &str) -> Result<Vec<Row>>;

    /// Takes the lease of each app that has none or an expired one, in one
    /// transaction; returns the apps whose lease `owner` now holds.
    fn take_leases(
        &mut self,
        apps: &[String],
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Vec<String>>;

    /// Releases leases without writing anything else.
    fn release_leases(&mut self, apps: &[String], owner: &str) -> Result<()>;

    /// Stores fetched values (never over a value fetched later), the invalidation,
    /// and the attempts, and releases the lease: all or nothing.
    fn commit(&mut self, app: &str, commit: &Commit) -> Result<()>;

    /// Marks a stored value invalidated; with `if_value`, only if it is still that value.
    fn invalidate(
        &mut self,
        app: &str,
        kind: &str,
        if_value: Option<&str>,
        now: i64,
    ) -> Result<Invalidated>;

    /// The latest attempts, newest first.
    fn history(&mut self, app: Option<&str>, limit: usize) -> Result<Vec<Attempt>>;

    /// Per app and kind: calls since `since_ms`, the last attempt, failures in a row.
    fn stats(&mut self, since_ms: i64) -> Result<Vec<Stats>>;

    /// Deletes attempts older than `before_ms` (the history is kept for a while, not for ever).
    fn prune(&mut self, before_ms: i64) -> Result<()>;
}
