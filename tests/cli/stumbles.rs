//! What tripped new users: messages that name where they looked, a reader
//! without access to the database's folder, history as a table or JSON, help
//! that sets the global options apart, the progress of a long refresh.

use crate::support::{Env, StandIn, both, pg};

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
