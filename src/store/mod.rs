//! Where tokens are stored: one interface, an implementation per database.
//!
//! The commands talk to `dyn Store` only. Every method is one short transaction
//! (or one read), so that no lock is ever held while upstream is called.

use std::path::PathBuf;

use anyhow::Result;

use crate::error::usage;
use crate::graph::Kind;

pub use customer::{CodeStep, Customer, CustomerState, CustomerUpdate, PENDING_PREFIX};

mod backend;
mod columns;
mod customer;
pub mod export;
mod methods;
mod objects;
pub mod pg;
mod sql;
pub mod sqlite;

/// The longest `--db` / `WXTOKEN_DB`, in bytes.
pub const MAX_DB_ARG: usize = 4096;

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
        // PATH_MAX: no longer path can be opened, and no URL needs more. Not
        // quoted: a URL's start may hold its password.
        if db.as_os_str().len() > MAX_DB_ARG {
            return Err(usage(format!(
                "--db / WXTOKEN_DB is longer than {MAX_DB_ARG} bytes"
            )));
        }
        match db.to_str() {
            Some(s) if pg::Url::is_url(s) => Ok(Location::Postgres(Box::new(pg::Url::parse(s)?))),
            Some(s) if s.contains("://") => Err(usage(format!(
                "--db {}://...: not a database wxtoken knows: give a SQLite file path or a postgres:// URL",
                crate::text::clip(s.split("://").next().unwrap_or_default(), 40)
            ))),
            _ => Ok(Location::Sqlite(db)),
        }
    }
}

pub use sqlite::hint;

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

/// The schema the binary writes, as migrations in order; the schema version
/// is how many have been applied, and a database with a higher one is refused.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../schema.sql"),
    // 2: platforms' customers (`wxtoken_customers`).
    include_str!("../../schema-2.sql"),
    // 3: when a customer's one-use code was sent (`code_sent_at`).
    include_str!("../../schema-3.sql"),
    // 4: the time of the last event applied to a customer (`event_at`).
    include_str!("../../schema-4.sql"),
    // 5: the codes sent upstream, remembered while they could be valid.
    include_str!("../../schema-5.sql"),
];
/// The schema version that has `wxtoken_customers`: a reader of an older
/// database (not migrated yet) finds no customers.
pub const CUSTOMERS_SINCE: usize = 2;

/// `version`, a database's schema version, unless it is newer than this
/// wxtoken's: then the error that says to upgrade, naming the database `db`.
pub(crate) fn not_newer(db: &dyn std::fmt::Display, version: usize) -> Result<usize> {
    if version > MIGRATIONS.len() {
        anyhow::bail!(
            "database {db} has schema version {version}, written by a newer wxtoken (this one knows up to {}): upgrade wxtoken",
            MIGRATIONS.len()
        );
    }
    Ok(version)
}

/// A database with no wxtoken tables yet, to a reader: "no token" (exit 3).
pub(crate) fn no_tokens_yet(db: &dyn std::fmt::Display) -> anyhow::Error {
    crate::error::no_token(format!(
        "database {db} holds no tokens yet: run `wxtoken refresh` first"
    ))
}

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
    /// A customer's rotated credential or new state, written with the values.
    pub customer: Option<CustomerUpdate>,
}

/// An app's lease as stored: who holds it, and until when (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub app: String,
    pub owner: String,
    pub expires_at: i64,
}

/// What `take_leases` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leases {
    /// The apps whose lease the caller now holds.
    pub taken: Vec<String>,
    /// Other owners' leases taken over although they had not ended: they ended
    /// further ahead than any lease is taken for, so a clock that ran fast wrote them.
    pub overruled: Vec<Lease>,
    /// Other owners' live leases: those apps were not taken.
    pub held: Vec<Lease>,
}

impl Leases {
    /// Sorts `app` by its `current` lease; true when the caller (`owner`) takes
    /// it: none, an ended one, its own, or one ending more than `longest`
    /// seconds after `now`. Both stores decide here, under their lock.
    pub(crate) fn decide(
        &mut self,
        app: &str,
        current: Option<Lease>,
        owner: &str,
        now: i64,
        longest: i64,
    ) -> bool {
        match current {
            Some(l) if l.owner != owner && l.expires_at > now.saturating_add(longest) => {
                self.overruled.push(l);
            }
            Some(l) if l.owner != owner && l.expires_at > now => {
                self.held.push(l);
                return false;
            }
            _ => {}
        }
        self.taken.push(app.to_string());
        true
    }
}

/// The [`Store`] method each database writes its own way, in its file (the
/// others are written once, `methods.rs`).
pub trait Native {
    /// `show`'s read: rows of one kind for the lookup.
    fn lookup(&mut self, lookup: Lookup, kind: Kind) -> Result<Vec<Row>>;
}

pub trait Store: Native {
    /// Rows of the named apps (all apps when `apps` is empty), in one query.
    fn rows(&mut self, apps: &[String]) -> Result<Vec<Row>>;

