//! What a new user meets on the way in: a database path in a folder that
//! does not exist, a HOME out of reach, the commands the docs name (each in
//! `--help` and offered by the completions), and answers on a terminal.

use std::collections::BTreeSet;

use crate::support::{Env, StandIn, needs};

/// `show` and `sign` at a path given with `--db` or `WXTOKEN_DB` whose folder
/// does not exist: more likely a mistyped path than a database not made yet,
/// so the folder is named and `--db` / `WXTOKEN_DB` is to be checked. Still
/// exit 3, as for any missing database. The database's own folder missing
/// says only that; a folder above it missing says to create that one.
#[test]
fn a_given_database_path_in_a_missing_folder_says_the_folder_is_missing() {
    let env = Env::new();
    let dir = env.dir.path().display().to_string();
    let deeper = format!("{dir}/missing/deeper/x.db");
    let wanted = format!(
        "no database at {deeper}: folder {dir}/missing/deeper does not exist: check --db / WXTOKEN_DB, or create folder {dir}/missing and run `wxtoken refresh`"
    );
    for args in [
        vec!["show", "--db", &deeper],
        vec![
            "sign",
            "--app",
            "shop",
            "--url",
            "https://x.test/",
            "--db",
            &deeper,
        ],
    ] {
        let run = env.run(&args);
        run.expect(3).stderr_has(&wanted);
        assert!(!run.stderr().contains("refresh` first"), "{}", run.stderr());
    }
    // WXTOKEN_DB is given as much as --db is.
    let mut by_env = Env::new();
    let dir = by_env.dir.path().display().to_string();
    let deeper = format!("{dir}/missing/deeper/x.db");
    by_env.set("WXTOKEN_DB", &deeper);
    by_env
        .run(&["show"])
        .expect(3)
        .stderr_has(&format!("folder {dir}/missing/deeper does not exist"));
    // The database's own folder is missing, the one above it is there: a
    // path to check, not a reason to refresh (which a package box refuses).
    let one = format!("{dir}/missing/x.db");
    let run = by_env.run(&["show", "--db", &one]);
    run.expect(3).stderr_has(&format!(
        "no database at {one}: folder {dir}/missing does not exist: check --db / WXTOKEN_DB\n"
    ));
    assert!(!run.stderr().contains("refresh"), "{}", run.stderr());
    // A folder that is there: the database is not made yet.
    let here = format!("{dir}/x.db");
    by_env
        .run(&["show", "--db", &here])
        .expect(3)
        .stderr_has(&format!(
            "no database at {here} yet: run `wxtoken refresh` first"
        ));
}

/// The default database's folder (`~/.local/share/wxtoken`) is missing on a
/// fresh account: that is "no database yet", not a path to check.
#[test]
fn the_default_database_in_a_missing_folder_is_no_database_yet() {
    let env = Env::new();
    let mut cmd = env.command(&["show"]);
    cmd.env_remove("WXTOKEN_DB");
    let run = crate::support::Run(cmd.output().unwrap());
    run.expect(3).stderr_has(&format!(
        "no database at {}/.local/share/wxtoken/tokens.db yet: run `wxtoken refresh` first",
        env.dir.path().display()
    ));
    assert!(!run.stderr().contains("WXTOKEN_DB"), "{}", run.stderr());
}

needs! {
    runuser:
    /// A user whose HOME cannot be entered (another user's HOME kept by
    /// `su -m` or `sudo -E`, or a HOME behind a private folder) is told
    /// that, with the folder's owner and mode and the way out: never to join
    /// group root or open the folder up.
    fn a_home_that_cannot_be_entered_is_said_so() {
        use std::os::unix::fs::PermissionsExt;
        let up = StandIn::wechat();
        let mut env = Env::with(&up);
        let dir = env.dir.path().display().to_string();
        for (locked, home, through) in [
            ("roothome", "roothome", ""),
            ("locked", "locked/home", " through it"),
        ] {
            let home = env.path(home);
            std::fs::create_dir_all(&home).unwrap();
            let locked = env.path(locked);
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
            env.set("HOME", home.to_str().unwrap());
            let run = crate::stumbles::as_nobody_by_default(&env, &["show"]);
            run.expect(1).stderr_has(&format!(
                "permission denied on folder {} (owner root, group root, mode 0700), so database {}/.local/share/wxtoken/tokens.db cannot be read: user nobody cannot reach HOME ({}){through}: run wxtoken with a HOME this user can enter (`su -l`, `runuser -l` and `sudo -H` set the user's own), or point --db at a database you can read",
                locked.display(),
                home.display(),
                home.display(),
            ));
            assert!(!run.stderr().contains("usermod"), "{}", run.stderr());
            assert!(!run.stderr().contains("chmod"), "{}", run.stderr());
            assert!(run.stderr().contains(&dir));
        }
    }
}

