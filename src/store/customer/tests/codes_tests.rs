//! A customer's one-use code in the store: claimed once, then known as sent;
//! dropped when it ended only if no credential is stored.

use super::*;

/// A customer whose one-use code waits, without a credential.
fn pending(appid: &str, code: &str, until: i64) -> Customer {
    Customer {
        credential: None,
        pending_code: Some(code.to_string()),
        pending_until: Some(until),
        ..customer(appid, "unused")
    }
}

both!(
    fn a_code_is_claimed_once_and_then_known_as_sent(db) {
        let mut store = db.open();
        let appid = "pending-00000000000000aa";
        store
            .upsert_customers(&[pending(appid, "v1:code", NOW + 600)])
            .unwrap();
        let key = appid.to_string();
        let spent = CodeStep::Spent { key: key.clone() };
        assert!(!store.code_step("acme", appid, &spent, NOW).unwrap(), "not sent yet");
        let claim = CodeStep::Claim {
            sealed: "v1:code".to_string(),
            key,
            until: NOW + 3600,
        };
        assert!(store.code_step("acme", appid, &claim, NOW).unwrap(), "the first claim takes it");
        assert!(!store.code_step("acme", appid, &claim, NOW).unwrap(), "a second claim does not");
        assert!(store.code_step("acme", appid, &spent, NOW).unwrap(), "known as sent");
        let other = CodeStep::Spent {
            key: "pending-00000000000000bb".to_string(),
        };
        assert!(!store.code_step("acme", appid, &other, NOW).unwrap(), "another code is not");
    }
);

both!(
    fn only_an_ended_code_without_a_credential_is_dropped(db) {
        let mut store = db.open();
        let ended = pending("pending-00000000000000aa", "v1:a", NOW - 1);
        let credentialed = Customer {
            credential: Some("v1:cred".to_string()),
            ..pending("wwcorp00000000001", "v1:b", NOW - 1)
        };
        let valid = pending("pending-00000000000000cc", "v1:c", NOW + 600);
        store
            .upsert_customers(&[ended.clone(), credentialed.clone(), valid.clone()])
            .unwrap();
        assert!(store.drop_expired_code("acme", &ended.appid, NOW).unwrap());
        assert!(!store.drop_expired_code("acme", &credentialed.appid, NOW).unwrap());
        assert!(!store.drop_expired_code("acme", &valid.appid, NOW).unwrap());
        let mut left: Vec<String> = store
            .customers("acme")
            .unwrap()
            .into_iter()
            .map(|c| c.appid)
            .collect();
        left.sort();
        assert_eq!(left, [valid.appid, credentialed.appid], "the others are kept");
    }
);
