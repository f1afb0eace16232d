//! A customer's one-use code on the server: claimed before it is sent,
//! released when the request never left, dropped, or replaced by the
//! exchange's answer.

use anyhow::Result;
use postgres::types::ToSql;

use super::{Postgres, begin, sql};
use crate::store::CodeStep;

impl Postgres {
    /// [`crate::store::Store::code_step`].
    pub(super) fn step(
        &mut self,
        platform: &str,
        appid: &str,
        step: &CodeStep,
        now: i64,
    ) -> Result<bool> {
        self.run("write to", |c| {
            let mut tx = begin(c)?;
            let done = match step {
                CodeStep::Claim { sealed } => {
                    tx.execute(sql::CLAIM_CODE.pg, &[&platform, &appid, sealed, &now])? > 0
                }
                CodeStep::Release => tx.execute(sql::RELEASE_CODE.pg, &[&platform, &appid])? > 0,
                CodeStep::Drop => {
                    tx.execute(sql::DROP_CODE.pg, &[&platform, &appid, &now])?;
                    if appid.starts_with(crate::platform::push::PENDING_PREFIX) {
                        tx.execute(sql::DELETE_UNCREDENTIALED.pg, &[&platform, &appid])?;
                    }
                    let n: i64 = tx
                        .query_one(sql::HAS_CREDENTIAL.pg, &[&platform, &appid])?
                        .try_get(0)?;
                    n > 0
                }
                CodeStep::Exchanged {
                    appid: named,
                    credential,
                    info,
                } if named == appid => {
                    let p: [&(dyn ToSql + Sync); 5] = [&platform, &appid, credential, info, &now];
                    tx.execute(sql::EXCHANGED.pg, &p)? > 0
                }
                CodeStep::Exchanged {
                    appid: named,
                    credential,
                    info,
                } => {
                    let p: [&(dyn ToSql + Sync); 7] =
                        [&platform, &appid, named, credential, &"active", info, &now];
                    let n = tx.execute(sql::REKEY_CUSTOMER.pg, &p)?;
                    tx.execute(sql::DELETE_CUSTOMER.pg, &[&platform, &appid])?;
                    let app = format!("{platform}/{appid}");
                    tx.execute(sql::DELETE_APP.pg, &[&app])?;
                    n > 0
                }
            };
            tx.commit()?;
            Ok(done)
        })
    }

    /// [`crate::store::Store::sent_codes`].
    pub(super) fn sent(&mut self, platform: &str) -> Result<Vec<(String, i64)>> {
        self.run("read", |c| {
            c.query(sql::SENT_CODES.pg, &[&platform])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }
}
