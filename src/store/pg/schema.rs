//! The schema on the server: its version in `wxtoken_meta` (PostgreSQL has no
//! `user_version`), and migrations under an advisory lock.

use anyhow::{Result, anyhow};
use postgres::GenericClient;
use postgres::error::SqlState;
use postgres::types::Type;

use super::{Postgres, Url};
use crate::store::MIGRATIONS;

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
        check_not_newer(&url, found.unwrap_or(0))?;
        self.run("migrate", |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS wxtoken_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            )?;
            let version = version(&mut tx)?.unwrap_or(0);
            if version > MIGRATIONS.len() {
                return Ok(Err(newer(&url, version)));
            }
            for migration in &MIGRATIONS[version..] {
                tx.batch_execute(migration)?;
            }
            tx.execute(
                "INSERT INTO wxtoken_meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&SCHEMA_VERSION, &(MIGRATIONS.len() as i64)],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })?
    }

    /// For reads other than `show`'s: whether the tables exist (checked once).
    pub(super) fn tables(&mut self) -> Result<bool> {
        if let Some(exist) = self.tables {
            return Ok(exist);
        }
        let found = self.run("read", version)?;
        check_not_newer(&self.url, found.unwrap_or(0))?;
        let exist = found.is_some_and(|v| v > 0);
        self.tables = Some(exist);
        Ok(exist)
    }
}

/// The schema version, `None` when wxtoken has no tables there yet.
fn version(c: &mut impl GenericClient) -> Result<Option<usize>, postgres::Error> {
    match c.query_typed(
        "SELECT value FROM wxtoken_meta WHERE key = $1",
        &[(&SCHEMA_VERSION, Type::TEXT)],
    ) {
        Ok(rows) => Ok(Some(rows.first().map_or(0, |r| as_version(r.get(0))))),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn as_version(v: i64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

pub(super) fn check_not_newer(url: &Url, version: usize) -> Result<()> {
    if version > MIGRATIONS.len() {
        return Err(newer(url, version));
    }
    Ok(())
}

fn newer(url: &Url, version: usize) -> anyhow::Error {
    anyhow!(
        "database {url} has schema version {version}, written by a newer wxtoken (this one knows up to {}): upgrade wxtoken",
        MIGRATIONS.len()
    )
}
