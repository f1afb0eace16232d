//! A customer's one-use code on SQLite: claimed before it is sent, released
//! when the request never left, dropped, or replaced by the exchange's answer.

use anyhow::{Context, Result};
use rusqlite::params;

use super::Sqlite;
use crate::store::CodeStep;
use crate::store::sql;

impl Sqlite {
    /// [`crate::store::Store::code_step`].
    pub(super) fn step(
        &mut self,
        platform: &str,
        appid: &str,
        step: &CodeStep,
        now: i64,
    ) -> Result<bool> {
        let (tx, ctx) = self.write("write to")?;
        let done = (|| -> rusqlite::Result<bool> {
            Ok(match step {
                CodeStep::Claim { sealed, key, until } => {
                    tx.execute(sql::PRUNE_SPENT.sqlite, params![platform, now])?;
                    let p = params![platform, appid, sealed, now];
                    if tx.execute(sql::CLAIM_CODE.sqlite, p)? == 0 {
                        false
                    } else if tx
                        .execute(sql::REMEMBER_SPENT.sqlite, params![platform, key, until])?
                        > 0
                    {
                        true
                    } else {
                        // Sent before: dropped unsent.
                        tx.execute(sql::DROP_CODE.sqlite, params![platform, appid, now])?;
                        if appid.starts_with(crate::store::PENDING_PREFIX) {
                            tx.execute(
                                sql::DELETE_UNCREDENTIALED.sqlite,
                                params![platform, appid],
                            )?;
                        }
                        false
                    }
                }
                CodeStep::Spent { key } => {
                    let p = params![platform, key];
                    tx.query_row(sql::IS_SPENT.sqlite, p, |r| r.get::<_, i64>(0))? > 0
                }
                CodeStep::Info { info } => {
                    tx.execute(sql::SET_INFO.sqlite, params![platform, appid, info, now])? > 0
                }
                CodeStep::Event { at } => {
                    let p = params![platform, appid, at];
                    tx.execute(sql::EVENT_AT.sqlite, p)? > 0
                        || tx.query_row(
                            sql::CUSTOMER_EXISTS.sqlite,
                            params![platform, appid],
                            |r| r.get::<_, i64>(0),
                        )? == 0
                }
                CodeStep::Release { key } => {
                    tx.execute(sql::FORGET_SPENT.sqlite, params![platform, key])?;
                    tx.execute(sql::RELEASE_CODE.sqlite, params![platform, appid])? > 0
                }
                CodeStep::Drop => {
                    tx.execute(sql::DROP_CODE.sqlite, params![platform, appid, now])?;
                    if appid.starts_with(crate::store::PENDING_PREFIX) {
                        tx.execute(sql::DELETE_UNCREDENTIALED.sqlite, params![platform, appid])?;
                    }
                    let p = params![platform, appid];
                    tx.query_row(sql::HAS_CREDENTIAL.sqlite, p, |r| r.get::<_, i64>(0))? > 0
                }
                CodeStep::Exchanged {
                    appid: named,
                    credential,
                    info,
                } if named == appid => {
                    let p = params![platform, appid, credential, info, now];
                    tx.execute(sql::EXCHANGED.sqlite, p)? > 0
                }
                CodeStep::Exchanged {
                    appid: named,
                    credential,
                    info,
                } => {
                    let p = params![platform, appid, named, credential, "active", info, now];
                    let n = tx.execute(sql::REKEY_CUSTOMER.sqlite, p)?;
                    tx.execute(sql::DELETE_CUSTOMER.sqlite, params![platform, appid])?;
                    let app = format!("{platform}/{appid}");
                    tx.execute(sql::DELETE_APP.sqlite, params![app])?;
                    n > 0
                }
            })
        })()
        .context(ctx.clone())?;
        tx.commit().context(ctx)?;
        Ok(done)
    }

    /// [`crate::store::Store::sent_codes`].
    pub(super) fn sent(&mut self, platform: &str) -> Result<Vec<(String, i64)>> {
        let ctx = self.context("read");
        self.conn
            .prepare_cached(sql::SENT_CODES.sqlite)
            .and_then(|mut s| {
                s.query_map(params![platform], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .context(ctx)
    }
}
