//! A customer's row as a refresh leaves it, in the refresh's transaction.

use rusqlite::{Transaction, params};

use super::sql;
use crate::store::{CustomerState, CustomerUpdate};

/// Writes `u` (a rotated credential, a new state, what upstream says of it).
/// `held` is 1 when the run still holds the customer's lease.
pub(super) fn customer(
    tx: &Transaction,
    app: &str,
    u: &CustomerUpdate,
    held: i64,
) -> rusqlite::Result<()> {
    let p = params![
        u.platform,
        u.appid,
        u.credential,
        u.state.as_str(),
        u.updated_at,
        u.info,
        held
    ];
    let changed = tx.execute(sql::UPDATE_CUSTOMER.sqlite, p)?;
    if changed == 0 {
        crate::store::customer::dropped(app, u, held);
    }
    // Withdrawn upstream: nothing secret kept, its tokens invalidated.
    if u.state == CustomerState::Revoked {
        let p = params![u.platform, u.appid, u.updated_at];
        tx.execute(sql::REVOKE_CUSTOMER.sqlite, p)?;
        tx.execute(sql::INVALIDATE_APP.sqlite, params![app, u.updated_at])?;
    }
    Ok(())
}
