//! A customer's row as a refresh leaves it, in the refresh's transaction.

use rusqlite::{Transaction, params};

use super::sql;
use crate::store::{CustomerState, CustomerUpdate};

/// Writes `u` (a rotated credential, a new state; or a pending customer moved
/// under the appid its exchange named, with app `app`'s values dropped).
/// `held` is 1 when the run still holds the customer's lease.
pub(super) fn customer(
    tx: &Transaction,
    app: &str,
    u: &CustomerUpdate,
    held: i64,
) -> rusqlite::Result<()> {
    let changed = match &u.rekey {
        Some(appid) => {
            let p = params![
                u.platform,
                u.appid,
                appid,
                u.credential,
                u.state.as_str(),
                u.info,
                u.updated_at
            ];
            let n = tx.execute(sql::REKEY_CUSTOMER.sqlite, p)?;
            tx.execute(sql::DELETE_CUSTOMER.sqlite, params![u.platform, u.appid])?;
            tx.execute(sql::DELETE_APP.sqlite, params![app])?;
            n
        }
        None => {
            let p = params![
                u.platform,
                u.appid,
                u.credential,
                u.state.as_str(),
                u.updated_at,
                i64::from(u.pending_cleared),
                u.info,
                held
            ];
            tx.execute(sql::UPDATE_CUSTOMER.sqlite, p)?
        }
    };
    if changed == 0 {
        crate::store::customer::dropped(app, u, held);
    }
    // Withdrawn upstream: nothing secret kept, its tokens invalidated.
    if u.state == CustomerState::Revoked && u.rekey.is_none() {
        let p = params![u.platform, u.appid, u.updated_at];
        tx.execute(sql::REVOKE_CUSTOMER.sqlite, p)?;
        tx.execute(sql::INVALIDATE_APP.sqlite, params![app, u.updated_at])?;
    }
    Ok(())
}
