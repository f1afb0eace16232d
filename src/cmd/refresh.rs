//! `wxtoken refresh`: fetch what is missing or near expiry, store it, exit.
//!
//! The main thread owns the database; worker threads only talk HTTP. For each app
//! that is due, the main thread takes the app's lease (single flight across
//! processes and hosts), hands the app to a worker, and writes what comes back
//! in one transaction that also releases the lease. An app whose lease another
//! process holds is watched until that process has stored a fresh value (nothing
//! to do) or recorded a failure (reported, not repeated), or until the lease
//! expired (a crashed holder: this run takes over).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::app::{Api, App, Kind, Ticket};
use crate::clock;
use crate::error::Silent;
use crate::secret::{Secret, short};
use crate::store::{Attempt, Commit, Row, Stats, Store};
use crate::upstream::{Call, Client, Failure, Outcome};

/// How many forced stable calls WeChat allows a day, and how far apart.
const STABLE_FORCE_PER_DAY: i64 = 20;
const STABLE_FORCE_GAP_MS: i64 = 30_000;
/// Upstream's `Date` further than this from the local clock gets a warning.
const MAX_CLOCK_SKEW: i64 = 60;
/// How often an app whose lease another process holds is looked at again.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);
const DAY_MS: i64 = 86_400_000;
/// A lease lasts an app's whole budget and this many seconds more (for the write).
/// A holder that died is taken over after that; one that is merely late still
/// cannot overwrite a newer value (the store only replaces older ones).
const LEASE_MARGIN: i64 = 5;
/// How long the attempts history is kept.
const HISTORY_KEPT_MS: i64 = 30 * DAY_MS;

pub struct Options {
    pub force: bool,
    /// Renew what expires within this many seconds.
    pub ahead: i64,
    pub timeout: Duration,
    pub jobs: usize,
}

impl Options {
    /// The most time one app's refresh takes, retries and tickets included.
    fn app_budget(&self) -> Duration {
        self.timeout * 3
    }
}

/// An app to refresh, its secret, and the values it held when this run first looked.
struct Target {
    app: App,
    secret: Secret,
    seen: HashMap<Kind, String>,
}

/// What one worker is asked to do for one app.
struct Job {
    target: Arc<Target>,
    /// The stored token, valid long enough for fetching tickets with it.
    token: Option<String>,
    token_due: bool,
    tickets: Vec<Ticket>,
    force: bool,
    /// A reason to refuse the token call (a quota guard), if any.
    guard: Option<String>,
}

/// What a worker brings back.
struct Done {
    target: Arc<Target>,
    values: Vec<Row>,
    invalidate: Option<(String, String)>,
    attempts: Vec<Attempt>,
    failures: Vec<String>,
    clock_skew: Option<i64>,
}

