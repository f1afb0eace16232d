//! `status` for third-party platforms: one line per platform with its
//! customers counted (10,000 of them planted with SQL), `--platform NAME`
//! listing them, per-platform Prometheus gauges; apps' lines as before.

use crate::platform_read::{customer, plant_platforms, stored};
use crate::support::{Backend, Env, SECRET, both, now};

/// Config listing the app `shop` and the platforms `acme` and `prov`.
const CONFIG: &str = r#"
[[app]]
name = "shop"
appid = "wx85871939f7f9b647"
secret_env = "S"

[[platform]]
name = "acme"
kind = "open_platform"
appid = "wxcomponent00001"
secret_env = "S"
message_token_file = "acme.token"
aes_key_file = "acme.aeskey"
store_key_file = "store.key"

[[platform]]
name = "prov"
kind = "wecom_provider"
appid = "wwprovider000001"
secret_env = "S"
"#;

const MANY: i64 = 10_000;

/// 10,000 customers of `acme`: every 100th revoked, every 250th (from 1) to
/// authorize again, every 10th (from 5) with an expired token, every 20th
/// (from 7) with a failed last attempt; the rest fresh, with a jsapi ticket.
fn plant_many(env: &Env) {
    let t = now();
    let state = "CASE WHEN i % 100 = 0 THEN 'revoked' WHEN i % 250 = 1 THEN 'reauthorize' ELSE 'active' END";
    env.exec(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {MANY})
         INSERT INTO wxtoken_customers (platform, appid, credential, state, updated_at)
         SELECT 'acme', 'wxc' || CAST(i AS TEXT), 'v1:sealed', {state}, {t} FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {MANY})
         INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at, invalidated_at)
         SELECT 'acme/wxc' || CAST(i AS TEXT), k.kind, 'open_platform', 'wxc' || CAST(i AS TEXT), 'TOK',
                {t} - 60,
                CASE WHEN i % 10 = 5 THEN {t} - 1 ELSE {t} + 7000 END,
                CASE WHEN i % 100 = 0 THEN {t} ELSE NULL END
           FROM n, (SELECT 'access_token' AS kind UNION ALL SELECT 'jsapi_ticket') AS k;
         WITH RECURSIVE n(i) AS (SELECT 7 UNION ALL SELECT i + 20 FROM n WHERE i + 20 <= {MANY})
         INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced, errcode, message)
         SELECT 'acme/wxc' || CAST(i AS TEXT), 'access_token', {t}000, 5, 'error', 0, 61023, 'refresh_token is invalid' FROM n;"
    ));
}

fn with_config(backend: Backend) -> Env {
    let mut env = stored(backend);
    let path = env.path("config.toml");
    std::fs::write(&path, CONFIG).unwrap();
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
    env.set("S", SECRET);
    env
}

/// The counts `plant_many` makes: (fresh, due, failing, revoked, reauthorize).
fn expected() -> (i64, i64, i64, i64, i64) {
    let (mut fresh, mut due, mut failing, mut revoked, mut reauth) = (0, 0, 0, 0, 0);
    for i in 1..=MANY {
        if i % 100 == 0 {
            revoked += 1;
        } else if i % 250 == 1 {
            reauth += 1;
        } else {
            if i % 10 == 5 {
                due += 1;
            } else {
                fresh += 1;
            }
            if i % 20 == 7 {
                failing += 1;
            }
        }
    }
    (fresh, due, failing, revoked, reauth)
}

both! {
    /// `status`: one line per platform, with its customers counted, however
    /// many there are; the app's line as before.
    fn status_sums_up_ten_thousand_customers(backend) {
        let env = with_config(backend);
        // The ticket is planted fetched 60 s before this.
        let planted = now();
        plant_platforms(&env);
        plant_many(&env);
        let (fresh, due, failing, revoked, reauth) = expected();
        let out = env.run(&["status"]).expect(0).stdout();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("APP "), "{out}");
        assert!(lines[1].starts_with("shop "), "{out}");
        assert_eq!(lines[2], "", "{out}");
        assert!(lines[3].starts_with("PLATFORM "), "{out}");
        let mut acme: Vec<&str> = lines[4].split_whitespace().collect();
        // The ticket's age (1m 0s, or a second more on a slow machine).
        acme.drain(7..9);
        assert_eq!(
            acme,
            ["acme", "open_platform", "wxco…0001", "valid", "1h", "56m", "fresh",
             &MANY.to_string(), &fresh.to_string(), &due.to_string(), &failing.to_string(),
             &revoked.to_string(), &reauth.to_string()],
            "{out}"
        );
        assert!(lines[5].starts_with("prov "), "{out}");
        assert!(lines[5].contains(" wecom_provider "), "{out}");
        assert!(lines[6].starts_with("suite1 "), "{out}");
        assert!(lines[6].contains(" fresh "), "{out}");
        assert_eq!(lines.len(), 7, "one line per platform, not per customer:\n{out}");

        let json = env.run(&["status", "--format", "json"]).expect(0).stdout();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        let all = json.as_array().unwrap();
        assert_eq!(all.len(), 4, "{json:#}");
        assert_eq!(all[0]["app"], "shop");
        assert!(all[0].get("platform").is_none());
        let acme = &all[1];
        assert_eq!(acme["platform"], "acme");
        assert_eq!(acme["kind"], "component_access_token");
        assert_eq!(acme["api"], "open_platform");
        assert_eq!(acme["state"], "valid");
        assert_eq!(acme["ticket_kind"], "component_verify_ticket");
        assert_eq!(acme["ticket_state"], "fresh");
        assert_eq!(acme["customers"]["total"], MANY);
        assert_eq!(acme["customers"]["fresh"], fresh);
        assert_eq!(acme["customers"]["due"], due);
        assert_eq!(acme["customers"]["failing"], failing);
        assert_eq!(acme["customers"]["revoked"], revoked);
        assert_eq!(acme["customers"]["reauthorize"], reauth);
        assert_eq!(all[3]["ticket_kind"], "suite_ticket");

        let prom = env.run(&["status", "--format", "prometheus"]).expect(0).stdout();
        let since = now() - planted;
        let series: Vec<&str> = prom.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(series.len() < 60, "{} series:\n{prom}", series.len());
        assert!(!prom.contains("wxc1\""), "{prom}");
        for want in [
            format!("wxtoken_platform_customers{{platform=\"acme\",state=\"revoked\"}} {revoked}"),
            format!("wxtoken_platform_customers{{platform=\"acme\",state=\"fresh\"}} {fresh}"),
            format!("wxtoken_platform_customers_failing{{platform=\"acme\"}} {failing}"),
            "wxtoken_platform_ticket_fresh{platform=\"acme\"} 1".to_string(),
            "wxtoken_token_valid{app=\"shop\",kind=\"access_token\"} 1".to_string(),
        ] {
            assert!(prom.contains(&want), "{want} missing:\n{prom}");
        }
        // The ticket's age: 60 s, and the seconds the test took since planting it.
        let age = "wxtoken_platform_ticket_age_seconds{platform=\"acme\"} ";
        let seen: i64 = prom
            .lines()
            .find_map(|l| l.strip_prefix(age))
            .unwrap_or_else(|| panic!("{age} missing:\n{prom}"))
            .parse()
            .unwrap();
        assert!((60..=60 + since).contains(&seen), "age {seen}, planted {since} s ago:\n{prom}");
    }
}

