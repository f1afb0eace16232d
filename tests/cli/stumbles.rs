//! What tripped new users: messages that name where they looked, a reader
//! without access to the database's folder, history as a table or JSON, help
//! that sets the global options apart, the progress of a long refresh.

use crate::support::{Env, Run, StandIn, both, needs, pg};

/// How a message names the test's database: the file, or the URL with its
/// password replaced.
fn shown_db(env: &Env) -> String {
    match &env.pg {
        Some(db) => db.url.replace(&pg::password(&db.url), "***"),
        None => env.db.display().to_string(),
    }
}

both! {
    /// Cron and a shell often use different databases: every "no usable token"
    /// of `show` and `history` says which one it looked in.
    fn no_token_messages_name_the_database(backend) {
        let up = StandIn::wechat();
        let env = backend.with(&up);
        env.refresh(&[]).expect(0);
        let db = format!("(database {})", shown_db(&env));
        env.run(&["show", "--app", "nope"]).expect(3).stderr_has(&db);
        env.run(&["show", "--appid", "wxnope"]).expect(3).stderr_has(&db);
        env.run(&["history", "--app", "nope"]).expect(3).stderr_has(&db);
        env.exec("UPDATE wxtoken_tokens SET expires_at = fetched_at - 1");
        let run = env.run(&["show"]);
        run.expect(3).stderr_has("expired at").stderr_has(&db);
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
        env.run(&["invalidate", "--app", "wx85871939f7f9b647"]).expect(0);
        env.run(&["show"]).expect(3).stderr_has("invalidated").stderr_has(&db);
        if let Some(db) = &env.pg {
            assert!(!env.run(&["show", "--app", "nope"]).stderr().contains(&pg::password(&db.url)));
        }
    }
}

/// No database yet: `history --app` names the file it looked for.
#[test]
fn history_without_a_database_names_it() {
    let env = Env::new();
    env.run(&["history", "--app", "shop"])
        .expect(3)
        .stderr_has("no database yet")
        .stderr_has(&format!("(database {})", env.db.display()));
}

/// `wxtoken ARGS` run as user `nobody` (group `nogroup`), from a copy of the
/// binary in the test's folder (the build's may sit where nobody cannot go).
/// Only in `needs! { runuser: }` tests.
pub(crate) fn as_nobody(env: &Env, args: &[&str]) -> Run {
    nobody_runs(env, args, false)
}

/// [`as_nobody`] without `WXTOKEN_DB`: the default database is taken.
pub(crate) fn as_nobody_by_default(env: &Env, args: &[&str]) -> Run {
    nobody_runs(env, args, true)
}

fn nobody_runs(env: &Env, args: &[&str], by_default: bool) -> Run {
    use std::os::unix::fs::PermissionsExt;
    let cmd = env.command(args);
    let program = env.path("wxtoken");
    if !program.exists() {
        std::fs::copy(cmd.get_program(), &program).unwrap();
    }
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let envs: Vec<_> = cmd
        .get_envs()
        .filter(|(k, _)| !(by_default && *k == "WXTOKEN_DB"))
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v?.to_str()?)))
        .collect();
    let out = std::process::Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "-g",
            "nogroup",
            "--",
            "env",
            "-u",
            "WXTOKEN_DB",
        ])
        .args(&envs)
        .arg(&program)
        .args(args)
        .current_dir("/")
        .output()
        .unwrap();
    Run(out)
}

needs! {
    runuser:
    /// A reader who cannot enter the database's folder (0700, root's) is told so,
    /// with the fix, and exit 1: not "no database yet" (exit 3), and `status` (a
    /// table or Prometheus's format) prints no empty result.
    fn a_reader_who_cannot_enter_the_folder_is_told_permission_denied() {
        let up = StandIn::wechat();
        let env = Env::with(&up);
        env.refresh(&[]).expect(0);
        let dir = env.db.parent().unwrap().display().to_string();
        for args in [
            &["show"][..],
            &["history"],
            &["history", "--app", "shop"],
            &["status"],
            &["status", "--format", "prometheus"],
        ] {
            let run = as_nobody(&env, args);
            run.expect(1)
                .stderr_has(&format!(
                    "permission denied on folder {dir} (owner root, group root, mode 0700)"
                ))
                .stderr_has(&format!(
                    "its group is root, which readers must not join: give the folder a group of its readers (`chgrp GROUP {dir} && chmod 0750 {dir}`)"
                ));
            assert!(!run.stderr().contains("usermod"), "{}", run.stderr());
            assert_eq!(run.stdout(), "", "{args:?}");
            assert!(!run.stderr().contains("no database"), "{}", run.stderr());
        }
    }
}

