//! SQLite's deadline: a progress handler interrupts a read or write that runs
//! longer than [`LIMIT`]. wxtoken's own statements take milliseconds; a view or
//! a trigger someone added to the database that never ends (a recursive one)
//! would otherwise hold `show` or `refresh` for ever. Waiting for another
//! writer's lock is the busy timeout's business, not this: SQLite runs no
//! instruction while it waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How long one read or write may run.
pub(super) const LIMIT: Duration = Duration::from_secs(10);
/// SQLite calls the handler every this many virtual machine instructions
/// (some microseconds).
const EVERY: i32 = 10_000;

/// When the read or write under way must end, in milliseconds from the first
/// time asked.
#[derive(Clone, Default)]
pub(super) struct Deadline(Arc<AtomicU64>);

fn elapsed_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl Deadline {
    /// Installs the handler on `conn`, armed.
    pub(super) fn install(conn: &mut Connection) -> rusqlite::Result<Deadline> {
        let deadline = Deadline::default();
        deadline.arm();
        let end = deadline.0.clone();
        conn.progress_handler(
            EVERY,
            Some(move || elapsed_ms() > end.load(Ordering::Relaxed)),
        )?;
        Ok(deadline)
    }

    /// Starts the clock for a read or a write.
    pub(super) fn arm(&self) {
        let end = elapsed_ms() + LIMIT.as_millis() as u64;
        self.0.store(end, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_that_never_ends_is_interrupted_at_the_deadline() {
        let mut conn = Connection::open_in_memory().unwrap();
        let deadline = Deadline::install(&mut conn).unwrap();
        // As if the read had started LIMIT ago less a quarter of a second.
        let started = elapsed_ms() + 250;
        deadline.0.store(started, Ordering::Relaxed);
        let begun = Instant::now();
        let err = conn
            .query_row(
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::OperationInterrupted),
            "{err}"
        );
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "{:?}",
            begun.elapsed()
        );
        // Armed again, the same connection reads as usual.
        deadline.arm();
        let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(one, 1);
    }
}
