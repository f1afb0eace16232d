//! Where tokens are stored: one interface, an implementation per database.
//!
//! The commands talk to `dyn Store` only. Every method is one short transaction
//! (or one read), so that no lock is ever held while upstream is called.

use anyhow::Result;

pub mod sqlite;

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
    /// `ok`, `error`, or `refused` (wxtoken's own guard; upstream not called)
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

/// Upstream calls in a window, per app and kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCount {
    pub app: String,
    pub kind: String,
    /// Calls that reached (or tried to reach) upstream.
    pub calls: i64,
    /// Of those, `force_refresh` calls.
    pub forced: i64,
    /// When the last forced call started.
    pub last_forced_ms: Option<i64>,
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

    /// Upstream calls per app and kind since `since_ms`.
    fn call_counts(&mut self, since_ms: i64) -> Result<Vec<CallCount>>;
}
