//! The output of `status` for platforms: the lines (a platform's, a
//! customer's), their table, a platform's customers' table, and per-platform
//! Prometheus gauges.

use super::{Line, dash, failing_colour, state_colour, when};
use crate::duration::human;
use crate::render::{Colour, Prometheus, Table};
use crate::text::shown;

/// A platform's own token, its pushed ticket, and its customers counted.
#[derive(Debug, serde::Serialize)]
pub struct PlatformLine {
    /// The platform's token, as an app's line: app = the platform's name.
    #[serde(flatten)]
    pub token: Line,
    pub platform: String,
    pub ticket_kind: Option<&'static str>,
    pub ticket_fetched_at: Option<i64>,
    pub ticket_age: Option<i64>,
    /// fresh | stale (older than its useful life) | missing; absent for a
    /// kind that gets no pushes.
    pub ticket_state: Option<&'static str>,
    pub customers: Counts,
}

/// Customers by state: fresh + due + revoked + reauthorize = total; failing
/// counts the active ones whose last attempt failed.
#[derive(Debug, Default, serde::Serialize)]
pub struct Counts {
    pub total: usize,
    pub fresh: usize,
    pub due: usize,
    pub failing: usize,
    pub revoked: usize,
    pub reauthorize: usize,
}

/// One customer: its access token's line, and its authorization.
#[derive(Debug, serde::Serialize)]
pub struct CustomerLine {
    #[serde(flatten)]
    pub token: Line,
    pub platform: String,
    /// active | revoked | reauthorize (`active` too when only its tokens are
    /// stored) | pending (a WeCom install whose code is not exchanged yet,
    /// under its pending key; not counted in its platform's line)
    pub authorization: &'static str,
    /// Its token and every ticket stored are valid.
    pub fresh: bool,
    pub failing: bool,
}

/// Yellow when there are some: customers that need their owner's attention.
fn attention(n: usize) -> Option<Colour> {
    (n > 0).then_some(Colour::Yellow)
}

/// The platforms' table: one line each; with `colour`, what is broken is red
/// and what needs attention soon yellow.
pub(super) fn table(lines: &[PlatformLine], colour: bool) -> String {
    let mut table = Table::new(
        &[
            "PLATFORM",
            "KIND",
            "APPID",
            "TOKEN",
            "LEFT",
            "TICKET",
            "CUSTOMERS",
            "FRESH",
            "DUE",
            "FAILING",
            "REVOKED",
            "REAUTH",
        ],
        " ",
    )
    .right_aligned_from(6)
    .coloured(colour);
    for l in lines {
        let t = &l.token;
        let c = &l.customers;
        table.push(vec![
            shown(&l.platform),
            t.api.as_deref().map_or_else(dash, shown),
            t.short_appid(),
            t.state.to_string(),
            t.left(),
            match (l.ticket_state, l.ticket_age) {
                (Some(state), Some(age)) => format!("{state} {}", human(age)),
                (Some(state), None) => state.to_string(),
                _ => dash(),
            },
            c.total.to_string(),
            c.fresh.to_string(),
            c.due.to_string(),
            c.failing.to_string(),
            c.revoked.to_string(),
            c.reauthorize.to_string(),
        ]);
        table.paint(3, state_colour(t.state));
        // Without a pushed ticket the platform's token cannot be fetched.
        table.paint(
            5,
            match l.ticket_state {
                Some("missing") => Some(Colour::Red),
                Some("stale") => Some(Colour::Yellow),
                _ => None,
            },
        );
        table.paint(9, failing_colour(c.failing as i64));
        table.paint(10, attention(c.revoked));
        table.paint(11, attention(c.reauthorize));
    }
    table.render()
}

/// One line per customer; STATE is its authorization when not active, else
/// its token's state (yellow when not active: it needs its owner).
pub(super) fn customer_table(customers: &[CustomerLine], now: i64, colour: bool) -> String {
    if customers.is_empty() {
        return "no customers stored\n".to_string();
    }
    let mut table = Table::new(&["APPID", "STATE", "UNTIL", "LEFT", "LAST", "FAILS"], " ")
        .right_aligned_from(5)
        .coloured(colour);
    for c in customers {
        let t = &c.token;
        table.push(vec![
            t.appid
                .as_deref()
                .map(shown)
                .unwrap_or_else(|| shown(t.app.split_once('/').map_or("-", |(_, id)| id))),
            match c.authorization {
                "active" => t.state.to_string(),
                other => other.to_string(),
            },
            t.expires_at.map_or_else(dash, |at| when(at, now)),
            t.left(),
            t.last(now),
            t.failures_in_a_row.to_string(),
        ]);
        table.paint(
            1,
            match c.authorization {
                "active" => state_colour(t.state),
                _ => Some(Colour::Yellow),
            },
        );
        table.paint(5, failing_colour(t.failures_in_a_row));
    }
    table.render()
}

/// Per-platform gauges (none when there are no platforms, so that an
/// app-only exposition stays as it was).
pub(super) fn prometheus(out: &mut Prometheus, lines: &[PlatformLine]) {
    if lines.is_empty() {
        return;
    }
    type Metric = (&'static str, &'static str, fn(&PlatformLine) -> Option<f64>);
    const METRICS: &[Metric] = &[
        (
            "wxtoken_platform_token_valid",
            "1 when the platform's own token is stored and valid, else 0.",
            |l| {
                Some(f64::from(u8::from(matches!(
                    l.token.state,
                    "valid" | "expiring"
                ))))
            },
        ),
        (
            "wxtoken_platform_token_seconds_left",
            "Seconds until the platform's own token expires (0 once expired).",
            |l| l.token.expires_in.map(|v| v as f64),
        ),
        (
            "wxtoken_platform_ticket_age_seconds",
            "Seconds since the last pushed ticket (component_verify_ticket: useful 12 h; suite_ticket: 30 min).",
            |l| l.ticket_age.map(|v| v as f64),
        ),
        (
            "wxtoken_platform_ticket_fresh",
            "1 when the last pushed ticket is younger than its useful life, else 0.",
            |l| l.ticket_state.map(|s| f64::from(u8::from(s == "fresh"))),
        ),
        (
            "wxtoken_platform_customers_failing",
            "Active customers whose last refresh attempt failed.",
            |l| Some(l.customers.failing as f64),
        ),
    ];
    for (name, help, value) in METRICS {
        out.gauge(name, help);
        for l in lines {
            if let Some(v) = value(l) {
                out.sample(name, &[("platform", &l.platform)], v);
            }
        }
    }
    let name = "wxtoken_platform_customers";
    out.gauge(
        name,
        "Customers by state: fresh (token and tickets valid), due, revoked, reauthorize.",
    );
    for l in lines {
        let c = &l.customers;
        for (state, n) in [
            ("fresh", c.fresh),
            ("due", c.due),
            ("revoked", c.revoked),
            ("reauthorize", c.reauthorize),
        ] {
            out.sample(
                name,
                &[("platform", &l.platform), ("state", state)],
                n as f64,
            );
        }
    }
}
