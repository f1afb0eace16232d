//! What another writer of the database could plant in wxtoken's place: a view
//! where a table was (one that never ends), a trigger that runs their SQL as
//! wxtoken, and on PostgreSQL tables another role created first. Every
//! command refuses them at once (exit 2), before reading or writing anything.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Backend, Env, Run, StandIn, both};

/// Every command that opens the database.
const COMMANDS: [&[&str]; 4] = [
    &["show"],
    &["status"],
    &["history"],
    &["refresh", "--appid", APPID, "--name", "shop", "--force"],
];

const APPID: &str = "wx85871939f7f9b647";

/// Runs `args`, failing the test if it has not ended within 10 s (killed then).
#[track_caller]
fn within_10s(env: &Env, args: &[&str]) -> Run {
    let mut child = env
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wxtoken {args:?} still ran after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run(child.wait_with_output().unwrap())
}

/// A database with a token, whose `wxtoken_tokens` is then renamed away
/// (so that the planted object can take its name).
fn with_token(backend: Backend, up: &StandIn) -> Env {
    let env = backend.with(up);
    env.refresh(&["--name", "shop"]).expect(0);
    env.exec("ALTER TABLE wxtoken_tokens RENAME TO real_tokens");
    env
}

both! {
    /// `wxtoken_tokens` replaced by a view that never ends (SQLite: a
    /// recursive one; PostgreSQL: one that sleeps): refused, not run.
    fn a_view_in_place_of_a_table_is_refused(backend) {
        let up = StandIn::wechat();
        let env = with_token(backend, &up);
        env.exec(match backend {
            Backend::Sqlite => "CREATE VIEW wxtoken_tokens AS
                WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)
                SELECT t.* FROM real_tokens t, r",
            Backend::Pg => "CREATE VIEW wxtoken_tokens AS
                SELECT t.* FROM real_tokens t, pg_sleep(3600)",
        });
        for args in COMMANDS {
            within_10s(&env, args)
                .expect(2)
                .stderr_has("\"wxtoken_tokens\" is a view")
                .stderr_has("wxtoken creates no views, triggers or rules");
        }
    }
}

both! {
    /// A trigger on wxtoken's table would run its author's SQL as wxtoken on
    /// every write: refused before any write, and it never fires.
    fn a_trigger_on_a_table_is_refused(backend) {
        let up = StandIn::wechat();
        let env = with_token(backend, &up);
        env.exec("ALTER TABLE real_tokens RENAME TO wxtoken_tokens; CREATE TABLE fired (n INTEGER)");
        env.exec(match backend {
            Backend::Sqlite => "CREATE TRIGGER spy AFTER UPDATE ON wxtoken_tokens
                BEGIN INSERT INTO fired VALUES (1); END",
            Backend::Pg => "CREATE FUNCTION spy() RETURNS trigger LANGUAGE plpgsql AS
                    $$ BEGIN INSERT INTO fired VALUES (1); RETURN NEW; END $$;
                CREATE TRIGGER spy AFTER INSERT OR UPDATE ON wxtoken_tokens
                    FOR EACH ROW EXECUTE FUNCTION spy()",
        });
        let run = within_10s(&env, COMMANDS[3]);
        run.expect(2);
        let needle = "table \"wxtoken_tokens\" has triggers (spy)";
        run.stderr_has(needle);
        within_10s(&env, &["show"]).expect(2).stderr_has(needle);
        assert_eq!(env.rows("SELECT COUNT(*) FROM fired")[0][0].as_deref(), Some("0"));
        assert_eq!(up.count("/cgi-bin/token"), 1, "no call for a refused database");
        // Dropped, all is well again.
        env.exec(match backend {
            Backend::Sqlite => "DROP TRIGGER spy",
            Backend::Pg => "DROP TRIGGER spy ON wxtoken_tokens",
        });
        env.run(&["show"]).expect(0);
    }
}

/// On PostgreSQL, a role that may create in the schema (`GRANT CREATE ON
/// SCHEMA public TO PUBLIC`) creates wxtoken's tables first, with a trigger
/// and a schema version of 2: wxtoken, connecting as its own role, refuses
/// tables it does not own rather than keep them (`IF NOT EXISTS`).
#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn tables_another_role_created_first_are_refused_on_pg() {
    use crate::support::pg;
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    let db = pg::Database::create();
    let n = std::process::id();
    let (owner, squatter) = (format!("wx_owner_{n}"), format!("wx_squat_{n}"));
    let mut admin = db.client();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {owner}; DROP ROLE IF EXISTS {squatter};
             CREATE ROLE {owner} LOGIN PASSWORD 'owner-pw';
             CREATE ROLE {squatter} LOGIN PASSWORD 'squat-pw';
             GRANT CREATE ON SCHEMA public TO PUBLIC;
             GRANT CREATE, CONNECT ON DATABASE {} TO {owner};",
            db.name
        ))
        .unwrap();
    // The roles made here log in to the server itself: a pooler in between
    // (PgBouncer, in CI's second run) knows only the users it was given.
    let url = pg::direct(&db.url);
    let as_role = |role: &str, pw: &str| with_user(&url, role, pw);
    // The squatter runs wxtoken first: every table is theirs.
    env.pg = Some(db);
    let squat_url = as_role(&squatter, "squat-pw");
    env.run(&[
        "--db", &squat_url, "refresh", "--appid", APPID, "--name", "shop",
    ])
    .expect(0);
    let owner_url = as_role(&owner, "owner-pw");
    for args in [COMMANDS[3], &["show"], &["status"]] {
        let mut all = vec!["--db", owner_url.as_str()];
        all.extend_from_slice(args);
        env.run(&all).expect(2).stderr_has(&format!(
            "belongs to \"{squatter}\", neither the connecting role nor the database's owner"
        ));
    }
    assert_eq!(
        up.count("/cgi-bin/token"),
        1,
        "only the squatter's own run called"
    );
    let _ = env
        .pg
        .as_ref()
        .unwrap()
        .client()
        .batch_execute(&format!("DROP OWNED BY {squatter}; DROP OWNED BY {owner}"));
}

/// `url` with another user and password.
fn with_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}:{password}@{host}")
}

/// The owner of the database's folder makes `tokens.db` (or its `-wal`) a
/// hard link to a file of root's: the owner rule accepts root's file, but
/// wxtoken writes only a file with one name, and reads none with more.
#[test]
fn a_hard_linked_database_file_is_refused() {
    let up = StandIn::wechat();
    let env = Backend::Sqlite.with(&up);
    env.refresh(&["--name", "shop"]).expect(0);
    let precious = env.path("precious.db");
    std::fs::write(&precious, b"").unwrap();
    std::fs::remove_file(&env.db).unwrap();
    std::fs::hard_link(&precious, &env.db).unwrap();
    for args in COMMANDS {
        env.run(args)
            .expect(2)
            .stderr_has("has other names (hard links)");
    }
    assert_eq!(std::fs::read(&precious).unwrap(), b"", "nothing written");
    // Beside a database of its own, a -wal that is another file's other name.
    std::fs::remove_file(&env.db).unwrap();
    env.refresh(&["--name", "shop"]).expect(0);
    let wal = format!("{}-wal", env.db.display());
    let _ = std::fs::remove_file(&wal);
    std::fs::hard_link(&precious, &wal).unwrap();
    env.run(&["show"])
        .expect(2)
        .stderr_has("-wal has other names (hard links)");
    assert_eq!(std::fs::read(&precious).unwrap(), b"", "nothing written");
}
