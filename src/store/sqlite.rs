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

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, FileControl, OpenFlags, params, params_from_iter};

use super::{CallCount, Commit, Lookup, MIGRATIONS, Row, Store};
use crate::error;

/// How long a writer waits for another writer's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The WAL is cut back to this size after a checkpoint, and to zero bytes when
/// the last writer closes (so that the next reader has nothing to recover).
const WAL_SIZE_LIMIT: i64 = 1 << 20;

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
}

impl Sqlite {
    /// Opens for writing, creating the file (and its folder) and the schema if needed.
    pub fn open(path: &Path) -> Result<Sqlite> {
        create_private(path)?;
        let conn = Connection::open(path)
            .with_context(|| format!("could not open database {}", path.display()))?;
        let mut db = Sqlite {
            conn,
            path: path.to_path_buf(),
        };
        db.setup().with_context(|| {
            format!(
                "could not use database {}: is it a wxtoken SQLite database?",
                path.display()
            )
        })?;
        Ok(db)
    }

    /// Sizes SQLite's memory for a process that opens one connection, reads a
    /// few pages and exits (`show`): no lookaside buffer and no page cache
    /// allocated in bulk up front. Both are set up by touching every page of
    /// them (about 45 page faults, a fifth of a `show`), for a connection that
    /// needs neither. Only how SQLite allocates changes, not what it does.
    ///
    /// # Safety
    /// `sqlite3_config` changes process-wide state without a lock: call this
    /// before any connection is opened and while no other thread uses SQLite.
    /// Once SQLite is initialized it refuses the change, which is harmless.
    pub unsafe fn configure_for_one_short_read() {
        use rusqlite::ffi;
        use std::ffi::{c_int, c_void};
        // SAFETY: the caller guarantees no other thread is in SQLite; the
        // variadic arguments have the types SQLite reads (int, int; void*, int, int).
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_LOOKASIDE, 0 as c_int, 0 as c_int);
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PAGECACHE,
                std::ptr::null_mut::<c_void>(),
                0 as c_int,
                0 as c_int,
            );
        }
    }

    /// Opens an existing database read-only: `show`'s path. A missing file or an
    /// empty database is "no token yet" (exit 3).
    pub fn open_read_only(path: &Path) -> Result<Sqlite> {
        if !path.exists() {
            return Err(error::no_token(format!(
                "no database at {} yet: run `wxtoken refresh` first",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("could not open database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let db = Sqlite {
            conn,
            path: path.to_path_buf(),
        };
        let version = db.version().with_context(|| {
            format!(
                "could not read database {}: is it a wxtoken SQLite database?",
                path.display()
            )
        })?;
        db.check_not_newer(version)?;
        if version == 0 {
            return Err(error::no_token(format!(
                "database {} holds no tokens yet: run `wxtoken refresh` first",
                path.display()
            )));
        }
        Ok(db)
    }

    fn setup(&mut self) -> Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if mode != "wal" {
            log::warn!("{}: journal mode is {mode}, not wal", self.path.display());
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn
            .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        self.conn
            .file_control(rusqlite::DEFAULT_NAME, FileControl::PersistWal(&mut 1))?;
        let version = self.version()?;
        self.check_not_newer(version)?;
        if version < MIGRATIONS.len() {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(migration)
                    .with_context(|| format!("schema migration {} failed", i + 1))?;
            }
            tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    fn version(&self) -> rusqlite::Result<usize> {
        let v: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok(usize::try_from(v).unwrap_or(usize::MAX))
    }

    fn check_not_newer(&self, version: usize) -> Result<()> {
        if version > MIGRATIONS.len() {
            bail!(
                "database {} has schema version {version}, written by a newer wxtoken (this one knows up to {}): upgrade wxtoken",
                self.path.display(),
                MIGRATIONS.len()
            );
        }
        Ok(())
    }

    fn context(&self, what: &str) -> String {
        format!("could not {what} database {}", self.path.display())
    }
}

/// Creates the folder (0700) and an empty file (0600) if they are missing.
fn create_private(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("could not create folder {}", dir.display()))?;
    }
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("could not create database {}", path.display())),
    }
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
        let sql = if apps.is_empty() {
            format!("SELECT {ROW_COLUMNS} FROM wxtoken_tokens")
        } else {
            format!(
                "SELECT {ROW_COLUMNS} FROM wxtoken_tokens WHERE app IN ({})",
                placeholders(apps.len())
            )
        };
        let ctx = self.context("read");
        let mut stmt = self.conn.prepare_cached(&sql).context(ctx.clone())?;
        let rows = stmt
            .query_map(params_from_iter(apps), row)
            .and_then(Iterator::collect)
            .context(ctx)?;
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
    ) -> Result<Vec<String>> {
        let ctx = self.context("take a lease in");
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context(ctx.clone())?;
        let mut taken = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO wxtoken_leases (app, owner, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (app) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                     WHERE wxtoken_leases.expires_at <= ?4 OR wxtoken_leases.owner = excluded.owner",
                )
                .context(ctx.clone())?;
            for app in apps {
                if stmt
                    .execute(params![app, owner, expires_at, now])
                    .context(ctx.clone())?
                    == 1
                {
                    taken.push(app.clone());
                }
            }
        }
        tx.commit().context(ctx)?;
        Ok(taken)
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
        for v in &commit.values {
            tx.prepare_cached(
                "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at, invalidated_at, source_token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)
                 ON CONFLICT (app, kind) DO UPDATE SET
                    api = excluded.api, appid = excluded.appid, value = excluded.value,
                    fetched_at = excluded.fetched_at, expires_at = excluded.expires_at,
                    invalidated_at = NULL, source_token = excluded.source_token
                 WHERE excluded.fetched_at >= wxtoken_tokens.fetched_at",
            )
            .and_then(|mut s| {
                s.execute(params![
                    v.app,
                    v.kind,
                    v.api,
                    v.appid,
                    v.value,
                    v.fetched_at,
                    v.expires_at,
                    v.source_token
                ])
            })
            .context(ctx.clone())?;
        }
        for a in &commit.attempts {
            tx.prepare_cached(
                "INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced, errcode, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
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
        tx.commit().context(ctx)
    }

    fn call_counts(&mut self, since_ms: i64) -> Result<Vec<CallCount>> {
        let ctx = self.context("read");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT app, kind, COUNT(*), SUM(forced),
                        MAX(CASE WHEN forced = 1 THEN started_ms END)
                 FROM wxtoken_attempts
                 WHERE started_ms >= ?1 AND outcome <> 'refused'
                 GROUP BY app, kind",
            )
            .context(ctx.clone())?;
        let rows = stmt
            .query_map(params![since_ms], |r| {
                Ok(CallCount {
                    app: r.get(0)?,
                    kind: r.get(1)?,
                    calls: r.get(2)?,
                    forced: r.get(3)?,
                    last_forced_ms: r.get(4)?,
                })
            })
            .and_then(Iterator::collect)
            .context(ctx)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn listing(dir: &Path) -> Vec<(String, u32, u64)> {
        let mut files: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let meta = e.metadata().unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, meta.permissions().mode() & 0o777, meta.len())
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn writers_leave_private_empty_wal_files_so_readers_create_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        drop(Sqlite::open(&path).unwrap());
        let after_write = listing(dir.path());
        let names: Vec<&str> = after_write.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["tokens.db", "tokens.db-shm", "tokens.db-wal"]);
        assert!(after_write.iter().all(|f| f.1 == 0o600), "{after_write:?}");
        assert_eq!(after_write[2].2, 0, "the WAL is truncated on close");

        let mut reader = Sqlite::open_read_only(&path).unwrap();
        assert!(
            reader
                .lookup(Lookup::Any, "access_token")
                .unwrap()
                .is_empty()
        );
        drop(reader);
        assert_eq!(listing(dir.path()), after_write);
    }
}
