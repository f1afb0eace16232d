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

/// A customer's info after `change_auth`: its authorization is to be read
/// again (`get_auth_info`) by the next refresh.
pub const REREAD_INFO: &str = r#"{"reread":true}"#;
