//! Waiting for another process's lease: how long, and what to say when the
//! wait ends without a result.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::{LEASE_MARGIN, Run, Target};
use crate::clock;
use crate::engine::plan::{self, Counts};
use crate::engine::target::Role;
use crate::engine::work_platform::DEAD_GRANT;
use crate::graph::Outcome;
use crate::text::{clip, shown};

impl Run<'_> {
    /// When this run stops waiting for another process's lease of `app`: a
    /// lease's length after it first found it held.
    pub(super) fn wait_ends(&self, app: &str) -> Option<Instant> {
        self.waited
            .get(app)
            .map(|since| *since + self.lease_length())
    }

    /// Whether this run is done with `target` because it has waited for
    /// another process's lease of it as long as it may. When that process
    /// stored a fresh value meanwhile (seen only now when the app was waiting
    /// for a free worker), the app is done and nothing is said; otherwise it
    /// fails, with a line naming the lease's holder. `checked`: the lease was
    /// found held just now; otherwise the app was waiting for a free worker,
    /// and the lease last seen may have ended since.
    pub(super) fn waited_enough(&mut self, target: &Arc<Target>, checked: bool) -> Result<bool> {
        let app = target.app.name.as_str();
        if self.wait_ends(app).is_none_or(|end| Instant::now() < end) {
            return Ok(false);
        }
        let stored = self.store.rows(&[app.to_string()])?;
        if plan::plan_one(target, &stored, &Counts::new(), clock::now_ms(), self.opts).is_none() {
            log::info!("{app}: another process stored a fresh value");
            return Ok(true);
        }
        let waited = crate::duration::human(self.lease_length().as_secs() as i64);
        let holder = match self.holders.get(app) {
            Some(l) => format!(
                "{}, until {}",
                clip(&l.owner, 100),
                clock::rfc3339(l.expires_at)
            ),
            None => "owner unknown".to_string(),
        };
        let line = if checked {
            format!(
                "{app}: another wxtoken run holds its lease ({holder}): gave up waiting for it after {waited} (3 x --timeout + {LEASE_MARGIN}s); nothing fetched; a run after it ends takes over"
            )
        } else {
            format!(
                "{app}: waited for another wxtoken run's lease ({holder}, when last seen) and then for a free worker of this run, {waited} in all (3 x --timeout + {LEASE_MARGIN}s), the most it waits; nothing fetched; the next run takes over"
            )
        };
        self.fail(&line);
        Ok(true)
    }

    /// Whether another process recorded a failure of `target` while this run
    /// waited (its latest attempt ended then and failed), which fails it here
    /// too, with that failure's message; but a customer's credential refused
    /// as dead is reported by the recovery after this run (once, with the
    /// customer's final state: the authorizer list may give it back).
    pub(super) fn failed_meanwhile(&mut self, target: &Target) -> Result<bool> {
        let app = target.app.name.as_str();
        let last = self.store.history(Some(app), 1)?;
        let Some(failed) = last.into_iter().next().filter(|a| {
            a.started_ms + a.duration_ms >= self.started_ms && a.outcome != Outcome::Ok.as_str()
        }) else {
            return Ok(false);
        };
        if matches!(target.role, Role::Customer { .. })
            && failed.errcode.is_some_and(|c| DEAD_GRANT.contains(&c))
        {
            log::info!(
                "{}: another wxtoken run just found its credential refused; what the recovery after this run finds is reported",
                shown(app)
            );
            return Ok(true);
        }
        let failure = failed.message.unwrap_or(failed.outcome);
        self.fail(&format!(
            "{}: another wxtoken run just tried and failed, not calling again: {}",
            shown(app),
            clip(&failure, 500)
        ));
        Ok(true)
    }
}
