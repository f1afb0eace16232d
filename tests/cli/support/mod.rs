//! Test harness: runs the real `wxtoken` binary in a fresh temp dir, with the
//! caller's `WXTOKEN_*`, `RUST_LOG`, XDG, proxy, `SSL_CERT_*`, `PGPASSWORD` and
//! `PGPASSFILE` variables cleared, the package's paths (`/etc/wxtoken`,
//! `/var/lib/wxtoken`) moved under the temp dir and, without a stand-in or a
//! config of the test's own, an upstream that refuses every connection.
//!
//! Storage-level tests run against both databases: `both!` turns one test body
//! into `NAME::sqlite` and `NAME::on_pg`; each PostgreSQL test gets a database
//! of its own on the server `WXTOKEN_TEST_PG_URL` names (see `pg`).

pub mod needs;
pub mod net;
pub mod pg;
pub mod platform;
pub mod platform_env;
pub mod sealed;
pub mod standin;
pub mod wxcrypt;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rusqlite::types::ValueRef;

pub(crate) use needs::needs;
pub use standin::{Reply, StandIn};

/// The secret every test app uses (the plain stand-in requires it): the leak
/// checks look for it.
pub use standin::SECRET;

/// An upstream that refuses every connection (nothing listens on port 1 of
/// this machine): the default of a test that started no stand-in.
pub const REFUSING_BASE: &str = "http://127.0.0.1:1";

/// Keeps a spawned `wxtoken` (or a shell or stand-in that runs it) off the
/// machine's package install: `/etc/wxtoken/config.toml` and
/// `/var/lib/wxtoken` are looked for under `DIR/sys` instead (the debug
/// builds' `WXTOKEN_TEST_SYSTEM_ROOT`). A test that sets its own root after
/// this call wins. Every spawn of the binary in the tests goes through it
/// (`hermetic::every_spawn_is_hermetic` checks the sources).
pub fn hermetic(cmd: &mut Command, dir: &Path) {
    cmd.env("WXTOKEN_TEST_SYSTEM_ROOT", dir.join("sys"));
}

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Pg,
}

impl Backend {
    /// A fresh environment (and, for PostgreSQL, a fresh database).
    pub fn env(self) -> Env {
        let mut env = Env::new();
        if self == Backend::Pg {
            env.pg = Some(pg::Database::create());
        }
        env
    }

    /// A fresh environment whose upstream is `standin`.
    pub fn with(self, standin: &StandIn) -> Env {
        let mut env = self.env();
        env.api_base = Some(standin.url());
        env
    }
}

/// One test body, run against SQLite (`NAME::sqlite`) and PostgreSQL
/// (`NAME::on_pg`, ignored unless `--include-ignored`: see `pg`).
macro_rules! both {
    ($(#[$attr:meta])* fn $name:ident($backend:ident) $body:block) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($backend: crate::support::Backend) $body

            #[test]
            fn sqlite() {
                body(crate::support::Backend::Sqlite);
            }

            #[test]
            #[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
            fn on_pg() {
                body(crate::support::Backend::Pg);
            }
        }
    };
}
pub(crate) use both;

pub struct Env {
    pub dir: tempfile::TempDir,
    /// The SQLite file (unused on PostgreSQL).
    pub db: PathBuf,
    /// The test's own PostgreSQL database, when it runs on PostgreSQL.
    pub pg: Option<pg::Database>,
    pub api_base: Option<String>,
    pub extra: Vec<(String, String)>,
}

impl Env {
    /// A SQLite environment.
    pub fn new() -> Env {
        // wxtoken refuses files that group or others can write: under a umask
        // of 002 (many desktop users' default) the tests' own files would be.
        // SAFETY: umask cannot fail; every test wants the same value.
        unsafe { libc::umask(0o022) };
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("tokens.db");
        Env {
            dir,
            db,
            pg: None,
            api_base: None,
            extra: Vec::new(),
        }
    }

    /// A SQLite environment whose upstream is `standin`.
    pub fn with(standin: &StandIn) -> Env {
        Backend::Sqlite.with(standin)
    }