needs! {
    runuser:
    /// The folder lets its group in: joining the group is the whole fix,
    /// unless the group is root, which no reader is told to join.
    fn a_reader_outside_the_group_is_told_to_join_it() {
        use std::os::unix::fs::{PermissionsExt, chown};
        let up = StandIn::wechat();
        let env = Env::with(&up);
        env.refresh(&[]).expect(0);
        let dir = env.db.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        let run = as_nobody(&env, &["show"]);
        let run = run.expect(1);
        run.stderr_has("group root, mode 0750")
            .stderr_has("its group is root, which readers must not join");
        assert!(!run.stderr().contains("usermod"), "{}", run.stderr());
        // The group `daemon` (gid 1): join it.
        chown(dir, None, Some(1)).unwrap();
        let run = as_nobody(&env, &["show"]);
        run.expect(1)
            .stderr_has("group daemon, mode 0750")
            .stderr_has("join its group (`sudo usermod -aG daemon \"$USER\"`");
        assert!(!run.stderr().contains("chmod"), "{}", run.stderr());
    }
}

needs! {
    runuser:
    /// The package's layout: the folder and database belong to the service's
    /// user (here `daemon`), mode 0750 and 0640. A reader outside its group cannot
    /// see whose the file is, and is told to join the group (exit 1), never to
    /// chown the folder, which would break the service.
    fn a_reader_outside_the_packages_group_is_told_to_join_it() {
        use std::os::unix::fs::{PermissionsExt, chown};
        let up = StandIn::wechat();
        let env = Env::with(&up);
        env.refresh(&[]).expect(0);
        let dir = env.db.parent().unwrap();
        let daemon = Some(1);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            chown(&path, daemon, daemon).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        chown(dir, daemon, daemon).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        for args in [
            &["show", "--app", "wx85871939f7f9b647"][..],
            &["status"],
            &["history"],
        ] {
            let run = as_nobody(&env, args);
            run.expect(1)
                .stderr_has(&format!("permission denied on folder {}", dir.display()))
                .stderr_has("mode 0750")
                .stderr_has("join its group (`sudo usermod -aG daemon \"$USER\"`");
            assert!(
                !run.stderr().contains("chown"),
                "{args:?}: {}",
                run.stderr()
            );
            assert_eq!(run.stdout(), "", "{args:?}");
        }
    }
}

needs! {
    runuser:
    /// A folder whose owner and group the user database does not know (a
    /// uid and gid from another machine, an NFS mount) is named by numbers.
    fn a_folder_of_an_unknown_owner_and_group_is_named_by_numbers() {
        use std::os::unix::fs::{PermissionsExt, chown};
        let up = StandIn::wechat();
        let env = Env::with(&up);
        env.refresh(&[]).expect(0);
        let dir = env.db.parent().unwrap();
        chown(dir, Some(4242), Some(4242)).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let run = as_nobody(&env, &["show"]);
        run.expect(1).stderr_has(&format!(
            "permission denied on folder {} (owner uid 4242, group 4242, mode 0700)",
            dir.display()
        ));
    }
}

/// Attempts at fixed times: `shop` (a classic app with a stored token), and
/// `mini`, which never got a token (its API is not known from the database).
fn fixed_history(env: &Env) {
    env.refresh(&["--name", "shop"]).expect(0);
    env.exec(
        "DELETE FROM wxtoken_attempts;
         INSERT INTO wxtoken_attempts (app, kind, started_ms, duration_ms, outcome, forced, errcode, message) VALUES
         ('shop', 'access_token', 1767225600000, 120, 'ok', 0, NULL, NULL),
         ('shop', 'jsapi_ticket', 1767225600250, 80, 'ok', 0, NULL, NULL),
         ('shop', 'access_token', 1767229200000, 95, 'error', 1, 40164, 'invalid ip 203.0.113.9, not in whitelist'),
         ('mini', 'access_token', 1767232800000, 10000, 'unreached', 0, NULL, 'could not reach api.weixin.qq.com: timed out');",
    );
}

/// `history` (the table, the default): KIND as `status` shows it (the API
/// for a token, the ticket's name), pinned by a golden file.
#[test]
fn history_table() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.set("TZ", "UTC");
    fixed_history(&env);
    let table = env.run(&["history"]).expect(0).stdout();
    assert_eq!(
        env.run(&["history", "--format", "table"])
            .expect(0)
            .stdout(),
        table
    );
    crate::support::golden("history.txt", &table);
}

