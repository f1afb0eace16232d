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

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::sql::{self, select_rows};
use super::{
    Attempt, CUSTOMERS_SINCE, Commit, Customer, CustomerState, Invalidated, Lease, Leases, Lookup,
    Row, Stats, Store, columns, stored_outcome,
};

/// How long a writer waits for another writer's transaction (they last milliseconds).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The WAL is cut back to this size after a checkpoint, and to zero bytes when
/// the last writer closes (so that the next reader has nothing to recover).
const WAL_SIZE_LIMIT: i64 = 1 << 20;

/// `show`'s reads: SQLite plans each with the primary key or the appid index.
const LOOKUP_ANY: &str = concat!(select_rows!(), " WHERE kind = ?1 ORDER BY app");
const LOOKUP_APP: &str = concat!(select_rows!(), " WHERE kind = ?1 AND app = ?2 ORDER BY app");
const LOOKUP_APPID: &str = concat!(
    select_rows!(),
    " WHERE kind = ?1 AND appid = ?2 ORDER BY app"
);

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
    deadline: Deadline,
}

mod codes;
mod deadline;
mod hint;
mod open;
mod pinned;
mod update;

use deadline::Deadline;

impl Sqlite {
    /// The context for the errors of a read or a write about to start; its
    /// deadline starts too.
    fn context(&self, what: &str) -> String {
        self.deadline.arm();
        format!("could not {what} database {}", self.path.display())
    }

    /// A write transaction, which takes the file's write lock at once (waiting
    /// up to the busy timeout), and the context for its errors.
    fn write(&mut self, what: &str) -> Result<(rusqlite::Transaction<'_>, String)> {
        let ctx = self.context(what);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context(ctx.clone())?;
        Ok((tx, ctx))
    }
}

