//! `status` on a terminal: red for what is broken, yellow for what needs
//! attention soon; plain into a pipe and with `NO_COLOR`.

use crate::platform_read::{customer, row};
use crate::support::{Backend, Env, SECRET, StandIn, needs, now, on_a_terminal};

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// `shop` fresh, `tight` fresh but at its daily budget, `old` expired.
fn three_states(up: &StandIn) -> Env {
    let mut env = Env::with(up);
    let app = |name: &str, extra: &str| {
        format!("[[app]]\nname = \"{name}\"\nappid = \"wx{name}\"\nsecret_env = \"S\"\n{extra}\n")
    };
    let config = env.path("config.toml");
    let text = app("shop", "") + &app("tight", "daily_budget = 1") + &app("old", "");
    std::fs::write(&config, text).unwrap();
    env.set("WXTOKEN_CONFIG", config.to_str().unwrap());
    env.set("S", SECRET);
    env.run(&["refresh"]).expect(0);
    env.sql()
        .execute(
            "UPDATE wxtoken_tokens SET expires_at = ?1 WHERE app = 'old'",
            [now() - 10],
        )
        .unwrap();
    env
}

/// The line of `app` in what the terminal showed.
fn line_of<'a>(shown: &'a str, app: &str) -> &'a str {
    shown
        .lines()
        .find(|l| l.starts_with(&format!("{app} ")))
        .unwrap_or_else(|| panic!("no line for {app}: {shown:?}"))
}

needs! {
    script:
    fn status_colours_what_needs_attention_on_a_terminal_only() {
        let up = StandIn::wechat();
        let mut env = three_states(&up);
        // Into a pipe: no escape codes at all.
        let piped = env.run(&["status"]).expect(0).stdout();
        assert!(!piped.contains('\x1b'), "{piped:?}");
        let shown = on_a_terminal(&env.command(&["status"]));
        assert!(
            line_of(&shown, "old").contains(&format!(" {RED}expired{RESET} ")),
            "{shown:?}"
        );
        let shop = line_of(&shown, "shop");
        assert!(
            shop.contains(" valid ") && !shop.contains('\x1b'),
            "{shown:?}"
        );
        // One call of a budget of one: 24H in yellow, the rest plain.
        let tight = line_of(&shown, "tight");
        assert!(tight.ends_with(&format!("{YELLOW}1{RESET}")), "{shown:?}");
        assert!(tight.contains(" valid "), "{shown:?}");
        // Under the codes, the same table as into the pipe (the terminal turns
        // newlines into CR LF).
        let visible = shown
            .replace("\r\n", "\n")
            .replace(RED, "")
            .replace(YELLOW, "")
            .replace(RESET, "");
        // A minute may turn between the two runs ("2h 0m" then "1h 59m"): the
        // table must be the pipe's as it was just before or just after.
        if visible != piped {
            let after = env.run(&["status"]).expect(0).stdout();
            assert_eq!(visible, after, "neither the table before ({piped:?}) nor after");
        }
        // Other formats, and NO_COLOR set to anything, stay plain.
        let json = on_a_terminal(&env.command(&["status", "--format", "json"]));
        assert!(
            json.contains("\"expired\"") && !json.contains('\x1b'),
            "{json:?}"
        );
        env.set("NO_COLOR", "1");
        let plain = on_a_terminal(&env.command(&["status"]));
        assert!(
            plain.contains(" expired ") && !plain.contains('\x1b'),
            "{plain:?}"
        );
        // An empty NO_COLOR is as good as none.
        env.set("NO_COLOR", "");
        let shown = on_a_terminal(&env.command(&["status"]));
        assert!(shown.contains(&format!("{RED}expired")), "{shown:?}");
    }
}

needs! {
    script:
    /// Platforms: customers revoked in yellow, a customer's expired token in red,
    /// in the platforms' table and in `--platform NAME`'s.
    fn status_colours_platforms_and_their_customers() {
        let env = crate::platform_read::stored(Backend::Sqlite);
        crate::platform_read::plant_platforms(&env);
        env.exec(
            &[
                customer("acme", "wxgone", "revoked"),
                customer("acme", "wxlate", "active"),
                row(
                    "acme/wxlate",
                    "access_token",
                    "open_platform",
                    "wxlate",
                    "T",
                    -5,
                    false,
                ),
                customer("acme", "wxfine", "active"),
                row(
                    "acme/wxfine",
                    "access_token",
                    "open_platform",
                    "wxfine",
                    "T",
                    7000,
                    false,
                ),
            ]
            .concat(),
        );
        let piped = env
            .run(&["status", "--platform", "acme"])
            .expect(0)
            .stdout();
        assert!(!piped.contains('\x1b'), "{piped:?}");
        let shown = on_a_terminal(&env.command(&["status"]));
        // acme: a valid token, its ticket fresh, one customer revoked (REVOKED in
        // yellow, the last but one column).
        let acme = line_of(&shown, "acme");
        assert!(
            acme.contains(" valid ") && acme.contains(" fresh "),
            "{shown:?}"
        );
        let last_two: Vec<&str> = acme.split_whitespace().rev().take(2).collect();
        assert_eq!(last_two, ["0", &format!("{YELLOW}1{RESET}")], "{shown:?}");
        assert_eq!(acme.matches('\x1b').count(), 2, "{shown:?}");
        let shown = on_a_terminal(&env.command(&["status", "--platform", "acme"]));
        let gone = line_of(&shown, "wxgone");
        assert!(
            gone.contains(&format!("{YELLOW}revoked{RESET}")),
            "{shown:?}"
        );
        let late = line_of(&shown, "wxlate");
        assert!(late.contains(&format!("{RED}expired{RESET}")), "{shown:?}");
        assert!(!line_of(&shown, "wxfine").contains('\x1b'), "{shown:?}");
    }
}
