//! The customer and pushed-ticket storage, on SQLite (always) and PostgreSQL
//! (`NAME::on_pg`, ignored unless `--include-ignored`; it needs
//! `WXTOKEN_TEST_PG_URL`, and gets a database of its own there).

use std::path::PathBuf;

use crate::store::*;

/// A fresh database and a raw connection to it beside wxtoken's.
enum TestDb {
    // The folder lives as long as the test.
    Sqlite(#[allow(dead_code)] tempfile::TempDir, PathBuf),
    Pg {
        admin: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        TestDb::Sqlite(dir, path)
    }

    fn pg() -> TestDb {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let admin = std::env::var("WXTOKEN_TEST_PG_URL")
            .expect("WXTOKEN_TEST_PG_URL is not set: the PostgreSQL tests need a server");
        let name = format!(
            "wxtoken_unit_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        pg_client(&admin)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let base = &base[..base.rfind('/').unwrap()];
        let url = match query {
            "" => format!("{base}/{name}"),
            q => format!("{base}/{name}?{q}"),
        };
        TestDb::Pg { admin, name, url }
    }

    fn location(&self) -> Location {
        match self {
            TestDb::Sqlite(_, path) => Location::Sqlite(path.clone()),
            TestDb::Pg { url, .. } => Location::parse(PathBuf::from(url)).unwrap(),
        }
    }

    fn open(&self) -> Box<dyn Store> {
        open(&self.location()).unwrap()
    }

    /// Runs statements behind wxtoken's back.
    fn exec(&self, sql: &str) {
        match self {
            TestDb::Sqlite(_, path) => rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            TestDb::Pg { url, .. } => pg_client(url).batch_execute(sql).unwrap(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Pg { admin, name, .. } = self
            && let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn pg_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// One test body, run on SQLite (`NAME::sqlite`) and PostgreSQL (`NAME::on_pg`).
macro_rules! both {
    (fn $name:ident($db:ident) $body:block) => {
        mod $name {
            use super::*;

            fn body($db: TestDb) $body

            #[test]
            fn sqlite() {
                body(TestDb::sqlite());
            }

            #[test]
            #[ignore = "needs PostgreSQL: WXTOKEN_TEST_PG_URL (bash .ci/run)"]
            fn on_pg() {
                body(TestDb::pg());
            }
        }
    };
}

const NOW: i64 = 1_795_471_186;

fn customer(appid: &str, credential: &str) -> Customer {
    Customer {
        platform: "acme".to_string(),
        appid: appid.to_string(),
        credential: Some(credential.to_string()),
        pending_code: None,
        pending_until: None,
        state: CustomerState::Active,
        info: Some(r#"{"nick_name":"Shop"}"#.to_string()),
        authorized_at: Some(NOW - 86_400),
        updated_at: NOW - 3600,
    }
}

/// A customer's state, as `show` reads it for its exit-3 reason.
fn state(store: &mut dyn Store, appid: &str) -> Result<Option<CustomerState>> {
    Ok(store.customer("acme", appid)?.map(|c| c.state))
}

fn row(app: &str, kind: &str, value: &str, fetched_at: i64) -> Row {
    Row {
        app: app.to_string(),
        kind: kind.to_string(),
        api: "cgi-bin/component/api_authorizer_token".to_string(),
        appid: app.rsplit('/').next().unwrap().to_string(),
        value: value.to_string(),
        fetched_at,
        expires_at: fetched_at + 7200,
        invalidated_at: None,
        source_token: None,
    }
}

fn stored(store: &mut dyn Store, app: &str) -> Vec<Row> {
    let mut rows = store.rows(&[app.to_string()]).unwrap();
    rows.sort_by(|a, b| a.kind.cmp(&b.kind));
    rows
}

both!(
    fn customers_are_stored_read_and_replaced(db) {
        let mut store = db.open();
        assert_eq!(store.customers("acme").unwrap(), []);
        assert_eq!(store.customer("acme", "wx1").unwrap(), None);
        assert_eq!(state(&mut *store, "wx1").unwrap(), None);

        let mut pending = customer("wx2", "v1:ignored");
        pending.credential = None;
        pending.pending_code = Some("v1:code".to_string());
        pending.pending_until = Some(NOW + 600);
        pending.info = None;
        pending.authorized_at = None;
        store.upsert_customer(&pending).unwrap();
        store.upsert_customer(&customer("wx1", "v1:one")).unwrap();
        let mut other = customer("wx1", "v1:other");
        other.platform = "beta".to_string();
        store.upsert_customer(&other).unwrap();

        assert_eq!(
            store.customers("acme").unwrap(),
            [customer("wx1", "v1:one"), pending.clone()]
        );
        assert_eq!(store.customer("beta", "wx1").unwrap(), Some(other));

        let mut replaced = customer("wx2", "v1:two");
        replaced.state = CustomerState::Reauthorize;
        store.upsert_customer(&replaced).unwrap();
        assert_eq!(store.customer("acme", "wx2").unwrap(), Some(replaced));
        assert_eq!(
            state(&mut *store, "wx2").unwrap(),
            Some(CustomerState::Reauthorize)
        );
        // What a reader (`show`) sees.
        drop(store);
        let mut reader = open_read_only(&db.location()).unwrap();
        assert_eq!(
            state(&mut *reader, "wx1").unwrap(),
            Some(CustomerState::Active)
        );
        assert_eq!(reader.customers("acme").unwrap().len(), 2);
    }
);

both!(
    fn ten_thousand_customers_are_listed_in_one_read(db) {
        let mut store = db.open();
        let all: Vec<Customer> = (0..10_000)
            .map(|i| customer(&format!("wx{i:05}"), &format!("v1:{i}")))
            .collect();
        store.upsert_customers(&all).unwrap();
        store.upsert_customer(&{
            let mut c = customer("wx1", "v1:x");
            c.platform = "beta".to_string();
            c
        })
        .unwrap();
        let listed = store.customers("acme").unwrap();
        assert_eq!(listed.len(), 10_000);
        assert_eq!(listed, all);
    }
);

both!(
    fn a_revoked_customer_keeps_no_secret_and_its_tokens_are_invalidated(db) {
        let mut store = db.open();
        let mut c = customer("wx1", "v1:refresh");
        c.pending_code = Some("v1:code".to_string());
        c.pending_until = Some(NOW + 600);
        store.upsert_customer(&c).unwrap();
        store.upsert_customer(&customer("wx2", "v1:two")).unwrap();
        for app in ["acme/wx1", "acme/wx2"] {
            store.put_pushed(&row(app, "access_token", "tok", NOW - 60)).unwrap();
            store.put_pushed(&row(app, "jsapi_ticket", "tic", NOW - 60)).unwrap();
        }
        // One already invalidated keeps its time.
        store.invalidate("acme/wx1", "jsapi_ticket", None, NOW - 30).unwrap();

        assert!(store.revoke_customer("acme", "wx1", NOW).unwrap());
        let revoked = store.customer("acme", "wx1").unwrap().unwrap();
        assert_eq!(revoked.state, CustomerState::Revoked);
        assert_eq!(
            (revoked.credential, revoked.pending_code, revoked.pending_until),
            (None, None, None)
        );
        assert_eq!(revoked.updated_at, NOW);
        assert_eq!(revoked.info, c.info, "what upstream said stays");
        let times: Vec<_> = stored(&mut *store, "acme/wx1")
            .iter()
            .map(|r| r.invalidated_at)
            .collect();
        assert_eq!(times, [Some(NOW), Some(NOW - 30)]);
        assert!(
            stored(&mut *store, "acme/wx2")
                .iter()
                .all(|r| r.invalidated_at.is_none())
        );
        assert_eq!(store.customer("acme", "wx2").unwrap(), Some(customer("wx2", "v1:two")));

        assert!(!store.revoke_customer("acme", "wx9", NOW).unwrap());
        assert_eq!(store.customer("acme", "wx9").unwrap(), None);
    }
);

both!(
    fn the_newest_pushed_ticket_wins(db) {
        let mut store = db.open();
        let ticket = |value: &str, at: i64| {
            let mut r = row("acme", "component_verify_ticket", value, at);
            r.api = "push".to_string();
            r.appid = "wxcomponent".to_string();
            r
        };
        assert!(store.put_pushed(&ticket("first", NOW)).unwrap());
        assert!(store.put_pushed(&ticket("newer", NOW + 600)).unwrap());
        assert!(!store.put_pushed(&ticket("late", NOW + 300)).unwrap());
        assert_eq!(stored(&mut *store, "acme"), [ticket("newer", NOW + 600)]);
        // The same second: the one pushed last.
        assert!(store.put_pushed(&ticket("again", NOW + 600)).unwrap());
        assert_eq!(stored(&mut *store, "acme")[0].value, "again");
    }
);

fn refreshed(credential: Option<&str>, attempts: Vec<Attempt>) -> Commit<'static> {
    Commit {
        values: vec![row("acme/wx1", "access_token", "new-token", NOW)],
        attempts,
        owner: "me",
        customer: Some(CustomerUpdate {
            platform: "acme".to_string(),
            appid: "wx1".to_string(),
            credential: credential.map(str::to_string),
            state: CustomerState::Active,
            updated_at: NOW,
            info: None,
        }),
        ..Commit::default()
    }
}

fn attempt() -> Attempt {
    Attempt {
        app: "acme/wx1".to_string(),
        kind: "access_token".to_string(),
        started_ms: NOW * 1000,
        duration_ms: 40,
        outcome: "ok".to_string(),
        forced: false,
        errcode: None,
        message: None,
    }
}

/// `owner` takes the lease of `acme/wx1`, as a refresh does before its call.
fn lease(store: &mut dyn Store, owner: &str) {
    let taken = store
        .take_leases(&["acme/wx1".to_string()], owner, NOW, NOW + 60, 600)
        .unwrap();
    assert_eq!(taken.taken, ["acme/wx1"]);
}

both!(
    fn a_late_writer_cannot_replace_a_newer_credential(db) {
        let mut store = db.open();
        store.upsert_customer(&customer("wx1", "v1:old")).unwrap();
        // This run takes the lease and calls; it stalls past its lease, and
        // another run takes the customer over and stores a rotated credential.
        lease(&mut *store, "me");
        db.exec("UPDATE wxtoken_leases SET owner = 'other'");
        let mut newer = refreshed(Some("v1:newer"), vec![]);
        newer.owner = "other";
        newer.customer.as_mut().unwrap().updated_at = NOW + 60;
        store.commit("acme/wx1", &newer).unwrap();
        // The late result: not stored over the newer one; its call is recorded.
        store
            .commit("acme/wx1", &refreshed(Some("v1:late"), vec![attempt()]))
            .unwrap();
        let kept = store.customer("acme", "wx1").unwrap().unwrap();
        assert_eq!(kept.credential.as_deref(), Some("v1:newer"));
        assert_eq!(kept.updated_at, NOW + 60);
        assert_eq!(store.history(Some("acme/wx1"), 10).unwrap().len(), 1);
        // The lease holder too writes only over an older credential: one that
        // `authorizers sync` stored after this run's call stays.
        let mut synced = customer("wx1", "v1:synced");
        synced.updated_at = NOW + 120;
        store.upsert_customer(&synced).unwrap();
        lease(&mut *store, "me");
        store
            .commit("acme/wx1", &refreshed(Some("v1:stale"), vec![]))
            .unwrap();
        let kept = store.customer("acme", "wx1").unwrap().unwrap();
        assert_eq!(kept.credential.as_deref(), Some("v1:synced"));
    }
);

both!(
    fn a_rotated_credential_is_stored_with_its_token(db) {
        let mut store = db.open();
        let mut c = customer("wx1", "v1:old");
        c.state = CustomerState::Reauthorize;
        store.upsert_customer(&c).unwrap();
        lease(&mut *store, "me");
        store
            .commit("acme/wx1", &refreshed(Some("v1:rotated"), vec![attempt()]))
            .unwrap();
        let now = store.customer("acme", "wx1").unwrap().unwrap();
        assert_eq!(
            (now.credential.as_deref(), now.state, now.updated_at),
            (Some("v1:rotated"), CustomerState::Active, NOW)
        );
        assert_eq!(stored(&mut *store, "acme/wx1")[0].value, "new-token");
        // No rotation: the stored credential stays.
        lease(&mut *store, "me");
        store.commit("acme/wx1", &refreshed(None, vec![])).unwrap();
        let now = store.customer("acme", "wx1").unwrap().unwrap();
        assert_eq!(now.credential.as_deref(), Some("v1:rotated"));
    }
);

both!(
    fn a_commit_that_fails_keeps_the_old_credential_and_token(db) {
        let mut store = db.open();
        store.upsert_customer(&customer("wx1", "v1:old")).unwrap();
        store
            .put_pushed(&row("acme/wx1", "access_token", "old-token", NOW - 7000))
            .unwrap();
        // The attempts are written after the token and the customer: make that fail.
        db.exec("DROP TABLE wxtoken_attempts");
        let err = store
            .commit("acme/wx1", &refreshed(Some("v1:rotated"), vec![attempt()]))
            .unwrap_err();
        assert!(format!("{err:#}").contains("wxtoken_attempts"), "{err:#}");
        let kept = store.customer("acme", "wx1").unwrap().unwrap();
        assert_eq!(kept.credential.as_deref(), Some("v1:old"));
        assert_eq!(kept.updated_at, NOW - 3600);
        assert_eq!(stored(&mut *store, "acme/wx1")[0].value, "old-token");
    }
);

both!(
    fn an_unknown_stored_state_is_a_clear_error(db) {
        let mut store = db.open();
        store.upsert_customer(&customer("wx1", "v1:one")).unwrap();
        db.exec("UPDATE wxtoken_customers SET state = 'paused'");
        let errors = [
            store.customers("acme").unwrap_err(),
            store.customer("acme", "wx1").unwrap_err(),
            state(&mut *store, "wx1").unwrap_err(),
        ];
        for err in errors {
            let text = format!("{err:#}");
            assert!(
                text.contains(r#"unknown customer state "paused""#),
                "{text}"
            );
        }
    }
);

both!(
    fn a_version_1_database_is_migrated_and_keeps_its_tokens(db) {
        let version_1 = match &db {
            TestDb::Sqlite(..) => "PRAGMA user_version = 1;".to_string(),
            TestDb::Pg { .. } => "CREATE TABLE wxtoken_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
                 INSERT INTO wxtoken_meta VALUES ('schema_version', 1);"
                .to_string(),
        };
        let schema = MIGRATIONS[0];
        db.exec(&format!(
            "{schema}\n{version_1}
             INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at)
             VALUES ('shop', 'access_token', 'cgi-bin/token', 'wx1', 'kept', {NOW}, {});",
            NOW + 7200
        ));
        // A reader of the old database: no customers yet, no error.
        let mut reader = open_read_only(&db.location()).unwrap();
        assert_eq!(state(&mut *reader, "wx1").unwrap(), None);
        assert_eq!(reader.customers("acme").unwrap(), []);
        drop(reader);

        let mut store = db.open();
        let rows = store.rows(&[]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].app.as_str(), rows[0].value.as_str()), ("shop", "kept"));
        store.upsert_customer(&customer("wx1", "v1:one")).unwrap();
        assert_eq!(store.customers("acme").unwrap().len(), 1);
        drop(store);
        // Opened again: nothing to migrate.
        assert_eq!(db.open().customers("acme").unwrap().len(), 1);
    }
);

// Test code only, named as such (`*_tests.rs`); the module keeps its name.
#[path = "tests/codes_tests.rs"]
mod codes;

#[path = "tests/leases_tests.rs"]
mod leases;
