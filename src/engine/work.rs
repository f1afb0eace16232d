//! One app's upstream work: each due value in the credential graph's order, a
//! value after the one it is made from. A value whose request answers "my input
//! is stale" marks that input invalidated, fetches it again once and retries
//! once. Workers only talk HTTP: what they bring back is written by the run.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::plan::Job;
use super::{Options, Role, Target};
use crate::app::{App, Kind};
use crate::clock;
use crate::graph::{Lifetime, Node, Outcome};
use crate::secret::short;
use crate::store::{Attempt, Commit, Row};
use crate::upstream::{Call, Client, Failure, Issued, Reply, Try};

/// What a worker brings back: what to write (the run adds its lease's owner),
/// and what to report.
pub struct Done {
    pub target: Arc<Target>,
    pub commit: Commit<'static>,
    pub failures: Vec<String>,
    pub clock_skew: Option<i64>,
}

/// Starts `count` worker threads: jobs go in, results come out. Not scoped
/// threads: a worker stuck past its bound must not keep the run from ending
/// (the process exits without waiting for it).
pub fn spawn_workers(count: usize, opts: &Options) -> (mpsc::Sender<Job>, mpsc::Receiver<Done>) {
    let client = Client::new(opts.timeout, opts.proxy.clone());
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    for _ in 0..count {
        let (job_rx, done_tx, client) = (job_rx.clone(), done_tx.clone(), client.clone());
        let budget = opts.app_budget();
        std::thread::spawn(move || {
            while let Ok(Ok(job)) = job_rx.lock().map(|rx| rx.recv()) {
                if done_tx.send(work(&client, job, budget)).is_err() {
                    return;
                }
            }
        });
    }
    (job_tx, done_rx)
}

/// Runs `job`'s steps in order, within `budget`. A step whose input is missing
/// (its fetch failed) ends the job; so does a failed value made from the secret.
fn work(client: &Client, job: Job, budget: Duration) -> Done {
    let deadline = Instant::now() + budget;
    crate::fault::pause("before-call");
    let target = job.target.clone();
    let mut done = Done {
        target: target.clone(),
        commit: Commit::default(),
        failures: Vec::new(),
        clock_skew: None,
    };
    // The values steps can be made from, and whether this run fetched each.
    let mut have: HashMap<Kind, (String, bool)> = (job.stored_inputs.iter())
        .map(|(kind, value)| (*kind, (value.clone(), false)))
        .collect();
    for step in &job.steps {
        let node = step.node;
        let Some(input) = node.credential_input() else {
            match done.fetch_root(client, node, &job, deadline) {
                Some(v) => have.insert(node.kind, (v, true)),
                None => return done,
            };
            continue;
        };
        let Some((current, fresh)) = have.get(&input).cloned() else {
            break;
        };
        match done.fetch(client, node, &job, Some(&current), deadline) {
            Err(f) if !fresh && f.errcode().is_some_and(|c| node.stale_input.contains(&c)) => {}
            _ => continue,
        }
        // The stored input was superseded: drop it, fetch a new one once, retry once.
        done.failures.pop();
        log::info!(
            "{}: {} {} is stale; fetching a new one",
            target.app.name,
            input.label(),
            short(&current)
        );
        done.commit.invalidate = Some((input.as_str().to_string(), current));
        // The target's own node of its input: a WeCom 代开发 company's token
        // is not its API's (`Target::nodes`).
        let Some(input_node) = target.nodes().into_iter().find(|n| n.kind == input) else {
            return done;
        };
        let Some(renewed) = done.fetch_root(client, input_node, &job, deadline) else {
            return done;
        };
        let _ = done.fetch(client, node, &job, Some(&renewed), deadline);
        have.insert(input, (renewed, true));
    }
    done
}

impl Done {
    /// Fetches a value made from no other value of the target (a token: from
    /// the secret, or for a customer from its platform's token), unless the
    /// quota guard refuses the call.
    fn fetch_root(
        &mut self,
        client: &Client,
        node: &'static Node,
        job: &Job,
        deadline: Instant,
    ) -> Option<String> {
        if let Some(reason) = &job.guard {
            self.refused(node.kind, job.force, reason);
            return None;
        }
        let target = self.target.clone();
        match &target.role {
            Role::Customer { link, grant } => {
                self.customer_token(client, node, job, link, grant, deadline)
            }
            Role::Platform(link) => self.platform_token(client, link, node, deadline),
            Role::App => self.fetch(client, node, job, None, deadline).ok(),
        }
    }

