//! The refresh engine, beneath the commands: what `refresh`, `push` and
//! `authorizers` ask of it, each call taking an open [`Store`] and secrets
//! and keys already read (never the command line, the config file or the
//! environment; `cmd` reads those).
//!
//! Refresh is plan, then work: [`plan`] decides from the stored rows what each
//! target needs and what the quota guard refuses (no I/O); [`run`] takes leases,
//! hands the jobs to workers and writes each result; [`work`] is one target's
//! upstream calls, in the credential graph's order. [`platforms`] orchestrates
//! third-party platforms (their own tokens, then their customers); [`codes`]
//! exchanges a customer's one-use code; [`sync`] lists a platform's
//! authorizers; [`session`] is one platform's refresh for `push` and
//! `authorizers`.
//!
//! The API: [`refresh`] (these targets), [`refresh_customers`] (the
//! platforms' customers), [`add_code`] (exchange this customer's code),
//! [`sync`] (list and store a platform's authorizers).

mod codes;
mod info;
mod onboard;
mod plan;
mod platforms;
mod run;
mod session;
pub mod sync;
mod target;
mod work;
mod work_platform;

pub use onboard::{add_code, check_code};
pub use platforms::{Pick, links, own_targets, read, refresh_customers, worse};
pub use run::run as refresh;
pub use session::Session;
pub use target::{Link, Role, Target};

use std::collections::HashMap;
use std::time::Duration;

use crate::store::Row;
use crate::upstream;

/// Upstream's `Date` further than this from the local clock gets a warning; a
/// stored value fetched further than this ahead of the local clock is renewed.
const MAX_CLOCK_SKEW: i64 = 60;
const DAY_MS: i64 = 86_400_000;

pub struct Options {
    pub force: bool,
    /// Renew what expires within this many seconds.
    pub ahead: i64,
    pub timeout: Duration,
    pub jobs: usize,
    /// The proxy for upstream calls (from the environment), if any.
    pub proxy: Option<upstream::Proxy>,
    /// `--exchange-timeout`: over every platform's `exchange_timeout`.
    pub exchange_timeout: Option<Duration>,
}

impl Options {
    /// The most time one app's refresh takes, retries and tickets included.
    fn app_budget(&self) -> Duration {
        self.timeout * 3
    }
}

fn by_app(rows: Vec<Row>) -> HashMap<String, Vec<Row>> {
    let mut map: HashMap<String, Vec<Row>> = HashMap::new();
    for r in rows {
        map.entry(r.app.clone()).or_default().push(r);
    }
    map
}

/// The rows of `app` among rows grouped by [`by_app`].
fn rows_of<'a>(rows: &'a HashMap<String, Vec<Row>>, app: &str) -> &'a [Row] {
    rows.get(app).map_or(&[], Vec::as_slice)
}