    /// Takes the lease of each app whose lease is free (see [`Leases::decide`];
    /// `longest`: the longest lease any wxtoken takes, in seconds), in one
    /// transaction, until `expires_at` (`now` + the lease's length).
    fn take_leases(
        &mut self,
        apps: &[String],
        owner: &str,
        now: i64,
        expires_at: i64,
        longest: i64,
    ) -> Result<Leases>;

    /// Releases leases without writing anything else.
    fn release_leases(&mut self, apps: &[String], owner: &str) -> Result<()>;

    /// Stores fetched values (never over a value fetched later), the invalidation,
    /// and the attempts, and releases the lease: all or nothing.
    fn commit(&mut self, app: &str, commit: &Commit) -> Result<()>;

    /// Records attempts made outside a refresh's commit (a one-use code's
    /// exchange), in one transaction; no lease is taken or released.
    fn record_attempts(&mut self, app: &str, attempts: Vec<Attempt>) -> Result<()> {
        self.commit(
            app,
            &Commit {
                attempts,
                ..Commit::default()
            },
        )
    }

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

    // The customer methods serve `push`, `authorizers` and platforms' refresh,
    // which come next.

    /// A platform's customers, by appid, in one query.
    fn customers(&mut self, platform: &str) -> Result<Vec<Customer>>;

    fn customer(&mut self, platform: &str, appid: &str) -> Result<Option<Customer>>;

    /// The names of the platforms that have customers, sorted.
    fn customer_platforms(&mut self) -> Result<Vec<String>>;

    /// Stores customers (each inserted or replaced whole), in one transaction.
    fn upsert_customers(&mut self, customers: &[Customer]) -> Result<()>;

    fn upsert_customer(&mut self, customer: &Customer) -> Result<()> {
        self.upsert_customers(std::slice::from_ref(customer))
    }

    /// Marks a customer revoked, forgets its credential and pending code, and
    /// invalidates every token of app `PLATFORM/APPID`, in one transaction.
    /// False when the customer is unknown (then nothing changes).
    fn revoke_customer(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool>;

    /// Deletes a customer known only by an authorization code that ended
    /// before `now` unexchanged: whether it was deleted.
    fn drop_expired_code(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool>;

    /// Stores a pushed ticket unless one fetched later is stored (no lease):
    /// whether it was stored.
    fn put_pushed(&mut self, row: &Row) -> Result<bool>;

    /// One step of a customer's pending one-use code ([`CodeStep`]), in one
    /// transaction: whether it happened (a claim: whether this caller took
    /// the code; a drop: whether the customer still has a credential).
    fn code_step(&mut self, platform: &str, appid: &str, step: &CodeStep, now: i64)
    -> Result<bool>;

    /// The customers of `platform` whose pending code was sent, and when:
    /// (appid, code_sent_at). Read by `refresh` (on a migrated database).
    fn sent_codes(&mut self, platform: &str) -> Result<Vec<(String, i64)>>;

    /// From now on exports the values to `export`'s folder (see [`export`]).
    fn export_to(&mut self, export: export::Export);

    /// Makes `export_dir`'s files of `apps` agree with their stored rows (see
    /// [`export`]); nothing without `export_dir`.
    fn export(&mut self, apps: &[String]);

    /// How many `export_dir` files could not be written or removed (each
    /// reported already): the command then exits 1.
    fn export_problems(&mut self) -> usize;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_ending_further_ahead_than_the_longest_is_taken_over() {
        const NOW: i64 = 1_795_471_186;
        const LONGEST: i64 = 905;
        let lease = |owner: &str, ends_in: i64| Lease {
            app: "shop".to_string(),
            owner: owner.to_string(),
            expires_at: NOW + ends_in,
        };
        // (what, current lease, taken, overruled, held)
        let cases = [
            ("none", None, true, false, false),
            ("ended", Some(lease("other", -1)), true, false, false),
            ("ends now", Some(lease("other", 0)), true, false, false),
            ("live", Some(lease("other", 200)), false, false, true),
            (
                "the longest",
                Some(lease("other", LONGEST)),
                false,
                false,
                true,
            ),
            (
                "a second past the longest",
                Some(lease("other", LONGEST + 1)),
                true,
                true,
                false,
            ),
            (
                "hours ahead",
                Some(lease("other", 3 * 3600)),
                true,
                true,
                false,
            ),
            (
                "mine, hours ahead",
                Some(lease("me", 3 * 3600)),
                true,
                false,
                false,
            ),
            ("mine, live", Some(lease("me", 200)), true, false, false),
        ];
        for (what, current, taken, overruled, held) in cases {
            let mut leases = Leases::default();
            assert_eq!(
                leases.decide("shop", current.clone(), "me", NOW, LONGEST),
                taken,
                "{what}"
            );
            let listed = |yes: bool| {
                if yes {
                    Vec::from_iter(current.clone())
                } else {
                    Vec::new()
                }
            };
            assert_eq!(leases.taken == ["shop"], taken, "{what}");
            assert_eq!(leases.overruled, listed(overruled), "{what}");
            assert_eq!(leases.held, listed(held), "{what}");
        }
    }
}
