//! A test seam for the crash-safety tests: with `WXTOKEN_TEST_PAUSE=STAGE:FILE`,
//! `refresh` creates FILE when it reaches STAGE and then sleeps, so that a test
//! can kill it there with a real signal. Stages: `before-call` (the lease is
//! held, upstream not called yet) and `in-commit` (inside the write transaction,
//! before it commits, on SQLite and PostgreSQL alike). Without the variable this does nothing.

use std::time::Duration;

pub fn pause(stage: &str) {
    let Ok(spec) = std::env::var("WXTOKEN_TEST_PAUSE") else {
        return;
    };
    if let Some((wanted, marker)) = spec.split_once(':')
        && wanted == stage
    {
        let _ = std::fs::write(marker, stage);
        std::thread::sleep(Duration::from_secs(60));
    }
}