/// `history --format json`: an array of objects with stable field names, the
/// kind as `status --format json` has it; `[]` when there is nothing.
#[test]
fn history_json() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    let run = env.run(&["history", "--format", "json"]);
    assert_eq!(run.expect(0).stdout(), "[]\n");
    fixed_history(&env);
    let out = env
        .run(&["history", "--format", "json", "--limit", "2"])
        .expect(0)
        .stdout();
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        value,
        serde_json::json!([
            {
                "app": "mini", "kind": "access_token", "started_at": 1767232800_i64,
                "started_ms": 1767232800000_i64, "duration_ms": 10000, "outcome": "unreached",
                "forced": false, "errcode": null,
                "message": "could not reach api.weixin.qq.com: timed out"
            },
            {
                "app": "shop", "kind": "access_token", "started_at": 1767229200_i64,
                "started_ms": 1767229200000_i64, "duration_ms": 95, "outcome": "error",
                "forced": true, "errcode": 40164,
                "message": "invalid ip 203.0.113.9, not in whitelist"
            }
        ])
    );
    let status: serde_json::Value =
        serde_json::from_str(&env.run(&["status", "--format", "json"]).expect(0).stdout()).unwrap();
    assert_eq!(
        status[0]["kind"], "access_token",
        "the same kind names as status"
    );
}

/// `--help` sets the global options apart from the command's own, and does not
/// list `--api-base` for the commands that never call upstream (which still
/// accept it, so that a script that passes it to every command keeps working).
#[test]
fn help_sets_global_options_apart_and_hides_what_a_command_ignores() {
    let env = Env::new();
    for cmd in ["refresh", "show", "status", "history", "invalidate"] {
        let help = env.run(&[cmd, "--help"]).expect(0).stdout();
        let (own, global) = help
            .split_once("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("wxtoken {cmd} --help has no global options:\n{help}"));
        assert!(own.contains("\nOptions:\n"), "{help}");
        let global = global.split("\nExamples:").next().unwrap();
        for flag in ["--db", "--config", "--verbose", "--quiet"] {
            assert!(
                global.contains(flag) && !own.contains(flag),
                "{cmd}: {flag}\n{help}"
            );
        }
        let listed = help.contains("--api-base");
        let calls_upstream = cmd == "refresh";
        assert_eq!(listed, calls_upstream, "{cmd}: --api-base\n{help}");
    }
    assert!(
        env.run(&["refresh", "--help"])
            .stdout()
            .contains("\n      --jobs <N>"),
        "refresh's own options stay under Options"
    );
    for cmd in [
        &["show"][..],
        &["status"],
        &["history"],
        &["invalidate", "--app", "shop"],
    ] {
        let run = env.run(&[cmd, &["--api-base", "http://127.0.0.1:9"]].concat());
        assert!(
            !run.stderr().contains("--api-base"),
            "{cmd:?} --api-base is still accepted: {}",
            run.stderr()
        );
    }
}

/// A config's `secret_env` works in the shell it was tried in, and not under
/// cron, which passes none of that shell's variables: the message says so and
/// names `secret_file`; a variable set but empty is told apart.
#[test]
fn a_secret_variable_cron_does_not_pass_says_so() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "");
    env.extra.retain(|(k, _)| k != "S");
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("secret_env S is not set (cron, sudo and systemd units pass none of your login shell's variables)")
        .stderr_has("use secret_file = \"/full/path\"");
    env.set("S", " ");
    let run = env.run(&["refresh"]);
    run.expect(2).stderr_has("secret_env S is empty");
    assert!(!run.stderr().contains("cron"), "{}", run.stderr());
}

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// The documentation's code block (README and `docs/`) that starts after
/// `marker`, fenced as `lang`.
fn readme_block(marker: &str, lang: &str) -> String {
    let readme = crate::newcomer::all_docs();
    let (_, after) = readme.split_once(marker).unwrap();
    let (_, block) = after.split_once(&format!("```{lang}\n")).unwrap();
    block.split_once("```").unwrap().0.to_string()
}

/// The README's PHP reader opens the database read-only: a read-write open
/// (PDO's `sqlite:`) creates a missing file, and files beside it, as the web
/// server's user. (No PHP here to run it: the block is read.)
#[test]
fn the_readmes_php_reader_opens_read_only() {
    let php = readme_block("\nPHP:\n", "php");
    assert!(php.contains("SQLITE3_OPEN_READONLY"), "{php}");
    assert!(!php.contains("PDO('sqlite:"), "{php}");
    assert!(php.contains("SELECT value FROM wxtoken_tokens"), "{php}");
}

