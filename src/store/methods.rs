//! The [`Store`] methods, written once for both databases: the same
//! statements (`sql.rs`) in the same order, in one read or one transaction
//! of the [`Backend`]. A database's own ways (binding parameters, beginning
//! and committing, reconnecting) stay in its file, with the one method it
//! does differently (`lookup`).

use std::collections::HashMap;

use anyhow::Result;

use super::backend::{Backend, Conn, args};
use super::columns::{self, Columns};
use super::export::Export;
use super::sql;
use super::{
    Attempt, CUSTOMERS_SINCE, CodeStep, Commit, Customer, CustomerState, CustomerUpdate,
    Invalidated, Lease, Leases, PENDING_PREFIX, Row, Stats, Store,
};

impl<B: Backend> Store for B {
    fn rows(&mut self, apps: &[String]) -> Result<Vec<Row>> {
        read_since(self, 1, |c| match apps {
            [] => c.query(&sql::ROWS, args![], |r| columns::row(r, 0)),
            _ => c.query(&sql::ROWS_OF, args![apps], |r| columns::row(r, 0)),
        })
    }

    fn take_leases(
        &mut self,
        apps: &[String],
        owner: &str,
        now: i64,
        expires_at: i64,
        longest: i64,
    ) -> Result<Leases> {
        let mut apps = apps.to_vec();
        apps.sort();
        apps.dedup();
        // The lease's length as the caller wants it, its times on the clock
        // of `sql::LEASE_NOW`.
        let ttl = expires_at - now;
        self.write("take a lease in", |tx| {
            let now = tx.count(&sql::LEASE_NOW, args![now])?;
            let mut current: HashMap<String, Lease> = tx
                .query(&sql::LEASES, args![&apps], |r| columns::lease(r))?
                .into_iter()
                .map(|l| (l.app.clone(), l))
                .collect();
            let mut leases = Leases::default();
            let (mut replace, mut insert) = (Vec::new(), Vec::new());
            for app in &apps {
                let lease = current.remove(app);
                let existed = lease.is_some();
                match leases.decide(app, lease, owner, now, longest) {
                    true if existed => replace.push(app.clone()),
                    true => insert.push(app.clone()),
                    false => {}
                }
            }
            let until = now + ttl;
            tx.execute(&sql::REPLACE_LEASES, args![&replace, owner, until])?;
            let inserted: Vec<String> =
                tx.query(&sql::INSERT_LEASES, args![&insert, owner, until], |r| {
                    r.get(0)
                })?;
            leases
                .taken
                .retain(|app| replace.contains(app) || inserted.contains(app));
            Ok(leases)
        })
    }

    fn release_leases(&mut self, apps: &[String], owner: &str) -> Result<()> {
        self.write("release a lease in", |tx| {
            tx.execute(&sql::RELEASE_LEASES, args![apps, owner])
        })?;
        Ok(())
    }

    fn commit(&mut self, app: &str, commit: &Commit) -> Result<()> {
        let now = crate::clock::now();
        self.write("write to", |tx| {
            if let Some((kind, value)) = &commit.invalidate {
                tx.execute(&sql::INVALIDATE_STALE, args![app, kind, value, now])?;
            }
            let mut held = 0;
            if !commit.values.is_empty() || commit.customer.is_some() {
                held = tx.count(&sql::LEASE_HELD, args![app, commit.owner])?;
            }
            for v in &commit.values {
                if upsert_value(tx, v, held)? == 0 {
                    log::info!(
                        "{app}: a {} fetched later is already stored; kept it",
                        v.kind
                    );
                }
            }
            if let Some(u) = &commit.customer {
                update_customer(tx, app, u, held)?;
            }
            for a in &commit.attempts {
                tx.execute(
                    &sql::INSERT_ATTEMPT,
                    args![
                        &a.app,
                        &a.kind,
                        a.started_ms,
                        a.duration_ms,
                        &a.outcome,
                        a.forced,
                        a.errcode,
                        &a.message
                    ],
                )?;
            }
            tx.execute(&sql::RELEASE_LEASE, args![app, commit.owner])?;
            crate::fault::pause("in-commit");
            Ok(())
        })?;
        self.export(&[app.to_string()]);
        Ok(())
    }

