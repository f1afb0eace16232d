//! `wxtoken status`: every app from the config and the database, what is stored
//! for it, how long it lasts, and how its refreshes have gone.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;

use crate::app::{App, Kind};
use crate::cli::{Global, StatusArgs, StatusFormat};
use crate::clock;
use crate::cmd::common::{config_path, init_logging, kind_column, open_if_present};
use crate::config;
use crate::duration::human;
use crate::render::{self, Colour, Prometheus, Table};
use crate::store::{Row, Stats, Store};
use crate::text::shown;

use platforms::Platforms;
use platforms_out::PlatformLine;

mod platforms;
mod platforms_out;

/// A valid value with less than this left is "expiring": a refresh is overdue.
const EXPIRING: i64 = 15 * 60;
const DAY_MS: i64 = 86_400_000;

/// One line of the status: an app and one kind of value.
#[derive(Debug, serde::Serialize)]
pub struct Line {
    pub app: String,
    pub kind: String,
    pub api: Option<String>,
    pub appid: Option<String>,
    /// valid | expiring | expired | invalidated | missing
    pub state: &'static str,
    pub configured: bool,
    pub fetched_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub expires_in: Option<i64>,
    pub invalidated_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_outcome: Option<String>,
    pub last_errcode: Option<i64>,
    pub last_message: Option<String>,
    pub failures_in_a_row: i64,
    pub calls_24h: i64,
    pub forced_calls_24h: i64,
    /// The quota guard's limit for classic token calls.
    pub daily_budget: Option<u32>,
}

pub fn run(global: &Global, args: &StatusArgs) -> Result<()> {
    init_logging(global);
    let config = match config_path(global) {
        // A default config that lists nothing (the package's, as installed)
        // is no config: `status` of the one-line-per-app form still works.
        Some(path) if global.config.is_none() => {
            config::load_fallback(&path, global.api_base.as_deref())?
        }
        Some(path) => config::load_all(&path, global.api_base.as_deref())?,
        None => config::Config {
            apps: Vec::new(),
            platforms: Vec::new(),
        },
    };
    let mut store = open_if_present(global)?;
    let now = clock::now();
    let (rows, stats, with_customers) = match store.as_deref_mut() {
        Some(store) => (
            store.rows(&[])?,
            store.stats(clock::now_ms() - DAY_MS)?,
            store.customer_platforms()?,
        ),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    // Colours for a person at a terminal only: a pipe, a file or a script
    // reading json gets the bytes it always got.
    let colour =
        args.format == StatusFormat::Table && args.output.is_none() && render::colour_stdout();
    // Platforms' own rows and their customers' are summed up per platform,
    // not listed one line each with the apps.
    let platforms = Platforms::new(&config, &rows, with_customers).coloured(colour);
    let (prows, rows): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| platforms.owns(&r.app));
    let (pstats, stats): (Vec<&Stats>, Vec<&Stats>) =
        stats.iter().partition(|s| platforms.owns(&s.app));
    let store = store.as_deref_mut().map(|s| s as &mut dyn Store);
    let text = match &args.platform {
        Some(name) => platforms.customers_text(store, name, &prows, &pstats, args.format, now)?,
        None => {
            let lines = lines(&rows, &stats, &config.apps, now);
            let plines = platforms.lines(store, &prows, &pstats, now)?;
            text(&lines, &plines, args.format, now, colour)?
        }
    };
    match &args.output {
        // Atomically, so that node_exporter's textfile collector never reads
        // half a file. Mode 0644 (less the umask), as a plain write would
        // give: the collector runs as another user, and status holds no
        // token or secret.
        Some(path) => crate::fsafe::write_atomically(path, text.as_bytes(), 0o644, "--output"),
        None => render::print(&text),
    }
}

/// Gathers the lines: every configured app (its token and tickets) and every
/// app and kind stored, sorted by app, the token first.
fn lines(rows: &[&Row], stats: &[&Stats], apps: &[App], now: i64) -> Vec<Line> {
    let index = Index::new(rows, stats);
    // Sorted by app, the token first, then the tickets by name.
    let mut keys: BTreeMap<(&str, bool, &str), Option<&App>> = BTreeMap::new();
    let token = Kind::AccessToken.as_str();
    for app in apps {
        keys.insert((&app.name, false, token), Some(app));
        for t in &app.tickets {
            keys.insert((&app.name, true, Kind::Ticket(*t).as_str()), Some(app));
        }
    }
    for &(app, kind) in index.rows.keys().chain(index.stats.keys()) {
        keys.entry((app, kind != token, kind)).or_insert(None);
    }
    keys.into_iter()
        .map(|((app, _, kind), config)| index.line(app, kind, config, now))
        .collect()
}

