//! The schema on the server: its version in `wxtoken_meta` (PostgreSQL has no
//! `user_version`), and migrations under an advisory lock.

use anyhow::Result;
use postgres::GenericClient;

use super::{Postgres, typed};
use crate::store::backend::args;
use crate::store::{MIGRATIONS, not_newer};

/// The advisory lock that serializes migrations ("wxtoken" in ASCII).
const MIGRATION_LOCK: i64 = 0x0077_7874_6f6b_656e;
pub(super) const SCHEMA_VERSION: &str = "schema_version";

impl Postgres {
    pub(super) fn migrate(&mut self) -> Result<()> {
        let url = self.url.clone();
        let found = self.run("read", version)?;
        if found == Some(MIGRATIONS.len()) {
            return Ok(());
        }
        not_newer(&url, found.unwrap_or(0))?;
        self.run("migrate", |c| {
            let mut tx = super::begin(c)?;
            tx.execute_typed("SELECT pg_advisory_xact_lock($1)", &typed(args![MIGRATION_LOCK]))?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS wxtoken_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            )?;
            let version = version(&mut tx)?.unwrap_or(0);
            if let Err(e) = not_newer(&url, version) {
                return Ok(Err(e));
            }
            for migration in &MIGRATIONS[version..] {
                tx.batch_execute(migration)?;
            }
            tx.execute_typed(
                "INSERT INTO wxtoken_meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &typed(args![SCHEMA_VERSION, MIGRATIONS.len() as i64]),
            )?;
            // What another role may have created since the connection's check
            // (CREATE TABLE IF NOT EXISTS keeps it): not committed then.
            let found = crate::store::objects::pg_find(&mut tx)?;
            if let Err(e) = crate::store::objects::pg(&found, &url.to_string()) {
                return Ok(Err(e));
            }
            tx.commit()?;
            Ok(Ok(()))
        })?
    }

    /// Takes the server's time for this process's clock (`clock::follow`):
    /// every host that writes this database then decides what is due, and
    /// stores fetch and expiry times, by one clock. A host whose own clock is
    /// off by more than a minute is told, once.
    pub(super) fn follow_server_clock(&mut self) -> Result<()> {
        let before = crate::clock::local_ms();
        let server: i64 = self.run("read", |c| {
            c.query_typed_one(
                "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                &[],
            )
            .map(|r| r.get(0))
        })?;
        let after = crate::clock::local_ms();
        // The server read its clock somewhere in between.
        let offset = server - (before + after) / 2;
        if offset.abs() > 60_000 {
            log::warn!(
                "this host's clock is {} {} the database server's: wxtoken takes the server's time on PostgreSQL, so every host agrees, but fix this host's time sync (NTP)",
                crate::duration::human(offset.abs() / 1000),
                if offset > 0 { "behind" } else { "ahead of" }
            );
        }
        crate::clock::follow(offset);
        Ok(())
    }
}

/// Whether wxtoken has created its tables in this database. Asked rather than
/// found out by reading a missing table, which would put an ERROR line in the
/// server's log on every run against a fresh database.
pub(super) fn has_meta(c: &mut impl GenericClient) -> Result<bool, postgres::Error> {
    // query_typed: one round trip, no statement prepared first.
    c.query_typed_one(
        "SELECT pg_catalog.to_regclass('wxtoken_meta') IS NOT NULL",
        &[],
    )?
    .try_get(0)
}

/// The schema version, `None` when wxtoken has no tables there yet.
pub(super) fn version(c: &mut impl GenericClient) -> Result<Option<usize>, postgres::Error> {
    if !has_meta(c)? {
        return Ok(None);
    }
    let rows = c.query_typed(
        "SELECT value FROM wxtoken_meta WHERE key = $1",
        &typed(args![SCHEMA_VERSION]),
    )?;
    Ok(Some(rows.first().map_or(0, |r| as_version(r.get(0)))))
}

pub(super) fn as_version(v: i64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
