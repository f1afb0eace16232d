//! What wxtoken tells a user who took a wrong turn: a database path in a
//! folder that does not exist, and the like. Each message names the thing and
//! the way out.

use crate::support::Env;

/// `show` and `sign` at a path given with `--db` or `WXTOKEN_DB` whose folder
/// does not exist: more likely a mistyped path than a database not made yet,
/// so the folder is named and `--db` / `WXTOKEN_DB` is to be checked. Still
/// exit 3, as for any missing database. A folder `refresh` would make (the
/// database's own) says so; one it would not says to create it.
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
    // The database's own folder is missing, the one above it is there.
    let one = format!("{dir}/missing/x.db");
    by_env
        .run(&["show", "--db", &one])
        .expect(3)
        .stderr_has(&format!(
            "no database at {one}: folder {dir}/missing does not exist: check --db / WXTOKEN_DB, or run `wxtoken refresh` first (it creates that folder)"
        ));
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