    fn invalidate(
        &mut self,
        app: &str,
        kind: &str,
        if_value: Option<&str>,
        now: i64,
    ) -> Result<Invalidated> {
        let outcome = self.write("write to", |tx| {
            // The stored value and its invalidation time, if any.
            let current: Option<(String, Option<i64>)> = tx
                .query(&sql::STORED_VALUE, args![app, kind], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .pop();
            let outcome = match current {
                None => Invalidated::Missing,
                Some((value, _)) if if_value.is_some_and(|v| v != value) => Invalidated::Mismatch,
                Some((_, Some(_))) => Invalidated::Already,
                Some(_) => Invalidated::Done,
            };
            if outcome == Invalidated::Done {
                tx.execute(&sql::MARK_INVALIDATED, args![app, kind, now])?;
            }
            Ok(outcome)
        })?;
        self.export(&[app.to_string()]);
        Ok(outcome)
    }

    fn history(&mut self, app: Option<&str>, limit: usize) -> Result<Vec<Attempt>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        read_since(self, 1, |c| {
            c.query(&sql::HISTORY, args![app, limit], |r| columns::attempt(r))
        })
    }

    fn stats(&mut self, since_ms: i64) -> Result<Vec<Stats>> {
        let (counts, last) = read_since(self, 1, |c| {
            let counts = c.query(&sql::STATS_COUNTS, args![since_ms], |r| columns::counts(r))?;
            let last = c.query(&sql::STATS_LAST, args![], |r| columns::attempt(r))?;
            Ok((counts, last))
        })?;
        Ok(columns::stats(counts, last))
    }

    fn prune(&mut self, before_ms: i64) -> Result<()> {
        self.write("write to", |tx| tx.execute(&sql::PRUNE, args![before_ms]))?;
        Ok(())
    }

    fn customers(&mut self, platform: &str) -> Result<Vec<Customer>> {
        read_since(self, CUSTOMERS_SINCE, |c| {
            c.query(&sql::CUSTOMERS, args![platform], |r| columns::customer(r))
        })
    }

    fn customer(&mut self, platform: &str, appid: &str) -> Result<Option<Customer>> {
        let p = args![platform, appid];
        read_since(self, CUSTOMERS_SINCE, |c| {
            Ok(c.query(&sql::CUSTOMER, p, |r| columns::customer(r))?.pop())
        })
    }

    fn customer_platforms(&mut self) -> Result<Vec<String>> {
        read_since(self, CUSTOMERS_SINCE, |c| {
            c.query(&sql::CUSTOMER_PLATFORMS, args![], |r| r.get(0))
        })
    }