/// Rows and stats by app and kind, and by app.
struct Index<'a> {
    rows: HashMap<(&'a str, &'a str), &'a Row>,
    stats: HashMap<(&'a str, &'a str), &'a Stats>,
    apps: BTreeMap<&'a str, Vec<&'a Row>>,
    /// The apps whose last attempt at some kind failed.
    failing: HashSet<&'a str>,
}

impl<'a> Index<'a> {
    fn new(rows: &[&'a Row], stats: &[&'a Stats]) -> Index<'a> {
        let mut apps: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for r in rows {
            apps.entry(r.app.as_str()).or_default().push(r);
        }
        Index {
            rows: rows
                .iter()
                .map(|r| ((r.app.as_str(), r.kind.as_str()), *r))
                .collect(),
            stats: stats
                .iter()
                .map(|s| ((s.app.as_str(), s.kind.as_str()), *s))
                .collect(),
            apps,
            failing: stats
                .iter()
                .filter(|s| s.failures_in_a_row > 0)
                .map(|s| s.app.as_str())
                .collect(),
        }
    }

    fn row(&self, app: &str, kind: &str) -> Option<&'a Row> {
        self.rows.get(&(app, kind)).copied()
    }

    /// The status line of `app`'s `kind` (`config`: the app's entry, if any).
    fn line(&self, app: &str, kind: &str, config: Option<&App>, now: i64) -> Line {
        let row = self.row(app, kind);
        let stat = self.stats.get(&(app, kind)).copied();
        let last = stat.and_then(|s| s.last.as_ref());
        let is_token = kind == Kind::AccessToken.as_str();
        Line {
            api: config
                .map(|a| a.api.as_str().to_string())
                .or_else(|| row.map(|r| r.api.clone())),
            appid: config
                .map(|a| a.appid.clone())
                .or_else(|| row.map(|r| r.appid.clone())),
            state: state(row, now),
            configured: config.is_some(),
            fetched_at: row.map(|r| r.fetched_at),
            expires_at: row.map(|r| r.expires_at),
            expires_in: row.map(|r| (r.expires_at - now).max(0)),
            invalidated_at: row.and_then(|r| r.invalidated_at),
            last_attempt_at: last.map(|a| a.started_ms.div_euclid(1000)),
            last_outcome: last.map(|a| a.outcome.clone()),
            last_errcode: last.and_then(|a| a.errcode),
            last_message: last.and_then(|a| a.message.clone()),
            failures_in_a_row: stat.map_or(0, |s| s.failures_in_a_row),
            calls_24h: stat.map_or(0, |s| s.calls),
            forced_calls_24h: stat.map_or(0, |s| s.forced),
            daily_budget: config
                .filter(|a| is_token && a.api == crate::app::Api::Classic)
                .map(|a| a.daily_budget),
            app: app.to_string(),
            kind: kind.to_string(),
        }
    }
}

impl Line {
    /// APPID: a long one shortened, `wx85871939f7f9b647` -> `wx85…b647` (the
    /// json format has it whole).
    fn short_appid(&self) -> String {
        let Some(appid) = &self.appid else {
            return dash();
        };
        let chars: Vec<char> = appid.chars().collect();
        if chars.len() <= 12 {
            return shown(appid);
        }
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        shown(&format!("{head}…{tail}"))
    }

    /// LEFT: the time left, as `1h 12m`.
    fn left(&self) -> String {
        self.expires_in.filter(|s| *s > 0).map_or_else(dash, human)
    }

    /// LAST: the last attempt's outcome and when it was.
    fn last(&self, now: i64) -> String {
        match (&self.last_outcome, self.last_attempt_at) {
            (Some(o), Some(t)) => format!("{} {}", shown(o), when(t, now)),
            _ => dash(),
        }
    }
}

/// An empty cell.
fn dash() -> String {
    "-".to_string()
}

/// A state's colour: red when there is no usable value, yellow when the
/// refresh is late.
fn state_colour(state: &str) -> Option<Colour> {
    match state {
        "expired" | "invalidated" | "missing" => Some(Colour::Red),
        "expiring" => Some(Colour::Yellow),
        _ => None,
    }
}

/// Red when the last attempts failed.
fn failing_colour(failures: i64) -> Option<Colour> {
    (failures > 0).then_some(Colour::Red)
}

/// valid | expiring | expired | invalidated | missing
fn state(row: Option<&Row>, now: i64) -> &'static str {
    match row {
        None => "missing",
        Some(r) if r.invalidated_at.is_some() => "invalidated",
        Some(r) if r.expires_at <= now => "expired",
        Some(r) if r.expires_at - now < EXPIRING => "expiring",
        Some(_) => "valid",
    }
}

