//! SQLite opens the file that was checked, or nothing.
//!
//! `fsafe::trusted` checks a path; SQLite then opens it by name. Between the
//! two, the owner of a folder on the path (whom the owner rule allows) could
//! put another file there, or a link to one: root's `refresh` would then
//! migrate wxtoken's tables into a file of root's. So SQLite is given the path
//! with its links resolved and `SQLITE_OPEN_NOFOLLOW` (a link that appears is
//! refused), and before anything is read or written, the file SQLite holds
//! open (its own descriptor, `fstat`) must be the one checked: same device,
//! same inode.

use std::ffi::{c_int, c_void};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, ffi};

use crate::error::usage;

/// Opens `path` with `flags` (plus `SQLITE_OPEN_NOFOLLOW`), refusing unless
/// the file SQLite opened is the one `checked` describes.
pub fn open(path: &Path, checked: &Metadata, flags: OpenFlags) -> Result<Connection> {
    // The path with its links resolved (they were checked), as SQLite would
    // resolve it; a path that vanished meanwhile is opened as given (SQLite
    // then fails on it).
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let conn = Connection::open_with_flags(&real, flags | OpenFlags::SQLITE_OPEN_NOFOLLOW)
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::CannotOpen) if is_link_now(&real) => usage(format!(
                "database {}: {} became a symbolic link after it was checked: is another user changing it?",
                path.display(),
                real.display()
            )),
            _ => anyhow::Error::new(e)
                .context(format!("could not open database {}", path.display())),
        })?;
    same_file(&conn, path, checked)?;
    Ok(conn)
}

fn is_link_now(path: &Path) -> bool {
    path.ancestors()
        .any(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()))
}

/// Refuses (exit 2) unless SQLite's descriptor of the main database is the
/// file `checked` describes.
fn same_file(conn: &Connection, path: &Path, checked: &Metadata) -> Result<()> {
    let fd = main_fd(conn).with_context(|| {
        format!(
            "database {}: could not tell which file SQLite opened",
            path.display()
        )
    })?;
    // SAFETY: `fd` is SQLite's open descriptor (checked above to be the unix
    // VFS's), open for as long as `conn`, which outlives this borrow.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let st = rustix::fs::fstat(fd)
        .map_err(std::io::Error::from)
        .with_context(|| format!("database {}: could not check the open file", path.display()))?;
    if st.st_nlink > 1 {
        return Err(usage(crate::fsafe::hard_linked(path)));
    }
    if st.st_dev != checked.dev() || st.st_ino != checked.ino() {
        return Err(usage(format!(
            "database {} was replaced by another file after it was checked (is another user changing its folder?): nothing was written; check who can write to its folders",
            path.display()
        )));
    }
    Ok(())
}

/// The unix VFS's file (`struct unixFile` of sqlite3.c, the bundled version):
/// its methods, its VFS, its inode's lock info, then the descriptor.
#[repr(C)]
struct UnixFile {
    methods: *const c_void,
    vfs: *const ffi::sqlite3_vfs,
    inode: *const c_void,
    fd: c_int,
}

/// SQLite's descriptor of the main database file, when the connection uses
/// the default unix VFS (anything else: none, and the open is refused).
fn main_fd(conn: &Connection) -> Result<c_int> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the connection's handle is open; FILE_POINTER writes a
    // `sqlite3_file*` into `file`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast(),
        )
    };
    anyhow::ensure!(
        rc == ffi::SQLITE_OK && !file.is_null(),
        "no file (code {rc})"
    );
    // SAFETY: a null name asks for the default VFS, which SQLite keeps for
    // the life of the process.
    let unix = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
    // SAFETY: `file` points to the open file's structure, which for a file of
    // the unix VFS begins as `UnixFile` (checked: its VFS is the unix one).
    unsafe {
        anyhow::ensure!(
            !unix.is_null() && std::ffi::CStr::from_ptr((*unix).zName) == c"unix",
            "the default VFS is not SQLite's unix VFS"
        );
        let file = file.cast::<UnixFile>();
        anyhow::ensure!(
            (*file).vfs == unix.cast_const(),
            "not a file of the unix VFS"
        );
        Ok((*file).fd)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    const RW: OpenFlags = OpenFlags::SQLITE_OPEN_READ_WRITE;

    /// A database file at `path` with one table `t`.
    fn database(path: &Path, table: &str) {
        Connection::open(path)
            .unwrap()
            .execute_batch(&format!("CREATE TABLE {table} (x)"))
            .unwrap();
    }

    fn tables(path: &Path) -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn the_checked_file_opens() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tokens.db");
        database(&db, "mine");
        let checked = std::fs::metadata(&db).unwrap();
        let conn = open(&db, &checked, RW).unwrap();
        conn.execute_batch("CREATE TABLE more (x)").unwrap();
        // Through a link that was there when it was checked, too.
        let link = dir.path().join("link.db");
        symlink(&db, &link).unwrap();
        open(&link, &checked, RW).unwrap();
    }

    /// What the folder's owner can do between the check and SQLite's open:
    /// put another file at the name, or a link to one. Neither is opened.
    #[test]
    fn a_file_swapped_in_after_the_check_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tokens.db");
        database(&db, "mine");
        let checked = std::fs::metadata(&db).unwrap();
        let precious = dir.path().join("precious.db");
        database(&precious, "precious");

        std::fs::rename(&db, dir.path().join("old.db")).unwrap();
        let other = dir.path().join("other.db");
        database(&other, "other");
        std::fs::rename(&other, &db).unwrap();
        let e = open(&db, &checked, RW).unwrap_err();
        assert!(
            format!("{e:#}").contains("replaced by another file"),
            "{e:#}"
        );
        assert_eq!(tables(&db), ["other"]);

        // A hard link to a file of root's passes the owner rule (root owns
        // it), but is never opened: a database has one name.
        std::fs::remove_file(&db).unwrap();
        std::fs::hard_link(&precious, &db).unwrap();
        let linked = std::fs::metadata(&db).unwrap();
        let e = open(&db, &linked, RW).unwrap_err();
        assert!(
            format!("{e:#}").contains("has other names (hard links)"),
            "{e:#}"
        );

        std::fs::remove_file(&db).unwrap();
        symlink(&precious, &db).unwrap();
        // A link resolved before the open is another inode; one that appears
        // on the resolved path is refused by SQLite itself.
        assert!(open(&db, &checked, RW).is_err());
        let e = Connection::open_with_flags(&db, RW | OpenFlags::SQLITE_OPEN_NOFOLLOW);
        assert!(e.is_err(), "NOFOLLOW refuses a link");
        assert_eq!(tables(&precious), ["precious"]);
    }
}
