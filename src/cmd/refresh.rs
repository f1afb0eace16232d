//! `wxtoken refresh`: fetch what is missing or near expiry, store it, exit.
//!
//! The main thread owns the database; worker threads only talk HTTP. For each app
//! that is due, the main thread takes the app's lease (single flight across
//! processes and hosts), hands the app to a worker, and writes what comes back
//! in one transaction that also releases the lease. An app whose lease another
//! process holds is watched until that process has stored a fresh value (nothing
//! to do) or recorded a failure (reported, not repeated), or until the lease
//! expired (a crashed holder: this run takes over); but never longer than a
//! lease of its own would last, then the app fails. A lease that ends further
//! ahead than any wxtoken takes one was written by a clock that ran fast: it is
//! taken over at once. Nothing here waits without a deadline.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::app::{Api, App, Kind, Ticket};
use crate::clock;
use crate::error::Silent;
use crate::secret::{Secret, short};
use crate::store::{Attempt, Commit, Lease, Row, Stats, Store};
use crate::text::{clip, shown};
use crate::upstream::{Call, Client, Failure, Outcome, Proxy};

/// How many forced stable calls WeChat allows a day, and how far apart.
const STABLE_FORCE_PER_DAY: i64 = 20;
const STABLE_FORCE_GAP_MS: i64 = 30_000;
/// Upstream's `Date` further than this from the local clock gets a warning; a
/// stored value fetched further than this ahead of the local clock is renewed.
const MAX_CLOCK_SKEW: i64 = 60;
/// How often an app whose lease another process holds is looked at again.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);
const DAY_MS: i64 = 86_400_000;
/// A lease lasts an app's whole budget and this many seconds more (for the write).
/// A holder that died is taken over after that; one that is merely late still
/// cannot overwrite a newer value (the store only replaces older ones).
const LEASE_MARGIN: i64 = 5;
/// The longest lease any wxtoken takes. One ending later than this from now was
/// written by a clock that ran fast (a host's, or the database server's before it
/// was set back) and is taken over: it would block every refresh for that long.
const LONGEST_LEASE: i64 = 3 * crate::cli::MAX_TIMEOUT.as_secs() as i64 + LEASE_MARGIN;
/// How long the attempts history is kept.
const HISTORY_KEPT_MS: i64 = 30 * DAY_MS;

