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

use std::time::Duration;

use anyhow::Result;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::backend::{Backend, Conn, Param, args};
use super::export::Export;
use super::sql::{Sql, select_rows};
use super::{Lookup, MIGRATIONS, Native, Row, columns, no_tokens_yet, not_newer};
use crate::error;

mod connect;
mod deadline;
mod passfile;
mod schema;
pub mod url;

use connect::{Failure, connect, describe};
use schema::{SCHEMA_VERSION, as_version, has_meta};
pub use url::Url;

/// Settings for a writer's transactions (not `show`'s: it only reads): no
/// statement waits long for a lock, and a transaction stuck open (a frozen
/// process) does not hold its locks long. `SET LOCAL`, in each transaction:
/// a session-level `SET` would stay with a pooled server connection (PgBouncer
/// in transaction mode) and reach other clients; startup options are refused
/// by some poolers.
const TX_SETTINGS: &str = "SET LOCAL lock_timeout = '10s'; SET LOCAL statement_timeout = '30s'; \
     SET LOCAL idle_in_transaction_session_timeout = '60s'";

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
    deadline: Duration,
    export: Option<Export>,
}

impl Postgres {
    /// Connects and migrates: `refresh` and `invalidate`.
    pub fn open(url: &Url) -> Result<Postgres> {
        let tls = url.connector()?;
        let mut db = Postgres::new(connect(url, &tls)?, url, tls, deadline::WRITER);
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
            Some(Failure(msg, Some(code))) if *code == SqlState::INVALID_CATALOG_NAME => {
                error::no_token(msg.clone())
            }
            _ => e,
        })?;
        Ok(Postgres::new(client, url, tls, deadline::READER))
    }

    fn new(client: Client, url: &Url, tls: MakeRustlsConnect, deadline: Duration) -> Postgres {
        Postgres {
            client,
            url: url.clone(),
            tls,
            schema: None,
            away: false,
            export: None,
            deadline,
        }
    }
}

impl Backend for Postgres {
    type Error = postgres::Error;
    type Read<'c> = Client;
    type Write<'t> = Transaction<'t>;

    fn read<T>(&mut self, f: impl FnMut(&mut Client) -> Result<T, postgres::Error>) -> Result<T> {
        self.run("read", f)
    }

    fn write<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T> {
        self.run(what, |c| {
            let mut tx = begin(c)?;
            let done = f(&mut tx)?;
            tx.commit()?;
            Ok(done)
        })
    }

    fn exports(&mut self) -> &mut Option<Export> {
        &mut self.export
    }

    /// For reads other than `show`'s: read once.
    fn schema(&mut self) -> Result<usize> {
        if let Some(v) = self.schema {
            return Ok(v);
        }
        let found = self.run("read", schema::version)?.unwrap_or(0);
        self.schema = Some(not_newer(&self.url, found)?);
        Ok(found)
    }
}

impl Native for Postgres {
    fn lookup(&mut self, lookup: Lookup, kind: crate::graph::Kind) -> Result<Vec<Row>> {
        let kind = kind.as_str();
        let (app, appid) = match lookup {
            Lookup::Any => (None, None),
            Lookup::App(app) => (Some(app), None),
            Lookup::Appid(appid) => (None, Some(appid)),
        };
        if !self.run("read", has_meta)? {
            return Err(no_tokens_yet(&self.url));
        }
        let rows = self.run("read", |c| {
            c.query_typed(LOOKUP, &typed(args![kind, app, appid, SCHEMA_VERSION]))
        })?;
        let version = match rows.first() {
            Some(r) => as_version(r.try_get(0).map_err(|e| self.error("read", &e))?),
            None => 0,
        };
        if not_newer(&self.url, version)? == 0 {
            return Err(no_tokens_yet(&self.url));
        }
        rows.iter()
            .filter(|r| !matches!(r.try_get::<_, Option<String>>(1), Ok(None)))
            .map(|r| columns::row(r, 1).map_err(|e| self.error("read", &e)))
            .collect()
    }
}

/// [`Conn`] for a connection and for a transaction: every statement unnamed,
/// its parameters typed.
macro_rules! conn {
    ($($client:ty),*) => {$(
        impl Conn for $client {
            type Error = postgres::Error;
            type Row<'r> = postgres::Row;

            fn execute(&mut self, sql: &Sql, params: &[Param]) -> Result<u64, postgres::Error> {
                self.execute_typed(sql.pg, &typed(params))
            }

            fn query<T>(
                &mut self,
                sql: &Sql,
                params: &[Param],
                each: impl FnMut(&postgres::Row) -> Result<T, postgres::Error>,
            ) -> Result<Vec<T>, postgres::Error> {
                self.query_typed(sql.pg, &typed(params))?.iter().map(each).collect()
            }
        }
    )*};
}
conn!(Client, Transaction<'_>);

/// Each parameter with its type: `TEXT` or `BIGINT`.
fn typed<'a>(params: &'a [Param]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    let typed = |p: &'a Param| -> (&'a (dyn ToSql + Sync), Type) {
        match p {
            Param::Text(v) => (v, Type::TEXT),
            Param::Int(v) => (v, Type::INT8),
            Param::Texts(v) => (v, Type::TEXT_ARRAY),
        }
    };
    params.iter().map(typed).collect()
}
