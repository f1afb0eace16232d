//! The PostgreSQL side of the harness.
//!
//! `.ci/run` starts throwaway servers and passes them in the environment:
//! - `WXTOKEN_TEST_PG_URL`: a superuser URL on the shared test server; every test
//!   creates a database of its own there (dropped at the end), so tests run in
//!   parallel.
//! - `WXTOKEN_TEST_PG_SOCKET`: that server's Unix socket folder.
//! - `WXTOKEN_TEST_PG_CA`: the CA that signed that server's TLS certificate.
//! - `WXTOKEN_TEST_PG_RESTART_URL` and `WXTOKEN_TEST_PG_CTL`: a second server,
//!   and its `pg_ctl` (`stop`, `start`, `restart`), for the tests that stop it;
//!   they take [`Spare::lock`] one at a time.
//! - `WXTOKEN_TEST_PG_POOLED`: set when those URLs name poolers (PgBouncer)
//!   rather than the servers: `POOLER_PORT=SERVER_PORT,...`. wxtoken goes
//!   through the pooler; the harness itself (creating and dropping databases,
//!   reading rows, `ALTER DATABASE`) connects to the server behind it.
//!
//! Every PostgreSQL test is `#[ignore]`d, so that a plain `cargo test` reports
//! it ignored rather than passed; `cargo test -- --include-ignored` runs them,
//! and then a missing `WXTOKEN_TEST_PG_URL` fails them. The other variables
//! serve a few tests each: without one, those tests fail too (a test that was
//! asked for and cannot run never reports "ok": see `needs`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use postgres::{Client, NoTls, SimpleQueryMessage};

/// The shared server's URL (a test that was asked for and cannot run fails).
#[track_caller]
pub fn server() -> String {
    std::env::var("WXTOKEN_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            panic!("WXTOKEN_TEST_PG_URL is not set: the PostgreSQL tests need a server (`bash .ci/run` starts one)")
        })
}

/// An environment variable a few PostgreSQL tests need: a test that cannot
/// have it fails.
#[track_caller]
pub fn var(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!("{name} is not set: this PostgreSQL test needs it (`bash .ci/run` sets it)")
        })
}

/// `url` with another database name.
pub fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let scheme_end = base.find("://").unwrap() + 3;
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

/// `url` with a pooler's port replaced by its server's (see the module
/// comment); `url` itself when no pooler is in between.
pub fn direct(url: &str) -> String {
    let pooled = std::env::var("WXTOKEN_TEST_PG_POOLED").unwrap_or_default();
    for pair in pooled.split(',').filter(|p| !p.is_empty()) {
        let (pooler, server) = pair.split_once('=').unwrap();
        let at = format!(":{pooler}/");
        if url.contains(&at) {
            return url.replacen(&at, &format!(":{server}/"), 1);
        }
    }
    url.to_string()
}

/// Whether the tests run through a pooler.
pub fn pooled() -> bool {
    std::env::var("WXTOKEN_TEST_PG_POOLED").is_ok_and(|p| !p.is_empty())
}

/// The password in a URL, for the tests that check it never shows.
pub fn password(url: &str) -> String {
    let creds = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    creds.split_once(':').unwrap().1.to_string()
}

/// A database of one test's own, dropped at the end of the test.
pub struct Database {
    pub name: String,
    /// The URL wxtoken is given.
    pub url: String,
    /// The same database on the server itself (not through a pooler).
    pub direct: String,
    admin: String,
}

impl Database {
    /// A fresh database on the shared test server.
    pub fn create() -> Database {
        Database::create_on(&server())
    }

    /// A fresh database on the server `admin` points at.
    pub fn create_on(admin: &str) -> Database {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "wxtoken_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let admin_direct = direct(admin);
        connect(&admin_direct)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Database {
            url: with_dbname(admin, &name),
            direct: with_dbname(&admin_direct, &name),
            admin: admin_direct,
            name,
        }
    }

    /// A connection to the server itself.
    pub fn client(&self) -> Client {
        connect(&self.direct)
    }

    /// Every column as text (`None` for NULL), through the simple query protocol.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.client()
            .simple_query(sql)
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect()
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.rows(&format!("SELECT to_regclass('{table}') IS NOT NULL"))[0][0].as_deref()
            == Some("t")
    }

    /// The tables in the database's public schema.
    pub fn tables(&self) -> Vec<String> {
        self.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.admin, NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("connect to the test server: {e}"))
}

/// The second server, which tests stop and restart.
pub struct Spare {
    pub url: String,
    ctl: String,
    _turn: MutexGuard<'static, ()>,
}

impl Spare {
    /// The spare server, for this test alone (a test without one fails).
    #[track_caller]
    pub fn lock() -> Spare {
        static TURN: Mutex<()> = Mutex::new(());
        let url = var("WXTOKEN_TEST_PG_RESTART_URL");
        let ctl = var("WXTOKEN_TEST_PG_CTL");
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let spare = Spare {
            url,
            ctl,
            _turn: turn,
        };
        // A test that failed half-way may have left it stopped.
        spare.ctl_quiet(&["start"]);
        spare
    }

    /// Runs `pg_ctl ARGS` on the spare server.
    #[track_caller]
    pub fn ctl(&self, args: &[&str]) {
        let out = std::process::Command::new(&self.ctl)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ctl_quiet(&self, args: &[&str]) {
        let _ = std::process::Command::new(&self.ctl).args(args).output();
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        self.ctl_quiet(&["start"]);
    }
}