    /// What `--db` / `WXTOKEN_DB` says: the file, or the database's URL.
    pub fn db_arg(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url.clone(),
            None => self.db.display().to_string(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.extra.push((key.into(), value.into()));
    }

    /// `wxtoken ARGS` with `--db` pointing into the temp dir and the secret in
    /// `WXTOKEN_SECRET`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxtoken"));
        for (key, _) in std::env::vars() {
            if key.starts_with("WXTOKEN_")
                || key.starts_with("XDG_")
                || key == "RUST_LOG"
                || key.to_ascii_lowercase().ends_with("_proxy")
                || key.starts_with("SSL_CERT_")
                || key == "PGPASSWORD"
                || key == "PGPASSFILE"
                || key == "NO_COLOR"
            {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.dir.path())
            .env("WXTOKEN_DB", self.db_arg())
            .env("WXTOKEN_SECRET", SECRET)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .args(args);
        hermetic(&mut cmd, self.dir.path());
        let gave = |key: &str| self.extra.iter().any(|(k, _)| k == key);
        match &self.api_base {
            Some(base) => {
                cmd.env("WXTOKEN_API_BASE", base);
            }
            // No stand-in and no config of the test's own: nothing may reach
            // the real upstream, so the default host is a refusing one.
            None if !gave("WXTOKEN_CONFIG") && !args.contains(&"--config") => {
                cmd.env("WXTOKEN_API_BASE", REFUSING_BASE);
            }
            None => {}
        }
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Writes a config file of apps named `names` (appid `wx` + name, the secret
    /// in the variable `S`), each with the `extra` lines, and points
    /// `WXTOKEN_CONFIG` at it.
    pub fn config_apps(&mut self, names: &[&str], extra: &str) {
        let text: String = names
            .iter()
            .map(|n| {
                format!("[[app]]\nname = \"{n}\"\nappid = \"wx{n}\"\nsecret_env = \"S\"\n{extra}\n")
            })
            .collect();
        let path = self.path("config.toml");
        std::fs::write(&path, text).unwrap();
        self.set("WXTOKEN_CONFIG", path.to_str().unwrap());
        self.set("S", SECRET);
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().unwrap())
    }

    /// `wxtoken refresh --appid wxAPPID ARGS`
    pub fn refresh(&self, args: &[&str]) -> Run {
        let mut all = vec!["refresh", "--appid", "wx85871939f7f9b647"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// The SQLite database (SQLite tests only).
    pub fn sql(&self) -> rusqlite::Connection {
        assert!(
            self.pg.is_none(),
            "sql() is for SQLite; use exec() / rows()"
        );
        rusqlite::Connection::open(&self.db).unwrap()
    }

    /// Runs SQL statements on the test's database, whichever it is.
    pub fn exec(&self, sql: &str) {
        match &self.pg {
            Some(pg) => pg.client().batch_execute(sql).unwrap(),
            None => self.sql().execute_batch(sql).unwrap(),
        }
    }

    /// The rows a query returns, every column as text (`None` for NULL).
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match &self.pg {
            Some(pg) => pg.rows(sql),
            None => {
                let conn = self.sql();
                let mut stmt = conn.prepare(sql).unwrap();
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                ValueRef::Null => None,
                                ValueRef::Integer(v) => Some(v.to_string()),
                                ValueRef::Real(v) => Some(v.to_string()),
                                ValueRef::Text(t) | ValueRef::Blob(t) => {
                                    Some(String::from_utf8_lossy(t).into_owned())
                                }
                            })
                        })
                        .collect()
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            }
        }
    }

    /// The first column of the first row, which must be there and not NULL.
    #[track_caller]
    pub fn text(&self, sql: &str) -> String {
        let rows = self.rows(sql);
        rows.first()
            .and_then(|r| r[0].clone())
            .unwrap_or_else(|| panic!("no value from {sql}"))
    }

    #[track_caller]
    pub fn int(&self, sql: &str) -> i64 {
        self.text(sql).parse().unwrap()
    }

    /// The stored rows, every column as text, for byte-for-byte comparisons.
    /// Empty when there are no tables yet.
    pub fn dump(&self) -> Vec<String> {
        match &self.pg {
            None if !self.db.exists() => Vec::new(),
            None => dump(&self.db),
            Some(pg) if !pg.has_table("wxtoken_tokens") => Vec::new(),
            Some(_) => self
                .rows(
                    "SELECT app, kind, api, appid, value, fetched_at, expires_at, invalidated_at, source_token
                     FROM wxtoken_tokens ORDER BY app, kind",
                )
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(|c| c.unwrap_or_else(|| "-".to_string()))
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect(),
        }
    }

    /// Bumps the stored schema version past what this wxtoken knows.
    pub fn pretend_newer_schema(&self) {
        match &self.pg {
            Some(_) => self.exec("UPDATE wxtoken_meta SET value = 99 WHERE key = 'schema_version'"),
            None => self.sql().pragma_update(None, "user_version", 99).unwrap(),
        }
    }
}

/// Every row of the tokens table as one line of text.
pub fn dump(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT app || '|' || kind || '|' || api || '|' || appid || '|' || value || '|' ||
                    fetched_at || '|' || expires_at || '|' || COALESCE(invalidated_at, '-') || '|' ||
                    COALESCE(source_token, '-')
             FROM wxtoken_tokens ORDER BY app, kind",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr()
        );
        self
    }
}

/// Compares `actual` with the golden file `tests/cli/golden/NAME`; with
/// `UPDATE_GOLDEN=1` rewrites the file instead.
#[track_caller]
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} changed (run with UPDATE_GOLDEN=1 if that is intended)",
        path.display()
    );
}

/// `cmd` run with its stdout and stderr on a terminal (`script`'s
/// pseudo-terminal); what the terminal showed. Only in `needs! { script: }`
/// tests.
#[track_caller]
pub fn on_a_terminal(cmd: &Command) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line = vec!["env".to_string()];
    let mut set = Vec::new();
    for (k, v) in cmd.get_envs() {
        match (k.to_str(), v.map(|v| v.to_str())) {
            (Some(k), Some(Some(v))) => set.push(quote(&format!("{k}={v}"))),
            // Removed from the command's environment: from `script`'s too
            // (env's options come before its assignments).
            (Some(k), None) => line.extend(["-u".to_string(), quote(k)]),
            _ => {}
        }
    }
    line.extend(set);
    line.push(quote(cmd.get_program().to_str().unwrap()));
    line.extend(cmd.get_args().map(|a| quote(a.to_str().unwrap())));
    let out = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .current_dir(cmd.get_current_dir().unwrap())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("`script` runs wxtoken on a terminal: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails the calling test, with the reason, when the binary under test has no
/// `WXTOKEN_TEST_PAUSE` seam (a release build: it exists with debug
/// assertions only): a test that cannot do its work fails rather than pass.
#[track_caller]
pub fn need_pause_seam() {
    #[cfg(not(debug_assertions))]
    panic!("WXTOKEN_TEST_PAUSE exists in debug builds only: run this test without --release");
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
