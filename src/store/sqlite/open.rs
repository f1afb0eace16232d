//! Opening the SQLite file: the checks on its path, creating it privately, WAL
//! mode and migrations for writers, the version check for readers.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rusqlite::{FileControl, OpenFlags};

use super::{BUSY_TIMEOUT, Deadline, Sqlite, WAL_SIZE_LIMIT};
use crate::store::{MIGRATIONS, no_tokens_yet, not_newer};
use crate::{clock, error, fsafe};

impl Sqlite {
    /// Opens for writing, creating the file (and its folder) and the schema if needed.
    pub fn open(path: &Path) -> Result<Sqlite> {
        database_file(path, fsafe::trusted(path, "database")?)?;
        create_private(path)?;
        // Again: the folders and the file may be new.
        let meta = database_file(path, fsafe::trusted(path, "database")?)?;
        let meta = meta.ok_or_else(|| anyhow::anyhow!("database {} vanished", path.display()))?;
        let mut db = Sqlite::connect(path, &meta, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        db.setup()
            .with_context(|| format!("could not set up database {}", path.display()))?;
        Ok(db)
    }

    /// Opens the checked file (`meta`) at `path` with `flags`: SQLite's files
    /// beside it checked, the very file checked opened (`pinned`), and its
    /// tables found to be wxtoken's own (`store::objects`). Without
    /// SQLITE_OPEN_CREATE, SQLite never creates a file; without
    /// SQLITE_OPEN_URI, `file:...` is a path too.
    fn connect(path: &Path, meta: &fs::Metadata, flags: OpenFlags) -> Result<Sqlite> {
        beside(path, meta)?;
        let mut conn = super::pinned::open(path, meta, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // `rarray`, which reads a list parameter (`sql.rs`).
        rusqlite::vtab::array::load_module(&conn)?;
        crate::store::objects::sqlite(&conn, &path.display().to_string())?;
        Ok(Sqlite {
            deadline: Deadline::install(&mut conn)?,
            conn,
            path: path.to_path_buf(),
            export: None,
        })
    }

    /// Sizes SQLite's memory for a process that opens one connection, reads a
    /// few pages and exits (`show`): a small lookaside buffer (64 slots of 256
    /// bytes, 16 KiB: four pages) and no page cache allocated in bulk up front.
    /// Both are set up by touching every page of them; the default sizes cost
    /// about 45 page faults, a fifth of a `show`. Without lookaside at all,
    /// parsing the schema takes every small allocation from malloc: 7% more
    /// instructions. Only how SQLite allocates changes, not what it does.
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
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_LOOKASIDE, 256 as c_int, 64 as c_int);
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
        // A reader outside the group of the database's folder cannot see the
        // file, so nor whose it is: the trust check would blame the folder's
        // owner (the service's user) and advise a chown that breaks the
        // service. What stops that reader is the folder's mode: say so (exit 1).
        let trusted = fsafe::trusted(path, "database")
            .map_err(|e| fsafe::unreachable(path, "database").map_or(e, anyhow::Error::msg))?;
        let checked = database_file(path, trusted)?;
        let Some(meta) = checked else {
            // Not "no database yet" to a reader outside the database's group.
            if let Some(denied) = fsafe::unreachable(path, "database") {
                bail!(denied);
            }
            return Err(error::no_token(format!(
                "no database at {} yet: run `wxtoken refresh` first",
                path.display()
            )));
        };
        let db = Sqlite::connect(path, &meta, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let version = db
            .version()
            .with_context(|| format!("could not read database {}", path.display()))?;
        if not_newer(&path.display(), version)? == 0 {
            return Err(no_tokens_yet(&path.display()));
        }
        Ok(db)
    }

    fn setup(&mut self) -> Result<()> {
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
        if not_newer(&self.path.display(), self.version()?)? < MIGRATIONS.len() {
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

    pub(super) fn version(&self) -> rusqlite::Result<usize> {
        let v: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok(usize::try_from(v).unwrap_or(usize::MAX))
    }
}

fn is_busy(err: &anyhow::Error) -> bool {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    err.chain()
        .filter_map(|e| e.downcast_ref::<rusqlite::Error>())
        .any(|e| matches!(e.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked)))
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

/// SQLite's files beside the database ([`fsafe::trusted_beside`]), where SQLite
/// looks for them: beside the path as given and, when links lead elsewhere,
/// beside the file it names.
fn beside(path: &Path, meta: &fs::Metadata) -> Result<()> {
    fsafe::trusted_beside(path, meta)?;
    if let Ok(real) = fs::canonicalize(path)
        && real != path
    {
        fsafe::trusted_beside(&real, meta)?;
    }
    Ok(())
}

/// Creates the database's own folder (0700) and an empty file (0600) if they
/// are missing: exclusively, never through a link (a link to nowhere is
/// refused). Only that one folder: a missing folder above it is more likely a
/// typo in `--db` than a place for a second database (exit 2, naming it).
fn create_private(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        if let Some(up) = dir.parent().filter(|d| !d.as_os_str().is_empty())
            && !up.is_dir()
        {
            return Err(error::usage(format!(
                "database {}: folder {} does not exist: check --db / WXTOKEN_DB, or create the folder first",
                path.display(),
                up.display()
            )));
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            // Another process, starting at the same moment, made it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            other => other.with_context(|| format!("could not create folder {}", dir.display()))?,
        }
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::store::{Lookup, Native};

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
                .lookup(Lookup::Any, crate::graph::Kind::AccessToken)
                .unwrap()
                .is_empty()
        );
        drop(reader);
        assert_eq!(listing(dir.path()), after_write);
    }
}
