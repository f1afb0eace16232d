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
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, FileControl, OpenFlags, OptionalExtension, params, params_from_iter};

use super::{
    Attempt, Commit, Invalidated, Lease, Leases, Lookup, MIGRATIONS, Row, Stats, Store,
    stored_outcome,
};
use crate::{clock, error, fsafe};

/// How long a writer waits for another writer's transaction (they last milliseconds).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
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
        database_file(path, fsafe::trusted(path, "database")?)?;
        create_private(path)?;
        // Again: the folders and the file may be new.
        database_file(path, fsafe::trusted(path, "database")?)?;
        // Without SQLITE_OPEN_CREATE, SQLite opens the file checked above and
        // never creates one; without SQLITE_OPEN_URI, `file:...` is a path too.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("could not open database {}", path.display()))?;
        let mut db = Sqlite {
            conn,
            path: path.to_path_buf(),
        };
        db.setup()
            .with_context(|| format!("could not set up database {}", path.display()))?;
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
        if database_file(path, fsafe::trusted(path, "database")?)?.is_none() {
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
        let version = db
            .version()
            .with_context(|| format!("could not read database {}", path.display()))?;
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
        // Processes that open a new database at the same moment: switching it to
        // WAL needs an exclusive lock that SQLite does not wait for (it answers
        // "busy" at once rather than risk a deadlock), so setup is tried again
        // for as long as the busy timeout.
        let started = Instant::now();
        loop {
            match self.setup_once() {
                Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(10 + clock::now_ms() as u64 % 40));
                }
                other => return other,
            }
        }
    }

    fn setup_once(&mut self) -> Result<()> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode != "wal" {
            let mode: String = self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if mode != "wal" {
                log::warn!("{}: journal mode is {mode}, not wal", self.path.display());
            }
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

fn is_busy(err: &anyhow::Error) -> bool {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    err.chain()
        .filter_map(|e| e.downcast_ref::<rusqlite::Error>())
        .any(|e| matches!(e.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked)))
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

/// `--db` names a regular file (or none yet), not a folder or a FIFO, which
/// SQLite would wait on forever. `meta` is what the path names, if anything.
fn database_file(path: &Path, meta: Option<fs::Metadata>) -> Result<Option<fs::Metadata>> {
    match meta.as_ref().map(fsafe::not_regular) {
        Some(Some("a folder")) => Err(error::usage(format!(
            "--db {} is a folder: name the database file, e.g. {}",
            path.display(),
            path.join("tokens.db").display()
        ))),
        Some(Some(kind)) => Err(error::usage(format!(
            "database {} is {kind}, not a regular file: point --db at the database file",
            path.display()
        ))),
        _ => Ok(meta),
    }
}

/// Creates the folder (0700) and an empty file (0600) if they are missing:
/// exclusively, never through a link (a link to nowhere is refused).
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
    match fsafe::create_exclusive(path, 0o600) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link && !path.exists() {
                return Err(error::usage(format!(
                    "database {} is a symbolic link to a file that does not exist: wxtoken creates a database only at a real path: remove the link, or point --db at where it should be",
                    path.display()
                )));
            }
            Ok(())
        }
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
