//! The embedded SQLite database (the default).
//!
//! WAL mode, so that `show` reads while a `refresh` writes and never waits for
//! it; an explicit busy timeout for writers. Writers open read-write and migrate
//! by `PRAGMA user_version` inside one `BEGIN IMMEDIATE` transaction; `show` opens
//! read-only and never creates, migrates or writes. The file is created 0600,
//! its folder 0700 when wxtoken creates it.
//!
//! Writers keep the `-wal` and `-shm` files when they close (persistent WAL,
//! truncated to zero bytes), so that a `show` finds them and creates no file
//! of its own; SQLite gives them the database file's mode (0600). A read-write
//! client of another program (the `sqlite3` shell) may still delete them on
//! close: the next reader then creates them again, with the same mode.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::{
    Attempt, Commit, Invalidated, Lease, Leases, Lookup, Row, Stats, Store, stored_outcome,
};

/// How long a writer waits for another writer's transaction (they last milliseconds).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The WAL is cut back to this size after a checkpoint, and to zero bytes when
/// the last writer closes (so that the next reader has nothing to recover).
const WAL_SIZE_LIMIT: i64 = 1 << 20;

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
}

mod open;

impl Sqlite {
    fn context(&self, what: &str) -> String {
        format!("could not {what} database {}", self.path.display())
    }
}

/// What to do about a SQLite error, for the error line.
pub fn hint(err: &rusqlite::Error) -> Option<&'static str> {
    use rusqlite::ErrorCode::*;
    Some(match err.sqlite_error_code()? {
        DatabaseBusy | DatabaseLocked => {
            "another process kept it locked longer than the 5s busy timeout; run again"
        }
        ReadOnly => "the file or its folder is not writable (permissions, read-only file system)",
        CannotOpen => {
            "the file or its folder cannot be opened (permissions, a missing folder, a read-only file system)"
        }
        DiskFull => "the disk is full: free some space (the stored token is unchanged)",
        NotADatabase => "it is not a SQLite database: move it away or point --db elsewhere",
        DatabaseCorrupt => {
            "the file is damaged: restore it from a backup, or move it away (refresh creates a new one)"
        }
        PermissionDenied => "permission denied",
        SystemIoFailure => {
            "an I/O error: check that the disk is not full and the file system is healthy"
        }
        _ => return None,
    })
}

const ROW_COLUMNS: &str =
    "app, kind, api, appid, value, fetched_at, expires_at, invalidated_at, source_token";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok(Row {
        app: r.get(0)?,
        kind: r.get(1)?,
        api: r.get(2)?,
        appid: r.get(3)?,
        value: r.get(4)?,
        fetched_at: r.get(5)?,
        expires_at: r.get(6)?,
        invalidated_at: r.get(7)?,
        source_token: r.get(8)?,
    })
}

