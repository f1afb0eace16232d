//! `export_dir`: every valid value also as a file, kept by the commands that
//! change values, on both backends.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::{Backend, Env, SECRET, StandIn, both, now};

/// `shop` (classic, jsapi ticket) exporting to `DIR/run`, a folder whose
/// group is not the running user's when that can be arranged.
fn setup(backend: Backend, up: &StandIn) -> (Env, PathBuf) {
    let mut env = backend.with(up);
    let run = env.path("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o750)).unwrap();
    let c = std::ffi::CString::new(run.to_str().unwrap()).unwrap();
    // As root, another group; otherwise the folder keeps the user's own.
    // SAFETY: `c` is a NUL-terminated path; uid -1 keeps the owner.
    unsafe { libc::chown(c.as_ptr(), u32::MAX, 4242) };
    let config = format!(
        "export_dir = \"{}\"\n\n[[app]]\nname = \"shop\"\nappid = \"wxshop\"\nsecret_env = \"S\"\ntickets = [\"jsapi\"]\n",
        run.display()
    );
    std::fs::write(env.path("config.toml"), config).unwrap();
    let path = env.path("config.toml");
    env.set("WXTOKEN_CONFIG", path.to_str().unwrap());
    env.set("S", SECRET);
    (env, run)
}

fn stored(env: &Env, kind: &str) -> String {
    env.text(&format!(
        "SELECT value FROM wxtoken_tokens WHERE app = 'shop' AND kind = '{kind}'"
    ))
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

both! {
    fn refresh_writes_each_value_as_a_file_of_the_folders_group(backend) {
        let up = StandIn::wechat();
        let (env, run) = setup(backend, &up);
        env.run(&["refresh"]).expect(0);
        let token = run.join("shop/access_token");
        assert_eq!(std::fs::read_to_string(&token).unwrap(), stored(&env, "access_token"), "exactly the value, no newline");
        assert_eq!(std::fs::read_to_string(run.join("shop/jsapi_ticket")).unwrap(), stored(&env, "jsapi_ticket"));
        let folder_gid = std::fs::metadata(&run).unwrap().gid();
        for file in ["shop/access_token", "shop/jsapi_ticket"] {
            let meta = std::fs::symlink_metadata(run.join(file)).unwrap();
            assert!(meta.is_file());
            assert_eq!(meta.mode() & 0o7777, 0o640, "{file}");
            assert_eq!(meta.gid(), folder_gid, "{file}: the folder's group");
        }
        assert_eq!(std::fs::metadata(run.join("shop")).unwrap().gid(), folder_gid);
        assert!(leftovers(&run.join("shop")).is_empty());
    }
}

both! {
    fn a_new_value_replaces_the_file_atomically(backend) {
        let up = StandIn::wechat();
        let (env, run) = setup(backend, &up);
        env.run(&["refresh"]).expect(0);
        let token = run.join("shop/access_token");
        // The first file is held open: a replaced file's inode number is free
        // for the next file once its last user closes it (ext4 hands it out
        // again at once), so only an open file's number says "another file".
        let first = std::fs::File::open(&token).unwrap();
        let first_value = stored(&env, "access_token");
        // A reader that never stops while values are replaced: each read is a
        // whole token, never a part of one and never nothing.
        let stop = AtomicBool::new(false);
        let reads = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = std::fs::read_to_string(&token).unwrap();
                    assert!(text.starts_with("TOKEN-") && text.ends_with("-wxshop"), "{text:?}");
                    reads += 1;
                }
                reads
            });
            // Each forced refresh stores a new token, and its file follows.
            let mut values = vec![first_value.clone()];
            for _ in 0..5 {
                env.run(&["refresh", "--force"]).expect(0);
                let value = stored(&env, "access_token");
                assert!(!values.contains(&value), "{value} stored again: {values:?}");
                assert_eq!(std::fs::read_to_string(&token).unwrap(), value);
                values.push(value);
            }
            stop.store(true, Ordering::Relaxed);
            reader.join().unwrap()
        });
        assert!(reads > 0);
        assert_eq!(std::fs::read_to_string(&token).unwrap(), stored(&env, "access_token"));
        // The first file was renamed over, never written in place: it is
        // unlinked and still holds the first token.
        let held = first.metadata().unwrap();
        assert_eq!(held.nlink(), 0, "the first file is no longer in the folder");
        assert_ne!(std::fs::metadata(&token).unwrap().ino(), held.ino(), "a new file, renamed over");
        assert_eq!(std::io::read_to_string(&first).unwrap(), first_value);
        assert!(leftovers(&run.join("shop")).is_empty());
    }
}

