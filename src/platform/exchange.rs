//! The exchange of a pushed authorization code right away (for `push`): the
//! customer's refresh, as `refresh` does it, within the push's deadline.

use std::time::Instant;

use anyhow::Result;

use crate::cli::Global;
use crate::platform::config::Platform;

/// Refreshes the customer `appid` of `platform` now: the platform's token if
/// due, then the customer's (its pending code exchanged for its first token
/// and its long-lived credential, stored sealed). True when the code was
/// exchanged and stored.
pub fn exchange_pending(
    global: &Global,
    platform: &Platform,
    appid: &str,
    deadline: Instant,
) -> Result<bool> {
    crate::cmd::refresh::exchange(global, platform, appid, deadline)
}
