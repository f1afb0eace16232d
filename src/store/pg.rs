//! A shared PostgreSQL database, for several hosts that need the same tokens.
//!
//! The same tables as SQLite (`schema.sql`), so the same SELECT serves business
//! code. What SQLite gets from its file lock, PostgreSQL gets from row locks:
//! - Leases: one transaction reads a batch's leases `FOR UPDATE` (in name
//!   order), decides which are free as SQLite does (`Leases::decide`), and takes
//!   them; a concurrent taker waits for the row locks and then sees the winner's
//!   leases. Lease times are the server's clock (`now()`), so hosts whose clocks
//!   disagree still agree on when a lease has expired.
//! - Values: the same upsert as SQLite, `WHERE excluded.fetched_at >= stored`, so
//!   an older token never replaces a newer one.
//! - Migrations: one transaction under a transaction-level advisory lock, the
//!   version in `wxtoken_meta` (PostgreSQL has no `user_version`); a process that
//!   finds the current version migrates nothing and takes no lock.
//!
//! `show` opens one connection and runs two queries: whether the tables exist
//! (`to_regclass`: a fresh database leaves no ERROR in the server's log), then
//! the rows with the schema version. Writers' transactions `SET LOCAL`
//! `lock_timeout`, `statement_timeout` and `idle_in_transaction_session_timeout`,
//! so that no statement waits for ever and a frozen process releases its locks;
//! nothing is set for the session, which a pooler may hand to another client.
//! Every statement is unnamed (`query_typed`, `execute_typed`: parsed, bound
//! and run in one round trip, its parameters' types given): nothing stays
//! prepared on a server connection, which a pooler in transaction mode
//! (PgBouncer) hands to another client as soon as a transaction ends.
//! A connection lost in the middle of a refresh (a server restart) is opened
//! again for a few seconds and the interrupted transaction run again: every
//! transaction here is all or nothing, and running one twice stores the same.

use anyhow::Result;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::sql::{self, select_rows};
use super::{
    Attempt, Commit, Customer, CustomerState, Invalidated, Leases, Lookup, MIGRATIONS, Row, Stats,
    Store, columns, stored_outcome,
};
use crate::error;

mod codes;
mod connect;
mod customers;
mod deadline;
mod leases;
mod passfile;
mod schema;
pub mod url;

use connect::{Failure, connect, describe};
use schema::{SCHEMA_VERSION, as_version, check_not_newer, has_meta};
pub use url::Url;

/// Settings for a writer's transactions (not `show`'s: it only reads): no
/// statement waits long for a lock, and a transaction stuck open (a frozen
/// process) does not hold its locks long. `SET LOCAL`, in each transaction:
/// a session-level `SET` would stay with a pooled server connection (PgBouncer
/// in transaction mode) and reach other clients; startup options are refused
/// by some poolers.
const TX_SETTINGS: &str = "SET LOCAL lock_timeout = '10s'; SET LOCAL statement_timeout = '30s'; \
     SET LOCAL idle_in_transaction_session_timeout = '60s'";

/// A parameter of an unnamed statement, with its type.
pub(super) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// A `TEXT` parameter (`String`, `&str`, or an `Option` of either).
pub(super) fn text(v: &(dyn ToSql + Sync)) -> Param<'_> {
    (v, Type::TEXT)
}

/// A `BIGINT` parameter (`i64` or `Option<i64>`).
pub(super) fn int(v: &(dyn ToSql + Sync)) -> Param<'_> {
    (v, Type::INT8)
}

/// Stores a value unless one fetched later is stored; `held` is 1 when the
/// writer holds the app's lease (then it replaces whatever is stored). The
/// number of rows changed: 0 when a later value was kept.
pub(super) fn upsert_value(
    tx: &mut Transaction<'_>,
    v: &Row,
    held: i64,
) -> Result<u64, postgres::Error> {
    tx.execute_typed(
        sql::UPSERT_VALUE.pg,
        &[
            text(&v.app),
            text(&v.kind),
            text(&v.api),
            text(&v.appid),
            text(&v.value),
            int(&v.fetched_at),
            int(&v.expires_at),
            text(&v.source_token),
            int(&held),
        ],
    )
}

/// Begins a writer's transaction, with `TX_SETTINGS`.
fn begin(c: &mut Client) -> Result<Transaction<'_>, postgres::Error> {
    let mut tx = c.transaction()?;
    tx.batch_execute(TX_SETTINGS)?;
    Ok(tx)
}