pub use hint::hint;

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
                .prepare_cached(select_rows!())
                .context(ctx.clone())?;
            return stmt
                .query_map([], |r| columns::row(r, 0))
                .and_then(Iterator::collect)
                .context(ctx);
        }
        // In chunks: SQLite limits the parameters of one statement.
        let mut rows = Vec::new();
        for chunk in apps.chunks(500) {
            let sql = format!(
                "{} WHERE app IN ({})",
                select_rows!(),
                placeholders(chunk.len())
            );
            let mut stmt = self.conn.prepare_cached(&sql).context(ctx.clone())?;
            for r in stmt
                .query_map(params_from_iter(chunk), |r| columns::row(r, 0))
                .context(ctx.clone())?
            {
                rows.push(r.context(ctx.clone())?);
            }
        }
        Ok(rows)
    }

    fn lookup(&mut self, lookup: Lookup, kind: crate::graph::Kind) -> Result<Vec<Row>> {
        let kind = columns::kind_column(kind);
        let (sql, arg) = match lookup {
            Lookup::Any => (LOOKUP_ANY, None),
            Lookup::App(app) => (LOOKUP_APP, Some(app)),
            Lookup::Appid(appid) => (LOOKUP_APPID, Some(appid)),
        };
        let ctx = self.context("read");
        let mut stmt = self.conn.prepare(sql).context(ctx.clone())?;
        let row = |r: &rusqlite::Row| columns::row(r, 0);
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
        let (tx, ctx) = self.write("take a lease in")?;
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
            tx.execute(sql::RELEASE_LEASE.sqlite, params![app, owner])
                .context(ctx.clone())?;
        }
        tx.commit().context(ctx)
    }

    fn commit(&mut self, app: &str, commit: &Commit) -> Result<()> {
        let (tx, ctx) = self.write("write to")?;
        if let Some((kind, value)) = &commit.invalidate {
            tx.execute(
                sql::INVALIDATE_STALE.sqlite,
                params![app, kind, value, crate::clock::now()],
            )
            .context(ctx.clone())?;
        }
        let held: i64 = tx
            .query_row(sql::LEASE_HELD.sqlite, params![app, commit.owner], |r| {
                r.get(0)
            })
            .context(ctx.clone())?;
        for v in &commit.values {
            let changed = upsert_value(&tx, v, held).context(ctx.clone())?;
            if changed == 0 {
                log::info!(
                    "{app}: a {} fetched later is already stored; kept it",
                    v.kind
                );
            }
        }
        if let Some(u) = &commit.customer {
            update::customer(&tx, app, u, held).context(ctx.clone())?;
        }
        for a in &commit.attempts {
            tx.prepare_cached(sql::INSERT_ATTEMPT.sqlite)
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
        tx.execute(sql::RELEASE_LEASE.sqlite, params![app, commit.owner])
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
        let (tx, ctx) = self.write("write to")?;
        let current: Option<(String, Option<i64>)> = tx
            .query_row(sql::STORED_VALUE.sqlite, params![app, kind], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .context(ctx.clone())?;
        let outcome = stored_outcome(current, if_value);
        if outcome == Invalidated::Done {
            tx.execute(sql::MARK_INVALIDATED.sqlite, params![app, kind, now])
                .context(ctx.clone())?;
        }
        tx.commit().context(ctx)?;
        Ok(outcome)
    }

    fn history(&mut self, app: Option<&str>, limit: usize) -> Result<Vec<Attempt>> {
        let ctx = self.context("read");
        let mut stmt = self
            .conn
            .prepare(sql::HISTORY.sqlite)
            .context(ctx.clone())?;
        let rows = stmt
            .query_map(params![app, limit as i64], |r| columns::attempt(r))
            .and_then(Iterator::collect)
            .context(ctx)?;
        Ok(rows)
    }

    fn stats(&mut self, since_ms: i64) -> Result<Vec<Stats>> {
        let ctx = self.context("read");
        let counts = self
            .conn
            .prepare_cached(sql::STATS_COUNTS.sqlite)
            .and_then(|mut s| {
                s.query_map(params![since_ms], |r| columns::counts(r))?
                    .collect()
            })
            .context(ctx.clone())?;
        let last = self
            .conn
            .prepare_cached(sql::STATS_LAST.sqlite)
            .and_then(|mut s| s.query_map([], |r| columns::attempt(r))?.collect())
            .context(ctx)?;
        Ok(columns::stats(counts, last))
    }

    fn prune(&mut self, before_ms: i64) -> Result<()> {
        let ctx = self.context("write to");
        self.conn
            .execute(sql::PRUNE.sqlite, params![before_ms])
            .context(ctx)?;
        Ok(())
    }

    fn customers(&mut self, platform: &str) -> Result<Vec<Customer>> {
        let ctx = self.context("read");
        if self.version().context(ctx.clone())? < CUSTOMERS_SINCE {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(sql::CUSTOMERS.sqlite)
            .context(ctx.clone())?;
        let rows = stmt
            .query_map(params![platform], |r| columns::customer(r))
            .and_then(Iterator::collect)
            .context(ctx)?;
        Ok(rows)
    }

    fn customer(&mut self, platform: &str, appid: &str) -> Result<Option<Customer>> {
        let ctx = self.context("read");
        if self.version().context(ctx.clone())? < CUSTOMERS_SINCE {
            return Ok(None);
        }
        self.conn
            .query_row(sql::CUSTOMER.sqlite, params![platform, appid], |r| {
                columns::customer(r)
            })
            .optional()
            .context(ctx)
    }

    fn customer_state(&mut self, platform: &str, appid: &str) -> Result<Option<CustomerState>> {
        let ctx = self.context("read");
        if self.version().context(ctx.clone())? < CUSTOMERS_SINCE {
            return Ok(None);
        }
        self.conn
            .query_row(sql::CUSTOMER_STATE.sqlite, params![platform, appid], |r| {
                r.get(0)
            })
            .optional()
            .context(ctx)
    }

    fn customer_platforms(&mut self) -> Result<Vec<String>> {
        let ctx = self.context("read");
        if self.version().context(ctx.clone())? < CUSTOMERS_SINCE {
            return Ok(Vec::new());
        }
        self.conn
            .prepare(sql::CUSTOMER_PLATFORMS.sqlite)
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .context(ctx)
    }

    fn upsert_customers(&mut self, customers: &[Customer]) -> Result<()> {
        let (tx, ctx) = self.write("write to")?;
        {
            let mut stmt = tx
                .prepare_cached(sql::UPSERT_CUSTOMER.sqlite)
                .context(ctx.clone())?;
            for c in customers {
                stmt.execute(params![
                    c.platform,
                    c.appid,
                    c.credential,
                    c.pending_code,
                    c.pending_until,
                    c.state.as_str(),
                    c.info,
                    c.authorized_at,
                    c.updated_at
                ])
                .context(ctx.clone())?;
            }
        }
        tx.commit().context(ctx)
    }

    fn revoke_customer(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool> {
        let (tx, ctx) = self.write("write to")?;
        let known = tx
            .execute(sql::REVOKE_CUSTOMER.sqlite, params![platform, appid, now])
            .context(ctx.clone())?
            > 0;
        if known {
            let app = format!("{platform}/{appid}");
            tx.execute(sql::INVALIDATE_APP.sqlite, params![app, now])
                .context(ctx.clone())?;
        }
        tx.commit().context(ctx)?;
        Ok(known)
    }

    fn drop_expired_code(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool> {
        let (tx, ctx) = self.write("write to")?;
        let p = params![platform, appid, now];
        let dropped = tx
            .execute(sql::DROP_EXPIRED_CODE.sqlite, p)
            .context(ctx.clone())?
            > 0;
        tx.commit().context(ctx)?;
        Ok(dropped)
    }

    fn put_pushed(&mut self, v: &Row) -> Result<bool> {
        let (tx, ctx) = self.write("write to")?;
        // Not the lease holder (0): stored only over a value fetched earlier.
        let changed = upsert_value(&tx, v, 0).context(ctx.clone())?;
        tx.commit().context(ctx)?;
        Ok(changed > 0)
    }
    fn code_step(
        &mut self,
        platform: &str,
        appid: &str,
        step: &super::CodeStep,
        now: i64,
    ) -> Result<bool> {
        self.step(platform, appid, step, now)
    }

    fn sent_codes(&mut self, platform: &str) -> Result<Vec<(String, i64)>> {
        self.sent(platform)
    }
}

/// Stores a value unless one fetched later is stored; `held` is 1 when the
/// writer holds the app's lease (then it replaces whatever is stored). The
/// number of rows changed: 0 when a later value was kept.
fn upsert_value(conn: &Connection, v: &Row, held: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql::UPSERT_VALUE.sqlite)?
        .execute(params![
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
}
