//! The connection to the server: connecting, the hints for a failed
//! connection, and running a statement again over a new connection when the
//! old one was lost (a server restart).

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use postgres::Client;
use postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::passfile::Source;
use super::{Postgres, Url, deadline};

/// How long a lost connection is tried again before the command fails: a
/// restart of the server, and behind a pooler its wait before it logs in to
/// the server again (PgBouncer's `server_login_retry`, 15 s by default).
const RECONNECT_WITHIN: Duration = Duration::from_secs(20);

impl Postgres {
    /// Runs `f`; when the connection was lost, connects again and runs it
    /// again, for up to `RECONNECT_WITHIN`. Through a pooler, connecting
    /// succeeds while the server is still away: `f` is what tells.
    pub(super) fn run<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T> {
        let first = match self.call(what, &mut f) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !lost(&first, &self.client) {
            return Err(self.error(what, &first));
        }
        // Once a whole window went by without a server, each later call
        // connects once, and fails at once if there is still none.
        let window = if self.away {
            Duration::ZERO
        } else {
            log::warn!(
                "lost the connection to database {} ({}); connecting again",
                self.url,
                reason(&first)
            );
            RECONNECT_WITHIN
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        let last = loop {
            if !self.away {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            let e = match connect_raw(&self.url, &self.tls) {
                Ok(client) => {
                    self.client = client;
                    match self.call(what, &mut f) {
                        Ok(v) => {
                            self.away = false;
                            return Ok(v);
                        }
                        Err(e) if lost(&e, &self.client) => e,
                        Err(e) => return Err(self.error(what, &e)),
                    }
                }
                Err(e) => e,
            };
            if started.elapsed() >= window {
                break e;
            }
        };
        self.away = true;
        let (detail, hint) = (reason(&last), connect_hint(&last, &self.url));
        Err(anyhow!(
            "could not {what} database {}: the connection was lost ({}) and connecting again failed for {}s ({detail}): {hint} (the next refresh takes over when the lease this one held ends)",
            self.url,
            reason(&first),
            RECONNECT_WITHIN.as_secs()
        ))
    }

    /// Runs `f` once, under the statement deadline (see `deadline`).
    fn call<T>(
        &mut self,
        what: &str,
        f: &mut impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let cancel = Some((self.client.cancel_token(), self.tls.clone()));
        let (url, limit) = (&self.url, self.deadline);
        let message = format!(
            "could not {what} database {url}: no answer within {}s, not even to a cancel request: is the server running, and the network to it up? (a pooler in between waits for a server that is away; a lease this run held ends by itself)",
            limit.as_secs()
        );
        let client = &mut self.client;
        deadline::within(limit, cancel, message, || f(client))
    }

    pub(super) fn error(&self, what: &str, e: &postgres::Error) -> anyhow::Error {
        let hint = match e.code() {
            Some(c) if *c == SqlState::QUERY_CANCELED => {
                ": it ran past wxtoken's deadline, and was cancelled: is the server overloaded, or is something holding a lock on wxtoken's tables for long?"
            }
            Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
                ": the user needs to own the database (or rights on wxtoken's tables; see docs/postgresql.md)"
            }
            Some(c) if *c == SqlState::UNDEFINED_TABLE => {
                ": no wxtoken tables in that database yet: run `wxtoken refresh` first"
            }
            _ => "",
        };
        anyhow!(
            "could not {what} database {}: {}{hint}",
            self.url,
            describe(e)
        )
    }
}

/// A failed connection: its one-line message and SQLSTATE, for the reader,
/// to whom no such database is "no token yet".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Failure(pub(super) String, pub(super) Option<SqlState>);

/// A connection, once wxtoken's table names are found to be its own tables
/// (`store::objects`): nothing is read or written before.
pub(super) fn connect(url: &Url, tls: &MakeRustlsConnect) -> Result<Client> {
    let failed = |what: &str, e: postgres::Error| {
        let (detail, hint) = (describe(&e), connect_hint(&e, url));
        Failure(
            format!("could not {what} database {url}: {detail}: {hint}"),
            code(&e),
        )
    };
    let mut client = connect_raw(url, tls).map_err(|e| failed("connect to", e))?;
    // Through a pooler, the connection comes before any server: a server
    // that is away shows here first.
    let found = crate::store::objects::pg_find(&mut client)
        .map_err(|e| failed("check the tables of", e))?;
    crate::store::objects::pg(&found, &url.to_string())?;
    Ok(client)
}

/// The SQLSTATE of a failed connection, or the one the server would have
/// sent for what a pooler says in its own words: PgBouncer reports a missing
/// database and a failed login with a protocol error (08P01) and a message.
fn code(e: &postgres::Error) -> Option<SqlState> {
    let text = describe(e);
    if text.starts_with("database \"") && text.ends_with("\" does not exist") {
        return Some(SqlState::INVALID_CATALOG_NAME);
    }
    if text == "SASL authentication failed" || text.starts_with("password authentication failed") {
        return Some(SqlState::INVALID_PASSWORD);
    }
    e.code().cloned()
}

/// Connects, under a deadline: `connect_timeout` for each host, for the
/// whole of it (TCP, TLS, the login), where the client bounds the TCP
/// connect alone.
fn connect_raw(url: &Url, tls: &MakeRustlsConnect) -> Result<Client, postgres::Error> {
    let each = url.config.get_connect_timeout().copied();
    let each = each.unwrap_or(Duration::from_secs(10));
    let limit = each * url.config.get_hosts().len().max(1) as u32;
    // A server answers a login at once. PgBouncer, once a login to its server
    // failed (a database missing there, the server down), holds every new
    // client of that database silent until its `server_login_retry` (15 s by
    // default) has gone by, and only then says why: this message cannot tell
    // which, so it names both.
    let user = url.config.get_user().unwrap_or("wxtoken");
    let db = url.config.get_dbname().unwrap_or(user);
    let message = format!(
        "could not connect to database {url}: no answer within {}s (connect_timeout): something accepted the connection and then said nothing. A pooler (PgBouncer) does this while it cannot log in to its server, and says why only after its server_login_retry (15 s by default): check that database \"{db}\" exists on the server behind it (CREATE DATABASE {db} OWNER {user}; see docs/postgresql.md), that the server is up, and the pooler's log. Without a pooler: is a PostgreSQL server on that port, and is the network to it dropping packets?",
        limit.as_secs()
    );
    deadline::within(limit, None, message, || url.config.connect(tls.clone()))
}

/// What to do about a failed connection.
fn connect_hint(e: &postgres::Error, url: &Url) -> String {
    let user = url.config.get_user().unwrap_or("the user");
    let db = url.config.get_dbname().unwrap_or(user);
    match code(e).as_ref() {
        Some(c) if *c == SqlState::INVALID_PASSWORD => match &url.password {
            Source::Url => "check the user name and password in the URL".to_string(),
            Source::Env => "check the user name in the URL and the password in PGPASSWORD".to_string(),
            Source::File(path) => format!(
                "check the user name in the URL and its password in {}",
                path.display()
            ),
            Source::Missing(_) => no_password(url),
        },
        Some(c) if *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            "the server does not let this user in from this host: check the user, and the server's pg_hba.conf".to_string()
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => format!(
            "create it (CREATE DATABASE {db} OWNER {user}; see docs/postgresql.md), then run `wxtoken refresh`"
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
            if text.ends_with("password missing") {
                no_password(url)
            } else if text.contains("TLS") && text.contains("certificate") {
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

/// The server wants a password and none was found: where libpq users put one.
fn no_password(url: &Url) -> String {
    let looked = match &url.password {
        Source::Missing(Some(path)) => format!(" (none matched in {})", path.display()),
        _ => String::new(),
    };
    format!(
        "the URL has no password and none was found{looked}: give it in the URL, in PGPASSWORD, or in a password file (~/.pgpass, PGPASSFILE or passfile=FILE in the URL; a line host:port:database:user:password, mode 0600)"
    )
}

/// One line for a `postgres` error: the server's message, or the client's
/// error with its causes.
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().replace('\n', " ");
    }
    let chain = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source());
    let text: Vec<String> = chain.map(ToString::to_string).collect();
    text.join(": ").replace('\n', " ")
}

/// What PgBouncer says when it has no server to hand a client (a restart, or
/// the server down): an error, SQLSTATE 08P01, with one of these in its text.
const POOLER_NO_SERVER: &[&str] = &[
    "server_login_retry",
    "cannot connect to server",
    "server conn crashed",
    "query_wait_timeout",
    "server closed the connection",
];

fn from_pooler(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::PROTOCOL_VIOLATION)
        && e.as_db_error()
            .is_some_and(|db| POOLER_NO_SERVER.iter().any(|m| db.message().contains(m)))
}

/// Why the connection was lost, the pooler named when it was its word.
fn reason(e: &postgres::Error) -> String {
    if from_pooler(e) {
        format!("the pooler: {}", describe(e))
    } else {
        describe(e)
    }
}

/// Whether an error means the connection is gone (a server restart, seen
/// directly or through a pooler), rather than a problem with the statement.
fn lost(e: &postgres::Error, client: &Client) -> bool {
    if from_pooler(e) {
        return true;
    }
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
