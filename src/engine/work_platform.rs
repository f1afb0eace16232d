//! A worker's part for third-party platforms: a customer's token from its
//! platform's token and its stored credential (a pending code is exchanged
//! before, by `codes`), the
//! credential upstream hands back (sealed, written with the token), and the
//! platform's token renewed once, for all its customers, when it went stale.

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use super::plan::Job;
use super::target::Link;
use super::work::{Done, attempt};
use crate::clock;
use crate::graph::{self, Kind, Node, Outcome};
use crate::secret::Secret;
use crate::store::{CustomerState, CustomerUpdate};
use crate::upstream::{Call, Client, Try};

/// Errcodes of a customer's token request that mean its stored credential is
/// dead (Open Platform 61023, WeCom 40084): it must authorize again.
pub(super) const DEAD_GRANT: &[i64] = &[61023, 40084];

/// Errcodes that say the customer withdrew the authorization (Open Platform
/// 61003, WeCom 48004): it is marked revoked and not called again until it
/// authorizes again.
const WITHDRAWN: &[i64] = &[61003, 48004];

impl Done {
    /// A customer's token, made from its credential and its platform's
    /// token; that token is renewed once if upstream says it is stale.
    pub(super) fn customer_token(
        &mut self,
        client: &Client,
        node: &'static Node,
        job: &Job,
        link: &Arc<Link>,
        grant: &Secret,
        deadline: Instant,
    ) -> Option<String> {
        let target = self.target.clone();
        let mut platform_token = link.token();
        if node.needs_platform() && platform_token.is_none() {
            self.failures.push(format!(
                "token: platform {} has no usable {}: see its own line",
                link.app.name,
                link.app.api.token_kind().label()
            ));
            return None;
        }
        let mut renewed = false;
        loop {
            let call = Call {
                input: platform_token.as_deref(),
                force: job.force,
                platform_appid: Some(&link.app.appid),
                grant: Some(grant.expose()),
                ..Call::new(node)
            };
            match self.fetch_for(client, &target.app, &call, deadline) {
                Ok(issued) => {
                    self.store_grant(link, grant, issued.grant);
                    return Some(issued.value);
                }
                Err(f) => match f.errcode() {
                    Some(code) if !renewed && node.stale_input.contains(&code) => {
                        let stale = platform_token?;
                        self.failures.pop();
                        platform_token = Some(self.renew_platform(client, link, &stale, deadline)?);
                        renewed = true;
                    }
                    Some(code) if WITHDRAWN.contains(&code) => {
                        // The failure line says it once; later runs skip it.
                        self.update(link, CustomerState::Revoked, None);
                        return None;
                    }
                    Some(code) if DEAD_GRANT.contains(&code) => {
                        // Said once the run has tried to recover it (platforms.rs).
                        self.failures.pop();
                        self.update(link, CustomerState::Reauthorize, None);
                        return None;
                    }
                    _ => return None,
                },
            }
        }
    }

    /// What the customer's row says after this job: its state, a new sealed
    /// credential (`None` keeps the stored one).
    fn update(&mut self, link: &Link, state: CustomerState, credential: Option<String>) {
        self.commit.customer = Some(CustomerUpdate {
            platform: link.platform.name.clone(),
            appid: self.target.app.appid.clone(),
            credential,
            state,
            updated_at: clock::now(),
            info: None,
        });
    }

    /// Seals a new or rotated credential from upstream's answer, for the same
    /// transaction as the token.
    fn store_grant(&mut self, link: &Link, sent: &Secret, grant: Option<String>) {
        let appid = &self.target.app.appid;
        let kind = link.platform.kind.grant_kind();
        let Some(new) = grant.filter(|g| g != sent.expose()).map(Secret::new) else {
            return;
        };
        log::info!(
            "{}: upstream handed a new {kind}; storing it sealed",
            self.target.app.name
        );
        match link.store_key.as_ref().map(|key| {
            key.seal(new.expose(), &[&link.platform.name, appid, kind])
        }) {
            Some(Ok(sealed)) => {
                self.update(link, CustomerState::Active, Some(sealed));
            }
            _ => self.failures.push(format!(
                "token: the new {kind} could not be sealed with the store key of platform {}; the stored one stays",
                link.platform.name
            )),
        }
    }

    /// The platform's token, anew: `stale` was refused. Done once for all the
    /// platform's customers in this run: a worker that finds it renewed
    /// already uses the new one. The new token is stored with this job's
    /// values (under the platform's name).
    fn renew_platform(
        &mut self,
        client: &Client,
        link: &Arc<Link>,
        stale: &str,
        deadline: Instant,
    ) -> Option<String> {
        let mut token = link.token.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = token.as_ref().filter(|t| *t != stale) {
            return Some(current.clone());
        }
        let node = graph::token_node(link.app.api)?;
        // Renewed only if the failing token is still the stored one: another
        // host that renewed it first has stored the one to use.
        let db = link
            .db
            .as_ref()
            .and_then(|db| crate::store::open_read_only(db).ok());
        let stored = db.and_then(|mut db| link.stored_token(db.as_mut()).ok().flatten());
        if let Some(stored) = stored.filter(|t| t != stale) {
            log::info!(
                "{}: {} {} was renewed by another run; using it",
                link.app.name,
                node.kind.label(),
                crate::secret::short(&stored)
            );
            *token = Some(stored.clone());
            return Some(stored);
        }
        log::info!(
            "{}: {} {} is stale; fetching a new one",
            link.app.name,
            node.kind.label(),
            crate::secret::short(stale)
        );
        let renewed = self.platform_token(client, link, node, deadline)?;
        *token = Some(renewed.clone());
        Some(renewed)
    }

