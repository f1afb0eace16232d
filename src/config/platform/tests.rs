use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::platform::crypto::MsgCrypt;
use crate::platform::keys::{read_platform_secrets, read_push_keys};

/// 43 characters of `[A-Za-z0-9]`, as in the platform's settings.
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn checked(text: &str) -> Result<Platform, String> {
    let raw: RawPlatform = toml::from_str(text).map_err(|e| e.to_string())?;
    check(raw, 0, Path::new("/etc/wxtoken"), None, false)
}

const OPEN: &str = r#"
name = "acme"
kind = "open_platform"
appid = "wx0123456789abcdef"
secret_env = "ACME_SECRET"
message_token_file = "acme.token"
aes_key_file = "/etc/wxtoken/acme.aeskey"
store_key_file = "store.key"
tickets = ["jsapi", "wx_card", "jsapi"]
"#;

#[test]
fn an_open_platform_with_everything() {
    let p = checked(OPEN).unwrap();
    assert_eq!(p.kind, Api::OpenPlatform);
    assert_eq!(p.appid, "wx0123456789abcdef");
    assert!(matches!(&p.secret, SecretSource::Env(v) if v == "ACME_SECRET"));
    assert!(
        matches!(&p.message_token, Some(SecretSource::File(f)) if f == Path::new("/etc/wxtoken/acme.token"))
    );
    assert_eq!(
        p.store_key_file.as_deref(),
        Some(Path::new("/etc/wxtoken/store.key"))
    );
    assert_eq!(p.tickets, [Ticket::Jsapi, Ticket::WxCard]);
    assert_eq!(p.api_base, "https://api.weixin.qq.com");
}

#[test]
fn kinds_round_trip_and_pick_their_host() {
    for kind in Api::PLATFORMS {
        assert_eq!(Api::parse_platform(kind.as_str()), Some(kind));
    }
    assert_eq!(Api::parse_platform("OpenPlatform"), None);
    let suite = checked(
        "name = \"s\"\nkind = \"wecom_suite\"\nappid = \"ww1\"\nsecret_env = \"S\"\nmessage_token_env = \"T\"\naes_key_env = \"K\"\nstore_key_file = \"/k\"\ntickets = [\"agent_config\"]\nprovider_corpid = \"wwprov\"\napi_base = \"http://127.0.0.1:9/\"\n",
    )
    .unwrap();
    assert_eq!(suite.tickets, [Ticket::AgentConfig]);
    assert_eq!(suite.provider_corpid.as_deref(), Some("wwprov"));
    assert_eq!(suite.api_base, "http://127.0.0.1:9");
    let provider = checked(
        "name = \"p\"\nkind = \"wecom_provider\"\nappid = \"ww2\"\nsecret_file = \"p.secret\"\n",
    )
    .unwrap();
    assert_eq!(provider.api_base, "https://qyapi.weixin.qq.com");
    assert!(provider.message_token.is_none() && provider.aes_key.is_none());
    assert!(provider.store_key_file.is_none() && provider.tickets.is_empty());
}