pub struct Options {
    pub force: bool,
    /// Renew what expires within this many seconds.
    pub ahead: i64,
    pub timeout: Duration,
    pub jobs: usize,
    /// The proxy for upstream calls (from the environment), if any.
    pub proxy: Option<Proxy>,
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

impl Target {
    /// Whether `plan` looks at stored values of this kind: the token and the
    /// tickets the app is configured for.
    fn refreshes(&self, kind: &str) -> bool {
        match kind_of(kind) {
            Some(Kind::AccessToken) => true,
            Some(Kind::Ticket(t)) => self.app.tickets.contains(&t),
            None => false,
        }
    }
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
        for r in stored.iter().filter(|r| target.refreshes(&r.kind)) {
            if let Some(ahead) = fetched_ahead(r, now) {
                log::warn!(
                    "{}: its {} was fetched {} ahead of this host's clock ({}): renewing it, since its expiry is just as far off; a clock ran fast (another host's, or this one's before it was set back): check the time sync (NTP)",
                    target.app.name,
                    r.kind,
                    crate::duration::human(ahead),
                    clock::rfc3339(r.fetched_at)
                );
            }
        }
        if plan(&target, stored, now, opts).is_some() {
            pending.push_back(target);
        } else {
            log::info!("{}: fresh, nothing to do", target.app.name);
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let client = Client::new(opts.timeout, opts.proxy.clone());
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    // Not scoped threads: a worker stuck past its bound must not keep the run
    // from ending (the process exits without waiting for it).
    for _ in 0..opts.jobs.min(pending.len()) {
        let (job_rx, done_tx, client) = (job_rx.clone(), done_tx.clone(), client.clone());
        let budget = opts.app_budget();
        std::thread::spawn(move || {
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
        store: &mut *store,
        opts,
        owner: owner_id(),
        pending,
        watching: Vec::new(),
        in_flight: HashMap::new(),
        failed: 0,
        counts: None,
        warned_clock: false,
        waited: HashMap::new(),
        holders: HashMap::new(),
        started_ms,
    };
    let result = run.drive(&job_tx, &done_rx);
    drop(job_tx);
    let failed = result.map(|()| run.failed)?;
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
    /// Apps handed to a worker, and when this run gives up on each: when its
    /// lease ends.
    in_flight: HashMap<String, Instant>,
    failed: usize,
    /// Upstream calls in the last 24 hours, per (app, kind), read when first
    /// needed. Each app is dispatched once a run, so what this run adds is never
    /// read back.
    counts: Option<HashMap<(String, String), Stats>>,
    warned_clock: bool,
    /// Apps whose lease another process held when this run wanted it, and when
    /// this run first found it held.
    waited: HashMap<String, Instant>,
    /// The latest lease seen of each app another process holds.
    holders: HashMap<String, Lease>,
    /// When this run started, in Unix milliseconds.
    started_ms: i64,
}

impl Run<'_> {
    /// Dispatches, collects results and watches other processes' leases until
    /// every app is done. Every wait ends within a lease's length: for a
    /// worker's result, from when the app was handed over (`give_up_late`); for
    /// another process's lease, from when this run found it held (`waited_enough`).
    fn drive(&mut self, jobs: &mpsc::Sender<Job>, done: &mpsc::Receiver<Done>) -> Result<()> {
        let mut next_watch = Instant::now();
        loop {
            self.dispatch(jobs)?;
            if self.in_flight.is_empty() && !self.pending.is_empty() {
                // Nothing in flight (the batch was fresh, or watched): dispatch again.
                continue;
            }
            // The next thing to look at: a result's deadline, the next watch, or
            // the end of a wait for a lease (an app waiting for a free worker).
            let Some(until) = self
                .in_flight
                .values()
                .copied()
                .chain((!self.watching.is_empty()).then_some(next_watch))
                .chain(
                    self.pending
                        .iter()
                        .filter_map(|t| self.wait_ends(&t.app.name)),
                )
                .min()
            else {
                return Ok(());
            };
            let wait = until.saturating_duration_since(Instant::now());
            if self.in_flight.is_empty() {
                std::thread::sleep(wait);
            } else {
                match done.recv_timeout(wait) {
                    Ok(d) => self.finish(d)?,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        // Every worker is gone: no result is coming.
                        for deadline in self.in_flight.values_mut() {
                            *deadline = Instant::now();
                        }
                    }
                }
            }
            self.give_up_late()?;
            if !self.watching.is_empty() && Instant::now() >= next_watch {
                self.watch()?;
                next_watch = Instant::now() + WATCH_INTERVAL;
            }
        }
    }

    /// How long an app's lease lasts; also how long this run waits for another
    /// process's lease of an app, from when it first found it held.
    fn lease_length(&self) -> Duration {
        self.opts.app_budget() + Duration::from_secs(LEASE_MARGIN as u64)
    }

    /// Fails the apps whose result did not come by the end of their lease (a
    /// worker stuck or gone), and releases their leases.
    fn give_up_late(&mut self) -> Result<()> {
        let now = Instant::now();
        let mut late: Vec<String> = self
            .in_flight
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(name, _)| name.clone())
            .collect();
        if late.is_empty() {
            return Ok(());
        }
        late.sort();
        for name in &late {
            self.in_flight.remove(name);
            self.failed += 1;
            crate::out::errln!(
                "wxtoken: {name}: no result within its lease ({}: 3 x --timeout + {LEASE_MARGIN}s); nothing stored; run again",
                crate::duration::human(self.lease_length().as_secs() as i64)
            );
        }
        self.store.release_leases(&late, &self.owner)
    }

