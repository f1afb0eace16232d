//! Leases in the store: which apps a batch takes and until when, which it
//! leaves to their holder, whose leases a release drops, and that runs whose
//! batches overlap never hold one app at once; the rows of a list of apps.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};

use super::*;

/// The longest lease any wxtoken takes, in these tests.
const LONGEST: i64 = 600;

fn names(apps: &[&str]) -> Vec<String> {
    apps.iter().map(|a| a.to_string()).collect()
}

fn set<'a>(apps: impl IntoIterator<Item = &'a String>) -> BTreeSet<&'a str> {
    apps.into_iter().map(String::as_str).collect()
}

/// The stored leases: app -> (owner, expires_at).
fn stored_leases(db: &TestDb) -> BTreeMap<String, (String, i64)> {
    let sql = "SELECT app, owner, expires_at FROM wxtoken_leases";
    match db {
        TestDb::Sqlite(_, path) => {
            let c = rusqlite::Connection::open(path).unwrap();
            let mut st = c.prepare(sql).unwrap();
            st.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
        TestDb::Pg { url, .. } => pg_client(url)
            .query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect(),
    }
}

both!(
    fn a_batch_takes_the_free_leases_and_leaves_the_live_ones(db) {
        let mut store = db.open();
        // The caller's clock; PostgreSQL decides on its own, the same host's.
        let now = crate::clock::now();
        let (live, ended, fast) = (now + 100, now - 5, now + LONGEST + 1000);
        db.exec(&format!(
            "INSERT INTO wxtoken_leases (app, owner, expires_at) VALUES
             ('mine', 'me', {live}), ('held', 'other', {live}),
             ('ended', 'other', {ended}), ('fast', 'other', {fast})"
        ));
        // Unsorted, with duplicates, and names a statement would have to quote.
        let apps = names(&[
            "o'brien", "held", "a, b)", "fast", "mine", "held", "ended", "名前", "o'brien",
        ]);
        let leases = store.take_leases(&apps, "me", now, now + 60, LONGEST).unwrap();
        let taken = ["a, b)", "ended", "fast", "mine", "o'brien", "名前"];
        assert_eq!(set(&leases.taken), BTreeSet::from(taken));
        let held: BTreeSet<_> = leases.held.iter().map(|l| (&*l.app, &*l.owner, l.expires_at)).collect();
        assert_eq!(held, BTreeSet::from([("held", "other", live)]));
        let overruled: Vec<_> = leases.overruled.iter().map(|l| (&*l.app, l.expires_at)).collect();
        assert_eq!(overruled, [("fast", fast)]);
        let after = stored_leases(&db);
        assert_eq!(after["held"], ("other".to_string(), live), "a live lease of another stays");
        for app in taken {
            let (owner, until) = &after[app];
            assert_eq!(owner, "me", "{app}");
            // The lease's length from the database's now (the caller's on SQLite).
            assert!((now + 60..=now + 62).contains(until), "{app}: {until} for {now} + 60");
        }
        assert_eq!(after.len(), taken.len() + 1);

        // Another run wants the same apps: every one is held, none taken.
        let other = store.take_leases(&apps, "you", now, now + 60, LONGEST).unwrap();
        assert_eq!(other.taken, Vec::<String>::new());
        assert_eq!(set(other.held.iter().map(|l| &l.app)).len(), taken.len() + 1);
        assert_eq!(stored_leases(&db), after, "a held lease is not written");

        // A release drops the caller's own leases of the apps named, no other.
        store.release_leases(&names(&["held", "mine", "o'brien", "o'brien"]), "me").unwrap();
        let left = stored_leases(&db);
        assert_eq!(
            set(left.keys()),
            BTreeSet::from(["a, b)", "ended", "fast", "held", "名前"])
        );
        assert_eq!(left["held"], ("other".to_string(), live));
        store.release_leases(&[], "me").unwrap();
        store.release_leases(&apps, "you").unwrap();
        assert_eq!(stored_leases(&db), left);
        store.release_leases(&apps, "me").unwrap();
        assert_eq!(set(stored_leases(&db).keys()), BTreeSet::from(["held"]));
    }
);

both!(
    fn the_rows_of_a_list_of_apps_come_once_each(db) {
        let mut store = db.open();
        assert_eq!(store.rows(&[]).unwrap(), []);
        assert_eq!(store.rows(&names(&["o'brien"])).unwrap(), []);
        for app in ["o'brien", "a, b)", "名前", "other"] {
            store.put_pushed(&row(app, "access_token", "t", NOW)).unwrap();
        }
        store.put_pushed(&row("o'brien", "jsapi_ticket", "j", NOW)).unwrap();
        let mut rows = store
            .rows(&names(&["名前", "o'brien", "missing", "o'brien", "a, b)"]))
            .unwrap();
        rows.sort_by(|a, b| (&a.app, &a.kind).cmp(&(&b.app, &b.kind)));
        let got: Vec<_> = rows.iter().map(|r| (&*r.app, &*r.kind)).collect();
        assert_eq!(
            got,
            [
                ("a, b)", "access_token"),
                ("o'brien", "access_token"),
                ("o'brien", "jsapi_ticket"),
                ("名前", "access_token"),
            ]
        );
        assert_eq!(store.rows(&[]).unwrap().len(), 5);
    }
);

both!(
    fn runs_whose_batches_overlap_never_hold_one_app_at_once(db) {
        drop(db.open());
        const RUNS: usize = 4;
        const APPS: usize = 6;
        let location = db.location();
        let start = Arc::new(Barrier::new(RUNS));
        for round in 0..12 {
            // Every other round starts from leases that ended (taken over in
            // place), the others from none (inserted).
            if round % 2 == 1 {
                let ended = crate::clock::now() - 5;
                let values: Vec<String> = (0..APPS)
                    .map(|i| format!("('app{i}', 'dead', {ended})"))
                    .collect();
                db.exec(&format!(
                    "INSERT INTO wxtoken_leases (app, owner, expires_at) VALUES {}",
                    values.join(", ")
                ));
            }
            let runs: Vec<_> = (0..RUNS)
                .map(|run| {
                    let (location, start) = (location.clone(), start.clone());
                    std::thread::spawn(move || {
                        let mut store = open(&location).unwrap();
                        // Three apps each, each run's overlapping its neighbours',
                        // asked for in an order of its own.
                        let mut apps: Vec<String> =
                            (0..3).map(|k| format!("app{}", (run + k) % APPS)).collect();
                        if (run + round) % 2 == 1 {
                            apps.reverse();
                        }
                        let owner = format!("run{run}");
                        let now = crate::clock::now();
                        start.wait();
                        let leases = store
                            .take_leases(&apps, &owner, now, now + 60, LONGEST)
                            .unwrap();
                        (owner, apps, leases)
                    })
                })
                .collect();
            let mut holder: BTreeMap<String, String> = BTreeMap::new();
            let mut wanted = BTreeSet::new();
            for run in runs {
                let (owner, apps, leases) = run.join().unwrap();
                wanted.extend(apps);
                for app in leases.taken {
                    if let Some(first) = holder.insert(app.clone(), owner.clone()) {
                        panic!("round {round}: {app} taken by {first} and {owner}");
                    }
                }
            }
            // Each app wanted was free: one run took it, and holds it.
            assert_eq!(set(holder.keys()), set(&wanted), "round {round}");
            let stored: BTreeMap<String, String> = stored_leases(&db)
                .into_iter()
                .map(|(app, (owner, _))| (app, owner))
                .collect();
            assert_eq!(stored, holder, "round {round}");
            db.exec("DELETE FROM wxtoken_leases");
        }
    }
);
