//! Where wxtoken looks when no flag or variable says: the user's own database
//! and config first, else the package's (`/var/lib/wxtoken/tokens.db`,
//! `/etc/wxtoken/config.toml`); what a failing command names; and the one
//! folder `refresh` creates for a new database.
//!
//! The package's paths are moved under the test's folder with
//! `WXTOKEN_TEST_SYSTEM_ROOT`, which only debug builds read.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::support::{Env, Run, StandIn};

/// `wxtoken ARGS` with neither `WXTOKEN_DB` nor `WXTOKEN_CONFIG` set, the
/// package's paths under `sys/`.
pub(crate) fn run_by_default(env: &Env, args: &[&str]) -> Run {
    let mut cmd = env.command(args);
    cmd.env_remove("WXTOKEN_DB")
        .env_remove("WXTOKEN_CONFIG")
        .env("WXTOKEN_TEST_SYSTEM_ROOT", env.path("sys"));
    Run(cmd.output().unwrap())
}

/// The package's database and config, under the test's `sys/`.
pub(crate) fn system(env: &Env) -> (PathBuf, PathBuf) {
    (
        env.path("sys/var/lib/wxtoken/tokens.db"),
        env.path("sys/etc/wxtoken/config.toml"),
    )
}

pub(crate) fn write_config(path: &std::path::Path, name: &str, appid: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        format!("[[app]]\nname = \"{name}\"\nappid = \"{appid}\"\nsecret_env = \"S\"\n"),
    )
    .unwrap();
}

/// After installing the package, root (who has no database or config of its
/// own) reads and refreshes the package's: `show`, `status` and `refresh`
/// without `--db` or `--config`. A user's own database and config, once they
/// exist, come first.
#[test]
fn the_users_own_database_and_config_else_the_packages() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.set("S", crate::support::SECRET);
    let (sys_db, sys_config) = system(&env);
    std::fs::create_dir_all(sys_db.parent().unwrap()).unwrap();
    write_config(&sys_config, "shop", "wxshop");
    // The package's config, into the package's database.
    let mut cmd = env.command(&["refresh"]);
    cmd.env("WXTOKEN_DB", &sys_db)
        .env("WXTOKEN_TEST_SYSTEM_ROOT", env.path("sys"))
        .env_remove("WXTOKEN_CONFIG");
    Run(cmd.output().unwrap()).expect(0);
    assert!(sys_db.exists());

    let run = run_by_default(&env, &["show", "--app", "shop"]);
    assert_eq!(run.expect(0).stdout(), "TOKEN-1-wxshop\n");
    let status = run_by_default(&env, &["status", "--format", "json"]).stdout();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status[0]["app"], "shop");
    assert_eq!(status[0]["state"], "valid");
    assert_eq!(
        status[0]["configured"], true,
        "the package's config is read"
    );
    run_by_default(&env, &["refresh", "--force"]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 2);
    assert!(
        !env.path(".local/share/wxtoken").exists(),
        "nothing written in the user's own place"
    );

    // The user's own config and database, once there, win.
    write_config(&env.path(".config/wxtoken/config.toml"), "mine", "wxmine");
    std::fs::create_dir_all(env.path(".local/share")).unwrap();
    let mut cmd = env.command(&["refresh"]);
    cmd.env("WXTOKEN_DB", env.path(".local/share/wxtoken/tokens.db"))
        .env_remove("WXTOKEN_CONFIG");
    Run(cmd.output().unwrap()).expect(0);
    let run = run_by_default(&env, &["show"]);
    assert_eq!(run.expect(0).stdout(), "TOKEN-3-wxmine\n");
    run_by_default(&env, &["show", "--app", "shop"])
        .expect(3)
        .stderr_has(&format!(
            "(database {})",
            env.path(".local/share/wxtoken/tokens.db").display()
        ));
}

/// A failing command names the database it used and, when it reads one, the
/// config file: a shell, cron and sudo often see different defaults.
#[test]
fn a_failing_command_names_its_database_and_config() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "");
    let config = env.path("config.toml").display().to_string();
    let db = env.db.display().to_string();
    env.run(&["refresh", "--app", "nope"])
        .expect(2)
        .stderr_has(&config)
        .stderr_has(&format!("database {db}"));
    env.run(&["refresh"]).expect(0);
    env.run(&["invalidate", "--app", "shop", "--ticket", "jsapi"])
        .stderr_has(&format!("database {db}"));
    let run = env.run(&["status", "--platform", "nope"]);
    assert_ne!(run.code(), 0, "{}", run.stderr());
    run.stderr_has(&format!("database {db}"))
        .stderr_has(&format!("config {config}"));
    // `sign` reads both: one pair of brackets, as the other commands write it.
    let run = env.run(&["sign", "--app", "shop", "--url", "https://x.test/"]);
    run.expect(3)
        .stderr_has(&format!("(database {db}, config {config})\n"));
    assert_eq!(run.stderr().matches(" (").count(), 1, "{}", run.stderr());
}