/// The commands `--help` lists, `help` aside.
fn listed(env: &Env) -> BTreeSet<String> {
    let help = env.run(&["--help"]).expect(0).stdout();
    let (_, commands) = help.split_once("Commands:\n").unwrap();
    commands
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every command the docs show (`wxtoken WORD` where `wxtoken WORD --help`
/// is a command's help) is listed by `--help`: a reader who looks for it
/// there finds it. `man` is one (docs/README.md: pages before installing).
#[test]
fn every_command_the_docs_name_is_in_help() {
    let env = Env::new();
    let listed = listed(&env);
    let mut named = BTreeSet::new();
    let mut pages = crate::doc_commands::pages();
    pages.push(crate::doc_commands::root().join("crontab.example"));
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for (i, _) in text.match_indices("wxtoken ") {
            let word: String = text[i + 8..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            if !word.is_empty() {
                named.insert((word, page.display().to_string()));
            }
        }
    }
    let mut commands = BTreeSet::new();
    for (word, page) in named {
        if commands.contains(&word) || env.run(&[&word, "--help"]).code() == 0 {
            assert!(
                listed.contains(&word),
                "{page} names `wxtoken {word}`, which --help does not list"
            );
            commands.insert(word);
        }
    }
    assert!(commands.len() >= 8, "{commands:?}");
}

/// The completions offer exactly the commands `--help` lists (a hidden
/// command would be in neither).
#[test]
fn the_completions_offer_what_help_lists() {
    let env = Env::new();
    let bash = env.run(&["completions", "bash"]).expect(0).stdout();
    let script = format!(
        "{bash}\nCOMP_WORDS=(wxtoken ''); COMP_CWORD=1; _wxtoken wxtoken '' wxtoken; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let offered: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|w| !w.starts_with('-') && *w != "help")
        .map(str::to_string)
        .collect();
    assert_eq!(offered, listed(&env));
}

needs! {
    script:
    /// `push` answers exactly `success` into a pipe (the body WeChat
    /// expects, tested byte for byte with every push); on a terminal a
    /// newline follows, so that the prompt starts on a line of its own.
    fn push_ends_its_answer_with_a_newline_on_a_terminal_only() {
        use crate::push::{op_push, setup};
        use crate::support::{Backend, wxcrypt};
        let env = setup(Backend::Sqlite);
        let p = op_push(&wxcrypt::verify_ticket(
            crate::support::platform::COMPONENT_APPID,
            "ticket@@@T1-abc",
            crate::support::now(),
        ));
        std::fs::write(env.path("body.xml"), &p.body).unwrap();
        let args = ["push", "--platform", "acme", "--query", &p.query, "--no-exchange"];
        let direct = env.command(&args);
        let mut cmd = std::process::Command::new("sh");
        for (k, v) in direct.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.current_dir(env.dir.path())
            .args(["-c", "exec \"$@\" < body.xml", "sh"])
            .arg(direct.get_program())
            .args(direct.get_args());
        let shown = crate::support::on_a_terminal(&cmd);
        assert_eq!(shown, "success\r\n");
        let piped = crate::push::feed(env.command(&args), p.body.as_bytes());
        assert_eq!(piped.expect(0).stdout(), "success");
    }
}

/// `show`, `sign` and `history` of an app the database holds nothing of (a
/// typo) name the apps it holds, rather than send the user to `refresh`,
/// which cannot fetch a name it does not know. Still exit 3. An app that is
/// stored, without the ticket asked for, keeps its own message.
#[test]
fn a_mistyped_app_name_lists_the_apps_stored() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&["--name", "shop"]).expect(0);
    let wanted = "no app \"shpo\" in the database (it holds shop): check --app and --db";
    for args in [
        &["show", "--app", "shpo"][..],
        &["show", "--app", "shpo", "--ticket", "jsapi"],
        &["sign", "--app", "shpo", "--url", "https://x.test/"],
        &["history", "--app", "shpo"],
    ] {
        let run = env.run(args);
        run.expect(3).stderr_has(wanted);
        assert!(!run.stderr().contains("tickets"), "{}", run.stderr());
    }
    env.run(&["show", "--app", "shop", "--ticket", "jsapi"])
        .expect(3)
        .stderr_has("stored for app \"shop\": list it in the app's tickets");
}

/// `invalidate --app TYPO` names the apps the database holds, as `show`
/// does (exit 2, as for any app with nothing to invalidate).
#[test]
fn invalidating_a_mistyped_app_lists_the_apps_stored() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&["--name", "shop"]).expect(0);
    env.run(&["invalidate", "--app", "shpo"])
        .expect(2)
        .stderr_has(
            "no app \"shpo\" in the database (it holds shop): check --app and --db; nothing to invalidate",
        );
    env.run(&["invalidate", "--app", "shop", "--ticket", "jsapi"])
        .expect(2)
        .stderr_has("no jsapi ticket stored for app \"shop\": nothing to invalidate");
}

/// A field of the config one typo away from a real one names it; the list
/// of fields leaves out `secret`, which is only there to be refused.
#[test]
fn a_mistyped_config_field_names_the_one_meant() {
    let mut env = Env::new();
    let config = env.path("config.toml");
    env.set("WXTOKEN_CONFIG", config.to_str().unwrap());
    for (line, wanted) in [
        (
            "secret_fiel = \"/x\"",
            "(line 4): unknown field `secret_fiel`: did you mean `secret_file`? (the fields: `name`, ",
        ),
        (
            "colour = \"red\"",
            "unknown field `colour`, expected one of `name`, ",
        ),
    ] {
        std::fs::write(
            &config,
            format!("[[app]]\nname = \"shop\"\nappid = \"wxshop\"\n{line}\n"),
        )
        .unwrap();
        let run = env.run(&["refresh"]);
        run.expect(2).stderr_has(wanted);
        assert!(!run.stderr().contains("`secret`,"), "{}", run.stderr());
    }
}
