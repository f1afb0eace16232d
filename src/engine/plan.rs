//! What a refresh must fetch, and what its quota guard refuses: a pure function
//! of the apps, their stored rows, the last 24 hours of attempts, the time and
//! the options. No database, no clock, no network.

use std::collections::HashMap;
use std::sync::Arc;

use super::{MAX_CLOCK_SKEW, Options, Target};
use crate::app::{App, Kind};
use crate::graph::{Node, Quota};
use crate::store::{Row, Stats};

/// Upstream calls in the last 24 hours, per (app, kind) (the store's `stats`).
pub type Counts = HashMap<(String, String), Stats>;

/// Why a value is fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Missing,
    /// The stored value is another API's or another appid's.
    Mismatch,
    /// Fetched this many seconds ahead of the clock: its expiry says nothing.
    FetchedAhead(i64),
    /// `--force`, and nobody stored a new value since this run looked.
    Forced,
    Invalidated,
    /// It expires within `--ahead`.
    NearExpiry,
    /// Not due itself, but a due value needs it and the stored one is unusable.
    Needed,
}

impl Reason {
    fn describe(self) -> String {
        match self {
            Reason::Missing => "missing".to_string(),
            Reason::Mismatch => "stored for another api or appid".to_string(),
            Reason::FetchedAhead(s) => format!("fetched {s}s ahead of the clock"),
            Reason::Forced => "forced".to_string(),
            Reason::Invalidated => "invalidated".to_string(),
            Reason::NearExpiry => "near expiry".to_string(),
            Reason::Needed => "needed for a ticket".to_string(),
        }
    }
}

/// One value to fetch.
#[derive(Debug)]
pub struct Step {
    pub node: &'static Node,
    pub reason: Reason,
}

/// What one worker is asked to do for one app.
pub struct Job {
    pub target: Arc<Target>,
    /// In dependency order: a value after the values it needs.
    pub steps: Vec<Step>,
    /// Stored values that due steps are made from, valid long enough for that.
    pub stored_inputs: HashMap<Kind, String>,
    pub force: bool,
    /// The quota guard's reason to refuse the token call, if any.
    pub guard: Option<String>,
    /// A forced call the guard allows: how many were made in the last 24
    /// hours, and how many WeChat allows a day.
    pub forced_calls: Option<(i64, i64)>,
}

impl Job {
    /// `token (near expiry), jsapi ticket (missing)`, for the debug log.
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| format!("{} ({})", s.node.kind.label(), s.reason.describe()))
            .collect();
        steps.join(", ")
    }
}

/// The jobs for `targets`, in their order; a target with nothing due has none.
#[cfg(test)]
pub fn plan(
    targets: &[Arc<Target>],
    rows: &HashMap<String, Vec<Row>>,
    counts: &Counts,
    now_ms: i64,
    opts: &Options,
) -> Vec<Job> {
    targets
        .iter()
        .filter_map(|t| plan_one(t, super::rows_of(rows, &t.app.name), counts, now_ms, opts))
        .collect()
}