    fn upsert_customers(&mut self, customers: &[Customer]) -> Result<()> {
        self.write("write to", |tx| {
            for c in customers {
                tx.execute(
                    &sql::UPSERT_CUSTOMER,
                    args![
                        &c.platform,
                        &c.appid,
                        &c.credential,
                        &c.pending_code,
                        c.pending_until,
                        c.state.as_str(),
                        &c.info,
                        c.authorized_at,
                        c.updated_at
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn revoke_customer(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool> {
        let app = format!("{platform}/{appid}");
        let known = self.write("write to", |tx| {
            let known = tx.execute(&sql::REVOKE_CUSTOMER, args![platform, appid, now])? > 0;
            if known {
                tx.execute(&sql::INVALIDATE_APP, args![&app, now])?;
            }
            Ok(known)
        })?;
        self.export(&[app]);
        Ok(known)
    }

    fn drop_expired_code(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool> {
        self.write("write to", |tx| {
            Ok(tx.execute(&sql::DROP_EXPIRED_CODE, args![platform, appid, now])? > 0)
        })
    }

    fn put_pushed(&mut self, v: &Row) -> Result<bool> {
        // Not the lease holder (0): stored only over a value fetched earlier.
        self.write("write to", |tx| Ok(upsert_value(tx, v, 0)? > 0))
    }

    fn code_step(
        &mut self,
        platform: &str,
        appid: &str,
        step: &CodeStep,
        now: i64,
    ) -> Result<bool> {
        self.write("write to", |tx| code_step(tx, platform, appid, step, now))
    }

    fn export_to(&mut self, export: Export) {
        *self.exports() = Some(export);
    }

    fn export(&mut self, apps: &[String]) {
        if let Some(mut export) = self.exports().take() {
            export.sync(apps, self.rows(apps));
            *self.exports() = Some(export);
        }
    }

    fn export_problems(&mut self) -> usize {
        self.exports().as_ref().map_or(0, |e| e.problems)
    }

    fn sent_codes(&mut self, platform: &str) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            c.query(&sql::SENT_CODES, args![platform], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
    }
}

/// Runs a read of tables that schema version `since` made (1: the tokens,
/// the attempts; `CUSTOMERS_SINCE`: the customers); a database not migrated
/// to it yet has none of their rows.
fn read_since<B: Backend, T: Default>(
    db: &mut B,
    since: usize,
    f: impl FnMut(&mut B::Read<'_>) -> Result<T, B::Error>,
) -> Result<T> {
    if db.schema()? < since {
        return Ok(T::default());
    }
    db.read(f)
}

/// Stores a value unless one fetched later is stored; `held` is 1 when the
/// writer holds the app's lease (then it replaces whatever is stored). The
/// number of rows changed: 0 when a later value was kept.
fn upsert_value<C: Conn>(tx: &mut C, v: &Row, held: i64) -> Result<u64, C::Error> {
    tx.execute(
        &sql::UPSERT_VALUE,
        args![
            &v.app,
            &v.kind,
            &v.api,
            &v.appid,
            &v.value,
            v.fetched_at,
            v.expires_at,
            &v.source_token,
            held
        ],
    )
}

/// Writes `u` in a refresh's transaction: a rotated credential, a new state,
/// what upstream says of it. `held` is 1 when the run still holds the
/// customer's lease.
fn update_customer<C: Conn>(
    tx: &mut C,
    app: &str,
    u: &CustomerUpdate,
    held: i64,
) -> Result<(), C::Error> {
    let at = u.updated_at;
    let p = args![
        &u.platform,
        &u.appid,
        &u.credential,
        u.state.as_str(),
        at,
        &u.info,
        held
    ];
    if tx.execute(&sql::UPDATE_CUSTOMER, p)? == 0 {
        // Not written: why, by whether the run still held the lease.
        if held == 1 {
            log::warn!(
                "{app}: the customer is gone, or a newer credential was stored meanwhile (`authorizers sync`, a push); kept what is stored, this run's update is dropped"
            );
        } else {
            log::warn!(
                "{app}: this run's lease ended before it stored its result (another run may have taken the customer over); the stored credential is kept, this run's is dropped"
            );
        }
    }
    // Withdrawn upstream: nothing secret kept, its tokens invalidated.
    if u.state == CustomerState::Revoked {
        tx.execute(&sql::REVOKE_CUSTOMER, args![&u.platform, &u.appid, at])?;
        tx.execute(&sql::INVALIDATE_APP, args![app, at])?;
    }
    Ok(())
}

/// [`Store::code_step`], in the transaction `tx`.
fn code_step<C: Conn>(
    tx: &mut C,
    platform: &str,
    appid: &str,
    step: &CodeStep,
    now: i64,
) -> Result<bool, C::Error> {
    let customer = args![platform, appid];
    Ok(match step {
        CodeStep::Claim { sealed, key, until } => {
            tx.execute(&sql::PRUNE_SPENT, args![platform, now])?;
            if tx.execute(&sql::CLAIM_CODE, args![platform, appid, sealed, now])? == 0 {
                false
            } else if tx.execute(&sql::REMEMBER_SPENT, args![platform, key, *until])? > 0 {
                true
            } else {
                // Sent before: dropped unsent.
                drop_code(tx, platform, appid, now)?;
                false
            }
        }
        CodeStep::Spent { key } => tx.count(&sql::IS_SPENT, args![platform, key])? > 0,
        CodeStep::Info { info } => {
            tx.execute(&sql::SET_INFO, args![platform, appid, info, now])? > 0
        }
        CodeStep::Event { at } => {
            tx.execute(&sql::EVENT_AT, args![platform, appid, *at])? > 0
                || tx.count(&sql::CUSTOMER_EXISTS, customer)? == 0
        }
        CodeStep::Release { key } => {
            tx.execute(&sql::FORGET_SPENT, args![platform, key])?;
            tx.execute(&sql::RELEASE_CODE, customer)? > 0
        }
        CodeStep::Drop => {
            drop_code(tx, platform, appid, now)?;
            tx.count(&sql::HAS_CREDENTIAL, customer)? > 0
        }
        CodeStep::Exchanged {
            appid: named,
            credential,
            info,
        } if named == appid => {
            let p = args![platform, appid, credential, info, now];
            tx.execute(&sql::EXCHANGED, p)? > 0
        }
        CodeStep::Exchanged {
            appid: named,
            credential,
            info,
        } => {
            let p = args![platform, appid, named, credential, "active", info, now];
            let n = tx.execute(&sql::REKEY_CUSTOMER, p)?;
            tx.execute(&sql::DELETE_CUSTOMER, customer)?;
            tx.execute(&sql::DELETE_APP, args![&format!("{platform}/{appid}")])?;
            n > 0
        }
    })
}

/// Forgets a customer's pending code; one known only by a pending key, with
/// no credential, is deleted.
fn drop_code<C: Conn>(tx: &mut C, platform: &str, appid: &str, now: i64) -> Result<(), C::Error> {
    tx.execute(&sql::DROP_CODE, args![platform, appid, now])?;
    if appid.starts_with(PENDING_PREFIX) {
        tx.execute(&sql::DELETE_UNCREDENTIALED, args![platform, appid])?;
    }
    Ok(())
}
