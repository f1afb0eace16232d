//! The file checks against links and races.

use super::write::{random, write_in};
use super::*;
use std::os::unix::fs::{PermissionsExt, symlink};

#[test]
fn creation_is_exclusive_and_never_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    let link = dir.path().join("link");
    symlink(&target, &link).unwrap();
    let err = create_exclusive(&link, 0o600).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert!(!target.exists());
    let file = dir.path().join("file");
    create_exclusive(&file, 0o600).unwrap();
    assert_eq!(
        create_exclusive(&file, 0o600).unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn an_atomic_write_replaces_a_link_and_leaves_its_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    fs::write(&target, "precious").unwrap();
    let out = dir.path().join("out");
    symlink(&target, &out).unwrap();
    write_atomically(&out, b"new", 0o600, "--output").unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
    assert!(fs::symlink_metadata(&out).unwrap().is_file());
    assert_eq!(fs::read_to_string(&out).unwrap(), "new");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no leftovers");
}

#[test]
fn temporary_names_differ() {
    assert_ne!(random(), random());
}

/// The folder of `status --output` swapped for a link to another folder
/// after its check: nothing is written there, nor anywhere.
#[test]
fn a_folder_swapped_after_its_check_is_not_written_into() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let checked = fs::metadata(&out).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::rename(&out, dir.path().join("old")).unwrap();
    symlink(&elsewhere, &out).unwrap();
    let name = std::ffi::OsStr::new("wxtoken.prom");
    let e = write_in(&out, &checked, name, b"x", 0o644).unwrap_err();
    assert!(
        format!("{e:#}").contains("was replaced after it was checked"),
        "{e:#}"
    );
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    // The folder checked, still there: written, by a rename.
    let old = dir.path().join("old");
    write_in(&old, &checked, name, b"x", 0o644).unwrap();
    assert_eq!(fs::read(old.join("wxtoken.prom")).unwrap(), b"x");
    assert_eq!(fs::read_dir(&old).unwrap().count(), 1, "no leftovers");
}

/// What follows a link on a path is checked as well: a file writable by
/// others, reached through a link to its folder, is refused.
#[test]
fn the_rest_of_a_path_after_a_link_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    fs::create_dir(&real).unwrap();
    let db = real.join("tokens.db");
    fs::write(&db, "").unwrap();
    fs::set_permissions(&db, fs::Permissions::from_mode(0o666)).unwrap();
    symlink(&real, dir.path().join("via")).unwrap();
    for path in [db.clone(), dir.path().join("via/tokens.db")] {
        let err = trusted(&path, "database").unwrap_err();
        assert!(
            format!("{err:#}").contains("writable"),
            "{}: {err:#}",
            path.display()
        );
    }
    fs::set_permissions(&db, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(trusted(&dir.path().join("via/tokens.db"), "database").is_ok());
}

/// Up to 40 links on a path are followed; one more is refused.
#[test]
fn forty_links_are_followed_and_not_one_more() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file"), "").unwrap();
    let mut next = "file".to_string();
    for n in 1..=MAX_LINKS + 1 {
        let link = format!("link{n}");
        symlink(&next, dir.path().join(&link)).unwrap();
        next = link;
    }
    let forty = dir.path().join(format!("link{MAX_LINKS}"));
    assert!(trusted(&forty, "file").is_ok());
    let err = trusted(&dir.path().join(&next), "file").unwrap_err();
    assert!(
        format!("{err:#}").contains("more than 40 symbolic links"),
        "{err:#}"
    );
}

/// The refusal says who besides the owner may write.
#[test]
fn who_may_write_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    for (mode, who) in [
        (0o620, "group"),
        (0o602, "others"),
        (0o622, "group and others"),
    ] {
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        let err = format!("{:#}", trusted(&file, "file").unwrap_err());
        assert!(
            err.contains(&format!("is writable by {who}: ")),
            "{mode:o}: {err}"
        );
    }
}
