//! A customer's one-use code on the server: claimed before it is sent,
//! released when the request never left, dropped, or replaced by the
//! exchange's answer.

use super::{Postgres, begin, int, sql, text};
use crate::store::CodeStep;
use anyhow::Result;

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
                CodeStep::Claim { sealed, key, until } => {
                    tx.execute_typed(sql::PRUNE_SPENT.pg, &[text(&platform), int(&now)])?;
                    let p = [text(&platform), text(&appid), text(sealed), int(&now)];
                    if tx.execute_typed(sql::CLAIM_CODE.pg, &p)? == 0 {
                        false
                    } else if tx.execute_typed(
                        sql::REMEMBER_SPENT.pg,
                        &[text(&platform), text(key), int(until)],
                    )? > 0
                    {
                        true
                    } else {
                        // Sent before: dropped unsent.
                        let p = [text(&platform), text(&appid), int(&now)];
                        tx.execute_typed(sql::DROP_CODE.pg, &p)?;
                        if appid.starts_with(crate::store::PENDING_PREFIX) {
                            let p = [text(&platform), text(&appid)];
                            tx.execute_typed(sql::DELETE_UNCREDENTIALED.pg, &p)?;
                        }
                        false
                    }
                }
                CodeStep::Spent { key } => {
                    let p = [text(&platform), text(key)];
                    let n: i64 = tx.query_typed_one(sql::IS_SPENT.pg, &p)?.try_get(0)?;
                    n > 0
                }
                CodeStep::Release { key } => {
                    tx.execute_typed(sql::FORGET_SPENT.pg, &[text(&platform), text(key)])?;
                    let p = [text(&platform), text(&appid)];
                    tx.execute_typed(sql::RELEASE_CODE.pg, &p)? > 0
                }
                CodeStep::Event { at } => {
                    let p = [text(&platform), text(&appid), int(at)];
                    tx.execute_typed(sql::EVENT_AT.pg, &p)? > 0 || {
                        let p = [text(&platform), text(&appid)];
                        let n: i64 = tx
                            .query_typed_one(sql::CUSTOMER_EXISTS.pg, &p)?
                            .try_get(0)?;
                        n == 0
                    }
                }
                CodeStep::Info { info } => {
                    let p = [text(&platform), text(&appid), text(info), int(&now)];
                    tx.execute_typed(sql::SET_INFO.pg, &p)? > 0
                }
                CodeStep::Drop => {
                    tx.execute_typed(
                        sql::DROP_CODE.pg,
                        &[text(&platform), text(&appid), int(&now)],
                    )?;
                    if appid.starts_with(crate::store::PENDING_PREFIX) {
                        let p = [text(&platform), text(&appid)];
                        tx.execute_typed(sql::DELETE_UNCREDENTIALED.pg, &p)?;
                    }
                    let n: i64 = tx
                        .query_typed_one(sql::HAS_CREDENTIAL.pg, &[text(&platform), text(&appid)])?
                        .try_get(0)?;
                    n > 0
                }
                CodeStep::Exchanged {
                    appid: named,
                    credential,
                    info,
                } if named == appid => {
                    let p = [
                        text(&platform),
                        text(&appid),
                        text(credential),
                        text(info),
                        int(&now),
                    ];
                    tx.execute_typed(sql::EXCHANGED.pg, &p)? > 0
                }
                CodeStep::Exchanged {
                    appid: named,
                    credential,
                    info,
                } => {
                    let p = [
                        text(&platform),
                        text(&appid),
                        text(named),
                        text(credential),
                        text(&"active"),
                        text(info),
                        int(&now),
                    ];
                    let n = tx.execute_typed(sql::REKEY_CUSTOMER.pg, &p)?;
                    let p = [text(&platform), text(&appid)];
                    tx.execute_typed(sql::DELETE_CUSTOMER.pg, &p)?;
                    let app = format!("{platform}/{appid}");
                    tx.execute_typed(sql::DELETE_APP.pg, &[text(&app)])?;
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
            c.query_typed(sql::SENT_CODES.pg, &[text(&platform)])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }
}
