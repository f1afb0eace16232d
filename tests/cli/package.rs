//! What the package ships beside the binary: shell completions and manual
//! pages, generated from the command-line definitions; and the service's
//! secrets from systemd credentials.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Env, SECRET, StandIn};

/// `completions bash` prints a script that bash loads and that completes the
/// commands; zsh and fish get theirs; another shell is a usage error.
#[test]
fn completions_for_bash_zsh_and_fish() {
    let env = Env::new();
    let bash = env.run(&["completions", "bash"]).expect(0).stdout();
    let script = format!(
        "{bash}\nCOMP_WORDS=(wxtoken re); COMP_CWORD=1; _wxtoken wxtoken re wxtoken; echo \"${{COMPREPLY[@]}}\""
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "refresh",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zsh = env.run(&["completions", "zsh"]).expect(0).stdout();
    assert!(zsh.starts_with("#compdef wxtoken"), "{zsh}");
    let fish = env.run(&["completions", "fish"]).expect(0).stdout();
    assert!(fish.contains("complete -c wxtoken"), "{fish}");
    env.run(&["completions", "tcsh"])
        .expect(2)
        .stderr_has("bash, zsh, fish");
}

/// `man DIR` writes wxtoken.1 and one page per command, with the options of
/// `--help`; a missing folder is a usage error.
#[test]
fn manual_pages_for_every_command() {
    let env = Env::new();
    let dir = env.path("man");
    std::fs::create_dir(&dir).unwrap();
    env.run(&["man", dir.to_str().unwrap()]).expect(0);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "wxtoken-authorizers-add.1",
            "wxtoken-authorizers-import.1",
            "wxtoken-authorizers-link.1",
            "wxtoken-authorizers-list.1",
            "wxtoken-authorizers-sync.1",
            "wxtoken-authorizers.1",
            "wxtoken-completions.1",
            "wxtoken-history.1",
            "wxtoken-invalidate.1",
            "wxtoken-keygen.1",
            "wxtoken-man.1",
            "wxtoken-push.1",
            "wxtoken-refresh.1",
            "wxtoken-show.1",
            "wxtoken-sign.1",
            "wxtoken-status.1",
            "wxtoken.1",
            "wxtoken.toml.5"
        ]
    );
    let refresh = std::fs::read_to_string(dir.join("wxtoken-refresh.1")).unwrap();
    assert!(refresh.contains(".TH wxtoken-refresh 1"), "{refresh}");
    assert!(refresh.contains("ahead"), "{refresh}");
    env.run(&["man", env.path("nowhere").to_str().unwrap()])
        .expect(2)
        .stderr_has("is not a folder");
}

/// Each command's page has its examples under EXAMPLES, and ENVIRONMENT
/// (every WXTOKEN_* variable the program reads, and CREDENTIALS_DIRECTORY),
/// EXIT STATUS, FILES and SEE ALSO; wxtoken.toml(5) describes every field.
#[test]
fn manual_pages_say_what_help_leaves_out() {
    let env = Env::new();
    let dir = env.path("man");
    std::fs::create_dir(&dir).unwrap();
    env.run(&["man", dir.to_str().unwrap()]).expect(0);
    let variables = wxtoken_variables();
    assert!(
        variables.contains(&"WXTOKEN_DB".to_string()),
        "{variables:?}"
    );
    for page in ["wxtoken.1", "wxtoken-refresh.1", "wxtoken-show.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        for section in [
            ".SH ENVIRONMENT",
            ".SH \"EXIT STATUS\"",
            ".SH FILES",
            ".SH \"SEE ALSO\"",
            "/var/lib/wxtoken/tokens.db",
            "/etc/wxtoken/config.toml",
            "wxtoken.toml\\fR(5)",
            "CREDENTIALS_DIRECTORY",
        ] {
            assert!(text.contains(section), "{page} lacks {section}");
        }
        let environment = text.split(".SH ENVIRONMENT").nth(1).unwrap();
        for var in &variables {
            assert!(environment.contains(var), "{page}: ENVIRONMENT lacks {var}");
        }
        assert!(!text.contains(".SH EXTRA"), "{page}");
    }
    let show = std::fs::read_to_string(dir.join("wxtoken-show.1")).unwrap();
    let examples = show.split(".SH EXAMPLES\n").nth(1).unwrap();
    assert!(
        examples.starts_with(".nf\n") && examples.contains("wxtoken show"),
        "{show}"
    );
    let toml = std::fs::read_to_string(dir.join("wxtoken.toml.5")).unwrap();
    for field in [
        "name",
        "api",
        "appid",
        "secret_file",
        "secret_env",
        "secret_credential",
        "tickets",
        "daily_budget",
        "api_base",
        "allow_insecure_http",
        "kind",
        "message_token_file",
        "aes_key_file",
        "store_key_file",
        "provider_corpid",
    ] {
        assert!(
            toml.contains(&format!("\\fB{field}\\fR")),
            "wxtoken.toml.5 lacks {field}"
        );
    }
}