/// `refresh --db` makes the database's own folder (0700), never a tree: a
/// typo in a crontab's WXTOKEN_DB is exit 2 naming the missing folder, and no
/// second database. The user's default is the exception (its parents too).
#[test]
fn refresh_creates_the_databases_own_folder_only() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let typo = env.path("var/lib/wxtokn/tokens.db");
    env.refresh(&["--db", typo.to_str().unwrap()])
        .expect(2)
        .stderr_has(&format!(
            "folder {} does not exist",
            env.path("var/lib").display()
        ));
    assert!(!env.path("var").exists(), "a tree was made");
    assert_eq!(up.count("/cgi-bin/token"), 0, "nothing fetched for nowhere");

    let own_folder = env.path("new/tokens.db");
    env.refresh(&["--db", own_folder.to_str().unwrap()])
        .expect(0);
    let mode = std::fs::metadata(env.path("new"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    let run = run_by_default(&env, &["refresh", "--appid", "wxdefault"]);
    run.expect(0);
    assert!(env.path(".local/share/wxtoken/tokens.db").is_file());
}

/// The package's config as installed (comments only) lists nothing: to
/// `status`, which read it by default, it is as no config, so the
/// one-line-per-app form (`refresh --appid`) can still be looked at. Named
/// with `--config` / `WXTOKEN_CONFIG`, an empty config is still refused.
#[test]
fn the_packages_empty_config_is_no_config_to_status() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let (_, sys_config) = system(&env);
    std::fs::create_dir_all(sys_config.parent().unwrap()).unwrap();
    let shipped = include_str!("../../pkg/config.toml");
    let listed = shipped.lines().any(|l| l.trim_start().starts_with("[["));
    assert!(!listed, "the shipped config lists an app or platform");
    std::fs::write(&sys_config, shipped).unwrap();
    let mut cmd = env.command(&["refresh", "--appid", "wxoneline"]);
    cmd.env_remove("WXTOKEN_CONFIG");
    Run(cmd.output().unwrap()).expect(0);
    let mut cmd = env.command(&["status", "--format", "json"]);
    cmd.env_remove("WXTOKEN_CONFIG");
    let status = Run(cmd.output().unwrap()).expect(0).stdout();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status[0]["app"], "wxoneline");
    assert_eq!(status[0]["configured"], false);
    for asked in [
        env.command(&["status", "--config", sys_config.to_str().unwrap()]),
        {
            let mut cmd = env.command(&["status"]);
            cmd.env("WXTOKEN_CONFIG", &sys_config);
            cmd
        },
    ] {
        let mut asked = asked;
        Run(asked.output().unwrap())
            .expect(2)
            .stderr_has("lists no apps or platforms");
    }
}

/// A user (root, or the package database's owner) with a config of their own
/// and no database of their own is not let into the package's database by
/// default: with their config they would be a second refresher beside the
/// service's. Told so, with the ways that work, before anything is fetched;
/// the package's own config still writes it.
#[test]
fn a_config_of_ones_own_does_not_refresh_the_packages_database() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.set("S", crate::support::SECRET);
    let (sys_db, sys_config) = system(&env);
    std::fs::create_dir_all(sys_db.parent().unwrap()).unwrap();
    write_config(&sys_config, "shop", "wxshop");
    let mut cmd = env.command(&["refresh"]);
    cmd.env("WXTOKEN_DB", &sys_db).env_remove("WXTOKEN_CONFIG");
    Run(cmd.output().unwrap()).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 1);
    // By default, with the package's config: the package's database.
    run_by_default(&env, &["refresh", "--force"]).expect(0);
    assert_eq!(up.count("/cgi-bin/token"), 2);

    write_config(&env.path(".config/wxtoken/config.toml"), "mine", "wxmine");
    let run = run_by_default(&env, &["refresh"]);
    run.expect(2)
        .stderr_has(&format!("database {}", sys_db.display()))
        .stderr_has("written by its own service")
        .stderr_has(&format!(
            "with the config {}",
            env.path(".config/wxtoken/config.toml").display()
        ))
        .stderr_has("mkdir -p ~/.local/share/wxtoken");
    assert_eq!(up.count("/cgi-bin/token"), 2, "nothing fetched");
    let mut cmd = env.command(&["refresh"]);
    cmd.env_remove("WXTOKEN_DB")
        .env("WXTOKEN_CONFIG", &sys_config)
        .env("WXTOKEN_TEST_SYSTEM_ROOT", env.path("sys"));
    Run(cmd.output().unwrap()).expect(0);
}