/// What is due for one app given its stored rows, or `None` when all is fresh.
pub fn plan_one(
    target: &Arc<Target>,
    stored: &[Row],
    counts: &Counts,
    now_ms: i64,
    opts: &Options,
) -> Option<Job> {
    let app = &target.app;
    let now = now_ms.div_euclid(1000);
    let row = |kind: Kind| stored.iter().find(|r| r.kind == kind.as_str());
    let due = |kind: Kind| match row(kind) {
        None => Some(Reason::Missing),
        Some(r) if r.api != app.api.as_str() || r.appid != app.appid => Some(Reason::Mismatch),
        Some(r) if fetched_ahead(r, now).is_some() => {
            fetched_ahead(r, now).map(Reason::FetchedAhead)
        }
        // Forced: due unless another process stored a new value since this run looked.
        Some(r) if opts.force => {
            (target.seen.get(&kind) == Some(&r.value)).then_some(Reason::Forced)
        }
        Some(r) if r.invalidated_at.is_some() => Some(Reason::Invalidated),
        Some(r) => (r.expires_at <= now + opts.ahead).then_some(Reason::NearExpiry),
    };
    // The target's nodes: its token, then the tickets it is configured for.
    let nodes: Vec<&'static Node> = target.nodes();
    let reasons: Vec<Option<Reason>> = nodes.iter().map(|n| due(n.kind)).collect();
    if reasons.iter().all(Option::is_none) {
        return None;
    }
    // A stored value that is not due and still valid can be made from.
    let usable = |kind: Kind| {
        row(kind)
            .filter(|r| due(kind).is_none() && r.invalidated_at.is_none() && r.expires_at > now)
            .map(|r| r.value.clone())
    };
    let inputs: Vec<Kind> = nodes
        .iter()
        .zip(&reasons)
        .filter(|(_, reason)| reason.is_some())
        .filter_map(|(n, _)| n.credential_input())
        .collect();
    let stored_inputs: HashMap<Kind, String> = inputs
        .iter()
        .filter_map(|k| Some((*k, usable(*k)?)))
        .collect();
    // In the nodes' order (a value after its inputs): the due ones, and the
    // inputs that are not due themselves but unusable as stored.
    let steps: Vec<Step> = nodes
        .iter()
        .zip(reasons)
        .filter_map(|(node, reason)| {
            let needed = inputs.contains(&node.kind) && !stored_inputs.contains_key(&node.kind);
            let reason = reason.or(needed.then_some(Reason::Needed))?;
            Some(Step { node, reason })
        })
        .collect();
    // Any job may fetch the value made from the secret: due itself, or anew
    // for a value whose input went stale.
    let root = nodes.iter().find(|n| n.credential_input().is_none())?;
    let (guard, forced_calls) = guard(app, root, counts, now_ms, opts);
    Some(Job {
        target: target.clone(),
        steps,
        stored_inputs,
        force: opts.force,
        guard,
        forced_calls,
    })
}

/// The quota guard for a call of `node`: a reason to refuse it, or, for a
/// forced call it allows, how many forced calls the last 24 hours saw and how
/// many a day are allowed.
fn guard(
    app: &App,
    node: &Node,
    counts: &Counts,
    now_ms: i64,
    opts: &Options,
) -> (Option<String>, Option<(i64, i64)>) {
    let key = (app.name.clone(), node.kind.as_str().to_string());
    let count = counts.get(&key).cloned().unwrap_or_default();
    let refusal = match node.quota {
        Quota::DailyBudget if count.calls >= i64::from(app.daily_budget) => format!(
            "quota guard: {} token calls in the last 24 hours, daily_budget is {} (WeChat allows 2000): not calling; the stored token stays; raise daily_budget only if nothing else calls the token API",
            count.calls, app.daily_budget
        ),
        Quota::Forced { per_day, .. } if opts.force && count.forced >= per_day => format!(
            "quota guard: {} forced stable calls in the last 24 hours; WeChat allows {per_day}: not calling; run without --force",
            count.forced
        ),
        Quota::Forced { gap_ms, .. }
            if opts.force && count.last_forced_ms.is_some_and(|t| now_ms - t < gap_ms) =>
        {
            format!(
                "quota guard: the previous forced stable call was less than {}s ago (WeChat's minimum gap): wait and run again",
                gap_ms / 1000
            )
        }
        Quota::Forced { per_day, .. } if opts.force => {
            return (None, Some((count.forced, per_day)));
        }
        _ => return (None, None),
    };
    (Some(refusal), None)
}

/// How far a stored value's `fetched_at` lies ahead of `now`, when that is more
/// than `MAX_CLOCK_SKEW`: a clock that ran fast fetched it, and its `expires_at`
/// (from the same clock) says nothing about when it really expires.
pub fn fetched_ahead(row: &Row, now: i64) -> Option<i64> {
    Some(row.fetched_at - now).filter(|&ahead| ahead > MAX_CLOCK_SKEW)
}

#[cfg(test)]
mod tests;
