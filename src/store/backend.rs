//! What a database gives the store so that its methods are written once
//! (`methods.rs`): a [`Conn`] runs the statements of `sql.rs` with typed
//! [`Param`]s, and a [`Backend`] runs a read or a write transaction on one
//! and does the few things its database does its own way.

use anyhow::Result;

use super::Native;
use super::columns::Columns;
use super::export::Export;
use super::sql::Sql;

/// A parameter of a statement: text or a whole number, either maybe NULL
/// (`TEXT` and `BIGINT` on PostgreSQL, whose statements are typed), or a
/// list of texts (`TEXT[]`; on SQLite an array, read by `rarray`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Param<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Texts(&'a [String]),
}

/// `From` for each Rust type a parameter is given as.
macro_rules! from {
    ($($t:ty => |$v:ident| $param:expr;)*) => {
        $(impl<'a> From<$t> for Param<'a> {
            fn from($v: $t) -> Self {
                $param
            }
        })*
    };
}

from! {
    &'a str => |v| Param::Text(Some(v));
    &'a String => |v| Param::Text(Some(v));
    Option<&'a str> => |v| Param::Text(v);
    &'a Option<String> => |v| Param::Text(v.as_deref());
    i64 => |v| Param::Int(Some(v));
    Option<i64> => |v| Param::Int(v);
    bool => |v| Param::Int(Some(i64::from(v)));
    &'a [String] => |v| Param::Texts(v);
    &'a Vec<String> => |v| Param::Texts(v);
}

/// `args![a, b]`: the parameters `?1`, `?2` of a statement.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::backend::Param::from($v)),*]
    };
}
pub(super) use args;

/// A connection or transaction of either database.
pub(super) trait Conn {
    type Error;
    type Row<'r>: Columns<Error = Self::Error>;

    /// Runs a statement: the number of rows it changed.
    fn execute(&mut self, sql: &Sql, params: &[Param]) -> Result<u64, Self::Error>;

    /// Runs a query: `each` result row read.
    fn query<T>(
        &mut self,
        sql: &Sql,
        params: &[Param],
        each: impl FnMut(&Self::Row<'_>) -> Result<T, Self::Error>,
    ) -> Result<Vec<T>, Self::Error>;

    /// A query's one number: a `SELECT COUNT(*)`'s count, a time.
    fn count(&mut self, sql: &Sql, params: &[Param]) -> Result<i64, Self::Error> {
        Ok(self.query(sql, params, |r| r.get(0))?.pop().unwrap_or(0))
    }
}

/// A database, as the store's shared methods use it.
pub(super) trait Backend: Native {
    type Error;
    type Read<'c>: Conn<Error = Self::Error>;
    type Write<'t>: Conn<Error = Self::Error>;

    /// Runs `f` for a read; its errors say "could not read database ...".
    fn read<T>(
        &mut self,
        f: impl FnMut(&mut Self::Read<'_>) -> Result<T, Self::Error>,
    ) -> Result<T>;

    /// Runs `f` in a writer's transaction and commits it: all or nothing.
    /// Its errors say "could not `what` database ...".
    fn write<T>(
        &mut self,
        what: &str,
        f: impl FnMut(&mut Self::Write<'_>) -> Result<T, Self::Error>,
    ) -> Result<T>;

    /// Where the values are exported, if anywhere (`Store::export_to`).
    fn exports(&mut self) -> &mut Option<Export>;

    /// The schema version: 0 when wxtoken has no tables there yet; below
    /// `CUSTOMERS_SINCE`, a database that has no customers.
    fn schema(&mut self) -> Result<usize>;
}
