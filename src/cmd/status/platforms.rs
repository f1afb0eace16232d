//! `wxtoken status` for third-party platforms: one line per platform (its
//! token, the age of its pushed ticket, its customers counted by state), and
//! with `--platform NAME` one line per customer. Prometheus gets per-platform
//! aggregates only: 10,000 customers must not make 60,000 series.

use std::collections::BTreeMap;

use anyhow::Result;

use super::Index;
use super::platforms_out::{Counts, CustomerLine, PlatformLine, customer_table, prometheus, table};
use crate::cli::StatusFormat;
use crate::config::Config;
use crate::error::usage;
use crate::graph::{Api, Kind};
use crate::render::{self, Prometheus};
use crate::store::{CustomerState, Row, Stats, Store};
use crate::text::quoted;

/// The platforms known from the config, the stored rows and the customers table.
pub struct Platforms<'a> {
    config: &'a Config,
    /// Each platform's kind, when the config or a stored row says it.
    kinds: BTreeMap<String, Option<Api>>,
    /// Tables in colour, for a terminal.
    colour: bool,
}

impl<'a> Platforms<'a> {
    pub fn new(config: &'a Config, rows: &[Row], with_customers: Vec<String>) -> Platforms<'a> {
        let mut kinds: BTreeMap<String, Option<Api>> = with_customers
            .into_iter()
            .map(|name| (name, None))
            .collect();
        for r in rows {
            if let Some(kind) = Api::parse_platform(&r.api) {
                let name = r.app.split_once('/').map_or(r.app.as_str(), |(p, _)| p);
                kinds.insert(name.to_string(), Some(kind));
            }
        }
        for p in &config.platforms {
            kinds.insert(p.name.clone(), Some(p.kind));
        }
        Platforms {
            config,
            kinds,
            colour: false,
        }
    }

    /// Writes the tables in colour (for a terminal).
    pub fn coloured(mut self, on: bool) -> Platforms<'a> {
        self.colour = on;
        self
    }

    /// Whether `app` is a platform's own or one of its customers (and not a
    /// configured app).
    pub fn owns(&self, app: &str) -> bool {
        let platform = app.split_once('/').map_or(app, |(p, _)| p);
        self.kinds.contains_key(platform) && !self.config.apps.iter().any(|a| a.name == app)
    }

    /// Every platform's line, sorted by name.
    pub fn lines(
        &self,
        mut store: Option<&mut dyn Store>,
        rows: &[&Row],
        stats: &[&Stats],
        now: i64,
    ) -> Result<Vec<PlatformLine>> {
        let index = Index::new(rows, stats);
        let mut lines = Vec::new();
        for (name, kind) in &self.kinds {
            let customers = self.customers(store.as_deref_mut(), name, &index, now)?;
            lines.push(self.platform_line(name, *kind, &index, &customers, now));
        }
        Ok(lines)
    }

    fn platform_line(
        &self,
        name: &str,
        kind: Option<Api>,
        index: &Index,
        customers: &[CustomerLine],
        now: i64,
    ) -> PlatformLine {
        let token_kind = kind.map_or("-", |k| k.token_kind().as_str());
        let mut token = index.line(name, token_kind, None, now);
        let config = self.config.platforms.iter().find(|p| p.name == name);
        token.api = kind.map(|k| k.as_str().to_string());
        if let Some(p) = config {
            token.appid = Some(p.appid.clone());
            token.configured = true;
        }
        // The pushed ticket and its useful life, in seconds.
        let pushed = (kind.and_then(Api::pushed_ticket)).map(|(k, life)| (k.as_str(), life));
        let ticket_row = pushed.and_then(|(k, _)| index.row(name, k));
        let ticket_age = ticket_row.map(|r| (now - r.fetched_at).max(0));
        let mut counts = Counts::default();
        // A pending WeCom install is not a company yet (its corpid is not known).
        for c in customers.iter().filter(|c| c.authorization != "pending") {
            counts.total += 1;
            match c.authorization {
                "revoked" => counts.revoked += 1,
                "reauthorize" => counts.reauthorize += 1,
                _ if c.fresh => counts.fresh += 1,
                _ => counts.due += 1,
            }
            counts.failing += usize::from(c.failing);
        }
        PlatformLine {
            token,
            platform: name.to_string(),
            ticket_kind: pushed.map(|(k, _)| k),
            ticket_fetched_at: ticket_row.map(|r| r.fetched_at),
            ticket_age,
            ticket_state: pushed.map(|(_, life)| match ticket_age {
                None => "missing",
                Some(age) if age >= life => "stale",
                Some(_) => "fresh",
            }),
            customers: counts,
        }
    }

    /// A platform's customers: those of the customers table and those that
    /// only have tokens stored, by appid.
    fn customers(
        &self,
        store: Option<&mut (dyn Store + '_)>,
        platform: &str,
        index: &Index,
        now: i64,
    ) -> Result<Vec<CustomerLine>> {
        let mut states: BTreeMap<String, Option<CustomerState>> = match store {
            Some(store) => store
                .customers(platform)?
                .into_iter()
                .map(|c| (c.appid, Some(c.state)))
                .collect(),
            None => BTreeMap::new(),
        };
        let prefix = format!("{platform}/");
        for app in index.apps.keys() {
            if let Some(appid) = app.strip_prefix(&prefix) {
                states.entry(appid.to_string()).or_insert(None);
            }
        }
        Ok(states
            .into_iter()
            .map(|(appid, state)| {
                let app = format!("{prefix}{appid}");
                let token = Kind::AccessToken.as_str();
                let rows = index.apps.get(app.as_str());
                let fresh = index.row(&app, token).is_some()
                    && rows
                        .is_some_and(|rs| rs.iter().all(|r| super::state(Some(r), now) == "valid"));
                let failing = index.failing.contains(app.as_str());
                CustomerLine {
                    token: index.line(&app, token, None, now),
                    platform: platform.to_string(),
                    authorization: if appid.starts_with(crate::store::PENDING_PREFIX) {
                        "pending"
                    } else {
                        state.map_or("active", CustomerState::as_str)
                    },
                    fresh,
                    failing: failing && state.is_none_or(|s| s == CustomerState::Active),
                }
            })
            .collect())
    }

    /// `status --platform NAME`: its line, then one line per customer.
    pub fn customers_text(
        &self,
        store: Option<&mut dyn Store>,
        name: &str,
        rows: &[&Row],
        stats: &[&Stats],
        format: StatusFormat,
        now: i64,
    ) -> Result<String> {
        crate::config::name_arg("--platform", name)?;
        let Some(kind) = self.kinds.get(name) else {
            return Err(usage(format!(
                "no platform {} in the config or the database: `wxtoken status` lists them",
                quoted(name)
            )));
        };
        let index = Index::new(rows, stats);
        let customers = self.customers(store, name, &index, now)?;
        let platform = self.platform_line(name, *kind, &index, &customers, now);
        Ok(match format {
            StatusFormat::Table => {
                format!(
                    "{}\n{}",
                    table(&[platform], self.colour),
                    customer_table(&customers, now, self.colour)
                )
            }
            StatusFormat::Json => render::json(&customers, true)? + "\n",
            StatusFormat::Prometheus => {
                let mut out = Prometheus::default();
                prometheus(&mut out, &[platform]);
                out.finish()
            }
        })
    }
}