/// `?, ?, ?` for `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl Store for Sqlite {
    fn rows(&mut self, apps: &[String]) -> Result<Vec<Row>> {
        let ctx = self.context("read");
        if apps.is_empty() {
            let mut stmt = self
                .conn
                .prepare_cached(&format!("SELECT {ROW_COLUMNS} FROM wxtoken_tokens"))
                .context(ctx.clone())?;
            return stmt
                .query_map([], row)
                .and_then(Iterator::collect)
                .context(ctx);
        }
        // In chunks: SQLite limits the parameters of one statement.
        let mut rows = Vec::new();
        for chunk in apps.chunks(500) {
            let sql = format!(
                "SELECT {ROW_COLUMNS} FROM wxtoken_tokens WHERE app IN ({})",
                placeholders(chunk.len())
            );
            let mut stmt = self.conn.prepare_cached(&sql).context(ctx.clone())?;
            for r in stmt
                .query_map(params_from_iter(chunk), row)
                .context(ctx.clone())?
            {
                rows.push(r.context(ctx.clone())?);
            }
        }
        Ok(rows)
    }

    fn lookup(&mut self, lookup: Lookup, kind: &str) -> Result<Vec<Row>> {
        let (filter, arg) = match lookup {
            Lookup::Any => ("", None),
            Lookup::App(app) => (" AND app = ?2", Some(app)),
            Lookup::Appid(appid) => (" AND appid = ?2", Some(appid)),
        };
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM wxtoken_tokens WHERE kind = ?1{filter} ORDER BY app"
        );
        let ctx = self.context("read");
        let mut stmt = self.conn.prepare(&sql).context(ctx.clone())?;
        let rows = match arg {
            Some(arg) => stmt.query_map(params![kind, arg], row),
            None => stmt.query_map(params![kind], row),
        }
        .and_then(Iterator::collect)
        .context(ctx)?;
        Ok(rows)
    }

    fn take_leases(
        &mut self,
        apps: &[String],
        owner: &str,
        now: i64,
        expires_at: i64,
        longest: i64,
    ) -> Result<Leases> {
        let ctx = self.context("take a lease in");
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context(ctx.clone())?;
        let mut leases = Leases::default();
        {
            let mut current = tx
                .prepare_cached("SELECT owner, expires_at FROM wxtoken_leases WHERE app = ?1")
                .context(ctx.clone())?;
            let mut take = tx
                .prepare_cached(
                    "INSERT INTO wxtoken_leases (app, owner, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (app) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at",
                )
                .context(ctx.clone())?;
            for app in apps {
                let lease = current
                    .query_row(params![app], |r| {
                        Ok(Lease {
                            app: app.clone(),
                            owner: r.get(0)?,
                            expires_at: r.get(1)?,
                        })
                    })
                    .optional()
                    .context(ctx.clone())?;
                if leases.decide(app, lease, owner, now, longest) {
                    take.execute(params![app, owner, expires_at])
                        .context(ctx.clone())?;
                }
            }
        }
        tx.commit().context(ctx)?;
        Ok(leases)
    }

    fn release_leases(&mut self, apps: &[String], owner: &str) -> Result<()> {
        let ctx = self.context("release a lease in");
        let tx = self.conn.transaction().context(ctx.clone())?;
        for app in apps {
            tx.execute(
                "DELETE FROM wxtoken_leases WHERE app = ?1 AND owner = ?2",
                params![app, owner],
            )
            .context(ctx.clone())?;
        }
        tx.commit().context(ctx)
    }

    fn commit(&mut self, app: &str, commit: &Commit) -> Result<()> {
        let ctx = self.context("write to");
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context(ctx.clone())?;
        if let Some((kind, value)) = &commit.invalidate {
            tx.execute(
                "UPDATE wxtoken_tokens SET invalidated_at = ?4
                 WHERE app = ?1 AND kind = ?2 AND value = ?3 AND invalidated_at IS NULL",
                params![app, kind, value, crate::clock::now()],
            )
            .context(ctx.clone())?;
        }
        let held: i64 = tx
            .query_row(LEASE_HELD, params![app, commit.owner], |r| r.get(0))
            .context(ctx.clone())?;
        for v in &commit.values {
            let changed = tx
                .prepare_cached(UPSERT_VALUE)
                .and_then(|mut s| {
                    s.execute(params![
                        v.app,
                        v.kind,
                        v.api,
                        v.appid,
                        v.value,
                        v.fetched_at,
                        v.expires_at,
                        v.source_token,
                        held
                    ])
                })
                .context(ctx.clone())?;
            if changed == 0 {
                log::info!(
                    "{app}: a {} fetched later is already stored; kept it",
                    v.kind
                );
            }
        }
        for a in &commit.attempts {
            tx.prepare_cached(INSERT_ATTEMPT)
                .and_then(|mut s| {
                    s.execute(params![
                        a.app,
                        a.kind,
                        a.started_ms,
                        a.duration_ms,
                        a.outcome,
                        a.forced,
                        a.errcode,
                        a.message
                    ])
                })
                .context(ctx.clone())?;
        }
        tx.execute(
            "DELETE FROM wxtoken_leases WHERE app = ?1 AND owner = ?2",
            params![app, commit.owner],
        )
        .context(ctx.clone())?;
        crate::fault::pause("in-commit");
        tx.commit().context(ctx)
    }

    fn invalidate(
        &mut self,
        app: &str,
        kind: &str,
        if_value: Option<&str>,
        now: i64,
    ) -> Result<Invalidated> {
        let ctx = self.context("write to");
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context(ctx.clone())?;
        let current: Option<(String, Option<i64>)> = tx
            .query_row(
                "SELECT value, invalidated_at FROM wxtoken_tokens WHERE app = ?1 AND kind = ?2",
                params![app, kind],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .context(ctx.clone())?;
        let outcome = stored_outcome(current, if_value);
        if outcome == Invalidated::Done {
            tx.execute(
                "UPDATE wxtoken_tokens SET invalidated_at = ?3 WHERE app = ?1 AND kind = ?2",
                params![app, kind, now],
            )
            .context(ctx.clone())?;
        }
        tx.commit().context(ctx)?;
        Ok(outcome)
    }

    fn history(&mut self, app: Option<&str>, limit: usize) -> Result<Vec<Attempt>> {
        let ctx = self.context("read");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT app, kind, started_ms, duration_ms, outcome, forced, errcode, message
                 FROM wxtoken_attempts WHERE ?1 IS NULL OR app = ?1
                 ORDER BY started_ms DESC, rowid DESC LIMIT ?2",
            )
            .context(ctx.clone())?;
        let rows = stmt
            .query_map(params![app, limit as i64], attempt)
            .and_then(Iterator::collect)
            .context(ctx)?;
        Ok(rows)
    }

    fn stats(&mut self, since_ms: i64) -> Result<Vec<Stats>> {
        let ctx = self.context("read");
        let mut stats: HashMap<(String, String), Stats> = HashMap::new();
        let mut counts = self
            .conn
            .prepare_cached(STATS_COUNTS)
            .context(ctx.clone())?;
        let mut rows = counts.query(params![since_ms]).context(ctx.clone())?;
        while let Some(r) = rows.next().context(ctx.clone())? {
            let s = Stats {
                app: r.get(0)?,
                kind: r.get(1)?,
                calls: r.get(2)?,
                forced: r.get(3)?,
                last_forced_ms: r.get(4)?,
                failures_in_a_row: r.get(5)?,
                last: None,
            };
            stats.insert((s.app.clone(), s.kind.clone()), s);
        }
        let mut last = self.conn.prepare_cached(STATS_LAST).context(ctx.clone())?;
        for a in last.query_map([], attempt).context(ctx.clone())? {
            let a = a.context(ctx.clone())?;
            if let Some(s) = stats.get_mut(&(a.app.clone(), a.kind.clone())) {
                s.last = Some(a);
            }
        }
        Ok(stats.into_values().collect())
    }

    fn prune(&mut self, before_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM wxtoken_attempts WHERE started_ms < ?1",
                params![before_ms],
            )
            .context(self.context("write to"))?;
        Ok(())
    }
}