/// The `WXTOKEN_*` variables the program's source reads (not the tests' own).
fn wxtoken_variables() -> Vec<String> {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices("\"WXTOKEN_") {
                    let name: String = text[i + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    if !name.starts_with("WXTOKEN_TEST_") && !found.contains(&name) {
                        found.push(name);
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    found
}

/// `man` is offered as every listed command is, and values that are not
/// paths (an app's name) are not completed with file names; paths
/// (`--config`) still are.
#[test]
fn completions_offer_man_and_no_file_names_for_names() {
    let env = Env::new();
    std::fs::write(env.path("shopfile"), "").unwrap();
    let bash = env.run(&["completions", "bash"]).expect(0).stdout();
    let complete = |words: &str| {
        let n = words.split(' ').count() - 1;
        let script = format!(
            "{bash}\ncd {}; COMP_WORDS=({words}); COMP_CWORD={n}; _wxtoken wxtoken \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\"",
            env.dir.path().display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("wxtoken ma"), "man");
    assert_eq!(complete("wxtoken show --app sho"), "sho");
    assert_eq!(complete("wxtoken show --config sho"), "shopfile");
    let zsh = env.run(&["completions", "zsh"]).expect(0).stdout();
    assert!(zsh.contains("'man:"), "zsh does not offer man");
    let fish = env.run(&["completions", "fish"]).expect(0).stdout();
    assert!(fish.contains("-a \"man\""), "fish does not offer man");
}

/// A config whose one app reads its secret from the systemd credential `shop`.
fn credential_app(env: &mut Env, credential: &str) {
    let path = env.path("config.toml");
    std::fs::write(
        &path,
        format!(
            "[[app]]\nname = \"shop\"\nappid = \"wxshop\"\nsecret_credential = \"{credential}\"\n"
        ),
    )
    .unwrap();
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
}

/// `secret_credential = "shop"` reads the file `$CREDENTIALS_DIRECTORY/shop`
/// (what LoadCredential=shop:... makes), trimmed, like a secret_file.
#[test]
fn a_secret_from_a_systemd_credential() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    credential_app(&mut env, "shop");
    let creds = env.path("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("shop"), format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(creds.join("shop"), std::fs::Permissions::from_mode(0o400)).unwrap();
    env.set("CREDENTIALS_DIRECTORY", creds.to_str().unwrap());
    let run = env.run(&["refresh"]);
    assert_eq!(run.expect(0).stderr(), "");
    let requests = up.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].query["secret"], SECRET);
}

/// Without CREDENTIALS_DIRECTORY (not run by systemd), with the credential
/// missing from it, or with a path for a name: exit 2, saying what to do.
#[test]
fn a_missing_or_malformed_credential_is_explained() {
    let up = StandIn::wechat();
    let mut env = Env::with(&up);
    credential_app(&mut env, "shop");
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("secret_credential \"shop\": CREDENTIALS_DIRECTORY is not set: run wxtoken from a systemd unit with LoadCredential=shop:");

    let creds = env.path("credentials");
    std::fs::create_dir(&creds).unwrap();
    env.set("CREDENTIALS_DIRECTORY", creds.to_str().unwrap());
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("secret_credential \"shop\": no such credential in")
        .stderr_has("add LoadCredential=shop:/path/to/secret to the unit");

    for bad in ["../shop", "/etc/shadow", ""] {
        credential_app(&mut env, bad);
        env.run(&["refresh"])
            .expect(2)
            .stderr_has("field secret_credential");
    }
    assert!(up.requests().is_empty());
}
