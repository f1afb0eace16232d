//! `wxtoken keygen PATH`: a new store key, created exclusively, mode 0600,
//! never through a link and never in a folder other users can change.

use std::os::unix::fs::{PermissionsExt, symlink};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::support::Env;

fn keygen(env: &Env, path: &std::path::Path) -> crate::support::Run {
    env.run(&["keygen", path.to_str().unwrap()])
}

#[test]
fn writes_one_line_of_32_random_bytes_readable_by_its_owner_only() {
    let env = Env::new();
    let path = env.path("store.key");
    let run = keygen(&env, &path);
    run.expect(0);
    assert_eq!(run.stdout(), "");
    assert_eq!(run.stderr(), "");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 45, "{text:?}");
    let line = text.strip_suffix('\n').unwrap();
    assert!(!line.contains('\n'));
    assert_eq!(STANDARD.decode(line).unwrap().len(), 32);

    let other = env.path("other.key");
    keygen(&env, &other).expect(0);
    assert_ne!(std::fs::read_to_string(&other).unwrap(), text);
}

#[test]
fn the_file_is_0600_whatever_the_umask() {
    let env = Env::new();
    let path = env.path("store.key");
    // A umask that takes the owner's write bit still gives 0600 (not 0400),
    // and umask 0 no more than 0600.
    let mut cmd = std::process::Command::new("sh");
    crate::support::hermetic(&mut cmd, env.dir.path());
    let out = cmd
        .arg("-c")
        .arg("umask 0277 && \"$0\" keygen \"$1\" && umask 0 && \"$0\" keygen \"$2\"")
        .arg(env!("CARGO_BIN_EXE_wxtoken"))
        .arg(&path)
        .arg(env.path("open.key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for name in ["store.key", "open.key"] {
        let mode = std::fs::metadata(env.path(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o600, "{name}");
    }
}

#[test]
fn an_existing_key_is_never_replaced() {
    let env = Env::new();
    let path = env.path("store.key");
    keygen(&env, &path).expect(0);
    let before = std::fs::read_to_string(&path).unwrap();
    keygen(&env, &path)
        .expect(2)
        .stderr_has("already exists: keep it (it decrypts what is stored) or remove it first");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn a_planted_link_is_not_followed() {
    let env = Env::new();
    let target = env.path("elsewhere.key");
    let link = env.path("store.key");
    symlink(&target, &link).unwrap();
    keygen(&env, &link).expect(2).stderr_has("already exists");
    assert!(!target.exists(), "the link's target was created");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A link to an existing file: that file is left alone.
    std::fs::write(&target, "precious").unwrap();
    keygen(&env, &link).expect(2).stderr_has("already exists");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
}

#[test]
fn a_folder_others_can_write_is_refused() {
    let env = Env::new();
    let shared = env.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = shared.join("store.key");
    keygen(&env, &path)
        .expect(2)
        .stderr_has("mode 0777) is writable by")
        .stderr_has("chmod go-w");
    assert!(!path.exists());
}

#[test]
fn a_missing_folder_or_no_path_is_a_usage_error() {
    let env = Env::new();
    keygen(&env, &env.path("nowhere/store.key"))
        .expect(2)
        .stderr_has("its folder does not exist");
    env.run(&["keygen"]).expect(2);
    env.run(&["keygen", ""]).expect(2);
}
