//! `wxtoken history`: the recent upstream attempts, newest first.

use std::collections::HashMap;

use anyhow::Result;

use crate::cli::{Global, HistoryArgs, HistoryFormat};
use crate::cmd::common::{
    db_location, init_logging, kind_column, open_if_present, service_refreshes,
};
use crate::error::no_token;
use crate::render::{self, Table};
use crate::store::{Attempt, Store};
use crate::text::shown;
use crate::{clock, config};

pub fn run(global: &Global, args: &HistoryArgs) -> Result<()> {
    init_logging(global);
    if let Some(app) = &args.app {
        config::name_arg("--app", app)?;
    }
    let location = db_location(global)?;
    list(open_if_present(global)?, args).map_err(|e| service_refreshes(e, &location))
}

fn list(mut store: Option<Box<dyn Store>>, args: &HistoryArgs) -> Result<()> {
    let attempts = match store.as_deref_mut() {
        Some(store) => store.history(args.app.as_deref(), args.limit as usize)?,
        None => Vec::new(),
    };
    // `--app NAME` with no attempts: exit 3 when the database does not know
    // the app at all (a typo, or another database than the one refresh writes).
    if let Some(name) = &args.app
        && attempts.is_empty()
    {
        let Some(store) = store.as_deref_mut() else {
            return Err(no_token(format!(
                "no app {name:?}: there is no database yet (run `wxtoken refresh` first, or check --db)"
            )));
        };
        crate::cmd::common::not_stored(store, name)??;
    }
    let text = match args.format {
        HistoryFormat::Json => json(&attempts)?,
        HistoryFormat::Table if attempts.is_empty() => "no attempts recorded yet\n".to_string(),
        HistoryFormat::Table => {
            // The token's KIND is the API that issued it, as `status` shows it.
            let rows = store.map(|mut s| s.rows(&[])).transpose()?;
            let apis = rows.into_iter().flatten().map(|r| (r.app, r.api)).collect();
            table(&attempts, &apis)
        }
    };
    render::print(&text)
}

fn table(attempts: &[Attempt], apis: &HashMap<String, String>) -> String {
    let mut table = Table::new(
        &[
            "WHEN", "APP", "KIND", "OUTCOME", "ERRCODE", "DURATION", "MESSAGE",
        ],
        "  ",
    );
    // Every text column may come from another writer of the table.
    for a in attempts {
        table.push(vec![
            clock::local(a.started_ms.div_euclid(1000), "%Y-%m-%d %H:%M:%S"),
            shown(&a.app),
            kind_column(&a.kind, apis.get(&a.app).map(String::as_str)),
            if a.forced {
                format!("{} (forced)", shown(&a.outcome))
            } else {
                shown(&a.outcome)
            },
            a.errcode.map_or("-".to_string(), |c| c.to_string()),
            format!("{} ms", a.duration_ms),
            a.message.as_deref().map(shown).unwrap_or_default(),
        ]);
    }
    table.render()
}

/// One attempt in `--format json`: the kind as stored (as `status --format
/// json` has it), times as Unix seconds and milliseconds.
#[derive(serde::Serialize)]
struct Entry<'a> {
    app: &'a str,
    kind: &'a str,
    started_at: i64,
    started_ms: i64,
    duration_ms: i64,
    /// ok | error | unreached | refused
    outcome: &'a str,
    forced: bool,
    errcode: Option<i64>,
    message: Option<&'a str>,
}

fn json(attempts: &[Attempt]) -> Result<String> {
    let entries: Vec<Entry> = attempts
        .iter()
        .map(|a| Entry {
            app: &a.app,
            kind: &a.kind,
            started_at: a.started_ms.div_euclid(1000),
            started_ms: a.started_ms,
            duration_ms: a.duration_ms,
            outcome: &a.outcome,
            forced: a.forced,
            errcode: a.errcode,
            message: a.message.as_deref(),
        })
        .collect();
    Ok(render::json(&entries, true)? + "\n")
}
