//! A platform's customers on the server, and pushed tickets.

use anyhow::Result;
use postgres::types::Type;

use super::{Postgres, begin, columns, int, sql, text};

use crate::store::{CUSTOMERS_SINCE, Customer, CustomerState, CustomerUpdate, Row};

/// Writes `u` in a refresh's transaction: a rotated credential, a new state,
/// what upstream says of it.
/// `held` is 1 when the run still holds the customer's lease.
pub(super) fn update(
    tx: &mut postgres::Transaction<'_>,
    app: &str,
    u: &CustomerUpdate,
    held: i64,
) -> Result<(), postgres::Error> {
    let state = u.state.as_str();
    let p = [
        text(&u.platform),
        text(&u.appid),
        text(&u.credential),
        text(&state),
        int(&u.updated_at),
        text(&u.info),
        int(&held),
    ];
    let changed = tx.execute_typed(sql::UPDATE_CUSTOMER.pg, &p)?;
    if changed == 0 {
        crate::store::customer::dropped(app, u, held);
    }
    // Withdrawn upstream: nothing secret kept, its tokens invalidated.
    if u.state == CustomerState::Revoked {
        let p = [text(&u.platform), text(&u.appid), int(&u.updated_at)];
        tx.execute_typed(sql::REVOKE_CUSTOMER.pg, &p)?;
        tx.execute_typed(sql::INVALIDATE_APP.pg, &[text(&app), int(&u.updated_at)])?;
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
            for c in customers {
                tx.execute_typed(
                    sql::UPSERT_CUSTOMER.pg,
                    &[
                        text(&c.platform),
                        text(&c.appid),
                        text(&c.credential),
                        text(&c.pending_code),
                        int(&c.pending_until),
                        text(&c.state.as_str()),
                        text(&c.info),
                        int(&c.authorized_at),
                        int(&c.updated_at),
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
            let p = [text(&platform), text(&appid), int(&now)];
            let known = tx.execute_typed(sql::REVOKE_CUSTOMER.pg, &p)? > 0;
            if known {
                tx.execute_typed(sql::INVALIDATE_APP.pg, &[text(&app), int(&now)])?;
            }
            tx.commit()?;
            Ok(known)
        })
    }

    pub(super) fn pushed(&mut self, v: &Row) -> Result<bool> {
        self.run("write to", |c| {
            let mut tx = begin(c)?;
            // Not the lease holder (0): stored only over a value fetched earlier.
            let changed = super::upsert_value(&mut tx, v, 0)?;
            tx.commit()?;
            Ok(changed > 0)
        })
    }
}
