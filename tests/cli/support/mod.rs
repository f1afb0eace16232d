//! Test harness: runs the real `wxtoken` binary in a fresh temp dir, with the
//! caller's `WXTOKEN_*`, `RUST_LOG`, XDG and proxy variables cleared.

pub mod standin;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use standin::{Reply, StandIn};

/// The secret every test app uses: the leak checks look for it.
pub const SECRET: &str = "s3cr3t-5ecret-d0-not-leak-7f3a9c";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub api_base: Option<String>,
    pub extra: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("tokens.db");
        Env {
            dir,
            db,
            api_base: None,
            extra: Vec::new(),
        }
    }

    /// An environment whose upstream is `standin`.
    pub fn with(standin: &StandIn) -> Env {
        let mut env = Env::new();
        env.api_base = Some(standin.url());
        env
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
            {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.dir.path())
            .env("WXTOKEN_DB", &self.db)
            .env("WXTOKEN_SECRET", SECRET)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .args(args);
        if let Some(base) = &self.api_base {
            cmd.env("WXTOKEN_API_BASE", base);
        }
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
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

    pub fn sql(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).unwrap()
    }

    /// The stored rows, every column as text, for byte-for-byte comparisons.
    pub fn dump(&self) -> Vec<String> {
        dump(&self.db)
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

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