/// Stores a fetched value. ?9 is 1 when the writer still holds the app's lease:
/// then nobody fetched after it, and it writes whatever the clocks say. A writer
/// whose lease was taken over writes only over a value fetched earlier (its
/// `fetched_at`, by its own clock, is not newer than the stored one's).
pub(super) const LEASE_HELD: &str =
    "SELECT COUNT(*) FROM wxtoken_leases WHERE app = ?1 AND owner = ?2";

pub(super) const UPSERT_VALUE: &str =
    "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at, invalidated_at, source_token)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)
     ON CONFLICT (app, kind) DO UPDATE SET
        api = excluded.api, appid = excluded.appid, value = excluded.value,
        fetched_at = excluded.fetched_at, expires_at = excluded.expires_at,
        invalidated_at = NULL, source_token = excluded.source_token
     WHERE CAST(?9 AS BIGINT) = 1 OR excluded.fetched_at >= wxtoken_tokens.fetched_at";

pub(super) const INSERT_ATTEMPT: &str =
    "INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced, errcode, message)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Per app and kind: calls and forced calls since ?1 (those that reached upstream:
/// `ok` or `error`), the last forced call, and the failures since the last success.
pub(super) const STATS_COUNTS: &str = "
SELECT a.app, a.kind,
       SUM(CASE WHEN a.started_ms >= ?1 AND a.outcome IN ('ok', 'error') THEN 1 ELSE 0 END),
       SUM(CASE WHEN a.started_ms >= ?1 AND a.outcome IN ('ok', 'error') AND a.forced = 1 THEN 1 ELSE 0 END),
       MAX(CASE WHEN a.started_ms >= ?1 AND a.outcome IN ('ok', 'error') AND a.forced = 1 THEN a.started_ms END),
       SUM(CASE WHEN a.outcome <> 'ok' AND a.started_ms > COALESCE(
               (SELECT MAX(b.started_ms) FROM wxtoken_attempts b
                 WHERE b.app = a.app AND b.kind = a.kind AND b.outcome = 'ok'), -1)
           THEN 1 ELSE 0 END)
  FROM wxtoken_attempts a
 GROUP BY a.app, a.kind";

/// The latest attempt of each app and kind.
pub(super) const STATS_LAST: &str = "
SELECT a.app, a.kind, a.started_ms, a.duration_ms, a.outcome, a.forced, a.errcode, a.message
  FROM wxtoken_attempts a
 WHERE a.started_ms = (SELECT MAX(b.started_ms) FROM wxtoken_attempts b
                        WHERE b.app = a.app AND b.kind = a.kind)";

fn attempt(r: &rusqlite::Row) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        app: r.get(0)?,
        kind: r.get(1)?,
        started_ms: r.get(2)?,
        duration_ms: r.get(3)?,
        outcome: r.get(4)?,
        forced: r.get(5)?,
        errcode: r.get(6)?,
        message: r.get(7)?,
    })
}
