//! Reading third-party platforms' values with `show`: `--platform NAME`, a
//! customer's token through `--appid` / `--app PLATFORM/APPID`, "authorization
//! revoked". Rows and customers are planted with SQL, as `push` and `refresh`
//! store them (`platform_read_status` reads them with `status`).

use crate::support::{Backend, Env, StandIn, both, now};

/// An environment whose database has the schema (and the app `shop`).
pub(crate) fn stored(backend: Backend) -> Env {
    let up = StandIn::wechat();
    let env = backend.with(&up);
    env.refresh(&["--name", "shop"]).expect(0);
    env
}

/// One row of `wxtoken_tokens`, as SQL.
pub(crate) fn row(
    app: &str,
    kind: &str,
    api: &str,
    appid: &str,
    value: &str,
    left: i64,
    inval: bool,
) -> String {
    let t = now();
    let invalidated = if inval {
        t.to_string()
    } else {
        "NULL".to_string()
    };
    format!(
        "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at, invalidated_at)
         VALUES ('{app}', '{kind}', '{api}', '{appid}', '{value}', {}, {}, {invalidated});\n",
        t - 60,
        t + left
    )
}

/// One row of `wxtoken_customers`, as SQL.
pub(crate) fn customer(platform: &str, appid: &str, state: &str) -> String {
    format!(
        "INSERT INTO wxtoken_customers (platform, appid, credential, state, updated_at)
         VALUES ('{platform}', '{appid}', 'v1:sealed', '{state}', {});\n",
        now()
    )
}

/// Three platforms, one of each kind, with their own tokens and tickets.
pub(crate) fn plant_platforms(env: &Env) {
    let sql = [
        row(
            "acme",
            "component_access_token",
            "open_platform",
            "wxcomponent00001",
            "COMPTOKEN",
            7000,
            false,
        ),
        row(
            "acme",
            "component_verify_ticket",
            "open_platform",
            "wxcomponent00001",
            "ticket@@@1",
            43_000,
            false,
        ),
        row(
            "suite1",
            "suite_access_token",
            "wecom_suite",
            "wwsuite000000001",
            "SUITETOKEN",
            7000,
            false,
        ),
        row(
            "suite1",
            "suite_ticket",
            "wecom_suite",
            "wwsuite000000001",
            "SUITETICKET",
            1700,
            false,
        ),
        row(
            "prov",
            "provider_access_token",
            "wecom_provider",
            "wwprovider000001",
            "PROVTOKEN",
            7000,
            false,
        ),
    ];
    env.exec(&sql.concat());
}

both! {
    /// `show --platform NAME` prints the platform's own token, whichever kind.
    fn show_platform_prints_its_own_token(backend) {
        let env = stored(backend);
        plant_platforms(&env);
        for (platform, token, kind) in [
            ("acme", "COMPTOKEN", "component_access_token"),
            ("suite1", "SUITETOKEN", "suite_access_token"),
            ("prov", "PROVTOKEN", "provider_access_token"),
        ] {
            let out = env.run(&["show", "--platform", platform]).expect(0).stdout();
            assert_eq!(out, format!("{token}\n"));
            let out = env
                .run(&["show", "--platform", platform, "--format", "env"])
                .expect(0)
                .stdout();
            assert_eq!(out, format!("WX_{}='{token}'\n", kind.to_uppercase()));
            let out = env
                .run(&["show", "--platform", platform, "--format", "json"])
                .expect(0)
                .stdout();
            let json: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(json["app"], platform);
            assert_eq!(json["kind"], kind);
            assert_eq!(json["token"], token);
        }
        // The same min-ttl rule as apps.
        env.run(&["show", "--platform", "acme", "--min-ttl", "3h"])
            .expect(3)
            .stderr_has("--min-ttl");
    }
}

