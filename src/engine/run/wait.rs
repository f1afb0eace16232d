//! Waiting for another process's lease: how long, and what to say when the
//! wait ends without a result.

use std::time::Instant;

use anyhow::Result;

use super::{LEASE_MARGIN, Run};
use crate::clock;
use crate::graph::Outcome;
use crate::text::clip;

impl Run<'_> {
    /// When this run stops waiting for another process's lease of `app`: a
    /// lease's length after it first found it held.
    pub(super) fn wait_ends(&self, app: &str) -> Option<Instant> {
        self.waited
            .get(app)
            .map(|since| *since + self.lease_length())
    }

    /// Whether this run has waited for another process's lease of `app` as long
    /// as it may; then the app fails, with a line naming the lease's holder.
    pub(super) fn waited_enough(&mut self, app: &str) -> bool {
        if self.wait_ends(app).is_none_or(|end| Instant::now() < end) {
            return false;
        }
        self.failed += 1;
        let holder = match self.holders.get(app) {
            Some(l) => format!(
                "{}, until {}",
                clip(&l.owner, 100),
                clock::rfc3339(l.expires_at)
            ),
            None => "owner unknown".to_string(),
        };
        crate::out::errln!(
            "wxtoken: {}",
            crate::secret::redact(&format!(
                "{app}: another wxtoken run holds its lease ({holder}): gave up waiting for it after {} (3 x --timeout + {LEASE_MARGIN}s); nothing fetched; a run after it ends takes over",
                crate::duration::human(self.lease_length().as_secs() as i64)
            ))
        );
        true
    }

    /// The failure another process recorded for `app` while this run waited, if
    /// its latest attempt ended then and failed.
    pub(super) fn failed_meanwhile(&mut self, app: &str) -> Result<Option<String>> {
        let last = self.store.history(Some(app), 1)?;
        Ok(last
            .into_iter()
            .next()
            .filter(|a| {
                a.started_ms + a.duration_ms >= self.started_ms
                    && Outcome::parse(&a.outcome) != Some(Outcome::Ok)
            })
            .map(|a| a.message.unwrap_or(a.outcome)))
    }
}
