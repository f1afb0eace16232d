//! The run: leases, workers and results. The main thread owns the database;
//! worker threads only talk HTTP. For each app that is due, the main thread
//! takes the app's lease (single flight across processes and hosts), plans its
//! job again with what is stored now, hands it to a worker, and writes what
//! comes back in one transaction that also releases the lease. An app whose
//! lease another process holds is watched until that process has stored a
//! fresh value (nothing to do) or recorded a failure (reported, not repeated),
//! or until the lease expired (a crashed holder: this run takes over); but
//! never longer than a lease of its own would last, then the app fails. A lease
//! that ends further ahead than any wxtoken takes one was written by a clock
//! that ran fast: it is taken over at once. Nothing here waits without a deadline.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::plan::{self, Counts, Job, fetched_ahead};
use super::work::{Done, spawn_workers};
use super::{DAY_MS, MAX_CLOCK_SKEW, Options, Target, by_app, rows_of};
use crate::clock;
use crate::error::{Exit, Silent};
use crate::store::{Commit, Lease, PENDING_PREFIX, Row, Store};
use crate::text::{clip, shown};

/// How often an app whose lease another process holds is looked at again.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// A lease lasts an app's whole budget and this many seconds more (for the write).
/// A holder that died is taken over after that; one that is merely late still
/// cannot overwrite a newer value (the store only replaces older ones).
const LEASE_MARGIN: i64 = 5;
/// The longest lease any wxtoken takes. One ending later than this from now was
/// written by a clock that ran fast (a host's, or the database server's before it
/// was set back) and is taken over: it would block every refresh for that long.
const LONGEST_LEASE: i64 = 3 * crate::upstream::MAX_TIMEOUT.as_secs() as i64 + LEASE_MARGIN;
/// How long the attempts history is kept.
const HISTORY_KEPT_MS: i64 = 30 * DAY_MS;

mod kept;
mod wait;

