//! A machine with the package installed: what root, the readers in its group
//! and other users are told when they would write the package's database.

use crate::defaults::{run_by_default, system, write_config};
use crate::support::{Env, Run, SECRET, StandIn, needs};

/// The package's database and config under the test's `sys/`, with a token
/// of app `shop` stored by the package's config.
fn package(env: &mut Env) -> std::path::PathBuf {
    env.set("S", SECRET);
    let (sys_db, sys_config) = system(env);
    std::fs::create_dir_all(sys_db.parent().unwrap()).unwrap();
    write_config(&sys_config, "shop", "wxshop");
    let mut cmd = env.command(&["refresh"]);
    cmd.env("WXTOKEN_DB", &sys_db).env_remove("WXTOKEN_CONFIG");
    Run(cmd.output().unwrap()).expect(0);
    assert!(!env.path(".local").exists());
    sys_db
}

/// The way a second refresher is sent to is the package's service, which
/// has the unit's credentials (`sudo -u wxtoken wxtoken refresh` has none
/// when the config reads `secret_credential`).
#[test]
fn the_refresh_guard_sends_to_the_packages_service() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    package(&mut env);
    write_config(&env.path(".config/wxtoken/config.toml"), "mine", "wxmine");
    let run = run_by_default(&env, &["refresh"]);
    run.expect(2)
        .stderr_has("have its service refresh it (`sudo systemctl start wxtoken-refresh.service`)");
    assert!(
        !run.stderr().contains("sudo -u wxtoken"),
        "{}",
        run.stderr()
    );
}

/// `invalidate` fetches nothing: root (or the database's owner) with a config
/// of their own may mark the package's tokens stale; it is not refused as a
/// second refresher would be.
#[test]
fn invalidate_is_no_second_refresher() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    package(&mut env);
    write_config(&env.path(".config/wxtoken/config.toml"), "mine", "wxmine");
    run_by_default(&env, &["invalidate", "--app", "shop"]).expect(0);
    run_by_default(&env, &["show", "--app", "shop"])
        .expect(3)
        .stderr_has("invalidated");
}

needs! {
    runuser:
    /// A reader in the package's group (here: any user other than the
    /// database's owner) who invalidates is told how to do it as the
    /// service's user, not that it would be a second refresher.
    fn a_reader_who_invalidates_is_told_how() {
        use std::os::unix::fs::PermissionsExt;
        let up = StandIn::wechat();
        let mut env = Env::with(&up);
        let sys_db = package(&mut env);
        for dir in ["sys", "sys/var", "sys/var/lib", "sys/var/lib/wxtoken"] {
            std::fs::set_permissions(env.path(dir), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        for entry in std::fs::read_dir(sys_db.parent().unwrap()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let run = crate::stumbles::as_nobody_by_default(&env, &["invalidate", "--app", "shop"]);
        let run: &Run = run.expect(2);
        run.stderr_has("the package's database is written by its service's user only (wxtoken)")
            .stderr_has("sudo -u wxtoken wxtoken invalidate --app NAME --if-token -");
        assert!(!run.stderr().contains("second refresher"), "{}", run.stderr());
    }
}
