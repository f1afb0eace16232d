use std::fs;

use super::*;
use proptest::prelude::*;

const PLACE: &[&str] = &["acme", "wx0123456789abcdef", "refresh_token"];

fn key() -> StoreKey {
    StoreKey::from_line(new_key_line().unwrap().as_bytes()).unwrap()
}

#[test]
fn a_sealed_value_opens_for_its_place_only() {
    let k = key();
    let sealed = k.seal("refreshtoken@@@secret", PLACE).unwrap();
    assert!(sealed.starts_with("v1:"));
    assert!(!sealed.contains("secret"));
    assert_eq!(k.open(&sealed, PLACE).unwrap(), "refreshtoken@@@secret");
    // Each seal draws a new nonce.
    assert_ne!(k.seal("refreshtoken@@@secret", PLACE).unwrap(), sealed);
    for other in [
        &["acme", "wx0123456789abcdee", "refresh_token"][..],
        &["acme2", "wx0123456789abcdef", "refresh_token"],
        &["acme", "wx0123456789abcdef", "permanent_code"],
        &["acme/wx0123456789abcdef", "refresh_token"],
        &[],
    ] {
        assert_eq!(
            k.open(&sealed, other),
            Err(OpenError::Mismatch),
            "{other:?}"
        );
    }
    assert_eq!(k.open(&k.seal("", &[]).unwrap(), &[]).unwrap(), "");
}

#[test]
fn another_key_does_not_open_it() {
    let sealed = key().seal("refreshtoken@@@secret", PLACE).unwrap();
    let err = key().open(&sealed, PLACE).unwrap_err();
    assert_eq!(err, OpenError::Mismatch);
    assert!(err.to_string().contains("store_key_file"));
}

#[test]
fn every_altered_byte_and_every_cut_is_refused() {
    let k = key();
    let sealed = k.seal("refreshtoken@@@secret", PLACE).unwrap();
    let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
    for i in 0..bytes.len() {
        bytes[i] ^= 0x01;
        let tampered = format!("v1:{}", STANDARD.encode(&bytes));
        assert_eq!(
            k.open(&tampered, PLACE),
            Err(OpenError::Mismatch),
            "byte {i}"
        );
        bytes[i] ^= 0x01;
    }
    for n in 0..bytes.len() {
        let cut = format!("v1:{}", STANDARD.encode(&bytes[..n]));
        assert!(k.open(&cut, PLACE).is_err(), "{n} bytes");
    }
}

#[test]
fn what_is_no_sealed_value_is_refused_as_such() {
    let k = key();
    let sealed = k.seal("x", PLACE).unwrap();
    for bad in [
        String::new(),
        "refreshtoken@@@plain".to_string(),
        sealed.replacen("v1:", "v2:", 1),
        sealed.replacen("v1:", "", 1),
        "v1:not base64!".to_string(),
        "v1:".to_string(),
        format!("v1:{}", "A".repeat(MAX_SEALED)),
    ] {
        assert_eq!(k.open(&bad, PLACE), Err(OpenError::Format), "{bad:.20}");
    }
}

/// Credentials are documented up to 512 bytes; one eight times that still
/// seals and opens (the bound on sealed values is 64 KiB, not a few hundred).
#[test]
fn a_long_credential_seals_and_opens() {
    let k = key();
    let long = "r".repeat(4096);
    let sealed = k.seal(&long, PLACE).unwrap();
    assert!(sealed.len() > 5000, "{}", sealed.len());
    assert_eq!(k.open(&sealed, PLACE).unwrap(), long);
}

#[test]
fn places_are_unambiguous() {
    assert_ne!(associated(&["a/b", "c"]), associated(&["a", "b/c"]));
    assert_ne!(associated(&["ab", ""]), associated(&["a", "b"]));
}

#[test]
fn key_lines_are_checked_exactly() {
    let line = new_key_line().unwrap();
    assert_eq!(line.len(), 45);
    assert!(line.ends_with('\n'));
    assert_eq!(STANDARD.decode(line.trim_end()).unwrap().len(), 32);
    assert_ne!(line, new_key_line().unwrap());
    assert!(StoreKey::from_line(line.as_bytes()).is_some());
    assert!(StoreKey::from_line(line.trim_end().as_bytes()).is_some());
    for bad in [
        String::new(),
        "\n".to_string(),
        format!("{line}\n"),
        format!(" {line}"),
        format!("{}\r\n", line.trim_end()),
        line[1..].to_string(),
        // 33 bytes, and 43 characters.
        format!("{}\n", STANDARD.encode([0u8; 33])),
        line.replacen('=', "A", 1),
    ] {
        assert!(StoreKey::from_line(bad.as_bytes()).is_none(), "{bad:?}");
    }
}

#[test]
fn loading_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.key");
    fs::write(&path, new_key_line().unwrap()).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let k = StoreKey::load(&path).unwrap();
    assert!(k.open(&k.seal("x", PLACE).unwrap(), PLACE).is_ok());
    assert_eq!(format!("{k:?}"), "StoreKey(***)");

    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = format!("{:#}", StoreKey::load(&path).unwrap_err());
    assert!(
        err.contains("readable by group or others") && err.contains("chmod 600"),
        "{err}"
    );

    fs::write(&path, "not a key\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let err = StoreKey::load(&path).unwrap_err();
    assert!(err.is::<crate::error::Usage>());
    let err = format!("{err:#}");
    assert!(
        err.contains(&path.display().to_string()) && err.contains("wxtoken keygen"),
        "{err}"
    );

    fs::write(&path, "A".repeat(1000)).unwrap();
    let err = format!("{:#}", StoreKey::load(&path).unwrap_err());
    assert!(err.contains("larger than"), "{err}");

    let missing = dir.path().join("missing.key");
    let err = format!("{:#}", StoreKey::load(&missing).unwrap_err());
    assert!(err.contains("missing.key"), "{err}");
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(s in ".{0,200}", b in proptest::collection::vec(any::<u8>(), 0..120)) {
        let k = key();
        let _ = k.open(&s, PLACE);
        let _ = k.open(&format!("v1:{s}"), PLACE);
        let _ = k.open(&format!("v1:{}", STANDARD.encode(&b)), PLACE);
        let _ = StoreKey::from_line(&b);
        let _ = StoreKey::from_line(s.as_bytes());
    }

    #[test]
    fn round_trip(s in ".{0,300}", a in ".{0,20}") {
        let k = key();
        prop_assert_eq!(k.open(&k.seal(&s, &[&a]).unwrap(), &[&a]).unwrap(), s);
    }
}
