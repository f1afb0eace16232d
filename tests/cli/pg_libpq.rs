//! PostgreSQL as libpq users run it: the password from `PGPASSWORD` or a
//! password file, nothing set for the session (connection poolers), and no
//! ERROR in the server's log on a normal run. PostgreSQL only, ignored unless
//! `--include-ignored` (see `support::pg`).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::pg::{self, Database};
use crate::support::{Backend, Env, StandIn};

/// `url` without its password.
fn without_password(url: &str) -> String {
    url.replacen(&format!(":{}@", pg::password(url)), "@", 1)
}

/// The port in `url`.
fn port(url: &str) -> String {
    let after = url.split('@').nth(1).unwrap();
    let hostport = after.split('/').next().unwrap();
    hostport.rsplit(':').next().unwrap().to_string()
}

/// An environment on a fresh database whose URL has no password; the password
/// itself is returned beside it.
fn passwordless(up: &StandIn) -> (Env, String) {
    let env = Backend::Pg.with(up);
    let url = env.pg.as_ref().unwrap().url.clone();
    let password = pg::password(&url);
    let mut env = env;
    env.set("WXTOKEN_DB", &without_password(&url));
    (env, password)
}

fn write_passfile(path: &PathBuf, line: &str, mode: u32) {
    std::fs::write(path, format!("# wxtoken's database\n{line}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[track_caller]
fn hidden(out: &crate::support::Run, password: &str) {
    let text = format!("{}{}", out.stdout(), out.stderr());
    assert!(!text.contains(password), "the password leaked:\n{text}");
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_url_without_password_is_refused_with_a_hint_on_pg() {
    let up = StandIn::wechat();
    let (env, password) = passwordless(&up);
    let run = env.refresh(&[]);
    run.expect(1)
        .stderr_has("no password")
        .stderr_has("PGPASSWORD")
        .stderr_has("~/.pgpass")
        .stderr_has("passfile=");
    hidden(&run, &password);
    assert_eq!(up.count("/cgi-bin/token"), 0);
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn the_password_comes_from_pgpassword_on_pg() {
    let up = StandIn::wechat();
    let (mut env, password) = passwordless(&up);
    env.set("PGPASSWORD", &password);
    hidden(env.refresh(&[]).expect(0), &password);
    // A wrong one is blamed on the variable.
    env.set("PGPASSWORD", "not-the-password");
    env.refresh(&["--force"])
        .expect(1)
        .stderr_has("the password in PGPASSWORD");
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn the_password_comes_from_the_password_file_on_pg() {
    let up = StandIn::wechat();
    let (mut env, password) = passwordless(&up);
    let url = env.pg.as_ref().unwrap().url.clone();
    let db = env.pg.as_ref().unwrap().name.clone();
    // ~/.pgpass: a line for another database first, then this one's.
    let home = env.path(".pgpass");
    let line = format!(
        "127.0.0.1:{}:other:wxtoken:wrong-password\n127.0.0.1:{}:{db}:*:{password}",
        port(&url),
        port(&url)
    );
    write_passfile(&home, &line, 0o600);
    hidden(env.refresh(&[]).expect(0), &password);

    // Readable by others: ignored with a warning, as libpq does.
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = env.run(&["status"]);
    run.expect(1)
        .stderr_has("has group or world access")
        .stderr_has("PGPASSWORD");
    hidden(&run, &password);
    std::fs::remove_file(&home).unwrap();

    // PGPASSFILE, and passfile= in the URL (which wins over PGPASSFILE).
    let file = env.path("pgpass-elsewhere");
    write_passfile(&file, &format!("*:*:{db}:wxtoken:{password}"), 0o600);
    let mut by_var = Backend::Sqlite.env();
    by_var.set("WXTOKEN_DB", &without_password(&url));
    by_var.set("PGPASSFILE", file.to_str().unwrap());
    hidden(by_var.run(&["status"]).expect(0), &password);
    let mut by_param = Backend::Sqlite.env();
    let with_param = format!("{}?passfile={}", without_password(&url), file.display());
    by_param.set("WXTOKEN_DB", &with_param);
    by_param.set("PGPASSFILE", "/nonexistent/pgpass");
    hidden(by_param.run(&["status"]).expect(0), &password);
    // A wrong password in the file is blamed on the file.
    write_passfile(&file, &format!("*:*:{db}:wxtoken:wrong-password"), 0o600);
    env.set("PGPASSFILE", file.to_str().unwrap());
    env.run(&["status"])
        .expect(1)
        .stderr_has(&format!("its password in {}", file.display()));
}

/// Runs `f` with `log_statement = all` for `db`'s sessions, and returns what
/// the server logged meanwhile. A log that cannot be read fails the test: it
/// would check nothing.
#[track_caller]
fn logged(db: &Database, f: impl FnOnce()) -> String {
    let socket = pg::var("WXTOKEN_TEST_PG_SOCKET");
    // .ci/pg-server starts the server with its log beside its socket folder.
    let log = PathBuf::from(socket).with_file_name("server.log");
    let before = std::fs::metadata(&log)
        .map(|m| m.len())
        .unwrap_or_else(|e| panic!("cannot read the server's log {}: {e}", log.display()));
    db.rows(&format!(
        "ALTER DATABASE {} SET log_statement = 'all'",
        db.name
    ));
    f();
    let text = std::fs::read(&log).unwrap();
    String::from_utf8_lossy(&text[before as usize..]).into_owned()
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn writers_set_nothing_for_the_session_on_pg() {
    let up = StandIn::wechat();
    let env = Backend::Pg.with(&up);
    let db = env.pg.as_ref().unwrap();
    let log = logged(db, || {
        env.refresh(&[]).expect(0);
        env.refresh(&["--force"]).expect(0);
        env.run(&["invalidate", "--app", "wx85871939f7f9b647"])
            .expect(0);
    });
    // Only this test's database logs its statements.
    let sets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("statement: ") && l.to_uppercase().contains("SET "))
        .filter(|l| !l.contains("ALTER DATABASE") && !l.contains("UPDATE "))
        // PgBouncer's own, as it hands a server connection to each client.
        .filter(|l| !(pg::pooled() && l.contains("SET application_name=")))
        .collect();
    assert!(
        sets.iter().any(|l| l.contains("SET LOCAL lock_timeout")),
        "no timeouts were set:\n{log}"
    );
    for line in sets {
        for part in line.split("statement: ").nth(1).unwrap().split(';') {
            let part = part.trim();
            assert!(
                part.is_empty() || part.starts_with("SET LOCAL "),
                "a setting for the whole session (a pooler hands the session on): {line}"
            );
        }
    }
}

/// The transactions of `db` that ended in an error so far (a statement that
/// fails also writes an ERROR line in the server's log). Statistics reach
/// `pg_stat_database` when a session ends, a moment after its client has gone:
/// read for a second and take the highest.
fn rollbacks(db: &Database) -> i64 {
    let sql = "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()";
    let until = Instant::now() + Duration::from_secs(1);
    let mut most = 0;
    while Instant::now() < until {
        let n = db.rows(sql)[0][0].as_deref().unwrap().parse().unwrap();
        most = most.max(n);
        std::thread::sleep(Duration::from_millis(100));
    }
    most
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn a_normal_run_leaves_no_error_in_the_server_log_on_pg() {
    let up = StandIn::wechat();
    let env = Backend::Pg.with(&up);
    let db = env.pg.as_ref().unwrap();
    let before = rollbacks(db);
    // A fresh database: no tables yet.
    env.run(&["show"]).expect(3);
    env.run(&["status"]).expect(0);
    env.run(&["history"]);
    env.refresh(&[]).expect(0);
    env.run(&["show"]).expect(0);
    env.run(&["status"]).expect(0);
    env.run(&["history"]).expect(0);
    // A database another wxtoken left at schema version 1 (no customers table).
    db.rows("DROP TABLE wxtoken_customers; UPDATE wxtoken_meta SET value = 1");
    env.run(&["status"]).expect(0);
    env.run(&["show"]).expect(0);
    assert_eq!(
        rollbacks(db) - before,
        0,
        "statements failed (see the ERROR lines in the server's log)"
    );
}

#[test]
#[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
fn sslmode_takes_libpq_s_values_on_pg() {
    let ca = pg::var("WXTOKEN_TEST_PG_CA");
    let up = StandIn::wechat();
    let mut env = Backend::Pg.with(&up);
    let url = env.pg.as_ref().unwrap().url.clone();
    env.refresh(&[]).expect(0);
    // The server's certificate is for 127.0.0.1: reached under another name
    // (hostaddr= connects, host= is the name checked), verify-ca accepts it
    // (signed by the CA) and verify-full does not (not that host's).
    let other_name = format!(
        "{}?hostaddr=127.0.0.1&sslrootcert={ca}",
        url.replacen("@127.0.0.1:", "@db.invalid:", 1)
    );
    env.set("WXTOKEN_DB", &format!("{other_name}&sslmode=verify-ca"));
    env.run(&["show"]).expect(0);
    env.set("WXTOKEN_DB", &format!("{other_name}&sslmode=verify-full"));
    env.run(&["show"]).expect(1).stderr_has("certificate");
    for mode in [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ] {
        env.set(
            "WXTOKEN_DB",
            &format!("{url}?sslmode={mode}&sslrootcert={ca}"),
        );
        env.run(&["show"]).expect(0);
    }
    env.set("WXTOKEN_DB", &format!("{url}?sslmode=verify_full"));
    env.run(&["show"])
        .expect(2)
        .stderr_has("none of disable, allow, prefer, require, verify-ca, verify-full");
}
