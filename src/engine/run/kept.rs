//! Results fetched upstream that the database did not take when they came (a
//! lock held too long, a stall, a server away longer than a reconnect rides
//! out): kept in memory and written again, for up to [`RETRY_WITHIN`], before
//! the run ends. A value is worth storing for as long as it is valid, and every
//! upstream call belongs in the history, which the 24-hour counts and the quota
//! guard read, even when its value could not be stored.
//!
//! The store's own rules make a late write safe: a value replaces only an older
//! one once the lease is gone, and a credential is written only by the lease
//! holder. When a classic token is lost anyway, the stored one its fetch made
//! die (WeChat ends the old token five minutes after a new one is issued) is
//! marked invalidated, so that the next run renews it rather than trust it.

use std::time::{Duration, Instant};

use super::{Run, Target};
use crate::app::Kind;
use crate::graph::Api;
use crate::store::Commit;
use crate::text::shown;

/// How long a run keeps trying to store what it fetched.
pub(super) const RETRY_WITHIN: Duration = Duration::from_secs(30);

/// One app's result the database has not taken yet.
pub(super) struct Kept<'a> {
    name: String,
    commit: Commit<'a>,
    /// The stored classic token this result's fetch made die.
    killed: Option<(String, String)>,
    error: anyhow::Error,
    /// When its first write began: it is tried for `RETRY_WITHIN` from then.
    since: Instant,
}

impl<'a> Run<'a> {
    /// Writes one app's result; when the database does not take it, keeps it
    /// for [`Run::store_kept`]. Whether it is stored.
    pub(super) fn commit_or_keep(&mut self, target: &Target, commit: Commit<'a>) -> bool {
        let name = &target.app.name;
        let since = Instant::now();
        let Err(error) = self.store.commit(name, &commit) else {
            return true;
        };
        log::warn!(
            "{}: could not store what was fetched ({error:#}); keeping it, to try again before this run ends",
            shown(name)
        );
        let fetched = commit
            .values
            .iter()
            .any(|v| v.known_kind() == Some(Kind::AccessToken));
        let killed = (target.seen.get(&Kind::AccessToken))
            .filter(|_| target.app.api == Api::Classic && fetched)
            .map(|v| (Kind::AccessToken.as_str().to_string(), v.clone()));
        self.kept.push(Kept {
            name: name.to_string(),
            commit,
            killed,
            error,
            since,
        });
        false
    }

    /// Tries the kept results again until they are stored or [`RETRY_WITHIN`]
    /// has passed since the first one's write began. One still not stored then fails its app; its calls are
    /// recorded and the token its fetch killed marked, if the database takes
    /// that much.
    pub(super) fn store_kept(&mut self) {
        let Some(first) = self.kept.iter().map(|k| k.since).min() else {
            return;
        };
        let until = first + RETRY_WITHIN;
        let mut pause = Duration::from_millis(500);
        while !self.kept.is_empty() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_secs(5));
            for mut kept in std::mem::take(&mut self.kept) {
                match self.store.commit(&kept.name, &kept.commit) {
                    Ok(()) => log::warn!("{}: stored what was fetched, at last", shown(&kept.name)),
                    Err(e) => {
                        kept.error = e;
                        self.kept.push(kept);
                    }
                }
            }
        }
        for kept in std::mem::take(&mut self.kept) {
            let calls = Commit {
                invalidate: kept.killed.clone(),
                attempts: kept.commit.attempts,
                owner: self.owner,
                ..Commit::default()
            };
            let recorded = match self.store.commit(&kept.name, &calls) {
                Ok(()) if kept.killed.is_some() => {
                    "; its calls are recorded, and the stored token it replaced upstream is marked invalidated for the next run to renew"
                }
                Ok(()) => "; its calls are recorded",
                Err(_) => "",
            };
            self.fail(&format!(
                "{}: fetched, but could not store it within {}s ({:#}){recorded}: run again",
                shown(&kept.name),
                RETRY_WITHIN.as_secs(),
                kept.error
            ));
        }
    }
}