/// Refreshes `targets` (their `seen` is filled here).
pub fn run(store: &mut dyn Store, targets: Vec<Target>, opts: &Options) -> Result<()> {
    let started_ms = clock::now_ms();
    let names: Vec<String> = targets.iter().map(|t| t.app.name.clone()).collect();
    let rows = by_app(store.rows(&names)?);
    drop(names);
    let now_ms = clock::now_ms();
    let now = now_ms.div_euclid(1000);
    // The quota guard is decided again at dispatch, with the attempts counted:
    // here only what is due matters, and an all-fresh run reads nothing more.
    let no_counts = Counts::new();
    let mut pending: VecDeque<Arc<Target>> = VecDeque::new();
    for mut target in targets {
        let stored = rows_of(&rows, &target.app.name);
        target.seen = stored
            .iter()
            .filter_map(|r| Some((r.known_kind()?, r.value.clone())))
            .collect();
        let nodes = target.nodes();
        let refreshed = |r: &&Row| nodes.iter().any(|n| r.known_kind() == Some(n.kind));
        for r in stored.iter().filter(refreshed) {
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
        let target = Arc::new(target);
        if plan::plan_one(&target, stored, &no_counts, now_ms, opts).is_some() {
            pending.push_back(target);
        } else {
            log::info!("{}: fresh, nothing to do", target.app.name);
        }
    }
    drop(rows);
    if pending.is_empty() {
        return Ok(());
    }
    let (job_tx, done_rx) = spawn_workers(opts.jobs.min(pending.len()), opts);
    let owner = crate::owner::owner_id();
    let mut run = Run {
        store: &mut *store,
        opts,
        owner: &owner,
        progress: crate::progress::Progress::start(pending.len()),
        pending,
        watching: Vec::new(),
        in_flight: HashMap::new(),
        failed: 0,
        counts: None,
        warned_clock: false,
        waited: HashMap::new(),
        holders: HashMap::new(),
        started_ms,
        kept: Vec::new(),
    };
    let result = run.drive(&job_tx, &done_rx);
    run.store_kept();
    drop(job_tx);
    let failed = result.map(|()| run.failed)?;
    store.prune(clock::now_ms() - HISTORY_KEPT_MS)?;
    if failed > 0 {
        return Err(Silent(Exit::Failure).into());
    }
    Ok(())
}

struct Run<'a> {
    store: &'a mut dyn Store,
    opts: &'a Options,
    owner: &'a str,
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
    counts: Option<Rc<Counts>>,
    warned_clock: bool,
    /// Apps whose lease another process held when this run wanted it, and when
    /// this run first found it held.
    waited: HashMap<String, Instant>,
    /// The latest lease seen of each app another process holds.
    holders: HashMap<String, Lease>,
    /// When this run started, in Unix milliseconds.
    started_ms: i64,
    /// Results the database did not take yet (see `kept`).
    kept: Vec<kept::Kept<'a>>,
    progress: crate::progress::Progress,
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
            // Results that came while the database kept this thread (a
            // stall) are stored before any app is given up as late.
            while let Ok(d) = done.try_recv() {
                self.finish(d)?;
            }
            self.give_up_late()?;
            let remaining = self.pending.len() + self.watching.len() + self.in_flight.len();
            self.progress.update(remaining, self.failed);
            if !self.watching.is_empty() && Instant::now() >= next_watch {
                self.watch()?;
                next_watch = Instant::now() + WATCH_INTERVAL;
            }
        }
    }

    /// Counts an app as failed and prints its line, redacted.
    fn fail(&mut self, line: &str) {
        self.failed += 1;
        crate::out::errln!("wxtoken: {}", crate::secret::redact(line));
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
        let mut late: Vec<String> = (self.in_flight)
            .extract_if(|_, deadline| *deadline <= now)
            .map(|(name, _)| name)
            .collect();
        if late.is_empty() {
            return Ok(());
        }
        late.sort();
        for name in &late {
            self.failed += 1;
            crate::out::errln!(
                "wxtoken: {name}: no result within its lease ({}: 3 x --timeout + {LEASE_MARGIN}s); nothing stored; run again",
                crate::duration::human(self.lease_length().as_secs() as i64)
            );
        }
        self.store.release_leases(&late, self.owner)
    }

    /// Takes leases for as many pending apps as there are free workers, and hands
    /// each app whose lease it got (and that is still due) to a worker.
    fn dispatch(&mut self, jobs: &mpsc::Sender<Job>) -> Result<()> {
        let free = self.opts.jobs.saturating_sub(self.in_flight.len());
        let batch: Vec<Arc<Target>> = self.pending.drain(..free.min(self.pending.len())).collect();
        // An app left waiting for a worker past its bound fails now; one in
        // the batch is tried once more first (the lease may just have ended).
        for target in std::mem::take(&mut self.pending) {
            if !self.waited_enough(&target, false)? {
                self.pending.push_back(target);
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = batch.iter().map(|t| t.app.name.clone()).collect();
        let now = clock::now();
        let lease_end = now + self.lease_length().as_secs() as i64;
        let leases = self
            .store
            .take_leases(&names, self.owner, now, lease_end, LONGEST_LEASE)?;
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
        let counts = match &self.counts {
            Some(counts) => counts.clone(),
            None if taken.is_empty() => Rc::default(),
            None => {
                // The last 24 hours: the quota guard's window.
                let stats = self.store.stats(clock::now_ms() - DAY_MS)?;
                let counts: Counts = stats
                    .into_iter()
                    .map(|c| ((c.app.clone(), c.kind.clone()), c))
                    .collect();
                self.counts.insert(Rc::new(counts)).clone()
            }
        };
        let mut release = Vec::new();
        for target in batch {
            let name = &target.app.name;
            if !taken.contains(name) {
                if self.waited_enough(&target, true)? {
                    continue;
                }
                self.waited.entry(name.clone()).or_insert_with(|| {
                    log::info!("{name}: another process is refreshing it; waiting for its result");
                    Instant::now()
                });
                self.watching.push(target);
                continue;
            }
            let stored = rows_of(&rows, name);
            let job = plan::plan_one(&target, stored, &counts, clock::now_ms(), self.opts);
            let Some(job) = job else {
                log::info!("{name}: another process just stored a fresh value");
                release.push(name.clone());
                continue;
            };
            // The process this one waited for just failed: calling again at
            // once would most likely fail the same way, and cost quota.
            if self.waited.contains_key(name) && self.failed_meanwhile(&target)? {
                release.push(name.clone());
                continue;
            }
            log::debug!("{name}: due: {}", job.describe());
            if let Some((used, per_day)) = job.forced_calls {
                log::warn!(
                    "{name}: --force on a stable app calls force_refresh, which WeChat allows {per_day} times a day ({used} used in the last 24 hours)"
                );
            }
            self.in_flight
                .insert(name.clone(), Instant::now() + self.lease_length());
            jobs.send(job).ok();
        }
        if !release.is_empty() {
            self.store.release_leases(&release, self.owner)?;
        }
        Ok(())
    }

    /// Looks again at apps whose lease another process holds: done when that
    /// process stored a fresh value, back to pending when it is gone.
    fn watch(&mut self) -> Result<()> {
        let names: Vec<String> = self.watching.iter().map(|t| t.app.name.clone()).collect();
        let rows = by_app(self.store.rows(&names)?);
        let now_ms = clock::now_ms();
        for target in std::mem::take(&mut self.watching) {
            let stored = rows_of(&rows, &target.app.name);
            if plan::plan_one(&target, stored, &Counts::new(), now_ms, self.opts).is_none() {
                log::info!("{}: another process stored a fresh value", target.app.name);
            } else {
                self.pending.push_back(target);
            }
        }
        Ok(())
    }

    /// Writes one app's results, reports its failures.
    fn finish(&mut self, mut done: Done) -> Result<()> {
        // Nothing is stored under a pending key (a WeCom company is stored
        // under its corpid once its code's exchange names it).
        if done.target.app.appid.starts_with(PENDING_PREFIX) {
            done.commit.values.clear();
        }
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
        let commit = Commit {
            owner: self.owner,
            ..done.commit
        };
        let stored = self.commit_or_keep(&done.target, commit);
        if !done.failures.is_empty() {
            self.fail(&format!(
                "{}: {}",
                shown(name),
                shown(&done.failures.join("; "))
            ));
        } else if stored {
            log::info!("{name}: stored");
        }
        Ok(())
    }
}