both! {
    fn invalidate_and_expiry_remove_the_file(backend) {
        let up = StandIn::wechat();
        let (mut env, run) = setup(backend, &up);
        env.run(&["refresh"]).expect(0);
        let (token, ticket) = (run.join("shop/access_token"), run.join("shop/jsapi_ticket"));
        env.run(&["invalidate", "--app", "shop", "--ticket", "jsapi"]).expect(0);
        assert!(!ticket.exists(), "an invalidated ticket has no file");
        assert!(token.exists(), "the token stays");
        let value = stored(&env, "access_token");
        env.run(&["invalidate", "--app", "shop", "--if-token", &value]).expect(0);
        assert!(!token.exists(), "an invalidated token has no file");
        // The next refresh writes both again.
        env.run(&["refresh"]).expect(0);
        assert_eq!(std::fs::read_to_string(&token).unwrap(), stored(&env, "access_token"));
        assert!(ticket.exists());
        // Both expire, and upstream cannot be reached: no file is left.
        env.exec(&format!("UPDATE wxtoken_tokens SET expires_at = {}", now() - 1));
        env.api_base = Some("http://127.0.0.1:1".to_string());
        env.run(&["refresh"]).expect(1);
        assert!(!token.exists() && !ticket.exists(), "expired values have no file");
    }
}

both! {
    fn a_link_planted_in_the_folder_is_never_followed(backend) {
        let up = StandIn::wechat();
        let (env, run) = setup(backend, &up);
        let elsewhere = env.path("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        // The app's folder is a link: refused, nothing written through it.
        symlink(&elsewhere, run.join("shop")).unwrap();
        let refresh = env.run(&["refresh"]);
        refresh.expect(1).stderr_has("symbolic link");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written through the link");
        assert!(!stored(&env, "access_token").is_empty(), "the store is written all the same");
        // The file itself is a link: replaced by a file, its target untouched.
        std::fs::remove_file(run.join("shop")).unwrap();
        std::fs::create_dir(run.join("shop")).unwrap();
        let precious = env.path("precious");
        std::fs::write(&precious, "precious").unwrap();
        symlink(&precious, run.join("shop/access_token")).unwrap();
        env.run(&["refresh", "--force"]).expect(0);
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");
        let meta = std::fs::symlink_metadata(run.join("shop/access_token")).unwrap();
        assert!(meta.is_file(), "the link was replaced");
        assert_eq!(std::fs::read_to_string(run.join("shop/access_token")).unwrap(), stored(&env, "access_token"));
    }
}

#[test]
fn an_untrusted_or_missing_folder_is_refused() {
    let up = StandIn::wechat();
    let (env, run) = setup(Backend::Sqlite, &up);
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("export_dir")
        .stderr_has("writable by group and others");
    std::fs::remove_dir(&run).unwrap();
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("RuntimeDirectory=wxtoken");
    // A relative path is a config error.
    let text = std::fs::read_to_string(env.path("config.toml")).unwrap();
    let relative = text.replacen(&format!("\"{}\"", run.display()), "\"run\"", 1);
    std::fs::write(env.path("config.toml"), relative).unwrap();
    env.run(&["refresh"])
        .expect(2)
        .stderr_has("not an absolute path");
}