    /// Takes leases for as many pending apps as there are free workers, and hands
    /// each app whose lease it got (and that is still due) to a worker.
    fn dispatch(&mut self, jobs: &mpsc::Sender<Job>) -> Result<()> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.retain(|t| !self.waited_enough(&t.app.name));
        self.pending = pending;
        let free = self.opts.jobs.saturating_sub(self.in_flight.len());
        if free == 0 || self.pending.is_empty() {
            return Ok(());
        }
        let batch: Vec<Arc<Target>> = self.pending.drain(..free.min(self.pending.len())).collect();
        let names: Vec<String> = batch.iter().map(|t| t.app.name.clone()).collect();
        let now = clock::now();
        let lease_end = now + self.lease_length().as_secs() as i64;
        let leases = self
            .store
            .take_leases(&names, &self.owner, now, lease_end, LONGEST_LEASE)?;
        for lease in &leases.overruled {
            log::warn!(
                "{}: took over the lease of {} that ends {}: no wxtoken takes one for more than {}, so a clock that ran fast wrote it; check the time sync (NTP) of that host or the database server",
                lease.app,
                clip(&lease.owner, 100),
                clock::rfc3339(lease.expires_at),
                crate::duration::human(LONGEST_LEASE)
            );
        }
        self.holders
            .extend(leases.held.into_iter().map(|l| (l.app.clone(), l)));
        let taken = leases.taken;
        let rows = if taken.is_empty() {
            HashMap::new()
        } else {
            by_app(self.store.rows(&taken)?)
        };
        let mut release = Vec::new();
        for target in batch {
            let name = &target.app.name;
            if !taken.contains(name) {
                self.waited.entry(name.clone()).or_insert_with(|| {
                    log::info!("{name}: another process is refreshing it; waiting for its result");
                    Instant::now()
                });
                self.watching.push(target);
                continue;
            }
            let stored = rows.get(name).map(Vec::as_slice).unwrap_or_default();
            let Some(mut job) = plan(&target, stored, clock::now(), self.opts) else {
                log::info!("{name}: another process just stored a fresh value");
                release.push(name.clone());
                continue;
            };
            if self.waited.contains_key(name)
                && let Some(failure) = self.failed_meanwhile(name)?
            {
                // The process this one waited for just failed: calling again at
                // once would most likely fail the same way, and cost quota.
                release.push(name.clone());
                self.failed += 1;
                crate::out::errln!(
                    "wxtoken: {}",
                    crate::secret::redact(&format!(
                        "{}: another wxtoken run just tried and failed, not calling again: {}",
                        shown(name),
                        crate::text::clip(&failure, 500)
                    ))
                );
                continue;
            }
            // Any job may fetch a token: its own, or a new one for a stale ticket.
            job.guard = self.guard(&target.app)?;
            self.in_flight
                .insert(name.clone(), Instant::now() + self.lease_length());
            jobs.send(job).ok();
        }
        if !release.is_empty() {
            self.store.release_leases(&release, &self.owner)?;
        }
        Ok(())
    }

    /// When this run stops waiting for another process's lease of `app`: a
    /// lease's length after it first found it held.
    fn wait_ends(&self, app: &str) -> Option<Instant> {
        self.waited
            .get(app)
            .map(|since| *since + self.lease_length())
    }