both! {
    /// No token, an expired or invalidated one: exit 3; an app's name: exit 2.
    fn show_platform_refusals(backend) {
        let env = stored(backend);
        plant_platforms(&env);
        env.run(&["show", "--platform", "nope"])
            .expect(3)
            .stderr_has(r#"no token stored for platform "nope""#);
        env.run(&["show", "--platform", "shop"])
            .expect(2)
            .stderr_has(r#""shop" is an app, not a platform: use --app "shop""#);
        env.exec("UPDATE wxtoken_tokens SET expires_at = 1 WHERE app = 'acme' AND kind = 'component_access_token';
                  UPDATE wxtoken_tokens SET invalidated_at = 1 WHERE app = 'suite1' AND kind = 'suite_access_token';");
        env.run(&["show", "--platform", "acme"]).expect(3).stderr_has("expired");
        env.run(&["show", "--platform", "suite1"]).expect(3).stderr_has("invalidated");
        for conflict in [&["--app", "shop"][..], &["--appid", "wx1"], &["--ticket", "jsapi"]] {
            let mut args = vec!["show", "--platform", "acme"];
            args.extend_from_slice(conflict);
            env.run(&args).expect(2).stderr_has("cannot be used with");
        }
    }
}

both! {
    /// A customer's token and tickets read exactly as an app's.
    fn show_a_customer_by_appid_and_by_app(backend) {
        let env = stored(backend);
        plant_platforms(&env);
        let sql = [
            customer("acme", "wxcust1", "active"),
            row("acme/wxcust1", "access_token", "open_platform", "wxcust1", "CUSTTOKEN", 7000, false),
            row("acme/wxcust1", "jsapi_ticket", "open_platform", "wxcust1", "CUSTJSAPI", 7000, false),
            customer("suite1", "wwcorp1", "active"),
            row("suite1/wwcorp1", "access_token", "wecom_suite", "wwcorp1", "CORPTOKEN", 7000, false),
            row("suite1/wwcorp1", "agent_config_ticket", "wecom_suite", "wwcorp1", "CORPAGENT", 7000, false),
        ];
        env.exec(&sql.concat());
        assert_eq!(env.run(&["show", "--appid", "wxcust1"]).expect(0).stdout(), "CUSTTOKEN\n");
        assert_eq!(env.run(&["show", "--app", "acme/wxcust1"]).expect(0).stdout(), "CUSTTOKEN\n");
        assert_eq!(
            env.run(&["show", "--appid", "wxcust1", "--ticket", "jsapi"]).expect(0).stdout(),
            "CUSTJSAPI\n"
        );
        assert_eq!(env.run(&["show", "--appid", "wwcorp1"]).expect(0).stdout(), "CORPTOKEN\n");
        assert_eq!(
            env.run(&["show", "--appid", "wwcorp1", "--ticket", "agent_config"]).expect(0).stdout(),
            "CORPAGENT\n"
        );
    }
}

both! {
    /// A company that installed two suites: `--appid` names both, exit 2.
    fn show_a_corpid_under_two_suites_is_ambiguous(backend) {
        let env = stored(backend);
        let sql = [
            customer("suite1", "wwcorp1", "active"),
            customer("suite2", "wwcorp1", "active"),
            row("suite1/wwcorp1", "access_token", "wecom_suite", "wwcorp1", "T1", 7000, false),
            row("suite2/wwcorp1", "access_token", "wecom_suite", "wwcorp1", "T2", 7000, false),
        ];
        env.exec(&sql.concat());
        env.run(&["show", "--appid", "wwcorp1"])
            .expect(2)
            .stderr_has(r#"several apps have appid "wwcorp1": "suite1/wwcorp1", "suite2/wwcorp1"; pick one"#);
        assert_eq!(env.run(&["show", "--app", "suite2/wwcorp1"]).expect(0).stdout(), "T2\n");
    }
}

both! {
    /// A revoked customer: exit 3 "authorization revoked", by appid, by app,
    /// for a ticket, and with no rows left; one to authorize again says so.
    fn show_a_revoked_customer_says_so(backend) {
        let env = stored(backend);
        let sql = [
            customer("acme", "wxgone", "revoked"),
            row("acme/wxgone", "access_token", "open_platform", "wxgone", "OLD", 7000, true),
            row("acme/wxgone", "jsapi_ticket", "open_platform", "wxgone", "OLDJS", 7000, true),
            customer("acme", "wxnorows", "revoked"),
            customer("acme", "wxagain", "reauthorize"),
            row("acme/wxagain", "access_token", "open_platform", "wxagain", "OLD2", -5, false),
            customer("acme", "wxfine", "active"),
            row("acme/wxfine", "access_token", "open_platform", "wxfine", "OLD3", 7000, true),
        ];
        env.exec(&sql.concat());
        for args in [
            &["show", "--appid", "wxgone"][..],
            &["show", "--app", "acme/wxgone"],
            &["show", "--appid", "wxgone", "--ticket", "jsapi"],
            &["show", "--app", "acme/wxnorows"],
        ] {
            let run = env.run(args);
            run.expect(3).stderr_has("authorization revoked");
            assert_eq!(run.stdout(), "", "{args:?}");
        }
        env.run(&["show", "--appid", "wxagain"])
            .expect(3)
            .stderr_has("needs re-authorization");
        // An active customer's invalidated token: the usual reason.
        env.run(&["show", "--appid", "wxfine"])
            .expect(3)
            .stderr_has("was invalidated at");
    }
}
