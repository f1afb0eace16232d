//! A test seam for the crash-safety tests: with `WXTOKEN_TEST_PAUSE=STAGE:FILE`,
//! `refresh` creates FILE when it reaches STAGE and then sleeps, so that a test
//! can kill it there with a real signal. Stages: `before-call` (the lease is
//! held, upstream not called yet) and `in-commit` (inside the write transaction,
//! before it commits, on SQLite and PostgreSQL alike). Without the variable this does nothing.
//!
//! It exists in debug builds only (the tests'): a release binary has no such
//! variable, so nobody can make root's `refresh` write a file of their naming
//! or hold the write transaction open.

/// Pauses at `stage` when the variable asks for it (debug builds only).
#[cfg(debug_assertions)]
pub fn pause(stage: &str) {
    let Ok(spec) = std::env::var("WXTOKEN_TEST_PAUSE") else {
        return;
    };
    if let Some((wanted, marker)) = spec.split_once(':')
        && wanted == stage
    {
        // Never through a link, never over a file that is there.
        let _ = crate::fsafe::create_exclusive(std::path::Path::new(marker), 0o600);
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// Nothing: a release build has no test seam.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn pause(_stage: &str) {}

#[cfg(test)]
mod tests {
    /// The release profile must keep debug assertions off, or the seam ships.
    #[test]
    fn the_release_profile_leaves_the_seam_out() {
        let manifest: toml::Table = toml::from_str(include_str!("../Cargo.toml")).unwrap();
        let release = &manifest["profile"]["release"];
        assert_ne!(
            release
                .get("debug-assertions")
                .and_then(toml::Value::as_bool),
            Some(true),
            "debug assertions in release builds would ship WXTOKEN_TEST_PAUSE"
        );
        assert!(release.get("inherits").is_none(), "{release:?}");
    }
}
