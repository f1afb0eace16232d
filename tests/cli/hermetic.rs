//! The tests never touch the machine's package install: every `wxtoken` they
//! spawn looks for `/etc/wxtoken/config.toml` and `/var/lib/wxtoken` under
//! the test's own folder, and a test without a stand-in cannot reach the
//! real upstream.

use crate::support::{Env, REFUSING_BASE};

/// A harness-built command reads the package's config from the test's
/// private root (a config planted there is seen: the seam is live), never
/// the machine's; with no stand-in it calls a refusing loopback address.
#[test]
fn a_harness_command_never_sees_the_package_install() {
    let env = Env::new();
    let cmd = env.command(&["status"]);
    let root = cmd
        .get_envs()
        .find(|(k, _)| *k == "WXTOKEN_TEST_SYSTEM_ROOT")
        .and_then(|(_, v)| v)
        .map(std::path::PathBuf::from);
    assert_eq!(root, Some(env.path("sys")), "the machine's / is the root");
    let config = env.path("sys/etc/wxtoken/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        "[[app]]\nname = \"planted\"\nappid = \"wxplanted\"\nsecret_env = \"S\"\n",
    )
    .unwrap();
    let mut cmd = env.command(&["status", "--format", "json"]);
    cmd.env_remove("WXTOKEN_DB");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("planted"), "{stdout}{out:?}");
    std::fs::remove_file(&config).unwrap();

    let run = env.run(&["refresh", "--appid", "wxnostandin"]);
    let stderr = run.expect(1).stderr();
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("weixin.qq.com"), "{stderr}");
    assert!(REFUSING_BASE.starts_with("http://127.0.0.1:"));
}

/// Every test file that spawns the binary (or a shell or stand-in that runs
/// it) by hand does so through `support::hermetic` or `Env::command`.
#[test]
fn every_spawn_of_the_binary_is_hermetic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let mut bare = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("hermetic.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let spawns = text.matches("CARGO_BIN_EXE_wxtoken").count();
        let guarded = text.matches("hermetic(").count() + text.matches("env.command(").count();
        if spawns > guarded {
            bare.push(format!(
                "{} ({spawns} spawns, {guarded} guarded)",
                path.display()
            ));
        }
    }
    assert!(
        bare.is_empty(),
        "spawns outside support::hermetic: {bare:?}"
    );
}

/// A spawn that clears the environment (`env_clear`, `env -i`, as cron's jobs
/// are run) gives the package's paths back before its function ends: else a
/// machine with the package installed fails the test (its `/var/lib/wxtoken`
/// is then the default database).
#[test]
fn a_cleared_environment_keeps_the_tests_package_paths() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let mut lost = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("hermetic.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for clear in [".env_clear()", ".arg(\"-i\")"] {
            for (at, _) in text.match_indices(clear) {
                // The rest of the function: up to the next `fn`.
                let body: Vec<&str> = text[at..]
                    .lines()
                    .take_while(|l| {
                        let l = l.trim_start();
                        !(l.starts_with("fn ") || l.starts_with("pub fn "))
                    })
                    .collect();
                let body = body.join("\n");
                // `hermetic`, the variable itself, or a harness command's
                // environment copied over.
                let kept = ["hermetic(", "WXTOKEN_TEST_SYSTEM_ROOT", ".get_envs()"]
                    .iter()
                    .any(|k| body.contains(k));
                if !kept {
                    let line = text[..at].lines().count();
                    lost.push(format!("{}:{line}", path.display()));
                }
            }
        }
    }
    assert!(
        lost.is_empty(),
        "environment cleared, package paths not given back: {lost:?}"
    );
}
