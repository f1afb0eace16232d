//! What to do about a SQLite error: the fix at the end of the error line.

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
        OperationInterrupted => {
            "it ran longer than 10s and was stopped: wxtoken's reads and writes take milliseconds, so something added to the database (a view, a trigger) does not end: check its schema (sqlite3 FILE .schema)"
        }
        SystemIoFailure => {
            "an I/O error: check that the disk is not full and the file system is healthy"
        }
        _ => return None,
    })
}
