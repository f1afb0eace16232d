//! contrib/wxtoken.rules.yml, the Prometheus alerting rules shipped beside the
//! textfile output, speaks of the metrics `status --format prometheus` writes.
//! (`promtool check rules` and `promtool test rules` run in .ci/run.)

use crate::support::{Env, StandIn};

#[test]
fn the_alerting_rules_use_the_metrics_status_writes() {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/wxtoken.rules.yml"
    ))
    .unwrap();
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "daily_budget = 500");
    env.run(&["refresh"]).expect(0);
    let metrics = env
        .run(&["status", "--format", "prometheus"])
        .expect(0)
        .stdout();
    let mut used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("wxtoken_"))
        .collect();
    used.sort();
    used.dedup();
    for name in [
        "wxtoken_token_expiry_timestamp_seconds",
        "wxtoken_refresh_failures_consecutive",
        "wxtoken_upstream_calls_24h",
        "wxtoken_daily_budget",
    ] {
        assert!(used.contains(&name), "no rule uses {name}");
    }
    for name in used {
        assert!(
            metrics.contains(&format!("# TYPE {name} gauge\n"))
                && metrics.contains(&format!("\n{name}{{app=\"shop\"")),
            "the rules use {name}, which `status --format prometheus` does not write:\n{metrics}"
        );
    }
    // The staleness alert finds the textfile the README's cron line writes.
    assert!(rules.contains(r#"node_textfile_mtime_seconds{file=~"(.*/)?wxtoken\\.prom"}"#));
    let readme = crate::newcomer::all_docs();
    assert!(readme.contains("--output /var/lib/node_exporter/textfile/wxtoken.prom"));
}