    /// Calls upstream for `node` (an app's token, or a value made from
    /// `input`, the target's credential), records every try; on success stores
    /// the value and returns it, on failure records the failure line and
    /// returns the failure.
    fn fetch(
        &mut self,
        client: &Client,
        node: &'static Node,
        job: &Job,
        input: Option<&str>,
        deadline: Instant,
    ) -> Result<String, Failure> {
        let target = self.target.clone();
        let call = Call {
            input,
            force: job.force,
            secret: target.secret.as_ref(),
            ..Call::new(node)
        };
        self.fetch_for(client, &target.app, &call, deadline)
            .map(|issued| issued.value)
    }

    /// Makes `call` for `app` (the target, or a customer's platform), records
    /// every try; on success stores the value under `app` and returns what
    /// was issued, on failure records the failure line and returns the failure.
    pub(super) fn fetch_for(
        &mut self,
        client: &Client,
        app: &App,
        call: &Call,
        deadline: Instant,
    ) -> Result<Issued, Failure> {
        let (node, input) = (call.node, call.input);
        let kind = node.kind;
        let forced = call.forced();
        let Reply {
            tries,
            result,
            clock_skew,
            ..
        } = client.call(app, call, deadline);
        self.clock_skew = self.clock_skew.or(clock_skew);
        for t in &tries {
            self.commit.attempts.push(attempt(
                &app.name,
                kind,
                t,
                node.meanings,
                input.is_some(),
                forced,
            ));
        }
        match result {
            Ok((issued, sent)) => {
                log::info!(
                    "{}: new {} {} expires in {}",
                    app.name,
                    kind.label(),
                    short(&issued.value),
                    crate::duration::human(issued.expires_in)
                );
                self.commit
                    .values
                    .push(row(app, node, &issued, sent, input));
                Ok(issued)
            }
            Err(failure) => {
                self.failures.push(format!(
                    "{}: {}",
                    kind.label(),
                    failure.describe_with(node.meanings, input.is_some())
                ));
                Err(failure)
            }
        }
    }

    /// Records a call that wxtoken's own guard refused.
    pub(super) fn refused(&mut self, kind: Kind, force: bool, reason: &str) {
        self.commit.attempts.push(Attempt {
            app: self.target.app.name.clone(),
            kind: kind.as_str().to_string(),
            started_ms: clock::now_ms(),
            duration_ms: 0,
            outcome: Outcome::Refused.as_str().to_string(),
            forced: force,
            errcode: None,
            message: Some(reason.to_string()),
        });
        self.failures.push(format!(
            "{}: {}",
            kind.label(),
            Failure::Guard(reason.to_string()).describe(false)
        ));
    }
}

/// The attempt one try of a call of `kind` for `app` was: ok, unreached (not
/// counted against the quota guard's budget) or an error, described with its
/// node's own meanings and `from_credential` (see [`Failure::describe_with`]).
pub(super) fn attempt(
    app: &str,
    kind: Kind,
    t: &Try,
    own: &[(i64, &str, &str)],
    from_credential: bool,
    forced: bool,
) -> Attempt {
    let (outcome, errcode, message) = match &t.result {
        Ok(()) => (Outcome::Ok, None, None),
        Err(f) if !f.reached_upstream() => (Outcome::Unreached, None, Some(f.describe(false))),
        Err(f) => (
            Outcome::Error,
            f.errcode(),
            Some(f.describe_with(own, from_credential)),
        ),
    };
    Attempt {
        app: app.to_string(),
        kind: kind.as_str().to_string(),
        started_ms: t.started_ms,
        duration_ms: t.duration_ms,
        outcome: outcome.as_str().to_string(),
        forced,
        errcode,
        message,
    }
}

/// The row of the value `node`'s request for `app` issued, sent at `sent`,
/// made from `input`.
pub(super) fn row(app: &App, node: &Node, issued: &Issued, sent: i64, input: Option<&str>) -> Row {
    Row {
        app: app.name.clone(),
        kind: node.kind.as_str().to_string(),
        api: app.api.as_str().to_string(),
        appid: app.appid.clone(),
        value: issued.value.clone(),
        fetched_at: sent,
        expires_at: match node.lifetime {
            Lifetime::ExpiresIn => sent + issued.expires_in,
            // Never fetched (no worker is given a pushed node).
            Lifetime::Pushed(max_age) => sent + max_age,
        },
        invalidated_at: None,
        source_token: input.map(str::to_string),
    }
}
