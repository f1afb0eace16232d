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
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, params_from_iter};

use super::backend::{Backend, Conn, Param};
use super::export::Export;
use super::sql::{Sql, select_rows};
use super::{Lookup, Native, Row, columns};

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
    export: Option<Export>,
}

mod deadline;
mod open;
mod pinned;

use deadline::Deadline;

impl Sqlite {
    /// The context for the errors of a read or a write about to start; its
    /// deadline starts too.
    fn context(&self, what: &str) -> String {
        self.deadline.arm();
        format!("could not {what} database {}", self.path.display())
    }
}

/// What to do about one cause of an error, when it is a SQLite error code
/// wxtoken knows: the database's part of [`crate::report::hint`], the fix at
/// the end of the error line.
pub fn hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use rusqlite::ErrorCode::*;
    let err = cause.downcast_ref::<rusqlite::Error>()?;
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
        OperationInterrupted => {
            "it ran longer than 10s and was stopped: wxtoken's reads and writes take milliseconds, so something added to the database (a view, a trigger) does not end: check its schema (sqlite3 FILE .schema)"
        }
        SystemIoFailure => {
            "an I/O error: check that the disk is not full and the file system is healthy"
        }
        _ => return None,
    })
}

impl Backend for Sqlite {
    type Error = rusqlite::Error;
    type Read<'c> = &'c Connection;
    type Write<'t> = &'t Connection;

    fn read<T>(&mut self, mut f: impl FnMut(&mut &Connection) -> rusqlite::Result<T>) -> Result<T> {
        let ctx = self.context("read");
        f(&mut &self.conn).context(ctx)
    }

    fn write<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut &Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        // `BEGIN IMMEDIATE`: the file's write lock at once (waiting up to the
        // busy timeout).
        let ctx = self.context(what);
        let tx = (self.conn)
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context(ctx.clone())?;
        let done = f(&mut &*tx).context(ctx.clone())?;
        tx.commit().context(ctx)?;
        Ok(done)
    }

    fn exports(&mut self) -> &mut Option<Export> {
        &mut self.export
    }

    fn schema(&mut self) -> Result<usize> {
        let ctx = self.context("read");
        self.version().context(ctx)
    }
}

impl Native for Sqlite {
    fn lookup(&mut self, lookup: Lookup, kind: crate::graph::Kind) -> Result<Vec<Row>> {
        let kind = kind.as_str();
        let (sql, arg) = match lookup {
            Lookup::Any => (LOOKUP_ANY, None),
            Lookup::App(app) => (LOOKUP_APP, Some(app)),
            Lookup::Appid(appid) => (LOOKUP_APPID, Some(appid)),
        };
        self.read(|c| {
            let params = params_from_iter(std::iter::once(kind).chain(arg));
            c.prepare(sql)?
                .query_map(params, |r| columns::row(r, 0))?
                .collect()
        })
    }
}

impl Conn for &Connection {
    type Error = rusqlite::Error;
    type Row<'r> = rusqlite::Row<'r>;

    fn execute(&mut self, sql: &Sql, params: &[Param]) -> rusqlite::Result<u64> {
        let mut stmt = self.prepare_cached(sql.sqlite)?;
        Ok(stmt.execute(params_from_iter(params))? as u64)
    }

    fn query<T>(
        &mut self,
        sql: &Sql,
        params: &[Param],
        mut each: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let mut stmt = self.prepare_cached(sql.sqlite)?;
        stmt.query_map(params_from_iter(params), |r| each(r))?
            .collect()
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(v) => v.to_sql(),
            Param::Int(v) => v.to_sql(),
            Param::Texts(v) => {
                let values = v.iter().map(|s| Value::Text(s.clone())).collect();
                Ok(ToSqlOutput::from_rc(
                    Rc::<Vec<Value>>::new(values),
                    c"rarray",
                ))
            }
        }
    }
}
