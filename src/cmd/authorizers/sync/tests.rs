//! `authorizers sync` against a small fake of the
//! component APIs on 127.0.0.1 (the CLI's tests use the full stand-in).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::cli::Global;
use crate::platform::storekey::StoreKey;
use crate::store::{self, Customer, CustomerState, Row, Store};

const APPID: &str = "wx0c0a0e0f00000001";
const AUTHORIZERS: usize = 1200;

/// Serves the component token, the authorizer list (AUTHORIZERS entries) and
/// api_query_auth; records each request's path and body.
/// The requests a fake saw: path and JSON body.
type Log = Arc<Mutex<Vec<(String, Value)>>>;

fn fake() -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split(' ').nth(1).unwrap_or_default();
            let path = path.split('?').next().unwrap_or_default().to_string();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer = match path.rsplit('/').next().unwrap_or_default() {
                "api_component_token" => {
                    json!({"component_access_token": "CT-1", "expires_in": 7200})
                }
                "api_get_authorizer_list" => {
                    let offset = body["offset"].as_u64().unwrap() as usize;
                    let count = body["count"].as_u64().unwrap() as usize;
                    let list: Vec<Value> = (offset..AUTHORIZERS.min(offset + count))
                        .map(|i| json!({"authorizer_appid": format!("wxs{i:015}"), "refresh_token": format!("rt@@@{i}"), "auth_time": 1_700_000_000}))
                        .collect();
                    json!({"total_count": AUTHORIZERS, "list": list})
                }
                "api_query_auth" => json!({"authorization_info": {
                    "authorizer_appid": "wxnew", "authorizer_access_token": "AT-1", "expires_in": 7200,
                    "authorizer_refresh_token": "rt@@@new"}}),
                _ => json!({"errcode": 40001, "errmsg": "unexpected"}),
            };
            seen.lock().unwrap().push((path, body));
            let text = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, log)
}

/// A config of platform "acme" (and a suite) in `dir`, the ticket stored.
fn setup(dir: &Path, url: &str) -> (Global, StoreKey) {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("secret", "componentsecret");
    write("token", "QDG6eK");
    write("aes", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
    write(
        "store.key",
        &crate::platform::storekey::new_key_line().unwrap(),
    );
    for f in ["store.key", "token", "aes"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let platform = |name: &str, kind: &str| {
        format!(
            "[[platform]]\nname = \"{name}\"\nkind = \"{kind}\"\nappid = \"{APPID}\"\nsecret_file = \"secret\"\nmessage_token_file = \"token\"\naes_key_file = \"aes\"\nstore_key_file = \"store.key\"\n"
        )
    };
    write(
        "config.toml",
        &(platform("acme", "open_platform") + &platform("suite", "wecom_suite")),
    );
    let global = Global {
        db: Some(dir.join("db")),
        config: Some(dir.join("config.toml")),
        api_base: Some(url.to_string()),
        verbose: 0,
        quiet: true,
    };
    let mut store = db(&global);
    let now = crate::clock::now();
    store
        .put_pushed(&Row {
            app: "acme".to_string(),
            kind: "component_verify_ticket".to_string(),
            api: "open_platform".to_string(),
            appid: APPID.to_string(),
            value: "ticket@@@1".to_string(),
            fetched_at: now,
            expires_at: now + 43_200,
            invalidated_at: None,
            source_token: None,
        })
        .unwrap();
    (global, StoreKey::load(&dir.join("store.key")).unwrap())
}

fn db(global: &Global) -> Box<dyn Store> {
    store::open(&store::Location::parse(global.db.clone().unwrap()).unwrap()).unwrap()
}

fn customer(
    appid: &str,
    credential: Option<String>,
    code: Option<String>,
    state: CustomerState,
) -> Customer {
    Customer {
        platform: "acme".to_string(),
        appid: appid.to_string(),
        credential,
        pending_until: code.as_ref().map(|_| crate::clock::now() + 600),
        pending_code: code,
        state,
        info: Some("{\"kept\":true}".to_string()),
        authorized_at: None,
        updated_at: 1,
    }
}

#[test]
fn sync_stores_every_listed_authorizer_sealed_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = fake();
    let (global, key) = setup(dir.path(), &url);
    // A known one, refused before: the list makes it active again, its info kept.
    let known = "wxs000000000000007";
    db(&global)
        .upsert_customer(&customer(known, None, None, CustomerState::Reauthorize))
        .unwrap();
    super::run(&global, "acme").unwrap();
    let customers = db(&global).customers("acme").unwrap();
    assert_eq!(customers.len(), AUTHORIZERS);
    for c in &customers {
        assert_eq!(c.state, CustomerState::Active);
        let sealed = c.credential.as_deref().unwrap();
        assert!(sealed.starts_with("v1:"));
        let i: usize = c.appid[3..].parse().unwrap();
        let opened = key
            .open(sealed, &["acme", &c.appid, "authorizer_refresh_token"])
            .unwrap();
        assert_eq!(opened, format!("rt@@@{i}"));
    }
    let k = customers.iter().find(|c| c.appid == known).unwrap();
    assert_eq!(k.info.as_deref(), Some("{\"kept\":true}"));
    let log = log.lock().unwrap();
    let pages: Vec<u64> = (log.iter())
        .filter(|(p, _)| p.ends_with("api_get_authorizer_list"))
        .map(|(_, b)| b["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, [0, 500, 1000]);
    assert!(
        log.iter()
            .all(|(_, b)| b["count"].as_u64().is_none_or(|c| c == 500))
    );
}

#[test]
fn sync_refuses_a_wecom_suite_naming_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = fake();
    let (global, _) = setup(dir.path(), &url);
    let e = super::run(&global, "suite").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("WeCom has no API that lists the companies"),
        "{text}"
    );
    assert!(e.is::<crate::error::Usage>());
    assert!(log.lock().unwrap().is_empty());
    assert!(
        super::run(&global, "nope")
            .unwrap_err()
            .to_string()
            .contains("unknown platform")
    );
}
