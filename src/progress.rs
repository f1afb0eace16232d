//! `refresh`'s progress bar: in a terminal, for a run with many apps due, so
//! that someone watching a long first run sees it move. Never under cron or
//! systemd (stderr is then a pipe or the journal), never with `--quiet`.
//!
//! The bar sits on stderr's last line; every other line on stderr goes through
//! [`crate::out`], which lifts the bar out of the way while it writes.

use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A run with more apps due than this (three dozen) gets a bar; a shorter one
/// ends before a bar would tell anything.
pub const MIN_APPS: usize = 36;

/// The bar being shown, for [`suspend`].
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Whether a run of `apps` due shows a bar.
pub fn wanted(apps: usize, stderr_is_terminal: bool, quiet: bool) -> bool {
    apps > MIN_APPS && stderr_is_terminal && !quiet
}

/// The bar of one run; a no-op when none is shown. Cleared when dropped.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
}

impl Progress {
    /// A bar for `total` apps due, when [`wanted`].
    pub fn start(total: usize) -> Progress {
        let quiet = log::max_level() < log::LevelFilter::Warn;
        if !wanted(total, std::io::stderr().is_terminal(), quiet) {
            return Progress { bar: None, total };
        }
        let style =
            ProgressStyle::with_template("{bar:30} {pos}/{len} apps, {msg} failed, {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(total as u64).with_style(style);
        bar.set_message("0");
        // Elapsed time moves even while every worker waits on upstream.
        bar.enable_steady_tick(Duration::from_millis(500));
        *SHOWN.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        Progress {
            bar: Some(bar),
            total,
        }
    }

    /// `remaining` apps are not done yet; `failed` of those done failed.
    pub fn update(&self, remaining: usize, failed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.total.saturating_sub(remaining) as u64);
            bar.set_message(failed.to_string());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            *SHOWN.lock().unwrap_or_else(PoisonError::into_inner) = None;
            bar.finish_and_clear();
        }
    }
}

/// Runs `write` (a line on stderr) with the bar, if one is shown, out of the way.
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    let bar = SHOWN.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_only_for_many_apps_in_a_terminal_and_not_quiet() {
        assert!(wanted(MIN_APPS + 1, true, false));
        assert!(!wanted(MIN_APPS, true, false), "a few dozen apps: no bar");
        assert!(
            !wanted(500, false, false),
            "stderr not a terminal (cron): no bar"
        );
        assert!(!wanted(500, true, true), "--quiet: no bar");
    }

    #[test]
    fn no_bar_is_shown_when_stderr_is_not_a_terminal() {
        if std::io::stderr().is_terminal() {
            // `cargo test` with its stderr on a terminal: the integration
            // test `stumbles::refresh_shows_progress_only_in_a_terminal` covers it.
            return;
        }
        let progress = Progress::start(1000);
        assert!(progress.bar.is_none());
        assert!(SHOWN.lock().unwrap().is_none());
    }
}