/// `crontab.example` and the README's cron lines use the README's apps (name,
/// appid and API as its config example has them), and each job line in
/// `crontab.example` says which case it is for.
#[test]
fn the_cron_lines_use_the_readmes_apps() {
    let readme = crate::newcomer::all_docs();
    let (_, config) = readme.split_once("# /etc/wxtoken/config.toml\n").unwrap();
    let config = config.split("```").next().unwrap();
    let mut apps = std::collections::HashMap::new();
    for app in config.split("[[app]]").skip(1) {
        let field = |key: &str| {
            app.lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{key} = \"")))
                .map(|v| v.split('"').next().unwrap().to_string())
        };
        apps.insert(
            field("name").unwrap(),
            (field("appid").unwrap(), field("api").unwrap()),
        );
    }
    assert!(
        apps.contains_key("shop") && apps.contains_key("mini"),
        "{apps:?}"
    );
    let crontab = repo_file("crontab.example");
    let cron_block = readme_block(
        "Without a config file, one line per app",
        "cron no-run: the package's database and secret files",
    );
    let mut checked = 0;
    for (source, line) in crontab
        .lines()
        .map(|l| ("crontab.example", l))
        .chain(cron_block.lines().map(|l| ("README", l)))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = words.iter().position(|w| *w == "--name") else {
            continue;
        };
        let name = words[i + 1];
        let flag = |f: &str| words.iter().position(|w| *w == f).map(|j| words[j + 1]);
        let (appid, api) = apps
            .get(name)
            .unwrap_or_else(|| panic!("{source}: app {name} is not the README's: {line}"));
        assert_eq!(flag("--appid"), Some(appid.as_str()), "{source}: {line}");
        assert_eq!(flag("--api").unwrap_or("classic"), api, "{source}: {line}");
        checked += 1;
    }
    assert_eq!(checked, 4, "two lines in each");
    // Every job line, commented out or not, follows a comment naming its case.
    let mut case = false;
    for line in crontab.lines() {
        let job = line.trim_start_matches("# ");
        if job.starts_with(|c: char| c == '*' || c.is_ascii_digit()) && job.contains(" wxtoken ") {
            assert!(case, "no case before: {line}");
        } else if line.contains("Case ") || line.contains("Either case") {
            case = true;
        }
    }
    assert!(
        crontab.contains("Case A") && crontab.contains("Case B"),
        "{crontab}"
    );
}

needs! {
    script:
    /// More than three dozen apps due: a progress bar on a terminal (apps done of
    /// all, failures, elapsed), none when stderr is a pipe (cron) or with fewer apps.
    fn refresh_shows_progress_only_in_a_terminal() {
        let names: Vec<String> = (0..40).map(|i| format!("app{i:02}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let up = StandIn::start(crate::support::standin::wechat(
            std::time::Duration::from_millis(150),
            7200,
        ));
        let mut env = Env::with(&up);
        env.config_apps(&names, "");
        // A pipe, as under cron: nothing on stderr.
        let run = env.run(&["refresh"]);
        assert_eq!(run.expect(0).stderr(), "");
        let shown = crate::support::on_a_terminal(&env.command(&["refresh", "--force"]));
        assert!(shown.contains("/40 apps, 0 failed"), "{shown:?}");
        // Three dozen apps: no bar.
        let mut few = Env::with(&up);
        few.config_apps(&names[..36], "");
        let shown = crate::support::on_a_terminal(&few.command(&["refresh"]));
        assert!(!shown.contains("apps,"), "{shown:?}");
    }
}

needs! {
    runuser:
    /// On a machine with the package, a user without a database of their own
    /// whose `refresh` would default to the package's (another user's) is told
    /// that the service refreshes it and what works instead, before anything is
    /// fetched: not to chown the service's folder.
    fn a_refresh_by_default_into_the_packages_database_is_refused_with_the_ways() {
        use std::os::unix::fs::{PermissionsExt, chown};
        let up = StandIn::wechat();
        let mut env = Env::with(&up);
        let sys = env.path("sys");
        let dir = env.path("sys/var/lib/wxtoken");
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("tokens.db");
        std::fs::write(&db, "").unwrap();
        let daemon = Some(1);
        chown(&db, daemon, daemon).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
        chown(&dir, daemon, daemon).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        for parent in ["sys", "sys/var", "sys/var/lib"] {
            std::fs::set_permissions(env.path(parent), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        env.set("WXTOKEN_TEST_SYSTEM_ROOT", sys.to_str().unwrap());
        let run = as_nobody_by_default(&env, &["refresh", "--appid", "wx85871939f7f9b647"]);
        run.expect(2)
            .stderr_has(&format!("database {}", db.display()))
            .stderr_has("written by its own service")
            .stderr_has("mkdir -p ~/.local/share/wxtoken");
        assert!(!run.stderr().contains("chown"), "{}", run.stderr());
        assert_eq!(up.count("/cgi-bin/token"), 0, "nothing fetched");
    }
}