/// One element of `--format json`: an app's line, or a platform's.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Entry<'a> {
    App(&'a Line),
    Platform(&'a PlatformLine),
}

fn text(
    lines: &[Line],
    plines: &[PlatformLine],
    format: StatusFormat,
    now: i64,
    colour: bool,
) -> Result<String> {
    Ok(match format {
        StatusFormat::Table if lines.is_empty() && !plines.is_empty() => {
            platforms_out::table(plines, colour)
        }
        StatusFormat::Table if plines.is_empty() => table(lines, now, colour),
        StatusFormat::Table => format!(
            "{}\n{}",
            table(lines, now, colour),
            platforms_out::table(plines, colour)
        ),
        StatusFormat::Json => {
            let entries: Vec<Entry> = (lines.iter().map(Entry::App))
                .chain(plines.iter().map(Entry::Platform))
                .collect();
            render::json(&entries, true)? + "\n"
        }
        StatusFormat::Prometheus => {
            let mut out = prometheus(lines);
            platforms_out::prometheus(&mut out, plines);
            out.finish()
        }
    })
}

/// The table: aligned columns, local times, time left as `1h 12m`; fits 80
/// columns with app names of up to 8 characters. KIND is the token's API
/// (classic, stable, wecom) or the ticket (jsapi, wx_card, agent_config); a long
/// appid is shortened. With `colour`, what is broken is red and what needs
/// attention soon yellow.
fn table(lines: &[Line], now: i64, colour: bool) -> String {
    if lines.is_empty() {
        return "no apps: none is configured and none is stored\n".to_string();
    }
    // FAILS and 24H are numbers: right-aligned.
    let mut table = Table::new(
        &[
            "APP", "KIND", "APPID", "STATE", "UNTIL", "LEFT", "LAST", "FAILS", "24H",
        ],
        " ",
    )
    .right_aligned_from(7)
    .coloured(colour);
    for l in lines {
        // Names, appids and outcomes may come from other writers of the table.
        table.push(vec![
            shown(&l.app),
            kind_column(&l.kind, l.api.as_deref()),
            l.short_appid(),
            l.state.to_string(),
            l.expires_at.map_or_else(dash, |t| when(t, now)),
            l.left(),
            l.last(now),
            l.failures_in_a_row.to_string(),
            l.calls_24h.to_string(),
        ]);
        table.paint(3, state_colour(l.state));
        table.paint(7, failing_colour(l.failures_in_a_row));
        // 80% of the quota guard's budget: the guard refuses soon.
        let near_budget = l
            .daily_budget
            .is_some_and(|b| l.calls_24h * 5 >= i64::from(b) * 4);
        table.paint(8, near_budget.then_some(Colour::Yellow));
    }
    table.render()
}

/// A local time: `12:34`, or `11-26 12:34` when it is not today-ish.
fn when(t: i64, now: i64) -> String {
    if (t - now).abs() < 20 * 3600 {
        clock::local(t, "%H:%M")
    } else {
        clock::local(t, "%m-%d %H:%M")
    }
}

/// The Prometheus text exposition format.
fn prometheus(lines: &[Line]) -> Prometheus {
    type Metric = (&'static str, &'static str, fn(&Line) -> Option<f64>);
    const METRICS: &[Metric] = &[
        (
            "wxtoken_token_expiry_timestamp_seconds",
            "When the stored token or ticket expires, as a Unix time.",
            |l| l.expires_at.map(|v| v as f64),
        ),
        (
            "wxtoken_token_valid",
            "1 when a valid token or ticket is stored (not expired, not invalidated), else 0.",
            |l| Some(f64::from(u8::from(matches!(l.state, "valid" | "expiring")))),
        ),
        (
            "wxtoken_token_fetched_timestamp_seconds",
            "When the stored token or ticket was fetched, as a Unix time.",
            |l| l.fetched_at.map(|v| v as f64),
        ),
        (
            "wxtoken_last_attempt_timestamp_seconds",
            "When upstream was last called for this app and kind, as a Unix time.",
            |l| l.last_attempt_at.map(|v| v as f64),
        ),
        (
            "wxtoken_refresh_failures_consecutive",
            "Failed attempts since the last successful one.",
            |l| Some(l.failures_in_a_row as f64),
        ),
        (
            "wxtoken_upstream_calls_24h",
            "Upstream calls in the last 24 hours (classic tokens: WeChat allows 2000 a day).",
            |l| Some(l.calls_24h as f64),
        ),
        (
            "wxtoken_forced_calls_24h",
            "Forced stable-token calls in the last 24 hours (WeChat allows 20 a day).",
            |l| Some(l.forced_calls_24h as f64),
        ),
        (
            "wxtoken_daily_budget",
            "The quota guard's limit of classic token calls in 24 hours.",
            |l| l.daily_budget.map(f64::from),
        ),
    ];
    let mut out = Prometheus::default();
    for (name, help, value) in METRICS {
        out.gauge(name, help);
        for l in lines {
            if let Some(v) = value(l) {
                out.sample(name, &[("app", &l.app), ("kind", &l.kind)], v);
            }
        }
    }
    out
}