/// `show`'s query: the schema version and the rows (no rows: one row
/// of NULLs after the version; no version: no row).
const LOOKUP: &str = concat!(
    "SELECT m.value, t.* FROM wxtoken_meta m LEFT JOIN (",
    select_rows!(),
    " WHERE kind = $1 AND ($2::text IS NULL OR app = $2) AND ($3::text IS NULL OR appid = $3)
     ) t ON true
     WHERE m.key = $4
     ORDER BY t.app"
);

pub struct Postgres {
    client: Client,
    url: Url,
    tls: MakeRustlsConnect,
    /// The schema version, once checked (writers: on open; readers: with
    /// their first read other than `show`'s).
    schema: Option<usize>,
    /// The server stayed away for a whole reconnect window (see `connect`).
    away: bool,
    /// How long one statement or transaction may take (see `deadline`).
    deadline: std::time::Duration,
}

impl Postgres {
    /// Connects and migrates: `refresh` and `invalidate`.
    pub fn open(url: &Url) -> Result<Postgres> {
        let tls = url.connector()?;
        let mut db = Postgres {
            client: connect(url, &tls)?,
            url: url.clone(),
            tls,
            schema: None,
            away: false,
            deadline: deadline::WRITER,
        };
        db.migrate()?;
        db.schema = Some(MIGRATIONS.len());
        db.follow_server_clock()?;
        Ok(db)
    }

    /// Connects, nothing more: `show`'s query checks the schema version
    /// itself; other reads check it first. A missing database is "no token yet".
    pub fn open_read_only(url: &Url) -> Result<Postgres> {
        let tls = url.connector()?;
        let client = connect(url, &tls).map_err(|e| match e.downcast_ref::<Failure>() {
            Some(f) if f.is(&SqlState::INVALID_CATALOG_NAME) => error::no_token(f.0.clone()),
            _ => e,
        })?;
        Ok(Postgres {
            client,
            url: url.clone(),
            tls,
            schema: None,
            away: false,
            deadline: deadline::READER,
        })
    }
}

impl Store for Postgres {
    fn rows(&mut self, apps: &[String]) -> Result<Vec<Row>> {
        if !self.tables()? {
            return Ok(Vec::new());
        }
        const SQL: &str = concat!(
            select_rows!(),
            " WHERE pg_catalog.cardinality($1) = 0 OR app = ANY($1)"
        );
        self.run("read", |c| {
            c.query_typed(SQL, &[(&apps, Type::TEXT_ARRAY)])?
                .iter()
                .map(|r| columns::row(r, 0))
                .collect()
        })
    }

    fn lookup(&mut self, lookup: Lookup, kind: crate::graph::Kind) -> Result<Vec<Row>> {
        let kind = columns::kind_column(kind);
        let (app, appid) = match lookup {
            Lookup::Any => (None, None),
            Lookup::App(app) => (Some(app), None),
            Lookup::Appid(appid) => (None, Some(appid)),
        };
        let url = self.url.clone();
        let no_token = || {
            error::no_token(format!(
                "database {url} holds no tokens yet: run `wxtoken refresh` first"
            ))
        };
        if !self.run("read", has_meta)? {
            return Err(no_token());
        }
        let rows = self.run("read", |c| {
            c.query_typed(
                LOOKUP,
                &[
                    (&kind, Type::TEXT),
                    (&app, Type::TEXT),
                    (&appid, Type::TEXT),
                    (&SCHEMA_VERSION, Type::TEXT),
                ],
            )
        })?;
        let version = match rows.first() {
            Some(r) => as_version(r.try_get(0).map_err(|e| self.error("read", &e))?),
            None => 0,
        };
        check_not_newer(&self.url, version)?;
        if version == 0 {
            return Err(no_token());
        }
        rows.iter()
            .filter(|r| !matches!(r.try_get::<_, Option<String>>(1), Ok(None)))
            .map(|r| columns::row(r, 1).map_err(|e| self.error("read", &e)))
            .collect()
    }
    fn take_leases(
        &mut self,
        apps: &[String],
        owner: &str,
        now: i64,
        expires_at: i64,
        longest: i64,
    ) -> Result<Leases> {
        self.leases(apps, owner, now, expires_at, longest)
    }

    fn release_leases(&mut self, apps: &[String], owner: &str) -> Result<()> {
        self.run("release a lease in", |c| {
            let mut tx = begin(c)?;
            tx.execute_typed(
                "DELETE FROM wxtoken_leases WHERE owner = $2 AND app = ANY($1)",
                &[(&apps, Type::TEXT_ARRAY), (&owner, Type::TEXT)],
            )?;
            tx.commit()
        })?;
        Ok(())
    }