#[test]
fn each_error_names_the_platform_and_the_field() {
    let without = |field: &str| {
        OPEN.lines()
            .filter(|l| !l.starts_with(field))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let with = |extra: &str| format!("{OPEN}{extra}\n");
    let provider = "name = \"p\"\nkind = \"wecom_provider\"\nappid = \"ww2\"\nsecret_env = \"S\"\n";
    let cases = [
        (without("name"), "platform #1: field name is missing"),
        (without("kind"), "platform \"acme\": field kind is missing"),
        (
            without("appid"),
            "platform \"acme\": field appid is missing (the component appid)",
        ),
        (
            without("secret_env"),
            "platform \"acme\": no secret: set secret_file",
        ),
        (
            without("message_token_file"),
            "platform \"acme\": no message Token: set message_token_file or message_token_env",
        ),
        (
            without("aes_key_file"),
            "platform \"acme\": no EncodingAESKey: set aes_key_file or aes_key_env",
        ),
        (
            without("store_key_file"),
            "platform \"acme\": field store_key_file is missing",
        ),
        (
            OPEN.replace("open_platform", "component"),
            "platform \"acme\": field kind: unknown kind \"component\"",
        ),
        (
            OPEN.replace("name = \"acme\"", "name = \"ac/me\""),
            "platform \"ac/me\": field name: the name contains '/'",
        ),
        (
            OPEN.replace("wx_card", "agent_config"),
            "platform \"acme\": field tickets: unknown ticket \"agent_config\" for kind open_platform: use jsapi or wx_card",
        ),
        (
            with("secret = \"s3cr3t\""),
            "platform \"acme\": field secret: secrets are not accepted",
        ),
        (
            with("aes_key = \"k\""),
            "platform \"acme\": field aes_key: secrets are not accepted in the config file; put it in a file (aes_key_file",
        ),
        (
            with("message_token = \"t\""),
            "platform \"acme\": field message_token: secrets are not accepted",
        ),
        (
            with("secret_file = \"s\""),
            "platform \"acme\": fields secret_file and secret_env are both set",
        ),
        (
            with("aes_key_env = \"K\""),
            "platform \"acme\": fields aes_key_file and aes_key_env are both set",
        ),
        (
            with("provider_corpid = \"ww\""),
            "platform \"acme\": field provider_corpid: only a wecom_suite has one",
        ),
        (
            with("api_base = \"http://example.com\""),
            "platform \"acme\": field api_base: \"http://example.com\" would send the secret in clear text",
        ),
        (with("daily_budget = 100"), "unknown field `daily_budget`"),
        (
            format!("{provider}message_token_env = \"T\"\n"),
            "platform \"p\": field message_token: a wecom_provider receives no pushes",
        ),
        (
            format!("{provider}store_key_file = \"k\"\n"),
            "platform \"p\": field store_key_file: a wecom_provider receives no pushes",
        ),
        (
            format!("{provider}tickets = [\"jsapi\"]\n"),
            "platform \"p\": field tickets: unknown ticket \"jsapi\" for kind wecom_provider: it has no tickets",
        ),
        (
            OPEN.replace("wx0123456789abcdef", &"w".repeat(70_000)),
            "platform \"acme\": field appid: the appid is longer than 128 bytes",
        ),
        (
            OPEN.replace("\"acme\"", &format!("\"{}\"", "a".repeat(70_000))),
            "field name: the name is longer than 128 characters",
        ),
        (
            with(&format!("aes_key_env = \"{}\"", "K".repeat(70_000))),
            "field aes_key_env: a variable name longer than 256 bytes",
        ),
    ];
    for (text, needle) in cases {
        let e = checked(&text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {needle}"));
        assert!(e.contains(needle), "{e}\n  wanted: {needle}");
        assert!(e.len() < 1000, "{} bytes: {}", e.len(), &e[..200]);
    }
}

/// A platform whose values sit in files in a fresh folder.
fn with_files(token: &str, key: &[u8]) -> (tempfile::TempDir, Platform) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    write("secret", b"\xef\xbb\xbfplatformsecret0123456789abcdef\r\n");
    write("token", token.as_bytes());
    write("aeskey", key);
    write(
        "store.key",
        crate::platform::storekey::new_key_line()
            .unwrap()
            .as_bytes(),
    );
    let text = OPEN
        .replace("secret_env = \"ACME_SECRET\"", "secret_file = \"secret\"")
        .replace("acme.token", "token")
        .replace("/etc/wxtoken/acme.aeskey", "aeskey");
    let raw: RawPlatform = toml::from_str(&text).unwrap();
    let platform = check(raw, 0, dir.path(), None, false).unwrap();
    (dir, platform)
}

fn read_error(platform: &Platform) -> String {
    match read_platform_secrets(platform) {
        Ok(_) => panic!("read"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn secrets_are_read_checked_and_redacted() {
    let (_dir, p) = with_files("tok3n4platform\r\n", format!("{AES_KEY}\n").as_bytes());
    let s = read_platform_secrets(&p).unwrap();
    assert_eq!(s.secret.expose(), "platformsecret0123456789abcdef");
    let crypt = read_push_keys(&p).unwrap().crypt.unwrap();
    let sealed = s.store_key.unwrap().seal("x", &["acme"]).unwrap();
    assert!(sealed.starts_with("v1:"));
    // The Token without its line end signs.
    let plain = MsgCrypt::new("tok3n4platform", AES_KEY).unwrap();
    assert_eq!(crypt.url_signature("1", "2"), plain.url_signature("1", "2"));
    let line = format!("tok3n4platform {AES_KEY} platformsecret0123456789abcdef");
    assert_eq!(crate::secret::redact(&line), "*** *** ***");
}

#[test]
fn a_bad_encoding_aes_key_names_the_field() {
    for (key, needle) in [
        (&AES_KEY[..42], "has 42 characters, not 43"),
        ("7", "has 1 character, not 43"),
        (&format!("{AES_KEY}A")[..], "has 44 characters, not 43"),
        (
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDE-G",
            "character 42",
        ),
    ] {
        let (_dir, p) = with_files("token", key.as_bytes());
        let e = read_error(&p);
        assert!(e.contains("platform \"acme\": field aes_key: "), "{e}");
        assert!(e.contains(needle), "{e}");
        assert!(!e.contains(key), "the key is quoted: {e}");
    }
    let (_dir, p) = with_files("a token", AES_KEY.as_bytes());
    let e = read_error(&p);
    assert!(
        e.contains("platform \"acme\": field message_token: "),
        "{e}"
    );
}

#[test]
fn hostile_files_are_refused_without_waiting() {
    let (dir, p) = with_files("token", AES_KEY.as_bytes());
    let key = dir.path().join("aeskey");
    std::fs::remove_file(&key).unwrap();
    let ok = std::process::Command::new("mkfifo")
        .arg(&key)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo");
    let e = read_error(&p);
    assert!(e.contains("platform \"acme\": aes_key_file"), "{e}");
    assert!(e.contains("not a regular file"), "{e}");

    let (dir, p) = with_files(&"t".repeat(70_000), AES_KEY.as_bytes());
    let e = read_error(&p);
    assert!(e.contains("platform \"acme\": message_token_file"), "{e}");
    assert!(e.contains("is larger than 4096 bytes"), "{e}");
    std::fs::write(dir.path().join("token"), "").unwrap();
    assert!(read_error(&p).contains("platform \"acme\": message token file"));

    let (dir, p) = with_files("token", AES_KEY.as_bytes());
    std::fs::write(dir.path().join("store.key"), "not a key\n").unwrap();
    let e = read_error(&p);
    assert!(
        e.contains("platform \"acme\": field store_key_file: store key file"),
        "{e}"
    );
}
