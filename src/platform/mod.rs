//! Third-party platforms (WeChat Open Platform components, WeCom suites): the
//! building blocks that pushes and refreshes use. The message crypto and XML of
//! pushes (`crypto`, `xml`), and the store key that encrypts long-lived
//! secrets at rest (`storekey`).

pub mod crypto;
pub mod keys;
pub mod push;
pub mod storekey;
pub mod sync;
pub mod xml;

/// The AAD kind under which a pushed authorization code (Open Platform's
/// `AuthorizationCode`, WeCom's `AuthCode`) is sealed until it is exchanged.
pub const PENDING_CODE_KIND: &str = "authorization_code";

/// A customer's info after `change_auth` when it had none: its authorization
/// is to be read again (`get_auth_info`) by the next refresh.
pub const REREAD_INFO: &str = r#"{"reread":true}"#;

/// The member of a customer's info that marks it to be read again.
const REREAD_KEY: &str = "reread";

/// `info` marked to be read again: the stored object keeps what it said (its
/// agentid serves `sign` until the new answer replaces it) and gains
/// `"reread":true`; anything else becomes [`REREAD_INFO`].
pub fn marked_for_reread(info: Option<&str>) -> String {
    let object = info.and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok());
    match object {
        Some(serde_json::Value::Object(mut o)) => {
            o.insert(REREAD_KEY.to_string(), serde_json::Value::Bool(true));
            serde_json::Value::Object(o).to_string()
        }
        _ => REREAD_INFO.to_string(),
    }
}

/// Whether a customer's stored info asks for its authorization to be read
/// (`get_auth_info`): marked by `change_auth`, or without the `auth_info`
/// that names its agents (imported, or from an answer that had none) when
/// `agents` (the platform issues agent_config tickets, which need one).
pub fn info_to_read(info: Option<&str>, agents: bool) -> bool {
    let Some(info) = info else {
        return agents;
    };
    // Cheap checks first: most infos are neither.
    let marked = info.contains(r#""reread":true"#);
    let no_agents = agents && !info.contains(r#""auth_info""#);
    if !(marked || no_agents) {
        return false;
    }
    match serde_json::from_str::<serde_json::Value>(info) {
        Ok(v) => {
            v.get(REREAD_KEY) == Some(&serde_json::Value::Bool(true))
                || (agents && v.get("auth_info").is_none())
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_keeps_what_the_info_said() {
        let old = r#"{"corpid":"ww1","auth_info":{"agent":[{"agentid":7}]}}"#;
        let marked = marked_for_reread(Some(old));
        let v: serde_json::Value = serde_json::from_str(&marked).unwrap();
        assert_eq!(v["reread"], true);
        assert_eq!(v["auth_info"]["agent"][0]["agentid"], 7);
        assert!(info_to_read(Some(&marked), false));
        assert_eq!(marked_for_reread(None), REREAD_INFO);
        assert_eq!(marked_for_reread(Some("[1]")), REREAD_INFO);
        assert!(info_to_read(Some(REREAD_INFO), false));
    }

    #[test]
    fn an_info_without_agents_is_read_only_when_agents_are_needed() {
        let without = r#"{"corpid":"ww1","corp_name":"x"}"#;
        let with = r#"{"corpid":"ww1","auth_info":{"agent":[]}}"#;
        assert!(info_to_read(Some(without), true));
        assert!(!info_to_read(Some(without), false));
        assert!(!info_to_read(Some(with), true));
        assert!(info_to_read(None, true));
        assert!(!info_to_read(None, false));
        // A value that only looks like the mark.
        assert!(!info_to_read(
            Some(r#"{"corp_name":"\"reread\":true","auth_info":{}}"#),
            true
        ));
    }
}
