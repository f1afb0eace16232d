//! Messages that pointed newcomers the wrong way, and inputs that went
//! upstream unchecked: one classic appid under two names, TOML type errors,
//! `~` in a path, tickets an API cannot issue, customers not known yet, and
//! appids with characters no appid has.

use crate::support::{Env, StandIn};

/// Two classic apps with one appid in a config: exit 2 naming both, nothing
/// fetched. Stable apps and WeCom agents of one company may share theirs.
#[test]
fn one_classic_appid_under_two_names_is_refused() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.config_apps(&["shop"], "");
    let path = env.path("config.toml");
    let one = "[[app]]\nname = \"shop\"\nappid = \"wx85871939f7f9b647\"\nsecret_env = \"S\"\n";
    std::fs::write(&path, format!("{one}{}", one.replace("shop", "store"))).unwrap();
    env.run(&["refresh"]).expect(2).stderr_has(
        "apps \"shop\" and \"store\" both fetch classic tokens for appid \"wx85871939f7f9b647\"",
    );
    env.run(&["status"]).expect(2).stderr_has("\"store\"");
    assert_eq!(up.count("/cgi-bin/token"), 0);

    let stable = one
        .replace("shop", "mini")
        .replace("[[app]]\n", "[[app]]\napi = \"stable\"\n");
    let wecom = "[[app]]\nname = \"crm\"\napi = \"wecom\"\nappid = \"ww22\"\nsecret_env = \"S\"\n";
    std::fs::write(
        &path,
        format!("{one}{stable}{wecom}{}", wecom.replace("crm", "hr")),
    )
    .unwrap();
    env.run(&["status"]).expect(0);
}

/// The README's own order: the one-app command line stores the token under
/// the appid, the config then as `shop`. `refresh` warns once, naming both.
#[test]
fn a_classic_appid_stored_under_another_name_is_warned_about_once() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    env.refresh(&[]).expect(0);
    let path = env.path("config.toml");
    std::fs::write(
        &path,
        "[[app]]\nname = \"shop\"\nappid = \"wx85871939f7f9b647\"\nsecret_env = \"S\"\ntickets = [\"jsapi\"]\n",
    )
    .unwrap();
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
    env.set("S", crate::support::SECRET);
    let run = env.run(&["refresh"]);
    run.expect(0).stderr_has(
        "app \"shop\": appid \"wx85871939f7f9b647\" is also stored under the name \"wx85871939f7f9b647\"",
    );
    assert_eq!(
        run.stderr().matches("also stored").count(),
        1,
        "{}",
        run.stderr()
    );
    env.exec("DELETE FROM wxtoken_tokens WHERE app = 'wx85871939f7f9b647'");
    let run = env.run(&["refresh", "--force"]);
    assert_eq!(run.expect(0).stderr(), "");
}

/// `[[app]]`'s hint only for `[app]`; a field that wants a list says so.
#[test]
fn a_toml_type_error_gets_the_hint_that_fits() {
    let mut env = Env::new();
    env.config_apps(&["shop"], "tickets = \"jsapi\"");
    let run = env.run(&["refresh"]);
    run.expect(2).stderr_has("tickets = [\"jsapi\"]");
    assert!(!run.stderr().contains("[[app]]"), "{}", run.stderr());
    let path = env.path("config.toml");
    std::fs::write(
        &path,
        "[app]\nname = \"shop\"\nappid = \"wxshop\"\nsecret_env = \"S\"\n",
    )
    .unwrap();
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("write each app as [[app]] (two brackets)");
}

/// `~` is not expanded in the config: said, rather than read relative to the
/// config's folder.
#[test]
fn a_tilde_in_a_secret_file_is_refused_with_the_fix() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    std::fs::create_dir(env.path("~")).unwrap();
    std::fs::write(env.path("~/.wx.secret"), crate::support::SECRET).unwrap();
    let path = env.path("config.toml");
    std::fs::write(
        &path,
        "[[app]]\nname = \"shop\"\nappid = \"wxshop\"\nsecret_file = \"~/.wx.secret\"\n",
    )
    .unwrap();
    let mut cmd = env.command(&["refresh"]);
    cmd.env("WXTOKEN_CONFIG", &path);
    let run = crate::support::Run(cmd.output().unwrap());
    run.expect(2)
        .stderr_has("field secret_file: \"~/.wx.secret\": `~` is not expanded in the config file: write the full path (e.g. /home/NAME/.wx.secret)");
    assert_eq!(up.count("/cgi-bin/token"), 0);
}

/// A WeCom app has no wx_card ticket (nor a classic one an agent_config):
/// exit 2 saying so, not "add it to the config".
#[test]
fn a_ticket_the_api_cannot_issue_is_said_to_be_impossible() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&["--name", "corp", "--api", "wecom"]).expect(0);
    let run = env.run(&["show", "--app", "corp", "--ticket", "wx_card"]);
    run.expect(2)
        .stderr_has("app \"corp\" is a wecom app, which has no wx_card ticket: it issues jsapi and agent_config");
    assert!(!run.stderr().contains("config file"), "{}", run.stderr());
    env.refresh(&["--name", "shop"]).expect(0);
    env.run(&["show", "--app", "shop", "--ticket", "agent_config"])
        .expect(2)
        .stderr_has("which has no agent_config ticket");
    // One the API issues but that is not listed: the config is the fix.
    env.run(&["show", "--app", "shop", "--ticket", "jsapi"])
        .expect(3)
        .stderr_has("list it in the app's tickets");
}

/// A platform's customer that is not stored is told how customers arrive,
/// not to run refresh.
#[test]
fn an_unknown_customer_is_told_how_customers_arrive() {
    let up = StandIn::wechat();
    let env = Env::with(&up);
    env.refresh(&[]).expect(0);
    env.exec(
        "INSERT INTO wxtoken_tokens (app, kind, api, appid, value, fetched_at, expires_at)
         VALUES ('acme', 'component_access_token', 'open_platform', 'wx0123456789abcdef', 'CT', 1, 9999999999)",
    );
    let run = env.run(&["show", "--app", "acme/wx1111111111111111"]);
    run.expect(3)
        .stderr_has("platform \"acme\" has no customer \"wx1111111111111111\" stored")
        .stderr_has("wxtoken authorizers sync --platform \"acme\"");
    assert!(
        !run.stderr().contains("run `wxtoken refresh`"),
        "{}",
        run.stderr()
    );
}

/// Appids with spaces, slashes or quotes never go upstream: exit 2 naming the
/// character. Short test ids stay fine.
#[test]
fn appids_with_characters_no_appid_has_are_refused() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    for bad in [
        "wx85 871939f7f9b647",
        "wx/../token",
        "wx\"1",
        "wx'1",
        "wx?x=1",
    ] {
        let mut cmd = env.command(&["refresh", "--appid", bad]);
        cmd.env_remove("WXTOKEN_CONFIG");
        crate::support::Run(cmd.output().unwrap())
            .expect(2)
            .stderr_has("an appid (or corpid) has letters and digits only");
    }
    env.config_apps(&["shop"], "");
    let path = env.path("config.toml");
    std::fs::write(
        &path,
        "[[app]]\nname = \"shop\"\nappid = \"wx 1\"\nsecret_env = \"S\"\n",
    )
    .unwrap();
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("app \"shop\": field appid: the appid \"wx 1\" contains \" \"");
    assert_eq!(up.count("/cgi-bin/token"), 0);
    for short in ["wx1", "t", "test_app-2"] {
        env.run(&["refresh", "--appid", short]).expect(0);
    }
}
