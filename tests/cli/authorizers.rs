//! `wxtoken authorizers list|import|sync --platform NAME`.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::push::{everything, setup};
use crate::support::platform::{authorizer_appid, corpid, first_refresh_token};
use crate::support::{Backend, Env, both, now};

fn import(env: &Env, platform: &str, file: &std::path::Path) -> crate::support::Run {
    env.run(&[
        "authorizers",
        "import",
        "--platform",
        platform,
        file.to_str().unwrap(),
    ])
}

fn write(env: &Env, name: &str, text: &str) -> std::path::PathBuf {
    let path = env.path(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

both! {
    fn import_seals_every_credential_and_list_shows_them_without_it(backend) {
        let env = setup(backend);
        let (a, b) = (authorizer_appid(1), authorizer_appid(2));
        let file = write(&env, "auth.csv", &format!(
            "# exported from the old system\n{a},{}\r\n\n {b} , {}\n",
            first_refresh_token(&a), first_refresh_token(&b)
        ));
        let run = import(&env, "acme", &file);
        run.expect(0);
        assert_eq!(run.stdout(), "imported 2 customers into platform \"acme\": 2 new, 0 replaced\n");
        let rows = env.rows("SELECT appid, state, credential FROM wxtoken_customers ORDER BY appid");
        assert_eq!(rows.len(), 2);
        for (r, appid) in rows.iter().zip([&a, &b]) {
            assert_eq!(r[0].as_deref(), Some(appid.as_str()));
            assert_eq!(r[1].as_deref(), Some("active"));
            assert!(r[2].as_deref().unwrap().starts_with("v1:"));
        }
        assert!(!format!("{:?}", everything(&env)).contains("refreshtoken@@@"));
        // Importing again replaces.
        let run = import(&env, "acme", &file);
        run.expect(0);
        assert!(run.stdout().contains("0 new, 2 replaced"), "{}", run.stdout());

        env.exec(&format!(
            "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at)
             VALUES ('acme/{a}', 'access_token', 'open_platform', '{a}', 'TOKEN-secret-value', {}, {})",
            now(), now() + 3600
        ));
        let run = env.run(&["authorizers", "list", "--platform", "acme", "--format", "json"]);
        run.expect(0);
        assert!(!run.stdout().contains("TOKEN-secret-value") && !run.stdout().contains("v1:"));
        let list: Value = serde_json::from_str(&run.stdout()).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(list[0]["appid"], a.as_str());
        assert_eq!(list[0]["state"], "active");
        assert_eq!(list[0]["credential"], true);
        let left = list[0]["token_expires_in"].as_i64().unwrap();
        assert!((3590..=3600).contains(&left), "{left}");
        assert_eq!(list[1]["token_expires_in"], Value::Null);
        let run = env.run(&["authorizers", "list", "--platform", "acme"]);
        run.expect(0);
        let table = run.stdout();
        assert!(table.starts_with("APPID"), "{table}");
        assert!(table.contains(&a) && table.contains("stored") && (table.contains("59m") || table.contains("60m")), "{table}");
        assert!(!table.contains("TOKEN-secret-value"));
    }
}

both! {
    fn a_bad_line_imports_nothing_and_names_its_number(backend) {
        let env = setup(backend);
        let a = authorizer_appid(1);
        let good = format!("{a},{}\n", first_refresh_token(&a));
        let cases = [
            (format!("{good}wx2 refreshtoken\n"), "line 2: not appid,refresh_token"),
            (format!("{good}wx2,refresh token;rm\n"), "line 2: the authorizer_refresh_token is empty"),
            (format!("{good}wx2,\n"), "line 2: the authorizer_refresh_token is empty"),
            (format!("{good}wx$(id),x\n"), "line 2: \"wx$(id)\" is not an appid"),
            (format!("{good}{good}"), "line 2: \"wxa000000000000001\" comes a second time"),
            (format!("{good}wx3,{}\n", "x".repeat(5000)), "line 2: longer than 4096 bytes"),
            ("# nothing\n".to_string(), "has no appid,refresh_token lines"),
        ];
        for (text, why) in cases {
            let file = write(&env, "bad.csv", &text);
            let run = import(&env, "acme", &file);
            run.expect(2).stderr_has(why);
            assert!(!run.stderr().contains("refreshtoken@@@"), "{}", run.stderr());
            assert_eq!(everything(&env), Vec::<String>::new(), "{why}");
        }
        // WeCom: corpid,permanent_code; the provider has no customers.
        let c = corpid(1);
        let file = write(&env, "corps.csv", &format!("{c},permanentcode@@@{c}\n"));
        import(&env, "suite", &file).expect(0);
        assert_eq!(env.text("SELECT appid FROM wxtoken_customers WHERE platform = 'suite'"), c);
        import(&env, "prov", &file).expect(2).stderr_has("is a wecom_provider: it has no customers");
        import(&env, "nope", &file).expect(2).stderr_has("no platform \"nope\" in config");
    }
}

#[test]
fn the_import_file_is_trusted_like_a_secret_file() {
    let env = setup(Backend::Sqlite);
    let fifo = env.path("fifo.csv");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    import(&env, "acme", &fifo)
        .expect(2)
        .stderr_has("is a FIFO");
    let open = env.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let a = authorizer_appid(1);
    let file = open.join("auth.csv");
    std::fs::write(&file, format!("{a},{}\n", first_refresh_token(&a))).unwrap();
    import(&env, "acme", &file).expect(2).stderr_has("open");
    assert_eq!(everything(&env), Vec::<String>::new());
}
