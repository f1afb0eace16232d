//! Leases on the server: one transaction reads a batch's leases `FOR UPDATE`
//! (in name order), decides which are free as SQLite does
//! (`Leases::decide`), and takes them, on the server's clock.

use std::collections::HashMap;

use anyhow::Result;
use postgres::types::Type;

use super::{Postgres, begin};
use crate::store::{Lease, Leases};

impl Postgres {
    /// [`crate::store::Store::take_leases`].
    pub(super) fn leases(
        &mut self,
        apps: &[String],
        owner: &str,
        now: i64,
        expires_at: i64,
        longest: i64,
    ) -> Result<Leases> {
        let mut apps = apps.to_vec();
        apps.sort();
        apps.dedup();
        // The lease's length as the caller wants it, its times on the server's clock.
        let ttl = expires_at - now;
        self.run("take a lease in", |c| {
            let mut tx = begin(c)?;
            let now: i64 = tx
                .query_typed_one("SELECT floor(extract(epoch FROM now()))::bigint", &[])?
                .get(0);
            // Row locks in name order (as every taker takes them): a concurrent
            // taker waits here, then sees the winner's lease.
            let mut current: HashMap<String, Lease> = tx
                .query_typed(
                    "SELECT app, owner, expires_at FROM wxtoken_leases
                     WHERE app = ANY($1) ORDER BY app FOR UPDATE",
                    &[(&apps, Type::TEXT_ARRAY)],
                )?
                .iter()
                .map(|r| {
                    let lease = Lease {
                        app: r.get(0),
                        owner: r.get(1),
                        expires_at: r.get(2),
                    };
                    (lease.app.clone(), lease)
                })
                .collect();
            let mut leases = Leases::default();
            let (mut replace, mut insert) = (Vec::new(), Vec::new());
            for app in &apps {
                let lease = current.remove(app);
                let existed = lease.is_some();
                match leases.decide(app, lease, owner, now, longest) {
                    true if existed => replace.push(app.clone()),
                    true => insert.push(app.clone()),
                    false => {}
                }
            }
            let until = now + ttl;
            tx.execute_typed(
                "UPDATE wxtoken_leases SET owner = $2, expires_at = $3 WHERE app = ANY($1)",
                &[
                    (&replace, Type::TEXT_ARRAY),
                    (&owner, Type::TEXT),
                    (&until, Type::INT8),
                ],
            )?;
            // An app that had no lease may have got one since the read: then
            // it is that process's.
            let inserted: Vec<String> = tx
                .query_typed(
                    "INSERT INTO wxtoken_leases (app, owner, expires_at)
                     SELECT a, $2, $3 FROM unnest($1) AS a
                     ON CONFLICT (app) DO NOTHING RETURNING app",
                    &[
                        (&insert, Type::TEXT_ARRAY),
                        (&owner, Type::TEXT),
                        (&until, Type::INT8),
                    ],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            leases
                .taken
                .retain(|app| replace.contains(app) || inserted.contains(app));
            tx.commit()?;
            Ok(leases)
        })
    }
}
