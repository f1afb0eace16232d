//! Result rows into [`Row`], [`Attempt`], [`Lease`] and [`Stats`], written
//! once for both databases over "the value of column i" ([`Columns`]).

use std::collections::HashMap;

use super::{Attempt, Customer, Lease, Row, Stats};
use crate::graph::Kind;

impl Row {
    /// The row's kind, if wxtoken knows it (a row of another kind is shown
    /// as stored, never refreshed).
    pub fn known_kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }
}

impl Attempt {
    /// The attempt's kind, if wxtoken knows it.
    pub fn known_kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }
}

/// A column type both databases convert.
pub(super) trait Value: rusqlite::types::FromSql + postgres::types::FromSqlOwned {}
impl<T: rusqlite::types::FromSql + postgres::types::FromSqlOwned> Value for T {}

/// One result row of either database.
pub(super) trait Columns {
    type Error;
    fn get<T: Value>(&self, i: usize) -> Result<T, Self::Error>;
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn get<T: Value>(&self, i: usize) -> rusqlite::Result<T> {
        rusqlite::Row::get(self, i)
    }
}

impl Columns for postgres::Row {
    type Error = postgres::Error;
    fn get<T: Value>(&self, i: usize) -> Result<T, postgres::Error> {
        self.try_get(i)
    }
}

/// A [`Row`] from the columns of `sql::select_rows!`, starting at column `from`.
pub(super) fn row<C: Columns + ?Sized>(c: &C, from: usize) -> Result<Row, C::Error> {
    Ok(Row {
        app: c.get(from)?,
        kind: c.get(from + 1)?,
        api: c.get(from + 2)?,
        appid: c.get(from + 3)?,
        value: c.get(from + 4)?,
        fetched_at: c.get(from + 5)?,
        expires_at: c.get(from + 6)?,
        invalidated_at: c.get(from + 7)?,
        source_token: c.get(from + 8)?,
    })
}

/// A [`Customer`] from the columns of `sql::select_customers!` (an unknown
/// state is an error of the column).
pub(super) fn customer<C: Columns + ?Sized>(c: &C) -> Result<Customer, C::Error> {
    Ok(Customer {
        platform: c.get(0)?,
        appid: c.get(1)?,
        credential: c.get(2)?,
        pending_code: c.get(3)?,
        pending_until: c.get(4)?,
        state: c.get(5)?,
        info: c.get(6)?,
        authorized_at: c.get(7)?,
        updated_at: c.get(8)?,
    })
}

/// An [`Attempt`] from the columns of `sql::select_attempts!`.
pub(super) fn attempt<C: Columns + ?Sized>(c: &C) -> Result<Attempt, C::Error> {
    Ok(Attempt {
        app: c.get(0)?,
        kind: c.get(1)?,
        started_ms: c.get(2)?,
        duration_ms: c.get(3)?,
        outcome: c.get(4)?,
        forced: c.get::<i64>(5)? != 0,
        errcode: c.get(6)?,
        message: c.get(7)?,
    })
}

/// A [`Lease`] from the columns `app, owner, expires_at`.
pub(super) fn lease<C: Columns + ?Sized>(c: &C) -> Result<Lease, C::Error> {
    Ok(Lease {
        app: c.get(0)?,
        owner: c.get(1)?,
        expires_at: c.get(2)?,
    })
}

/// A [`Stats`] without its last attempt, from a row of `sql::STATS_COUNTS`.
pub(super) fn counts<C: Columns + ?Sized>(c: &C) -> Result<Stats, C::Error> {
    Ok(Stats {
        app: c.get(0)?,
        kind: c.get(1)?,
        calls: c.get(2)?,
        forced: c.get(3)?,
        last_forced_ms: c.get(4)?,
        failures_in_a_row: c.get(5)?,
        last: None,
    })
}

/// `counts` with each app and kind's `last` attempt (from `sql::STATS_LAST`) filled in.
pub(super) fn stats(counts: Vec<Stats>, last: Vec<Attempt>) -> Vec<Stats> {
    let mut stats: HashMap<(String, String), Stats> = counts
        .into_iter()
        .map(|s| ((s.app.clone(), s.kind.clone()), s))
        .collect();
    for a in last {
        if let Some(s) = stats.get_mut(&(a.app.clone(), a.kind.clone())) {
            s.last = Some(a);
        }
    }
    stats.into_values().collect()
}
