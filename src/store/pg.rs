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
//! `show` opens one connection and runs one query, which also reads the schema
//! version; a missing table means "no token yet". Writers set `lock_timeout`,
//! `statement_timeout` and `idle_in_transaction_session_timeout`, so that no
//! statement waits for ever and a frozen process releases its locks.
//! A connection lost in the middle of a refresh (a server restart) is opened
//! again for a few seconds and the interrupted transaction run again: every
//! transaction here is all or nothing, and running one twice stores the same.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    Attempt, Commit, Invalidated, Lease, Leases, Lookup, MIGRATIONS, Row, Stats, Store, sqlite,
    stored_outcome,
};
use crate::error;

pub mod url;

pub use url::Url;

/// How long a lost connection is tried again before the command fails.
const RECONNECT_WITHIN: Duration = Duration::from_secs(10);
/// Settings for a writer's session (not `show`'s: it runs one SELECT): no
/// statement waits long for a lock, and a session stuck in a transaction (a
/// frozen process) does not hold its locks long. Sent after connecting rather
/// than as startup options, which connection poolers may refuse.
const WRITER_SETTINGS: &str = "SET lock_timeout = '10s'; SET statement_timeout = '30s'; \
     SET idle_in_transaction_session_timeout = '60s'";
/// The advisory lock that serializes migrations ("wxtoken" in ASCII).
const MIGRATION_LOCK: i64 = 0x0077_7874_6f6b_656e;
const SCHEMA_VERSION: &str = "schema_version";
const ROW_COLUMNS: &str =
    "app, kind, api, appid, value, fetched_at, expires_at, invalidated_at, source_token";

pub struct Postgres {
    client: Client,
    url: Url,
    tls: MakeRustlsConnect,
    /// Opened by `open` (sessions get `WRITER_SETTINGS`).
    writer: bool,
    /// Whether the schema version was checked (writers: on open; readers: with
    /// their first read) and whether the tables exist.
    tables: Option<bool>,
}

impl Postgres {
    /// Connects and migrates: `refresh` and `invalidate`.
    pub fn open(url: &Url) -> Result<Postgres> {
        let tls = url.connector()?;
        let mut db = Postgres {
            client: connect(url, &tls)?,
            url: url.clone(),
            tls,
            writer: true,
            tables: Some(true),
        };
        db.run("set up a session in", |c| c.batch_execute(WRITER_SETTINGS))?;
        db.migrate()?;
        Ok(db)
    }