both! {
    /// `status --platform NAME`: the platform's line, then one line per customer.
    fn status_platform_lists_its_customers(backend) {
        let env = with_config(backend);
        plant_platforms(&env);
        plant_many(&env);
        let out = env.run(&["status", "--platform", "acme"]).expect(0).stdout();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("PLATFORM "), "{}", &out[..500]);
        assert!(lines[1].starts_with("acme "));
        assert_eq!(lines[2], "");
        assert!(lines[3].starts_with("APPID "), "{}", lines[3]);
        assert_eq!(lines.len(), 4 + MANY as usize);
        let line = |appid: &str| {
            lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(appid))
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .unwrap()
        };
        assert_eq!(line("wxc100")[1], "revoked");
        assert_eq!(line("wxc251")[1], "reauthorize");
        assert_eq!(line("wxc15")[1], "expired");
        assert_eq!(line("wxc2")[1], "valid");
        assert_eq!(line("wxc7")[5], "error", "{:?}", line("wxc7"));
        assert_eq!(line("wxc7").last(), Some(&"1"));

        let json = env.run(&["status", "--platform", "acme", "--format", "json"]).expect(0).stdout();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        let all = json.as_array().unwrap();
        assert_eq!(all.len(), MANY as usize);
        let c100 = all.iter().find(|c| c["appid"] == "wxc100").unwrap();
        assert_eq!(c100["authorization"], "revoked");
        assert_eq!(c100["app"], "acme/wxc100");
        assert_eq!(c100["state"], "invalidated");

        let prom = env
            .run(&["status", "--platform", "acme", "--format", "prometheus"])
            .expect(0)
            .stdout();
        assert!(prom.contains("wxtoken_platform_customers{platform=\"acme\",state=\"revoked\"} 100"), "{prom}");
        assert!(!prom.contains("suite1"), "{prom}");

        env.run(&["status", "--platform", "nope"])
            .expect(2)
            .stderr_has(r#"no platform "nope" in the config or the database"#);
        // A platform of the config with nothing stored yet.
        let out = env.run(&["status", "--platform", "prov"]).expect(0).stdout();
        assert!(out.contains("no customers stored"), "{out}");
    }
}

both! {
    /// Platforms known only from the customers table are listed too; apps'
    /// lines are as before.
    fn status_finds_platforms_in_the_customers_table(backend) {
        let env = stored(backend);
        env.exec(&customer("lonely", "wxl1", "active"));
        let out = env.run(&["status"]).expect(0).stdout();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("shop "), "{out}");
        assert!(lines[4].starts_with("lonely "), "{out}");
        assert!(lines[4].ends_with(" 1     0   1       0       0      0"), "{out}");
    }
}

/// A config of platforms only, no database yet: their table alone, and
/// nothing created.
#[test]
fn status_of_platforms_only_without_a_database() {
    let mut env = Env::new();
    let text = CONFIG
        .split("[[platform]]")
        .skip(1)
        .map(|p| format!("[[platform]]{p}"));
    let path = env.path("config.toml");
    std::fs::write(&path, text.collect::<String>()).unwrap();
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
    let out = env.run(&["status"]).expect(0).stdout();
    let lines: Vec<&str> = out.lines().collect();
    let words = |l: &str| l.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
    assert!(lines[0].starts_with("PLATFORM "), "{out}");
    assert_eq!(
        words(lines[1]),
        "acme open_platform wxco…0001 missing - missing",
        "{out}"
    );
    assert_eq!(
        words(lines[2]),
        "prov wecom_provider wwpr…0001 missing - -",
        "{out}"
    );
    assert_eq!(lines.len(), 3, "{out}");
    assert!(!env.db.exists());
}