pub fn run(store: &mut dyn Store, apps: Vec<(App, Secret)>, opts: &Options) -> Result<()> {
    let started_ms = clock::now_ms();
    let names: Vec<String> = apps.iter().map(|(a, _)| a.name.clone()).collect();
    let now = clock::now();
    let rows = by_app(store.rows(&names)?);
    let mut pending: VecDeque<Arc<Target>> = VecDeque::new();
    for (app, secret) in apps {
        let stored = rows.get(&app.name).map(Vec::as_slice).unwrap_or_default();
        let seen = stored
            .iter()
            .filter_map(|r| Some((kind_of(&r.kind)?, r.value.clone())))
            .collect();
        let target = Arc::new(Target { app, secret, seen });
        if plan(&target, stored, now, opts).is_some() {
            pending.push_back(target);
        } else {
            log::info!("{}: fresh, nothing to do", target.app.name);
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let client = Client::new(opts.timeout);
    let failed = std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..opts.jobs.min(pending.len()) {
            let (job_rx, done_tx, client) = (job_rx.clone(), done_tx.clone(), client.clone());
            let budget = opts.app_budget();
            scope.spawn(move || {
                loop {
                    let job = match job_rx.lock().map(|rx| rx.recv()) {
                        Ok(Ok(job)) => job,
                        _ => return,
                    };
                    if done_tx.send(work(&client, job, budget)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut run = Run {
            store,
            opts,
            owner: owner_id(),
            pending,
            watching: Vec::new(),
            in_flight: 0,
            failed: 0,
            counts: None,
            warned_clock: false,
            waited: HashSet::new(),
            started_ms,
        };
        let result = run.drive(&job_tx, &done_rx);
        drop(job_tx);
        result.map(|()| run.failed)
    })?;
    store.prune(clock::now_ms() - HISTORY_KEPT_MS)?;
    if failed > 0 {
        return Err(Silent(1).into());
    }
    Ok(())
}

struct Run<'a> {
    store: &'a mut dyn Store,
    opts: &'a Options,
    owner: String,
    pending: VecDeque<Arc<Target>>,
    /// Apps whose lease another process holds.
    watching: Vec<Arc<Target>>,
    in_flight: usize,
    failed: usize,
    /// Upstream calls in the last 24 hours, per (app, kind), read when first
    /// needed. Each app is dispatched once a run, so what this run adds is never
    /// read back.
    counts: Option<HashMap<(String, String), Stats>>,
    warned_clock: bool,
    /// Apps whose lease another process held when this run wanted it.
    waited: HashSet<String>,
    /// When this run started, in Unix milliseconds.
    started_ms: i64,
}

impl Run<'_> {
    fn drive(&mut self, jobs: &mpsc::Sender<Job>, done: &mpsc::Receiver<Done>) -> Result<()> {
        let mut next_watch = Instant::now();
        loop {
            self.dispatch(jobs)?;
            if self.in_flight == 0 && !self.pending.is_empty() {
                // Nothing in flight (the batch was fresh, or watched): dispatch again.
                continue;
            }
            if self.in_flight == 0 {
                if self.watching.is_empty() {
                    return Ok(());
                }
                std::thread::sleep(next_watch.saturating_duration_since(Instant::now()));
            } else {
                let wait = if self.watching.is_empty() {
                    Duration::from_secs(3600)
                } else {
                    next_watch.saturating_duration_since(Instant::now())
                };
                match done.recv_timeout(wait) {
                    Ok(d) => self.finish(d)?,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
            if !self.watching.is_empty() && Instant::now() >= next_watch {
                self.watch()?;
                next_watch = Instant::now() + WATCH_INTERVAL;
            }
        }
    }

    /// Takes leases for as many pending apps as there are free workers, and hands
    /// each app whose lease it got (and that is still due) to a worker.
    fn dispatch(&mut self, jobs: &mpsc::Sender<Job>) -> Result<()> {
        let free = self.opts.jobs.saturating_sub(self.in_flight);
        if free == 0 || self.pending.is_empty() {
            return Ok(());
        }
        let batch: Vec<Arc<Target>> = self.pending.drain(..free.min(self.pending.len())).collect();
        let names: Vec<String> = batch.iter().map(|t| t.app.name.clone()).collect();
        let now = clock::now();
        let lease_end = now + self.opts.app_budget().as_secs() as i64 + LEASE_MARGIN;
        let taken = self
            .store
            .take_leases(&names, &self.owner, now, lease_end)?;
        let rows = if taken.is_empty() {
            HashMap::new()
        } else {
            by_app(self.store.rows(&taken)?)
        };
        let mut release = Vec::new();
        for target in batch {
            let name = &target.app.name;
            if !taken.contains(name) {
                log::info!("{name}: another process is refreshing it; waiting for its result");
                self.waited.insert(name.clone());
                self.watching.push(target);
                continue;
            }
            let stored = rows.get(name).map(Vec::as_slice).unwrap_or_default();
            let Some(mut job) = plan(&target, stored, clock::now(), self.opts) else {
                log::info!("{name}: another process just stored a fresh value");
                release.push(name.clone());
                continue;
            };
            if self.waited.contains(name)
                && let Some(failure) = self.failed_meanwhile(name)?
            {
                // The process this one waited for just failed: calling again at
                // once would most likely fail the same way, and cost quota.
                release.push(name.clone());
                self.failed += 1;
                crate::out::errln!(
                    "wxtoken: {}",
                    crate::secret::redact(&format!(
                        "{name}: another wxtoken run just tried and failed, not calling again: {failure}"
                    ))
                );
                continue;
            }
            // Any job may fetch a token: its own, or a new one for a stale ticket.
            job.guard = self.guard(&target.app)?;
            self.in_flight += 1;
            jobs.send(job).ok();
        }
        if !release.is_empty() {
            self.store.release_leases(&release, &self.owner)?;
        }
        Ok(())
    }

    /// The failure another process recorded for `app` while this run waited, if
    /// its latest attempt ended then and failed.
    fn failed_meanwhile(&mut self, app: &str) -> Result<Option<String>> {
        let last = self.store.history(Some(app), 1)?;
        Ok(last
            .into_iter()
            .next()
            .filter(|a| a.started_ms + a.duration_ms >= self.started_ms && a.outcome != "ok")
            .map(|a| a.message.unwrap_or(a.outcome)))
    }

    /// Looks again at apps whose lease another process holds: done when that
    /// process stored a fresh value, back to pending when it is gone.
    fn watch(&mut self) -> Result<()> {
        let names: Vec<String> = self.watching.iter().map(|t| t.app.name.clone()).collect();
        let rows = by_app(self.store.rows(&names)?);
        let now = clock::now();
        for target in std::mem::take(&mut self.watching) {
            let stored = rows
                .get(&target.app.name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if plan(&target, stored, now, self.opts).is_none() {
                log::info!("{}: another process stored a fresh value", target.app.name);
            } else {
                self.pending.push_back(target);
            }
        }
        Ok(())
    }

    /// Writes one app's results, reports its failures.
    fn finish(&mut self, done: Done) -> Result<()> {
        self.in_flight -= 1;
        let name = &done.target.app.name;
        if let Some(skew) = done.clock_skew.filter(|s| s.abs() > MAX_CLOCK_SKEW)
            && !self.warned_clock
        {
            self.warned_clock = true;
            log::warn!(
                "the local clock is {}s {} upstream's: expiry times are computed from the local clock; fix the time sync (NTP)",
                skew.abs(),
                if skew > 0 { "behind" } else { "ahead of" }
            );
        }
        self.store.commit(
            name,
            &Commit {
                values: done.values,
                invalidate: done.invalidate,
                attempts: done.attempts,
                owner: &self.owner,
            },
        )?;
        if done.failures.is_empty() {
            log::info!("{name}: stored");
        } else {
            self.failed += 1;
            crate::out::errln!(
                "wxtoken: {}",
                crate::secret::redact(&format!("{name}: {}", done.failures.join("; ")))
            );
        }
        Ok(())
    }

    /// The quota guard for a token call: a reason to refuse it, if any.
    fn guard(&mut self, app: &App) -> Result<Option<String>> {
        let now_ms = clock::now_ms();
        if self.counts.is_none() {
            let counts = self.store.stats(now_ms - DAY_MS)?;
            self.counts = Some(
                counts
                    .into_iter()
                    .map(|c| ((c.app.clone(), c.kind.clone()), c))
                    .collect(),
            );
        }
        let key = (app.name.clone(), Kind::AccessToken.as_str().to_string());
        let count = self
            .counts
            .as_ref()
            .and_then(|c| c.get(&key))
            .cloned()
            .unwrap_or_default();
        let refusal = match app.api {
            Api::Classic if count.calls >= i64::from(app.daily_budget) => Some(format!(
                "quota guard: {} token calls in the last 24 hours, daily_budget is {} (WeChat allows 2000): not calling; the stored token stays; raise daily_budget only if nothing else calls the token API",
                count.calls, app.daily_budget
            )),
            Api::Stable if self.opts.force && count.forced >= STABLE_FORCE_PER_DAY => Some(format!(
                "quota guard: {} forced stable calls in the last 24 hours; WeChat allows {STABLE_FORCE_PER_DAY}: not calling; run without --force",
                count.forced
            )),
            Api::Stable
                if self.opts.force
                    && count
                        .last_forced_ms
                        .is_some_and(|t| now_ms - t < STABLE_FORCE_GAP_MS) =>
            {
                Some(
                    "quota guard: the previous forced stable call was less than 30s ago (WeChat's minimum gap): wait and run again"
                        .to_string(),
                )
            }
            _ => None,
        };
        if refusal.is_none() && self.opts.force && app.api == Api::Stable {
            log::warn!(
                "{}: --force on a stable app calls force_refresh, which WeChat allows {STABLE_FORCE_PER_DAY} times a day ({} used in the last 24 hours)",
                app.name,
                count.forced
            );
        }
        Ok(refusal)
    }
}

/// What is due for an app given its stored rows, or `None` when all is fresh.
fn plan(target: &Arc<Target>, stored: &[Row], now: i64, opts: &Options) -> Option<Job> {
    let app = &target.app;
    let row = |kind: Kind| stored.iter().find(|r| r.kind == kind.as_str());
    let due = |kind: Kind| match row(kind) {
        None => true,
        Some(r) if r.api != app.api.as_str() || r.appid != app.appid => true,
        // Forced: due unless another process stored a new value since this run looked.
        Some(r) if opts.force => target.seen.get(&kind) == Some(&r.value),
        Some(r) => r.invalidated_at.is_some() || r.expires_at <= now + opts.ahead,
    };
    let token_due = due(Kind::AccessToken);
    let tickets: Vec<Ticket> = app
        .tickets
        .iter()
        .copied()
        .filter(|t| due(Kind::Ticket(*t)))
        .collect();
    if !token_due && tickets.is_empty() {
        return None;
    }
    let token = row(Kind::AccessToken)
        .filter(|r| !token_due && r.invalidated_at.is_none() && r.expires_at > now)
        .map(|r| r.value.clone());
    Some(Job {
        target: target.clone(),
        token_due: token_due || token.is_none(),
        token,
        tickets,
        force: opts.force,
        guard: None,
    })
}

/// One app's upstream work: the token if due, then each due ticket with the
/// current token. A ticket answered "token stale" (40001/40014/42001) marks that
/// token invalidated, fetches a new one once and retries the ticket once.
fn work(client: &Client, job: Job, budget: Duration) -> Done {
    let deadline = Instant::now() + budget;
    crate::fault::pause("before-call");
    let target = job.target.clone();
    let mut done = Done {
        target: target.clone(),
        values: Vec::new(),
        invalidate: None,
        attempts: Vec::new(),
        failures: Vec::new(),
        clock_skew: None,
    };
    let mut token = job.token.clone();
    let mut fresh = false;
    if job.token_due {
        match done.fetch_token(client, &job, deadline) {
            Some(t) => (token, fresh) = (Some(t), true),
            None => return done,
        }
    }
    for &ticket in &job.tickets {
        let kind = Kind::Ticket(ticket);
        let Some(current) = token.clone() else { break };
        match done.fetch(client, kind, &job, Some(&current), deadline) {
            Err(failure) if failure.stale_token() && !fresh => {}
            _ => continue,
        }
        // The stored token was superseded: drop it, fetch a new one once, retry once.
        done.failures.pop();
        log::info!(
            "{}: token {} is stale; fetching a new one",
            target.app.name,
            short(&current)
        );
        done.invalidate = Some((Kind::AccessToken.as_str().to_string(), current));
        match done.fetch_token(client, &job, deadline) {
            Some(t) => (token, fresh) = (Some(t), true),
            None => return done,
        }
        let _ = done.fetch(client, kind, &job, token.as_deref(), deadline);
    }
    done
}

impl Done {
    /// Fetches the app's token, unless the quota guard refuses the call.
    fn fetch_token(&mut self, client: &Client, job: &Job, deadline: Instant) -> Option<String> {
        if let Some(reason) = &job.guard {
            self.refused(Kind::AccessToken, job.force, reason);
            return None;
        }
        self.fetch(client, Kind::AccessToken, job, None, deadline)
            .ok()
    }

    /// Calls upstream for `kind`, records every try; on success stores the value
    /// and returns it, on failure records the failure line and returns the failure.
    fn fetch(
        &mut self,
        client: &Client,
        kind: Kind,
        job: &Job,
        token: Option<&str>,
        deadline: Instant,
    ) -> Result<String, Failure> {
        let app = &self.target.app;
        let call = match (kind, token) {
            (Kind::Ticket(ticket), Some(token)) => Call::Ticket { ticket, token },
            _ => Call::Token { force: job.force },
        };
        let forced = job.force && kind == Kind::AccessToken && app.api == Api::Stable;
        let Outcome {
            tries,
            result,
            clock_skew,
        } = client.call(app, &self.target.secret, &call, deadline);
        self.clock_skew = self.clock_skew.or(clock_skew);
        for t in tries {
            let (outcome, errcode, message) = match &t.result {
                Ok(()) => ("ok", None, None),
                Err(f @ Failure::Unreached(_)) => ("unreached", None, Some(f.describe(false))),
                Err(f) => ("error", f.errcode(), Some(f.describe(token.is_some()))),
            };
            self.attempts.push(Attempt {
                app: app.name.clone(),
                kind: kind.as_str().to_string(),
                started_ms: t.started_ms,
                duration_ms: t.duration_ms,
                outcome: outcome.to_string(),
                forced,
                errcode,
                message,
            });
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
                self.values.push(Row {
                    app: app.name.clone(),
                    kind: kind.as_str().to_string(),
                    api: app.api.as_str().to_string(),
                    appid: app.appid.clone(),
                    value: issued.value.clone(),
                    fetched_at: sent,
                    expires_at: sent + issued.expires_in,
                    invalidated_at: None,
                    source_token: token.map(str::to_string),
                });
                Ok(issued.value)
            }
            Err(failure) => {
                self.failures.push(format!(
                    "{}: {}",
                    kind.label(),
                    failure.describe(token.is_some())
                ));
                Err(failure)
            }
        }
    }

    /// Records a call that wxtoken's own guard refused.
    fn refused(&mut self, kind: Kind, force: bool, reason: &str) {
        self.attempts.push(Attempt {
            app: self.target.app.name.clone(),
            kind: kind.as_str().to_string(),
            started_ms: clock::now_ms(),
            duration_ms: 0,
            outcome: "refused".to_string(),
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

fn kind_of(s: &str) -> Option<Kind> {
    match s {
        "access_token" => Some(Kind::AccessToken),
        _ => s
            .strip_suffix("_ticket")
            .and_then(Ticket::parse)
            .map(Kind::Ticket),
    }
}

fn by_app(rows: Vec<Row>) -> HashMap<String, Vec<Row>> {
    let mut map: HashMap<String, Vec<Row>> = HashMap::new();
    for r in rows {
        map.entry(r.app.clone()).or_default().push(r);
    }
    map
}

/// A lease owner id: host, process and a random part.
fn owner_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    let random = RandomState::new().hash_one(clock::now_ms());
    format!("{host}:{}:{random:016x}", std::process::id())
}