    /// Connects, nothing more: `show`'s one query checks the schema version
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
            writer: false,
            tables: None,
        })
    }

    fn migrate(&mut self) -> Result<()> {
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
    fn tables(&mut self) -> Result<bool> {
        if let Some(exist) = self.tables {
            return Ok(exist);
        }
        let found = self.run("read", version)?;
        check_not_newer(&self.url, found.unwrap_or(0))?;
        let exist = found.is_some_and(|v| v > 0);
        self.tables = Some(exist);
        Ok(exist)
    }

    /// Runs `f`; when the connection was lost, connects again and runs it once more.
    fn run<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T> {
        let err = match f(&mut self.client) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !lost(&err, &self.client) {
            return Err(self.error(what, &err));
        }
        log::warn!(
            "lost the connection to database {} ({}); connecting again",
            self.url,
            describe(&err)
        );
        self.reconnect(what, &err)?;
        f(&mut self.client).map_err(|e| self.error(what, &e))
    }

    fn reconnect(&mut self, what: &str, lost: &postgres::Error) -> Result<()> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        let mut last = None;
        while started.elapsed() < RECONNECT_WITHIN {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
            let settings = if self.writer { WRITER_SETTINGS } else { "" };
            match connect_raw(&self.url, &self.tls)
                .and_then(|mut c| c.batch_execute(settings).map(|()| c))
            {
                Ok(client) => {
                    self.client = client;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        let (detail, hint) = match &last {
            Some(e) => (describe(e), connect_hint(e, &self.url)),
            None => (String::new(), String::new()),
        };
        Err(anyhow!(
            "could not {what} database {}: the connection was lost ({}) and connecting again failed for {}s ({detail}): {hint} (the next refresh takes over when the lease this one held ends)",
            self.url,
            describe(lost),
            RECONNECT_WITHIN.as_secs()
        ))
    }

    fn error(&self, what: &str, e: &postgres::Error) -> anyhow::Error {
        let hint = match e.code() {
            Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
                ": the user needs to own the database (or rights on wxtoken's tables; see the README)"
            }
            Some(c) if *c == SqlState::UNDEFINED_TABLE => {
                ": no wxtoken tables in that database yet: run `wxtoken refresh` first"
            }
            _ => "",
        };
        let msg = format!(
            "could not {what} database {}: {}{hint}",
            self.url,
            describe(e)
        );
        Failure(msg, e.code().cloned()).into()
    }
}

/// A database error: its one-line message and SQLSTATE, for the callers here
/// that tell some apart ("no such database", "no such table").
#[derive(Debug)]
struct Failure(String, Option<SqlState>);

impl Failure {
    fn is(&self, code: &SqlState) -> bool {
        self.1.as_ref() == Some(code)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Failure {}

fn connect(url: &Url, tls: &MakeRustlsConnect) -> Result<Client> {
    connect_raw(url, tls).map_err(|e| {
        let msg = format!(
            "could not connect to database {url}: {}: {}",
            describe(&e),
            connect_hint(&e, url)
        );
        Failure(msg, e.code().cloned()).into()
    })
}

fn connect_raw(url: &Url, tls: &MakeRustlsConnect) -> Result<Client, postgres::Error> {
    url.config.connect(tls.clone())
}

/// What to do about a failed connection.
fn connect_hint(e: &postgres::Error, url: &Url) -> String {
    let user = url.config.get_user().unwrap_or("the user");
    let db = url.config.get_dbname().unwrap_or(user);
    match e.code() {
        Some(c) if *c == SqlState::INVALID_PASSWORD => {
            "check the user name and password in the URL".to_string()
        }
        Some(c) if *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            "the server does not let this user in from this host: check the user, and the server's pg_hba.conf".to_string()
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => format!(
            "create it (CREATE DATABASE {db} OWNER {user}; see the README, \"Many hosts\"), then run `wxtoken refresh`"
        ),
        Some(c) if *c == SqlState::CANNOT_CONNECT_NOW => {
            "the server is starting or stopping: try again in a moment".to_string()
        }
        Some(c) if *c == SqlState::TOO_MANY_CONNECTIONS => {
            "the server has no free connection: raise max_connections, or close idle clients"
                .to_string()
        }
        _ => {
            let text = describe(e);
            if text.contains("TLS") && text.contains("certificate") {
                "the server's certificate is not signed by a CA wxtoken trusts for that host name: add sslrootcert=/path/to/ca.pem to the URL, or add the CA to the system store (update-ca-certificates) or SSL_CERT_FILE (or use sslmode=prefer, which does not check it)".to_string()
            } else if text.contains("TLS") {
                "the server does not offer TLS: enable ssl on the server, or use sslmode=prefer".to_string()
            } else if text.starts_with("timeout") {
                "no answer within connect_timeout: is the host reachable and the port open?"
                    .to_string()
            } else {
                "is the server running and listening on that host and port?".to_string()
            }
        }
    }
}

/// One line for a `postgres` error: the server's message, or the client's
/// error with its causes.
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().replace('\n', " ");
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.replace('\n', " ")
}

/// Whether an error means the connection is gone (a server restart), rather
/// than a problem with the statement.
fn lost(e: &postgres::Error, client: &Client) -> bool {
    let gone = [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::CONNECTION_EXCEPTION,
        SqlState::CONNECTION_FAILURE,
        SqlState::CONNECTION_DOES_NOT_EXIST,
    ];
    match e.code() {
        Some(code) => gone.contains(code),
        None => {
            e.is_closed() || client.is_closed() || e.to_string().starts_with("error communicating")
        }
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

fn as_version(v: i64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn check_not_newer(url: &Url, version: usize) -> Result<()> {
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

fn row(r: &postgres::Row, from: usize) -> Row {
    Row {
        app: r.get(from),
        kind: r.get(from + 1),
        api: r.get(from + 2),
        appid: r.get(from + 3),
        value: r.get(from + 4),
        fetched_at: r.get(from + 5),
        expires_at: r.get(from + 6),
        invalidated_at: r.get(from + 7),
        source_token: r.get(from + 8),
    }
}

fn attempt(r: &postgres::Row) -> Attempt {
    Attempt {
        app: r.get(0),
        kind: r.get(1),
        started_ms: r.get(2),
        duration_ms: r.get(3),
        outcome: r.get(4),
        forced: r.get::<_, i64>(5) != 0,
        errcode: r.get(6),
        message: r.get(7),
    }
}

/// SQLite's statement with PostgreSQL's placeholders (`?1` becomes `$1`); used
/// only for statements whose `?` are all placeholders.
fn numbered(sql: &str) -> String {
    sql.replace('?', "$")
}

impl Store for Postgres {
    fn rows(&mut self, apps: &[String]) -> Result<Vec<Row>> {
        if !self.tables()? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM wxtoken_tokens WHERE cardinality($1) = 0 OR app = ANY($1)"
        );
        let rows = self.run("read", |c| {
            c.query_typed(&sql, &[(&apps, Type::TEXT_ARRAY)])
        })?;
        Ok(rows.iter().map(|r| row(r, 0)).collect())
    }

    fn lookup(&mut self, lookup: Lookup, kind: &str) -> Result<Vec<Row>> {
        let (app, appid) = match lookup {
            Lookup::Any => (None, None),
            Lookup::App(app) => (Some(app), None),
            Lookup::Appid(appid) => (None, Some(appid)),
        };
        // One round trip: the schema version and the rows (none: one row of NULLs).
        let sql = format!(
            "SELECT m.value, {}
               FROM wxtoken_meta m
               LEFT JOIN wxtoken_tokens t ON t.kind = $1
                    AND ($2::text IS NULL OR t.app = $2) AND ($3::text IS NULL OR t.appid = $3)
              WHERE m.key = '{SCHEMA_VERSION}'
              ORDER BY t.app",
            ROW_COLUMNS
                .split(", ")
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let result = self.run("read", |c| {
            c.query_typed(
                &sql,
                &[
                    (&kind, Type::TEXT),
                    (&app, Type::TEXT),
                    (&appid, Type::TEXT),
                ],
            )
        });
        let rows = match result {
            Err(e)
                if e.downcast_ref::<Failure>()
                    .is_some_and(|f| f.is(&SqlState::UNDEFINED_TABLE)) =>
            {
                return Err(error::no_token(format!(
                    "database {} holds no tokens yet: run `wxtoken refresh` first",
                    self.url
                )));
            }
            r => r?,
        };
        let version = rows.first().map_or(0, |r| as_version(r.get(0)));
        check_not_newer(&self.url, version)?;
        if version == 0 {
            return Err(error::no_token(format!(
                "database {} holds no tokens yet: run `wxtoken refresh` first",
                self.url
            )));
        }
        Ok(rows
            .iter()
            .filter(|r| r.get::<_, Option<String>>(1).is_some())
            .map(|r| row(r, 1))
            .collect())
    }

    fn take_leases(
        &mut self,
        apps: &[String],
        owner: &str,
        now: i64,
        expires_at: i64,
        longest: i64,
    ) -> Result<Leases> {
        let mut apps = apps.to_vec();
        apps.sort();
        apps.dedup();
        // The lease's length as the caller wants it, its times on the server's clock.
        let ttl = expires_at - now;
        self.run("take a lease in", |c| {
            let mut tx = c.transaction()?;
            let now: i64 = tx
                .query_one("SELECT floor(extract(epoch FROM now()))::bigint", &[])?
                .get(0);
            // Row locks in name order (as every taker takes them): a concurrent
            // taker waits here, then sees the winner's lease.
            let mut current: HashMap<String, Lease> = tx
                .query_typed(
                    "SELECT app, owner, expires_at FROM wxtoken_leases
                     WHERE app = ANY($1) ORDER BY app FOR UPDATE",
                    &[(&apps, Type::TEXT_ARRAY)],
                )?
                .iter()
                .map(|r| {
                    let lease = Lease {
                        app: r.get(0),
                        owner: r.get(1),
                        expires_at: r.get(2),
                    };
                    (lease.app.clone(), lease)
                })
                .collect();
            let mut leases = Leases::default();
            let (mut replace, mut insert) = (Vec::new(), Vec::new());
            for app in &apps {
                let lease = current.remove(app);
                let existed = lease.is_some();
                match leases.decide(app, lease, owner, now, longest) {
                    true if existed => replace.push(app.clone()),
                    true => insert.push(app.clone()),
                    false => {}
                }
            }
            let until = now + ttl;
            tx.execute_typed(
                "UPDATE wxtoken_leases SET owner = $2, expires_at = $3 WHERE app = ANY($1)",
                &[
                    (&replace, Type::TEXT_ARRAY),
                    (&owner, Type::TEXT),
                    (&until, Type::INT8),
                ],
            )?;
            // An app that had no lease may have got one since the read: then
            // it is that process's.
            let inserted: Vec<String> = tx
                .query_typed(
                    "INSERT INTO wxtoken_leases (app, owner, expires_at)
                     SELECT a, $2, $3 FROM unnest($1) AS a
                     ON CONFLICT (app) DO NOTHING RETURNING app",
                    &[
                        (&insert, Type::TEXT_ARRAY),
                        (&owner, Type::TEXT),
                        (&until, Type::INT8),
                    ],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            leases
                .taken
                .retain(|app| replace.contains(app) || inserted.contains(app));
            tx.commit()?;
            Ok(leases)
        })
    }

    fn release_leases(&mut self, apps: &[String], owner: &str) -> Result<()> {
        self.run("release a lease in", |c| {
            c.execute_typed(
                "DELETE FROM wxtoken_leases WHERE owner = $2 AND app = ANY($1)",
                &[(&apps, Type::TEXT_ARRAY), (&owner, Type::TEXT)],
            )
        })?;
        Ok(())
    }

    fn commit(&mut self, app: &str, commit: &Commit) -> Result<()> {
        let upsert = numbered(sqlite::UPSERT_VALUE);
        let insert = numbered(sqlite::INSERT_ATTEMPT);
        let now = crate::clock::now();
        self.run("write to", |c| {
            let mut tx = c.transaction()?;
            if let Some((kind, value)) = &commit.invalidate {
                tx.execute(
                    "UPDATE wxtoken_tokens SET invalidated_at = $4
                     WHERE app = $1 AND kind = $2 AND value = $3 AND invalidated_at IS NULL",
                    &[&app, kind, value, &now],
                )?;
            }
            if !commit.values.is_empty() {
                let held: i64 = tx
                    .query_one(&numbered(sqlite::LEASE_HELD), &[&app, &commit.owner])?
                    .get(0);
                let upsert = tx.prepare(&upsert)?;
                for v in &commit.values {
                    let changed = tx.execute(
                        &upsert,
                        &[
                            &v.app,
                            &v.kind,
                            &v.api,
                            &v.appid,
                            &v.value,
                            &v.fetched_at,
                            &v.expires_at,
                            &v.source_token,
                            &held,
                        ],
                    )?;
                    if changed == 0 {
                        log::info!(
                            "{app}: a {} fetched later is already stored; kept it",
                            v.kind
                        );
                    }
                }
            }
            if !commit.attempts.is_empty() {
                let insert = tx.prepare(&insert)?;
                for a in &commit.attempts {
                    let params: [&(dyn ToSql + Sync); 8] = [
                        &a.app,
                        &a.kind,
                        &a.started_ms,
                        &a.duration_ms,
                        &a.outcome,
                        &i64::from(a.forced),
                        &a.errcode,
                        &a.message,
                    ];
                    tx.execute(&insert, &params)?;
                }
            }
            tx.execute(
                "DELETE FROM wxtoken_leases WHERE app = $1 AND owner = $2",
                &[&app, &commit.owner],
            )?;
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
            let mut tx = c.transaction()?;
            let current = tx
                .query_opt(
                    "SELECT value, invalidated_at FROM wxtoken_tokens
                     WHERE app = $1 AND kind = $2 FOR UPDATE",
                    &[&app, &kind],
                )?
                .map(|r| (r.get(0), r.get(1)));
            let outcome = stored_outcome(current, if_value);
            if outcome == Invalidated::Done {
                tx.execute(
                    "UPDATE wxtoken_tokens SET invalidated_at = $3 WHERE app = $1 AND kind = $2",
                    &[&app, &kind, &now],
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
        let rows = self.run("read", |c| {
            c.query_typed(
                "SELECT app, kind, started_ms, duration_ms, outcome, forced, errcode, message
                 FROM wxtoken_attempts WHERE $1::text IS NULL OR app = $1
                 ORDER BY started_ms DESC, ctid DESC LIMIT $2",
                &[(&app, Type::TEXT), (&(limit as i64), Type::INT8)],
            )
        })?;
        Ok(rows.iter().map(attempt).collect())
    }

    fn stats(&mut self, since_ms: i64) -> Result<Vec<Stats>> {
        if !self.tables()? {
            return Ok(Vec::new());
        }
        let counts = numbered(sqlite::STATS_COUNTS);
        let (counts, last) = self.run("read", |c| {
            let counts = c.query_typed(&counts, &[(&since_ms, Type::INT8)])?;
            let last = c.query_typed(sqlite::STATS_LAST, &[])?;
            Ok((counts, last))
        })?;
        let mut stats: HashMap<(String, String), Stats> = HashMap::new();
        for r in &counts {
            let s = Stats {
                app: r.get(0),
                kind: r.get(1),
                calls: r.get(2),
                forced: r.get(3),
                last_forced_ms: r.get(4),
                failures_in_a_row: r.get(5),
                last: None,
            };
            stats.insert((s.app.clone(), s.kind.clone()), s);
        }
        for a in last.iter().map(attempt) {
            if let Some(s) = stats.get_mut(&(a.app.clone(), a.kind.clone())) {
                s.last = Some(a);
            }
        }
        Ok(stats.into_values().collect())
    }

    fn prune(&mut self, before_ms: i64) -> Result<()> {
        self.run("write to", |c| {
            c.execute_typed(
                "DELETE FROM wxtoken_attempts WHERE started_ms < $1",
                &[(&before_ms, Type::INT8)],
            )
        })?;
        Ok(())
    }
}