    fn commit(&mut self, app: &str, commit: &Commit) -> Result<()> {
        let now = crate::clock::now();
        self.run("write to", |c| {
            let mut tx = begin(c)?;
            if let Some((kind, value)) = &commit.invalidate {
                tx.execute_typed(
                    sql::INVALIDATE_STALE.pg,
                    &[text(&app), text(kind), text(value), int(&now)],
                )?;
            }
            let mut held = 0;
            if !commit.values.is_empty() || commit.customer.is_some() {
                held = tx
                    .query_typed_one(sql::LEASE_HELD.pg, &[text(&app), text(&commit.owner)])?
                    .get(0);
            }
            {
                for v in &commit.values {
                    let changed = upsert_value(&mut tx, v, held)?;
                    if changed == 0 {
                        log::info!(
                            "{app}: a {} fetched later is already stored; kept it",
                            v.kind
                        );
                    }
                }
            }
            if let Some(u) = &commit.customer {
                customers::update(&mut tx, app, u, held)?;
            }
            if !commit.attempts.is_empty() {
                for a in &commit.attempts {
                    tx.execute_typed(
                        sql::INSERT_ATTEMPT.pg,
                        &[
                            text(&a.app),
                            text(&a.kind),
                            int(&a.started_ms),
                            int(&a.duration_ms),
                            text(&a.outcome),
                            int(&i64::from(a.forced)),
                            int(&a.errcode),
                            text(&a.message),
                        ],
                    )?;
                }
            }
            tx.execute_typed(sql::RELEASE_LEASE.pg, &[text(&app), text(&commit.owner)])?;
            crate::fault::pause("in-commit");
            tx.commit()
        })
    }

    fn invalidate(
        &mut self,
        app: &str,
        kind: &str,
        if_value: Option<&str>,
        now: i64,
    ) -> Result<Invalidated> {
        self.run("write to", |c| {
            let mut tx = begin(c)?;
            let current =
                match tx.query_typed_opt(sql::STORED_VALUE.pg, &[text(&app), text(&kind)])? {
                    Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
                    None => None,
                };
            let outcome = stored_outcome(current, if_value);
            if outcome == Invalidated::Done {
                tx.execute_typed(
                    sql::MARK_INVALIDATED.pg,
                    &[text(&app), text(&kind), int(&now)],
                )?;
            }
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn history(&mut self, app: Option<&str>, limit: usize) -> Result<Vec<Attempt>> {
        if !self.tables()? {
            return Ok(Vec::new());
        }
        self.run("read", |c| {
            c.query_typed(
                sql::HISTORY.pg,
                &[(&app, Type::TEXT), (&(limit as i64), Type::INT8)],
            )?
            .iter()
            .map(columns::attempt)
            .collect()
        })
    }

    fn stats(&mut self, since_ms: i64) -> Result<Vec<Stats>> {
        if !self.tables()? {
            return Ok(Vec::new());
        }
        let (counts, last) = self.run("read", |c| {
            let counts = c
                .query_typed(sql::STATS_COUNTS.pg, &[(&since_ms, Type::INT8)])?
                .iter()
                .map(columns::counts)
                .collect::<Result<_, _>>()?;
            let last = c
                .query_typed(sql::STATS_LAST.pg, &[])?
                .iter()
                .map(columns::attempt)
                .collect::<Result<_, _>>()?;
            Ok((counts, last))
        })?;
        Ok(columns::stats(counts, last))
    }

    fn prune(&mut self, before_ms: i64) -> Result<()> {
        self.run("write to", |c| {
            let mut tx = begin(c)?;
            tx.execute_typed(sql::PRUNE.pg, &[(&before_ms, Type::INT8)])?;
            tx.commit()
        })?;
        Ok(())
    }

    fn customers(&mut self, platform: &str) -> Result<Vec<Customer>> {
        self.customers_of(platform)
    }

    fn customer(&mut self, platform: &str, appid: &str) -> Result<Option<Customer>> {
        self.one_customer(platform, appid)
    }

    fn customer_state(&mut self, platform: &str, appid: &str) -> Result<Option<CustomerState>> {
        self.state_of(platform, appid)
    }

    fn customer_platforms(&mut self) -> Result<Vec<String>> {
        self.platforms_of_customers()
    }

    fn upsert_customers(&mut self, customers: &[Customer]) -> Result<()> {
        self.upsert(customers)
    }

    fn revoke_customer(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool> {
        self.revoke(platform, appid, now)
    }

    fn drop_expired_code(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool> {
        self.run("write to", |c| {
            let p = [text(&platform), text(&appid), int(&now)];
            Ok(c.execute_typed(sql::DROP_EXPIRED_CODE.pg, &p)? > 0)
        })
    }

    fn put_pushed(&mut self, row: &Row) -> Result<bool> {
        self.pushed(row)
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