    /// Whether this run has waited for another process's lease of `app` as long
    /// as it may; then the app fails, with a line naming the lease's holder.
    fn waited_enough(&mut self, app: &str) -> bool {
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
        let name = &done.target.app.name;
        if self.in_flight.remove(name).is_none() {
            log::info!("{name}: a result came after this run gave up on it; not stored");
            return Ok(());
        }
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
                customer: None,
            },
        )?;
        if done.failures.is_empty() {
            log::info!("{name}: stored");
        } else {
            self.failed += 1;
            crate::out::errln!(
                "wxtoken: {}",
                crate::secret::redact(&format!(
                    "{}: {}",
                    shown(name),
                    shown(&done.failures.join("; "))
                ))
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
        Some(r) if fetched_ahead(r, now).is_some() => true,
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

/// How far a stored value's `fetched_at` lies ahead of `now`, when that is more
/// than `MAX_CLOCK_SKEW`: a clock that ran fast fetched it, and its `expires_at`
/// (from the same clock) says nothing about when it really expires.
fn fetched_ahead(row: &Row, now: i64) -> Option<i64> {
    Some(row.fetched_at - now).filter(|&ahead| ahead > MAX_CLOCK_SKEW)
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
                // Not counted against the quota guard's budget.
                Err(f) if !f.reached_upstream() => ("unreached", None, Some(f.describe(false))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::SecretSource;

    const NOW: i64 = 1_795_471_186;
    const AHEAD: i64 = 75 * 60;

    fn target(tickets: Vec<Ticket>) -> Arc<Target> {
        let app = App {
            name: "shop".to_string(),
            api: Api::Classic,
            appid: "wxshop".to_string(),
            secret: SecretSource::Env("S".to_string()),
            tickets,
            api_base: "http://127.0.0.1:1".to_string(),
            daily_budget: 1800,
        };
        let seen = HashMap::from([(Kind::AccessToken, "TOKEN".to_string())]);
        Arc::new(Target {
            app,
            secret: Secret::new("s3cr3t-unit".to_string()),
            seen,
        })
    }

    fn row(kind: Kind, fetched_at: i64, expires_at: i64) -> Row {
        Row {
            app: "shop".to_string(),
            kind: kind.as_str().to_string(),
            api: "classic".to_string(),
            appid: "wxshop".to_string(),
            value: "TOKEN".to_string(),
            fetched_at,
            expires_at,
            invalidated_at: None,
            source_token: None,
        }
    }

    fn opts(force: bool) -> Options {
        Options {
            force,
            ahead: AHEAD,
            timeout: Duration::from_secs(10),
            jobs: 1,
            proxy: None,
        }
    }

    /// `plan` on a stored token fetched and expiring at these offsets from now.
    #[test]
    fn plan_distrusts_values_from_a_clock_that_ran_fast() {
        let h = 3600;
        // (what, fetched_at - now, expires_at - now, force, due)
        let cases = [
            ("fresh", -600, 6600, false, false),
            (
                "expires exactly at the --ahead boundary",
                -2700,
                AHEAD,
                false,
                true,
            ),
            (
                "expires a second past the boundary",
                -2699,
                AHEAD + 1,
                false,
                false,
            ),
            ("expired", -7300, -100, false, true),
            (
                "fetched 3 h ahead, expires 5 h ahead",
                3 * h,
                5 * h,
                false,
                true,
            ),
            (
                "fetched exactly a minute ahead",
                MAX_CLOCK_SKEW,
                7200,
                false,
                false,
            ),
            (
                "fetched a minute and a second ahead",
                MAX_CLOCK_SKEW + 1,
                7200,
                false,
                true,
            ),
            (
                "far-future expiry, fetched 10 days ahead",
                240 * h,
                242 * h,
                false,
                true,
            ),
            ("far-future expiry, fetched now", 0, 240 * h, false, false),
            ("forced, fetched 3 h ahead", 3 * h, 5 * h, true, true),
        ];
        for (what, fetched, expires, force, due) in cases {
            let stored = [row(Kind::AccessToken, NOW + fetched, NOW + expires)];
            let job = plan(&target(vec![]), &stored, NOW, &opts(force));
            assert_eq!(job.is_some(), due, "{what}");
            if let Some(job) = job {
                assert!(job.token_due, "{what}: the token is due");
                assert_eq!(job.token, None, "{what}: no stored token is reused");
            }
        }
    }

    /// A ticket fetched ahead of the clock is due; its token, if sane, is reused.
    #[test]
    fn plan_renews_a_ticket_from_a_clock_that_ran_fast() {
        let stored = [
            row(Kind::AccessToken, NOW - 600, NOW + 6600),
            row(Kind::Ticket(Ticket::Jsapi), NOW + 3600, NOW + 10_800),
        ];
        let job = plan(&target(vec![Ticket::Jsapi]), &stored, NOW, &opts(false)).unwrap();
        assert!(!job.token_due);
        assert_eq!(job.token.as_deref(), Some("TOKEN"));
        assert_eq!(job.tickets, vec![Ticket::Jsapi]);
        // A ticket the app no longer asks for is not looked at.
        assert!(plan(&target(vec![]), &stored, NOW, &opts(false)).is_none());
    }

    #[test]
    fn fetched_ahead_counts_from_the_minute() {
        let r = |fetched| row(Kind::AccessToken, NOW + fetched, NOW + 7200);
        assert_eq!(fetched_ahead(&r(-5), NOW), None);
        assert_eq!(fetched_ahead(&r(60), NOW), None);
        assert_eq!(fetched_ahead(&r(61), NOW), Some(61));
        assert_eq!(fetched_ahead(&r(10_800), NOW), Some(10_800));
    }
}
