//! A platform's customers on the server, and pushed tickets.

use anyhow::Result;
use postgres::types::Type;

use super::{Postgres, begin, columns, sql};
use postgres::types::ToSql;

use crate::store::{CUSTOMERS_SINCE, Customer, CustomerState, CustomerUpdate, Row};

/// Writes `u` in a refresh's transaction: a rotated credential, a new state;
/// or a pending customer moved under the appid its exchange named, with app
/// `app`'s values dropped.
pub(super) fn update(
    tx: &mut postgres::Transaction<'_>,
    app: &str,
    u: &CustomerUpdate,
) -> Result<(), postgres::Error> {
    let state = u.state.as_str();
    let changed = match &u.rekey {
        Some(appid) => {
            let p: [&(dyn ToSql + Sync); 7] = [
                &u.platform,
                &u.appid,
                appid,
                &u.credential,
                &state,
                &u.info,
                &u.updated_at,
            ];
            let n = tx.execute(sql::REKEY_CUSTOMER.pg, &p)?;
            tx.execute(sql::DELETE_CUSTOMER.pg, &[&u.platform, &u.appid])?;
            tx.execute(sql::DELETE_APP.pg, &[&app])?;
            n
        }
        None => {
            let cleared = i64::from(u.pending_cleared);
            let p: [&(dyn ToSql + Sync); 7] = [
                &u.platform,
                &u.appid,
                &u.credential,
                &state,
                &u.updated_at,
                &cleared,
                &u.info,
            ];
            tx.execute(sql::UPDATE_CUSTOMER.pg, &p)?
        }
    };
    if changed == 0 {
        log::warn!("{app}: customer not stored; its update was dropped");
    }
    Ok(())
}

impl Postgres {
    /// Runs a read of `wxtoken_customers`; a database not migrated to it yet
    /// has no customers.
    fn read_customers<T: Default>(
        &mut self,
        f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T> {
        if self.schema()? < CUSTOMERS_SINCE {
            return Ok(T::default());
        }
        self.run("read", f)
    }

    pub(super) fn customers_of(&mut self, platform: &str) -> Result<Vec<Customer>> {
        self.read_customers(|c| {
            c.query_typed(sql::CUSTOMERS.pg, &[(&platform, Type::TEXT)])?
                .iter()
                .map(columns::customer)
                .collect()
        })
    }

    pub(super) fn platforms_of_customers(&mut self) -> Result<Vec<String>> {
        self.read_customers(|c| {
            c.query_typed(sql::CUSTOMER_PLATFORMS.pg, &[])?
                .iter()
                .map(|r| r.try_get(0))
                .collect()
        })
    }

    pub(super) fn one_customer(&mut self, platform: &str, appid: &str) -> Result<Option<Customer>> {
        self.read_customers(|c| {
            c.query_typed(
                sql::CUSTOMER.pg,
                &[(&platform, Type::TEXT), (&appid, Type::TEXT)],
            )?
            .first()
            .map(columns::customer)
            .transpose()
        })
    }

    pub(super) fn state_of(
        &mut self,
        platform: &str,
        appid: &str,
    ) -> Result<Option<CustomerState>> {
        self.read_customers(|c| {
            c.query_typed(
                sql::CUSTOMER_STATE.pg,
                &[(&platform, Type::TEXT), (&appid, Type::TEXT)],
            )?
            .first()
            .map(|r| r.try_get(0))
            .transpose()
        })
    }

    pub(super) fn upsert(&mut self, customers: &[Customer]) -> Result<()> {
        self.run("write to", |c| {
            let mut tx = begin(c)?;
            let upsert = tx.prepare(sql::UPSERT_CUSTOMER.pg)?;
            for c in customers {
                tx.execute(
                    &upsert,
                    &[
                        &c.platform,
                        &c.appid,
                        &c.credential,
                        &c.pending_code,
                        &c.pending_until,
                        &c.state.as_str(),
                        &c.info,
                        &c.authorized_at,
                        &c.updated_at,
                    ],
                )?;
            }
            tx.commit()
        })
    }

    pub(super) fn revoke(&mut self, platform: &str, appid: &str, now: i64) -> Result<bool> {
        let app = format!("{platform}/{appid}");
        self.run("write to", |c| {
            let mut tx = begin(c)?;
            let known = tx.execute(sql::REVOKE_CUSTOMER.pg, &[&platform, &appid, &now])? > 0;
            if known {
                tx.execute(sql::INVALIDATE_APP.pg, &[&app, &now])?;
            }
            tx.commit()?;
            Ok(known)
        })
    }

    pub(super) fn pushed(&mut self, v: &Row) -> Result<bool> {
        self.run("write to", |c| {
            let mut tx = begin(c)?;
            // Not the lease holder (0): stored only over a value fetched earlier.
            let changed = super::upsert_value(&mut tx, sql::UPSERT_VALUE.pg, v, 0)?;
            tx.commit()?;
            Ok(changed > 0)
        })
    }
}
