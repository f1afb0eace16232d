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
    // What makes it usable again is the package's service.
    let run = run_by_default(&env, &["show", "--app", "shop"]);
    run.expect(3).stderr_has("invalidated").stderr_has(
        "have the package's service refresh it (`sudo systemctl start wxtoken-refresh.service`)",
    );
    assert!(
        !run.stderr().contains("run `wxtoken refresh`"),
        "{}",
        run.stderr()
    );
}

/// A secret file left empty, and a credential the unit does not load yet
/// (a drop-in edited, `daemon-reload` forgotten): each says what to do.
#[test]
fn an_empty_secret_and_a_missing_credential_say_what_to_do() {
    let mut env = Env::new();
    let secret = env.path("shop.secret");
    std::fs::write(&secret, "\n").unwrap();
    let config = env.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[app]]\nname = \"shop\"\nappid = \"wxshop\"\nsecret_file = \"{}\"\n[[app]]\nname = \"mini\"\nappid = \"wxmini\"\nsecret_credential = \"mini\"\n",
            secret.display()
        ),
    )
    .unwrap();
    env.set("WXTOKEN_CONFIG", config.to_str().unwrap());
    std::fs::create_dir(env.path("creds")).unwrap();
    env.set("CREDENTIALS_DIRECTORY", env.path("creds").to_str().unwrap());
    env.run(&["refresh"])
        .expect(2)
        .stderr_has(&format!(
            "secret file {} is empty: write the value into it",
            secret.display()
        ))
        .stderr_has(
            "add LoadCredential=mini:/path/to/secret to the unit (then `systemctl daemon-reload`)",
        );
}

/// A mistyped `--db` (`/var/lib/wxtokn/tokens.db`) on a machine with the
/// package, whose config is found by default: refused before anything is
/// created or fetched, since a second database of the service's apps is a
/// second refresher. Naming the config too says it is meant.
#[test]
fn a_new_database_for_the_packages_apps_is_refused_unless_meant() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    package(&mut env);
    let fetched = up.count("/cgi-bin/token");
    let typo = env.path("sys/var/lib/wxtokn/tokens.db");
    let mut cmd = env.command(&["refresh", "--force"]);
    cmd.env("WXTOKEN_DB", &typo).env_remove("WXTOKEN_CONFIG");
    let run = Run(cmd.output().unwrap());
    run.expect(2)
        .stderr_has(&format!(
            "database {}: there is none there yet, and the config is the package's",
            typo.display()
        ))
        .stderr_has("check --db / WXTOKEN_DB");
    assert!(!typo.parent().unwrap().exists(), "a folder was created");
    assert_eq!(up.count("/cgi-bin/token"), fetched, "something was fetched");
    let (_, sys_config) = system(&env);
    let mut cmd = env.command(&["refresh", "--config", sys_config.to_str().unwrap()]);
    cmd.env("WXTOKEN_DB", &typo).env_remove("WXTOKEN_CONFIG");
    Run(cmd.output().unwrap()).expect(0);
    assert!(typo.exists());
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
        // A reader who can read it is told to, not to join a group.
        let run = crate::stumbles::as_nobody_by_default(&env, &["refresh"]);
        run.expect(2).stderr_has("would break its tokens: read it with show or status, have its service refresh it");
        assert!(!run.stderr().contains("join group"), "{}", run.stderr());
    }
}

needs! {
    runuser:
    /// A user who may not write the package's database runs `refresh` with
    /// its config: told about the database first (with the service as the
    /// way), not that a secret file is not theirs. A secret file they cannot
    /// read says whose it is, its mode, and how to make it readable.
    fn a_user_who_may_not_refresh_is_told_before_the_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let up = StandIn::wechat();
        let mut env = Env::with(&up);
        package(&mut env);
        let secret = env.path("shop.secret");
        std::fs::write(&secret, SECRET).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let line = format!(
            "[[app]]\nname = \"shop\"\nappid = \"wxshop\"\nsecret_file = \"{}\"\n",
            secret.display()
        );
        let (_, sys_config) = system(&env);
        std::fs::write(&sys_config, &line).unwrap();
        for dir in ["sys", "sys/etc", "sys/etc/wxtoken"] {
            std::fs::set_permissions(env.path(dir), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let run = crate::stumbles::as_nobody_by_default(&env, &["refresh"]);
        run.expect(2)
            .stderr_has("the package's database is written by its own service")
            .stderr_has("sudo systemctl start wxtoken-refresh.service")
            // Outside the database's group: no reading it without joining.
            .stderr_has("join group wxtoken to read it with show or status (`sudo usermod -aG wxtoken \"$USER\"`, then log in again)");
        assert!(!run.stderr().contains("secret"), "{}", run.stderr());
        // Their own config and database, a secret file of root's.
        let own = env.path(".config/wxtoken/config.toml");
        std::fs::create_dir_all(own.parent().unwrap()).unwrap();
        std::fs::write(&own, &line).unwrap();
        // Root's file is given to the user that runs wxtoken (the service's
        // secret left root's after a `cp`), never a reason to run as root.
        let shown = secret.display();
        let run = crate::stumbles::as_nobody(&env, &["refresh"]);
        run.expect(2).stderr_has(&format!(
            "could not read secret_file {shown} (owner root, mode 0600): permission denied: give it to user nobody, who runs wxtoken: `chown nobody {shown}`"
        ));
        assert!(!run.stderr().contains("as root"), "{}", run.stderr());
        // Another user's: given away, or wxtoken run as that user.
        let uid = |name: &str| -> u32 {
            let out = std::process::Command::new("id").args(["-u", name]).output();
            String::from_utf8(out.unwrap().stdout).unwrap().trim().parse().unwrap()
        };
        std::os::unix::fs::chown(&secret, Some(uid("daemon")), None).unwrap();
        let run = crate::stumbles::as_nobody(&env, &["refresh"]);
        run.expect(2).stderr_has(&format!(
            "(owner daemon, mode 0600): permission denied: give it to user nobody, who runs wxtoken (`chown nobody {shown}`), or run wxtoken as daemon"
        ));
        // The user's own, with a mode that keeps its owner out.
        std::os::unix::fs::chown(&secret, Some(uid("nobody")), None).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o200)).unwrap();
        let run = crate::stumbles::as_nobody(&env, &["refresh"]);
        run.expect(2).stderr_has(&format!(
            "(owner nobody, mode 0200): permission denied: its mode keeps its owner out: `chmod u+r {shown}`"
        ));
    }
}