    /// The platform's own token, made from its secret (and its pushed ticket,
    /// when its node needs one: without a recent one, nothing is fetched) and
    /// stored under its name.
    pub(super) fn platform_token(
        &mut self,
        client: &Client,
        link: &Link,
        node: &'static Node,
        deadline: Instant,
    ) -> Option<String> {
        if node.pushed_input().is_some() && link.pushed.is_none() {
            self.no_pushed_ticket(client, link, node, deadline);
            return None;
        }
        let call = Call {
            secret: Some(&link.secret),
            pushed: link.pushed.as_deref(),
            ..Call::new(node)
        };
        let issued = self.fetch_for(client, &link.app, &call, deadline).ok()?;
        Some(issued.value)
    }

    /// A platform token cannot be made: no recent pushed ticket. Recorded as
    /// refused (upstream was not called), except that an Open Platform
    /// component asks WeChat to push a ticket (`api_start_push_ticket`), at
    /// most once per [`ASK_EVERY_MS`] as the attempts history says (shared by
    /// every host and run), and records that call.
    fn no_pushed_ticket(&mut self, client: &Client, link: &Link, node: &Node, deadline: Instant) {
        let Some((kind, max_age)) = node.pushed_input() else {
            return;
        };
        if kind != Kind::ComponentVerifyTicket {
            let reason = format!(
                "no suite_ticket in the last {} minutes: check the command callback URL and `wxtoken push` (a push can be forced in the provider console: refresh ticket)",
                max_age / 60
            );
            self.refused(node.kind, false, &reason);
            return;
        }
        let missing = format!(
            "no component_verify_ticket in the last {} hours",
            max_age / 3600
        );
        let check = "check that the callback URL (authorization event URL) set in the Open Platform console reaches `wxtoken push`";
        if let Some(asked) = last_ask(link) {
            let at = clock::local(asked.div_euclid(1000), "%Y-%m-%d %H:%M:%S %Z");
            let reason = format!(
                "{missing}: asked WeChat to push one at {at} (api_start_push_ticket, at most once per 10 minutes): {check}"
            );
            self.refused(node.kind, false, &reason);
            return;
        }
        let body = serde_json::json!({
            "component_appid": link.app.appid,
            "component_secret": link.secret.expose(),
        });
        let started = Instant::now();
        let started_ms = clock::now_ms();
        let result = client.post_json(&link.app, START_PUSH_PATH, &[], Some(&body), deadline);
        let t = Try {
            started_ms,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            result: result.map(drop),
        };
        let mut attempt = attempt(&link.app.name, kind, &t, &[], false, false);
        let line = match &t.result {
            Ok(()) => {
                attempt.message = Some(ASKED.to_string());
                format!(
                    "{missing}: asked WeChat to push one now (api_start_push_ticket): {check}, then run refresh again"
                )
            }
            Err(f) => format!(
                "{missing}; asking WeChat to push one (api_start_push_ticket) failed: {}: {check}",
                f.describe(false)
            ),
        };
        self.commit.attempts.push(attempt);
        self.failures.push(format!("{}: {line}", node.kind.label()));
    }
}

/// The path of the request that asks WeChat to push a component_verify_ticket
/// now (D.2); no token, the component's appid and secret in the body.
const START_PUSH_PATH: &str = "/cgi-bin/component/api_start_push_ticket";

/// How often a component may ask for a push: WeChat's limit is not known,
/// so gently (D.2).
const ASK_EVERY_MS: i64 = 10 * 60 * 1000;

/// The message of an attempt that asked for a push.
const ASKED: &str = "asked WeChat to push a component_verify_ticket";

/// When this platform last asked WeChat for a push (Unix ms), if within
/// [`ASK_EVERY_MS`]: from the attempts history, so every host and run shares it.
fn last_ask(link: &Link) -> Option<i64> {
    let mut store = crate::store::open_read_only(link.db.as_ref()?).ok()?;
    let since = clock::now_ms() - ASK_EVERY_MS;
    store
        .history(Some(&link.app.name), 500)
        .ok()?
        .into_iter()
        .take_while(|a| a.started_ms >= since)
        .find(|a| {
            a.known_kind() == Some(Kind::ComponentVerifyTicket)
                && a.outcome != Outcome::Refused.as_str()
                && a.outcome != Outcome::Unreached.as_str()
        })
        .map(|a| a.started_ms)
}
